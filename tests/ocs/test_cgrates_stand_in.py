"""The CGRateS stand-in does what CGRateS's source says (each case names the Go lines it
follows in tests/support/cgrates), so tests against it can catch our misreadings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from omnigw.ocs.jsonrpc import RpcError, TcpJsonRpc
from tests.support.cgrates import NANOS, Cgrates, Tariff


@pytest.fixture
async def rpc() -> AsyncIterator[tuple[Cgrates, TcpJsonRpc]]:
    server = Cgrates()
    server.add_account("4911", "*data", 10_000_000)
    server.add_account("4911", "*voice", 3600 * NANOS)
    await server.start()
    client = TcpJsonRpc("127.0.0.1", server.port, 1, 2.0)
    yield server, client
    await client.close()
    await server.stop()


def _args(flag: str | None, origin: str = "o1", **event: Any) -> dict[str, Any]:
    base = {"ToR": "*data", "OriginID": origin, "OriginHost": "h", "RequestType": "*prepaid",
            "Account": "4911", "Category": "data"}  # fmt: skip
    base.update(event)
    args: dict[str, Any] = {"Tenant": "cgrates.org", "ID": f"{origin}-{flag}", "Event": base}
    if flag:
        args[flag] = True
    return args


async def test_a_second_initiate_of_a_live_session_is_exists(rpc: Any) -> None:
    _, client = rpc
    await client.call("SessionSv1.InitiateSession", _args("InitSession", Usage=10))
    with pytest.raises(RpcError, match=r"^EXISTS$"):
        await client.call("SessionSv1.InitiateSession", _args("InitSession", Usage=10))


async def test_an_initiate_without_usage_reserves_default_usage(rpc: Any) -> None:
    server, client = rpc
    reply = await client.call("SessionSv1.InitiateSession", _args("InitSession"))
    assert reply["MaxUsage"] == 1_048_576  # sessions.default_usage *data
    assert server.state.balance("4911", "*data") == 10_000_000 - 1_048_576


async def test_a_refusal_leaves_the_session_registered(rpc: Any) -> None:
    server, client = rpc
    with pytest.raises(RpcError, match="RALS_ERROR:ACCOUNT_NOT_FOUND"):
        await client.call("SessionSv1.InitiateSession", _args("InitSession", Usage=1,
                                                              Account="nobody"))  # fmt: skip
    assert len(server.state.sessions) == 1


async def test_terminate_of_an_unknown_session_charges_last_used_once(rpc: Any) -> None:
    server, client = rpc
    await client.call("SessionSv1.TerminateSession", _args("TerminateSession", LastUsed=700))
    assert server.state.balance("4911", "*data") == 10_000_000 - 700
    await client.call("SessionSv1.TerminateSession", _args("TerminateSession", origin="o2"))
    assert server.state.balance("4911", "*data") == 10_000_000 - 700 - 1_048_576  # default


async def test_execute_action_creates_a_missing_account(rpc: Any) -> None:
    server, client = rpc
    server.add_action("Action_x", "*data", 500)
    action = {"Tenant": "cgrates.org", "Account": "new", "ActionsId": "Action_x"}
    await client.call("APIerSv1.ExecuteAction", action)
    assert server.state.accounts["new"] == {"*data": 500}


async def test_tariffs_by_category_destination_prefix_and_increment(rpc: Any) -> None:
    server, client = rpc
    server.state.tariffs = [Tariff("call", {"DST_DE": 60 * NANOS, "DST_DE_MOB": NANOS})]
    server.state.destinations = {"DST_DE": ("+49",), "DST_DE_MOB": ("+4915",)}

    def call(origin: str, destination: str, category: str = "call") -> dict[str, Any]:
        return _args("InitSession", origin, ToR="*voice", Category=category,
                     Destination=destination, Usage=30 * NANOS)  # fmt: skip

    await client.call("SessionSv1.InitiateSession", call("c1", "+4930123"))
    assert server.state.balance("4911", "*voice") == 3540 * NANOS  # a whole minute held
    await client.call("SessionSv1.InitiateSession", call("c2", "+4915112345"))  # longest prefix
    assert server.state.balance("4911", "*voice") == 3510 * NANOS
    with pytest.raises(RpcError, match="RALS_ERROR:UNAUTHORIZED_DESTINATION"):
        await client.call("SessionSv1.InitiateSession", call("c3", "+15550100"))
    with pytest.raises(RpcError, match="RALS_ERROR:RATING_PLAN_NOT_FOUND"):
        await client.call("SessionSv1.InitiateSession", call("c4", "+4930123", category="sms"))


async def test_the_response_cache_answers_a_repeat_only_when_configured(rpc: Any) -> None:
    server, client = rpc
    for limit, expected in ((0, 10_000_000 - 200), (-1, 10_000_000 - 100)):
        server.state.accounts["4911"]["*data"] = 10_000_000
        server.state.rpc_responses_limit = limit
        args = _args("Debit", origin=f"m{limit}", Usage=100)
        await client.call("SessionSv1.ProcessMessage", args)
        await client.call("SessionSv1.ProcessMessage", args)
        assert server.state.balance("4911", "*data") == expected
