"""The embedded backend: reservations, commits, refusals, and balances that survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.config import Quota
from omnigw.ocs.charge import CREDIT_LIMIT_REACHED, USER_UNKNOWN, Charge, OcsError, Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.store.engine import session_factory


def _charge(key: str, requested: int | None, used: int = 0, account: str = "a1") -> Charge:
    return Charge(key, "s", f"{key}:{used}", account, Unit.SECONDS, requested, used,
                  datetime.now(UTC))  # fmt: skip


async def test_reserve_commit_release_and_persist(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100))
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 250)
    assert (await ocs.initiate(_charge("k1", None))).amount == 100  # the default quota
    assert (await ocs.initiate(_charge("k2", 200))).amount == 150  # only what is not held
    with pytest.raises(OcsError) as refused:
        await ocs.initiate(_charge("k3", 10))
    assert refused.value.result_code == CREDIT_LIMIT_REACHED
    await ocs.terminate(_charge("k2", None, used=40))  # releases 150, takes 40
    grant = await ocs.update(_charge("k1", 500, used=60))  # takes 60, holds the rest
    assert (grant.amount, grant.final) == (150, True)
    await ocs.close()

    again = EmbeddedOcs(sessions, Quota())
    await again.start()
    assert again.balance_of("a1") == {"seconds": 150}
    await again.close()


async def test_unknown_account_is_user_unknown(engine: AsyncEngine) -> None:
    ocs = EmbeddedOcs(session_factory(engine), Quota())
    await ocs.start()
    with pytest.raises(OcsError) as refused:
        await ocs.initiate(_charge("k", 1, account="nobody"))
    assert refused.value.result_code == USER_UNKNOWN
    await ocs.close()


async def test_each_ended_charge_is_one_usage_record_kept_across_restart(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    ocs = EmbeddedOcs(sessions, Quota(seconds=100))
    await ocs.start()
    await ocs.set_balance("a1", Unit.SECONDS, 1000)
    await ocs.initiate(_charge("k1", None))
    await ocs.update(_charge("k1", 100, used=60))
    await ocs.terminate(_charge("k1", None, used=25))  # one record: 85 s
    await ocs.initiate(_charge("k2", 10))
    await ocs.terminate(_charge("k2", None, used=0))  # used nothing: no record
    await ocs.debit(_charge("k3", 7))  # an event is a record of its own
    await ocs.close()

    again = EmbeddedOcs(sessions, Quota())
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
