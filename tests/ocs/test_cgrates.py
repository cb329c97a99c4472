"""The CGRateS backend against the strict SessionS stand-in, over raw TCP and over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from omnigw import eager
from omnigw.config import CgratesConfig, Quota
from omnigw.ocs.accounts import AccountError, CgratesAccounts, cdr_usage
from omnigw.ocs.cgrates import CgratesOcs, outcome_of
from omnigw.ocs.charge import Charge, Grant, OcsError, OcsUnavailable, Outcome, Unit
from omnigw.ocs.jsonrpc import RpcError, TcpJsonRpc
from tests.support.cgrates import Cgrates, ExtraBalance
from tests.support.ports import free_port

NS = 1_000_000_000


@pytest.fixture
async def cgrates() -> AsyncIterator[Cgrates]:
    server = Cgrates()
    server.add_account("4911", "*data", 10_000)
    server.add_account("4911", "*voice", 120 * NS)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(params=["tcp", "http"])
async def ocs(request: pytest.FixtureRequest, cgrates: Cgrates) -> AsyncIterator[CgratesOcs]:
    cfg = CgratesConfig(
        transport=request.param, port=cgrates.port,
        url=f"http://127.0.0.1:{cgrates.http_port}/jsonrpc",
    )  # fmt: skip
    backend = CgratesOcs(cfg, Quota(seconds=60, octets=1000))
    await backend.start()
    yield backend
    await backend.close()


def _charge(req: str, requested: int | None, used: int = 0, unit: Unit = Unit.OCTETS,
            account: str = "4911") -> Charge:  # fmt: skip
    return Charge("sess_rg10", "sess", req, account, unit, requested, used, datetime.now(UTC), 10)


async def test_session_debits_what_was_used(ocs: CgratesOcs, cgrates: Cgrates) -> None:
    assert (await ocs.initiate(_charge("r0", None))).amount == 1000  # default quota
    assert (await ocs.update(_charge("r1", 4000, used=700))).amount == 4000
    await ocs.terminate(_charge("r2", None, used=2500))
    assert cgrates.state.accounts["4911"]["*data"] == 10_000 - 700 - 2500
    assert cgrates.state.calls["SessionSv1.InitiateSession"] == 1


async def test_time_is_sent_in_nanoseconds(ocs: CgratesOcs, cgrates: Cgrates) -> None:
    grant = await ocs.initiate(_charge("r0", 90, unit=Unit.SECONDS))
    assert grant.amount == 90
    grant = await ocs.update(_charge("r1", 90, used=90, unit=Unit.SECONDS))
    assert (grant.amount, grant.final) == (30, True)  # 120 s in all


async def test_no_credit_and_unknown_account(ocs: CgratesOcs, cgrates: Cgrates) -> None:
    cgrates.state.accounts["4911"]["*data"] = 0
    with pytest.raises(OcsError) as empty:
        await ocs.initiate(_charge("r0", 100))
    assert empty.value.outcome is Outcome.NO_CREDIT
    with pytest.raises(OcsError) as unknown:
        await ocs.initiate(replace(_charge("r1", 100, account="nobody"), key="other_rg10"))
    assert unknown.value.outcome is Outcome.UNKNOWN_ACCOUNT


async def test_a_retry_with_the_same_request_id_is_not_charged_twice(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """...when CGRateS's response cache is on, as the README asks (it is off by default)."""
    cgrates.state.rpc_responses_limit = -1
    await ocs.initiate(_charge("r0", 1000))
    await ocs.update(_charge("r1", 1000, used=1000))
    await ocs.update(_charge("r1", 1000, used=1000))  # CGRateS's cache answers the repeat
    assert cgrates.state.accounts["4911"]["*data"] == 10_000 - 1000 - 1000  # used + held


async def test_a_response_cache_that_is_off_is_reported_at_start(
    cgrates: Cgrates, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13, defect 6: retries are safe only with CGRateS's *rpc_responses cache on."""
    for limit, warned in ((0, True), (-1, False)):
        cgrates.state.rpc_responses_limit = limit
        caplog.clear()
        backend = CgratesOcs(CgratesConfig(port=cgrates.port), Quota())
        await backend.start()
        await backend.close()
        assert ("*rpc_responses cache is off" in caplog.text) is warned
        assert REGISTRY.get_sample_value("omnigw_cgrates_response_cache_off") == int(warned)


async def test_the_stand_in_is_strict(cgrates: Cgrates) -> None:
    rpc = TcpJsonRpc("127.0.0.1", cgrates.port, 1, 2.0)
    try:
        event = {"ToR": "*data", "OriginID": "x", "OriginHost": "h", "RequestType": "*prepaid",
                 "Account": "4911", "Usage": 1}  # fmt: skip
        base = {"Tenant": "t", "ID": "i", "Event": event}
        with pytest.raises(RpcError, match="MANDATORY_IE_MISSING"):
            await rpc.call("SessionSv1.InitiateSession", base)  # InitSession flag missing
        with pytest.raises(RpcError, match="unknown field"):
            await rpc.call("SessionSv1.InitiateSession", {"InitSession": True, "Bogus": 1, **base})
    finally:
        await rpc.close()


@pytest.mark.parametrize(
    ("error", "outcome"),
    [("RALS_ERROR:ACCOUNT_NOT_FOUND", Outcome.UNKNOWN_ACCOUNT),
     ("ACCOUNT_DISABLED", Outcome.ACCOUNT_DISABLED),
     ("RATING_PLAN_NOT_FOUND", Outcome.RATING_FAILED),
     ("MANDATORY_IE_MISSING: [Account]", Outcome.FAILED)],
)  # fmt: skip
def test_error_strings_map_to_charging_outcomes(error: str, outcome: Outcome) -> None:
    assert outcome_of(error) is outcome


async def test_ended_session_becomes_one_cdr_without_a_second_debit(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    await ocs.initiate(_charge("r0", 60, unit=Unit.SECONDS))
    await ocs.update(_charge("r1", 60, used=60, unit=Unit.SECONDS))
    await ocs.terminate(_charge("r2", None, used=30, unit=Unit.SECONDS))
    assert cgrates.state.accounts["4911"]["*voice"] == 120 * NS - 90 * NS
    assert cgrates.state.calls["SessionSv1.ProcessCDR"] == 1
    [cdr] = cgrates.state.cdrs.values()
    assert (cdr["OriginID"], cdr["ToR"], cdr["Usage"]) == ("sess_rg10", "*voice", "1m30s")

    accounts = CgratesAccounts(ocs)
    [record] = await accounts.usage("4911", limit=10, offset=0) or []
    assert (record.charge, record.unit, record.amount) == ("sess_rg10", "seconds", 90.0)
    assert await accounts.usage("4911", limit=10, offset=1) == []  # CGRateS: NOT_FOUND
    assert await accounts.usage("nobody", limit=10, offset=0) is None


def test_cdr_usage_reads_go_durations_and_counts() -> None:
    assert cdr_usage("*voice", "1h2m3.5s") == 3723.5
    assert cdr_usage("*voice", "250ms") == 0.25
    assert cdr_usage("*voice", "0s") == 0
    assert cdr_usage("*data", "1048576") == 1048576
    with pytest.raises(AccountError):
        cdr_usage("*voice", "soon")


async def test_both_transports_work_from_the_gy_request_path(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """The Diameter node runs a request's first step before it has a task (omnigw.eager):
    the HTTP transport must work from there as the TCP one does."""
    done: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()

    async def request() -> None:
        try:
            done.set_result(await ocs.initiate(_charge("r0", 500)))
        except Exception as exc:
            done.set_exception(exc)

    task = eager.start(request())
    assert (await asyncio.wait_for(done, 5)).amount == 500
    if task is not None:
        await task
    assert cgrates.state.calls["SessionSv1.InitiateSession"] == 1


async def test_suspend_and_resume_leave_an_operators_allow_negative_alone(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """Issue 13, defect 4: suspension sent AllowNegative false, wiping the operator's."""
    assert ocs._rpc is not None
    operator = {"Tenant": "cgrates.org", "Account": "4911", "ExtraOptions": {"AllowNegative": True}}
    await ocs._rpc.call("APIerSv2.SetAccount", operator)  # in CGRateS directly
    accounts = CgratesAccounts(ocs)
    await accounts.set_disabled("4911", True)
    await accounts.set_disabled("4911", False)
    account = await ocs._rpc.call("APIerSv2.GetAccount",
                                  {"Tenant": "cgrates.org", "Account": "4911"})  # fmt: skip
    assert (account["AllowNegative"], account["Disabled"]) == (True, False)


async def test_balance_totals_leave_out_expired_and_disabled_balances(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """Issue 13, defect 8: totals counted balances CGRateS will never charge from."""
    cgrates.add_balance("4911", ExtraBalance("*data", 5000, expires="2020-01-01T00:00:00Z"))
    cgrates.add_balance("4911", ExtraBalance("*data", 7000, disabled=True))
    cgrates.add_balance("4911", ExtraBalance("*sms", 3, expires="2020-06-30T12:00:00+02:00"))
    totals = await CgratesAccounts(ocs).balances("4911")
    assert totals == {"octets": 10_000, "seconds": 120, "units": 0}


def _at(charge: Charge, seconds: float) -> Charge:
    return replace(charge, at=charge.at + timedelta(seconds=seconds))


async def test_the_cdr_carries_the_whole_session_and_its_answer_time(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """Issue 13, defects 2 and 3. The closed session is cached 10 s: past that (a late call,
    another CGRateS node), ProcessCDR is rated from its own Usage and times, which were only
    the last slice and the end of the session."""
    cgrates.state.closed_ttl = 0.0  # the cache has forgotten the session
    start = _charge("r0", 1000)
    await ocs.initiate(start)
    await ocs.update(_at(_charge("r1", 1000, used=600), 60))
    await ocs.terminate(_at(_charge("r2", None, used=400), 120))
    [cdr] = cgrates.state.cdrs.values()
    assert cdr["Usage"] == "1000"  # the session's, not the last report's 400
    assert cdr["AnswerTime"] == cdr["SetupTime"] == start.at.isoformat().replace("+00:00", "Z")


async def test_with_stored_session_costs_a_late_cdr_charges_nothing_twice(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """CGRateS setting the README asks for: sessions.store_session_costs. A CDR that comes
    after the closed-session cache forgot its session is rated from the stored cost when it
    carries the session's whole usage (engine/cdrs.go 171-204); with the last slice alone
    it was refunded and debited again as that slice."""
    cgrates.state.store_session_costs = True
    cgrates.state.closed_ttl = 0.0
    await ocs.initiate(_charge("r0", 1000))
    await ocs.update(_charge("r1", 1000, used=600))
    await ocs.terminate(_charge("r2", None, used=400))
    assert cgrates.state.balance("4911", "*data") == 10_000 - 1000


async def test_a_cached_session_keeps_its_answer_time_through_terminate(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """TerminateSession's AnswerTime replaces the session's (sessions.go 1840-1842)."""
    start = _charge("r0", 1000)
    await ocs.initiate(start)
    await ocs.terminate(_at(_charge("r2", None, used=400), 300))
    [cdr] = cgrates.state.cdrs.values()
    assert cdr["AnswerTime"] == start.at.isoformat().replace("+00:00", "Z")


async def test_usage_counts_each_session_once_whatever_the_charger_runs(
    ocs: CgratesOcs, cgrates: Cgrates
) -> None:
    """Issue 13, defect 8: with two charger runs every session has two CDRs."""
    cgrates.state.charger_runs = ("*default", "*wholesale")
    await ocs.initiate(_charge("r0", 1000))
    await ocs.terminate(_charge("r1", None, used=300))
    assert len(cgrates.state.cdrs) == 2
    records = await CgratesAccounts(ocs).usage("4911", limit=10, offset=0) or []
    assert [(r.charge, r.amount) for r in records] == [("sess_rg10", 300.0)]


@pytest.mark.parametrize("transport", ["tcp", "http"])
async def test_a_cgrates_that_cannot_be_reached_was_sent_nothing(transport: str) -> None:
    """Connection refused: the request cannot have opened anything in CGRateS, so the failure
    policy keeps no close for it (a timeout, by contrast, may have: see test_guard.py)."""
    port = free_port()
    cfg = CgratesConfig(transport=transport, port=port, timeout_seconds=0.5,  # type: ignore[arg-type]
                        url=f"http://127.0.0.1:{port}/jsonrpc")  # fmt: skip
    backend = CgratesOcs(cfg, Quota())
    await backend.start()
    try:
        with pytest.raises(OcsUnavailable) as down:
            await backend.initiate(_charge("r0", 10))
        assert down.value.sent is False
    finally:
        await backend.close()
