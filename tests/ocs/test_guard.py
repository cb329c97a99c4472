"""CGRateS going away mid-session: fallback or refusal, and every reported usage charged once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.config import CgratesConfig, FailurePolicy, Quota
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Charge, OcsError, Outcome, Unit
from omnigw.ocs.guard import Breaker, GuardedOcs
from omnigw.ocs.metrics import UNREPORTED
from omnigw.store.engine import session_factory
from tests.support.cgrates import Cgrates

START = 1_000_000


@pytest.fixture
async def cgrates() -> AsyncIterator[Cgrates]:
    server = Cgrates()
    server.add_account("4911", "*data", START)
    await server.start()
    yield server
    await server.stop()


async def _guarded(cgrates: Cgrates, engine: AsyncEngine, action: str) -> GuardedOcs:
    backend = CgratesOcs(CgratesConfig(port=cgrates.port, timeout_seconds=0.5), Quota())
    policy = FailurePolicy(action=action, breaker_failures=2,  # type: ignore[arg-type]
                           breaker_reset_seconds=0.1, fallback_quota=Quota(octets=777))  # fmt: skip
    guard = GuardedOcs(backend, policy, session_factory(engine))
    await guard.start()
    return guard


def _charge(n: int, requested: int | None, used: int) -> Charge:
    return Charge("s_rg1", "s", f"s;{n};rg1", "4911", Unit.OCTETS, requested, used,
                  datetime.now(UTC), 1)  # fmt: skip


async def _drained() -> None:
    for _ in range(200):
        if UNREPORTED._value.get() == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("kept usage was not replayed")


async def test_fallback_quota_during_an_outage_and_totals_after(
    cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> None:
    guard = await _guarded(cgrates, sqlite_engine, "grant")
    try:
        await guard.initiate(_charge(0, 1000, 0))
        await guard.update(_charge(1, 1000, 500))
        await cgrates.stop()  # CGRateS dies, with its sessions
        assert (await guard.update(_charge(2, 1000, 300))).amount == 777
        assert (await guard.update(_charge(3, 1000, 200))).amount == 777
        assert guard.breaker.is_open
        assert UNREPORTED._value.get() == 3  # two usages and the stale session to close
        await cgrates.restart()
        await _drained()  # the breaker's trial call, then the kept records in order
        assert (await guard.update(_charge(4, 1000, 100))).amount == 1000  # online again
        await guard.terminate(_charge(5, None, 50))
        await _drained()
        charged = cgrates.charged("4911", "*data", START) - cgrates.state.lost["4911"]
        assert charged == 500 + 300 + 200 + 100 + 50
        # The 300, 200 and 100 kept while the charge was offline, each its own CDR, and the
        # reopened session's CDR with the 50 it charged: every unit in exactly one CDR.
        usages = sorted(int(c["Usage"]) for c in cgrates.state.cdrs.values())
        assert usages == [50, 100, 200, 300]
    finally:
        await guard.close()


async def test_reject_policy_answers_at_once_and_still_keeps_the_usage(
    cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> None:
    guard = await _guarded(cgrates, sqlite_engine, "reject")
    try:
        await guard.initiate(_charge(0, 1000, 0))
        await cgrates.stop()
        with pytest.raises(OcsError) as refused:
            await guard.update(_charge(1, 1000, 400))
        assert refused.value.outcome is Outcome.UNAVAILABLE
        await guard.terminate(_charge(2, None, 100))  # stored, so the client is told done
        await cgrates.restart()
        await _drained()
        assert cgrates.charged("4911", "*data", START) - cgrates.state.lost["4911"] == 500
    finally:
        await guard.close()


async def test_kept_usage_survives_our_restart(
    cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> None:
    guard = await _guarded(cgrates, sqlite_engine, "grant")
    await guard.initiate(_charge(0, 1000, 0))
    await cgrates.stop()
    await guard.terminate(_charge(1, None, 640))
    await guard.close()
    await cgrates.restart()
    again = await _guarded(cgrates, sqlite_engine, "grant")
    try:
        await _drained()
        assert cgrates.charged("4911", "*data", START) - cgrates.state.lost["4911"] == 640
    finally:
        await again.close()


async def test_a_refused_charge_leaves_no_session_open_in_cgrates(
    cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> None:
    """Issue 13, defect 5: CGRateS registers a session before it debits and keeps it after
    refusing; omnigw never closed it, so it lived on (session_ttl 0) and the next CCR-I of
    the same Session-Id got EXISTS."""
    cgrates.add_account("broke", "*data", 0)
    cgrates.add_account("barred", "*data", 5000)
    cgrates.state.disabled.add("barred")
    guard = await _guarded(cgrates, sqlite_engine, "reject")
    try:
        for account, outcome in (("broke", Outcome.NO_CREDIT), ("barred", Outcome.ACCOUNT_DISABLED),
                                 ("nobody", Outcome.UNKNOWN_ACCOUNT)):  # fmt: skip
            charge = replace(_charge(0, 1000, 0), account=account, key=f"{account}_rg1")
            for _ in range(2):  # the same charge again is refused the same way, not EXISTS
                with pytest.raises(OcsError) as refused:
                    await guard.initiate(charge)
                assert refused.value.outcome is outcome
        assert cgrates.state.sessions == {}
    finally:
        await guard.close()


async def test_an_initiate_that_timed_out_is_closed_once_cgrates_answers(
    cgrates: Cgrates, sqlite_engine: AsyncEngine
) -> None:
    """Issue 13, defect 5: an InitiateSession whose answer never came may have reserved;
    omnigw keeps a close for it and sends it when CGRateS answers again."""
    guard = await _guarded(cgrates, sqlite_engine, "reject")
    try:
        cgrates.latency = 1.0  # past omnigw's 0.5 s timeout; CGRateS still processes it
        with pytest.raises(OcsError) as refused:
            await guard.initiate(_charge(0, 1000, 0))
        assert refused.value.outcome is Outcome.UNAVAILABLE
        await asyncio.sleep(0.6)
        assert cgrates.state.balance("4911", "*data") == START - 1000  # reserved, unanswered
        cgrates.latency = 0.0  # CGRateS is back
        await _drained()
        assert cgrates.state.sessions == {}
        assert cgrates.state.balance("4911", "*data") == START  # the reservation refunded
    finally:
        await guard.close()


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    now = [0.0]
    breaker = Breaker(failures=2, reset=5.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.allow()
    breaker.failure()
    assert not breaker.allow()
    now[0] = 5.0
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open again
    now[0] = 9.0
    assert not breaker.allow()
    now[0] = 10.0
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow()
