"""The embedded backend: reservations, commits, refusals, and balances that survive a restart."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.config import MAX_AMOUNT, Quota
from omnigw.ocs.charge import Charge, OcsError, Outcome, Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.ocs.models import Balance
from omnigw.store.engine import SessionFactory, session_factory


def _charge(key: str, requested: int | None, used: int = 0, account: str = "a1") -> Charge:
    return Charge(key, "s", f"{key}:{used}", account, Unit.SECONDS, requested, used,
                  datetime.now(UTC))  # fmt: skip


async def test_reserve_commit_release_and_persist(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100), journal=tmp_path)
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 250)
    assert (await ocs.initiate(_charge("k1", None))).amount == 100  # the default quota
    assert (await ocs.initiate(_charge("k2", 200))).amount == 150  # only what is not held
    with pytest.raises(OcsError) as refused:
        await ocs.initiate(_charge("k3", 10))
    assert refused.value.outcome is Outcome.NO_CREDIT
    await ocs.terminate(_charge("k2", None, used=40))  # releases 150, takes 40
    grant = await ocs.update(_charge("k1", 500, used=60))  # takes 60, holds the rest
    assert (grant.amount, grant.final) == (150, True)
    await ocs.close()

    again = EmbeddedOcs(sessions, Quota(), journal=tmp_path)
    await again.start()
    assert again.balance_of("a1") == {"seconds": 150}
    await again.close()


async def test_unknown_account_is_user_unknown(engine: AsyncEngine, tmp_path: Path) -> None:
    ocs = EmbeddedOcs(session_factory(engine), Quota(), journal=tmp_path)
    await ocs.start()
    with pytest.raises(OcsError) as refused:
        await ocs.initiate(_charge("k", 1, account="nobody"))
    assert refused.value.outcome is Outcome.UNKNOWN_ACCOUNT
    await ocs.close()


async def test_each_ended_charge_is_one_usage_record_kept_across_restart(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100), journal=tmp_path)
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 1000)
    await ocs.initiate(_charge("k1", None))
    await ocs.update(_charge("k1", 100, used=60))
    await ocs.terminate(_charge("k1", None, used=25))  # one record: 85 s
    await ocs.initiate(_charge("k2", 10))
    await ocs.terminate(_charge("k2", None, used=0))  # used nothing: no record
    await ocs.debit(_charge("k3", 7))  # an event is a record of its own
    await ocs.close()

    again = EmbeddedOcs(sessions, Quota(), journal=tmp_path)
    await again.start()
    records = await again.usage("a1", limit=10, offset=0)
    assert records is not None
    assert [(r.charge, r.unit, r.amount) for r in records] == [
        ("k3", "seconds", 7.0), ("k1", "seconds", 85.0)
    ]  # fmt: skip
    assert records[1].started_at is not None and records[1].ended_at is not None
    assert [r.charge for r in await again.usage("a1", limit=1, offset=1) or []] == ["k1"]
    assert await again.usage("nobody", limit=10, offset=0) is None
    assert again.balance_of("a1") == {"seconds": 1000 - 85 - 7}
    await again.close()


async def test_an_answered_debit_survives_a_crash_before_the_store_write(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Every change is in the journal before its answer; the next start stores it."""
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100), journal=tmp_path, interval=3600.0)
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 1000)
    await ocs.initiate(_charge("k1", 100))
    await ocs.update(_charge("k1", 100, used=60))
    await ocs.terminate(_charge("k1", None, used=15))
    await ocs.debit(_charge("k2", 5))
    assert await _stored_balance(sessions, "a1") == 1000  # not in the store yet
    # The process dies here (no close, no flush); the next one starts on what is on disk.
    again = EmbeddedOcs(sessions, Quota(), journal=tmp_path)
    await again.start()
    assert again.balance_of("a1") == {"seconds": 920}
    assert await _stored_balance(sessions, "a1") == 920
    records = await again.usage("a1", limit=10, offset=0) or []
    assert [(r.charge, r.amount) for r in records] == [("k2", 5.0), ("k1", 75.0)]
    await again.close()
    third = EmbeddedOcs(sessions, Quota(), journal=tmp_path)  # nothing is applied twice
    await third.start()
    assert third.balance_of("a1") == {"seconds": 920}
    assert len(await third.usage("a1", limit=10, offset=0) or []) == 2
    await third.close()
    await ocs._writer.stop()


async def test_a_value_the_store_cannot_hold_does_not_stop_the_others(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Defect: one oversized balance failed every later store write until restart."""
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100), journal=tmp_path, interval=3600.0)
    await ocs.start()
    await ocs.set_balance("good", Unit.SECONDS, 1000)
    await ocs.set_balance("bad", Unit.SECONDS, 1)
    # Past every bound the inputs enforce: what a bug elsewhere could still put in memory.
    ocs._balances["bad"][Unit.SECONDS] = 2**64
    ocs._dirty.add(("bad", Unit.SECONDS))
    before = _rejected("balance")
    await ocs.initiate(_charge("k1", 100, account="good"))
    await ocs.terminate(_charge("k1", None, used=30, account="good"))
    await ocs.flush()
    assert await _stored_balance(sessions, "good") == 970
    assert _rejected("balance") == before + 1
    await ocs.terminate(_charge("k2", None, used=1, account="good"))
    await ocs.flush()  # later writes work too
    assert await _stored_balance(sessions, "good") == 969
    await ocs.close()


async def test_usage_past_any_balance_is_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    ocs = EmbeddedOcs(session_factory(engine), Quota(seconds=100), journal=tmp_path)
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 0)
    await ocs.terminate(_charge("k1", None, used=MAX_AMOUNT))  # far overrun, still held
    with pytest.raises(OcsError) as refused:
        await ocs.terminate(_charge("k2", None, used=MAX_AMOUNT))
    assert refused.value.outcome is Outcome.RATING_FAILED
    assert ocs.balance_of("a1") == {"seconds": -MAX_AMOUNT}
    await ocs.close()


async def test_debits_are_answered_while_the_store_is_down_and_stored_when_it_is_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100), journal=tmp_path, interval=0.01)
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 1000)
    await ocs.initiate(_charge("k1", 100))
    helper = ocs._writer.pid
    assert helper is not None
    os.kill(helper, signal.SIGKILL)
    for _ in range(300):  # until the daemon sees its helper gone
        if ocs._writer.pid is None:
            break
        await asyncio.sleep(0.01)
    await ocs.terminate(_charge("k1", None, used=40))  # journaled: answered
    for _ in range(300):  # the write-behind starts a new helper and stores it
        if await _stored_balance(sessions, "a1") == 960:
            break
        await asyncio.sleep(0.01)
    assert await _stored_balance(sessions, "a1") == 960
    await ocs.close()


async def _stored_balance(sessions: SessionFactory, account: str) -> int | None:
    async with sessions() as s:
        return await s.scalar(select(Balance.amount).where(Balance.account == account))


def _rejected(kind: str) -> float:
    return REGISTRY.get_sample_value("omnigw_ocs_store_rows_rejected_total", {"kind": kind}) or 0
