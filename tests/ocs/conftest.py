"""The Gy path as the daemon builds it, against the CGRateS stand-in over either transport:
a Diameter node (which runs each request's first step eagerly), the Gy application, the
failure policy and the CGRateS backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from ipaddress import ip_address

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.config import CgratesConfig, FailurePolicy, GyConfig, Quota, RatingRule
from omnigw.diameter.codec import Avp
from omnigw.diameter.gy import GyApplication
from omnigw.diameter.node import DiameterNode
from omnigw.diameter.peer import Identity, Policy
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.store.engine import session_factory
from tests.support.cgrates import Cgrates
from tests.support.gy import GyClient
from tests.support.ports import free_port

IDENTITY = Identity("omnigw.test", "test", (ip_address("127.0.0.1"),), state_id=1)
ORIGIN = [Avp.of_text(264, "omnigw.test"), Avp.of_text(296, "test")]

GyPath = Callable[..., Awaitable[tuple[GyClient, GuardedOcs]]]


@pytest.fixture(params=["tcp", "http"])
async def gy_path(
    request: pytest.FixtureRequest, cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> AsyncIterator[GyPath]:
    """start(*rating_rules) -> a connected Gy client and the OCS behind it."""
    started: list[tuple[GyClient, DiameterNode, GuardedOcs]] = []

    async def start(*rules: RatingRule) -> tuple[GyClient, GuardedOcs]:
        cfg = CgratesConfig(
            transport=request.param, port=cgrates.port, rating=list(rules),
            url=f"http://127.0.0.1:{cgrates.http_port}/jsonrpc",
        )  # fmt: skip
        ocs = GuardedOcs(CgratesOcs(cfg, Quota()), FailurePolicy(), session_factory(sqlite_engine))
        await ocs.start()
        # Every 3GPP service context is served here, SMS (32274) as well as PS (32251).
        app = GyApplication(GyConfig(service_context_suffix="@3gpp.org"), ocs, ORIGIN)
        port = free_port()
        policy = Policy(frozenset({"pgw.test"}), frozenset())
        node = DiameterNode(IDENTITY, policy, "127.0.0.1", port, {4: app})
        await node.start()
        client = await GyClient.connect(port)
        started.append((client, node, ocs))
        return client, ocs

    yield start
    for client, node, ocs in started:
        await client.close()
        await node.stop(grace=0.5)
        await ocs.close()
