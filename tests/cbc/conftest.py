"""The CBC service as tests start it, and every CBSP PDU it sends in these tests also through
tshark's dissector."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.cbc.cbsp.codec import Pdu
from omnigw.cbc.cbsp.link import CbspLink
from omnigw.cbc.cbsp.peers import CbspPeers
from omnigw.cbc.service import CbcService
from omnigw.config import CbcConfig
from omnigw.store.engine import session_factory
from tests.support import tshark

SENT: list[bytes] = []


@pytest.fixture(scope="session", autouse=True)
def cbsp_pdus_pass_tshark() -> Iterator[None]:
    original = CbspPeers.link_sent

    def record(self: CbspPeers, link: CbspLink, pdu: Pdu, wire: bytes) -> None:
        SENT.append(wire)
        original(self, link, pdu, wire)

    CbspPeers.link_sent = record  # type: ignore[method-assign]
    yield
    CbspPeers.link_sent = original  # type: ignore[method-assign]
    if not SENT or not tshark.available():
        return
    rows = tshark.fields(SENT, 48049, ["cbsp.msg_type"])
    assert len(rows) == len(SENT)
    bad = [(i, r) for i, r in enumerate(rows) if r["_ws.malformed"] or r["_ws.expert.message"]]
    assert not bad, f"tshark flagged {len(bad)} of {len(SENT)} CBSP PDUs: {bad[:3]}"
    print(f"\ntshark dissected {len(SENT)} CBSP PDUs sent by the CBC service: all clean")


@pytest.fixture
async def service_factory(
    engine: AsyncEngine,
) -> AsyncIterator[Callable[..., Awaitable[CbcService]]]:
    started: list[CbcService] = []

    async def make(cfg: CbcConfig) -> CbcService:
        service = CbcService(cfg, session_factory(engine))
        await service.start()
        started.append(service)
        return service

    yield make
    for service in started:
        await service.stop()
