"""The embedded lab backend: balances per account and unit, reservations, commit on use.

Not a rating engine: one unit of quota costs one unit of balance, there are no
tariffs, bundles or expiry. It exists so `make run` charges something real and
labs need no CGRateS. Balances live in memory and are written behind to the
store every 0.2 s, together with one usage record per ended charge
(the account's history, as CGRateS keeps CDRs); reservations live in memory
only (after a restart the clients' sessions are unknown anyway and get 5002).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.config import Quota, Topup
from omnigw.ocs.accounts import AccountError, ActionNotFound, UsageRecord
from omnigw.ocs.charge import (
    CREDIT_LIMIT_REACHED,
    END_USER_SERVICE_DENIED,
    UNIT_NAMES,
    UNITS_BY_NAME,
    USER_UNKNOWN,
    Charge,
    Grant,
    OcsError,
    Unit,
    quota_of,
)
from omnigw.ocs.models import Account, Balance, Usage
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory

log = logging.getLogger("omnigw.ocs.embedded")


@dataclass(slots=True)
class OpenCharge:
    """A charge between its first request and its end: what it holds and has used."""

    account: str
    unit: Unit
    started: datetime
    rating_group: int | None
    held: int = 0
    used: int = 0


class EmbeddedOcs:
    def __init__(
        self,
        sessions: SessionFactory,
        default_quota: Quota,
        interval: float = 0.2,
        actions: dict[str, Topup] | None = None,
    ):
        self._sessions = sessions
        self._default = default_quota
        self._actions = actions or {}
        self._disabled: set[str] = set()
        self._interval = interval
        self._balances: dict[str, dict[Unit, int]] = {}
        self._reserved: dict[tuple[str, Unit], int] = {}
        self._charges: dict[str, OpenCharge] = {}
        self._dirty: set[tuple[str, Unit]] = set()
        self._ended: list[dict[str, Any]] = []  # usage rows not yet stored
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._sessions() as s:
            for account in (await s.execute(select(Account))).scalars():
                self._balances.setdefault(account.account, {})
                if account.disabled:
                    self._disabled.add(account.account)
            for row in (await s.execute(select(Balance))).scalars():
                self._balances.setdefault(row.account, {})[UNITS_BY_NAME[row.unit]] = row.amount
        self._task = asyncio.get_running_loop().create_task(self._write_behind())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    # --- charging ------------------------------------------------------------------------

    async def initiate(self, charge: Charge) -> Grant:
        return self._reserve(charge)

    async def update(self, charge: Charge) -> Grant:
        self._commit(charge)
        return self._reserve(charge)

    async def terminate(self, charge: Charge) -> None:
        self._commit(charge)
        self._end(charge)

    async def debit(self, charge: Charge) -> Grant:
        grant = self._reserve(charge)
        self._commit(replace(charge, requested=None, used=grant.amount))
        self._end(charge)
        return grant

    def _open(self, charge: Charge) -> OpenCharge:
        state = self._charges.get(charge.key)
        if state is None:
            state = self._charges[charge.key] = OpenCharge(
                charge.account, charge.unit, charge.at, charge.rating_group
            )
        return state

    def _end(self, charge: Charge) -> None:
        """Close the charge; what it used becomes one record of the account's history."""
        state = self._charges.pop(charge.key, None)
        if state is None or not state.used:
            return
        self._ended.append({
            "account": state.account, "unit": UNIT_NAMES[state.unit], "amount": state.used,
            "charge_key": charge.key, "rating_group": state.rating_group,
            "started_at": state.started, "ended_at": charge.at,
        })  # fmt: skip
        self._wake.set()

    def _account(self, account: str) -> dict[Unit, int]:
        balances = self._balances.get(account)
        if balances is None:
            raise OcsError(USER_UNKNOWN, f"no account {account}")
        if account in self._disabled:
            raise OcsError(END_USER_SERVICE_DENIED, f"account {account} is disabled")
        return balances

    def _reserve(self, charge: Charge) -> Grant:
        balances = self._account(charge.account)
        if charge.requested == 0:
            return Grant(0)
        wanted = (
            charge.requested
            if charge.requested is not None
            else quota_of(self._default, charge.unit)
        )
        key = (charge.account, charge.unit)
        available = balances.get(charge.unit, 0) - self._reserved.get(key, 0)
        amount = min(wanted, available)
        if amount <= 0:
            raise OcsError(CREDIT_LIMIT_REACHED, f"{charge.account}: no {charge.unit.name} left")
        self._reserved[key] = self._reserved.get(key, 0) + amount
        self._open(charge).held = amount
        return Grant(amount, final=amount < wanted)

    def _commit(self, charge: Charge) -> None:
        """Take what was used from the balance and release what was held for it."""
        state = self._charges.get(charge.key)
        if state is not None and state.held:
            self._reserved[(state.account, state.unit)] -= state.held
            state.held = 0
        if charge.used:
            balances = self._account(charge.account)
            # A client may overrun its grant a little; the balance then goes below zero.
            balances[charge.unit] = balances.get(charge.unit, 0) - charge.used
            self._open(charge).used += charge.used
            self._dirty.add((charge.account, charge.unit))
            self._wake.set()

    # --- administration ------------------------------------------------------------------

    def balance_of(self, account: str) -> dict[str, int] | None:
        balances = self._balances.get(account)
        if balances is None:
            return None
        return {UNIT_NAMES[u]: amount for u, amount in balances.items()}

    async def set_balance(self, account: str, unit: Unit, amount: int) -> None:
        await self.create(account)
        self._balances[account][unit] = amount
        self._dirty.add((account, unit))
        await self.flush()

    # --- accounts (omnigw.ocs.accounts.Accounts) -------------------------------------------

    async def create(self, account: str) -> bool:
        if account in self._balances:
            return False
        async with self._sessions.begin() as s:
            await s.execute(insert(Account).values(account=account, disabled=False))
        self._balances[account] = {}
        return True

    async def remove(self, account: str) -> None:
        if self._balances.pop(account, None) is None:
            return
        self._disabled.discard(account)
        self._dirty = {(a, u) for a, u in self._dirty if a != account}
        async with self._sessions.begin() as s:
            await s.execute(delete(Balance).where(Balance.account == account))
            await s.execute(delete(Account).where(Account.account == account))

    async def set_disabled(self, account: str, disabled: bool) -> None:
        if account not in self._balances:
            raise AccountError(f"no embedded account {account}")
        async with self._sessions.begin() as s:
            await s.execute(
                update(Account).where(Account.account == account).values(disabled=disabled)
            )
        (self._disabled.add if disabled else self._disabled.discard)(account)

    async def execute_action(self, account: str, actions_id: str) -> None:
        topup = self._actions.get(actions_id)
        if topup is None:
            raise ActionNotFound(
                f"action {actions_id} not found (embedded backend: define it under ocs.actions)"
            )
        balances = self._balances.get(account)
        if balances is None:
            raise AccountError(f"no embedded account {account}")
        for unit in Unit:
            amount = getattr(topup, UNIT_NAMES[unit])
            if amount or topup.reset:
                balances[unit] = amount if topup.reset else balances.get(unit, 0) + amount
                self._dirty.add((account, unit))
        await self.flush()

    async def balances(self, account: str) -> dict[str, float] | None:
        held = self.balance_of(account)
        return None if held is None else {name: float(v) for name, v in held.items()}

    async def usage(self, account: str, limit: int, offset: int) -> list[UsageRecord] | None:
        if account not in self._balances:
            return None
        await self.flush()
        async with self._sessions() as s:
            rows = (
                await s.execute(
                    select(Usage)
                    .where(Usage.account == account)
                    .order_by(Usage.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).scalars()
            return [
                UsageRecord(
                    r.charge_key,
                    r.unit,
                    float(r.amount),
                    r.started_at.isoformat(),
                    r.ended_at.isoformat(),
                )
                for r in rows
            ]

    # --- persistence ---------------------------------------------------------------------

    async def _write_behind(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("could not store balances; will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        self._wake.clear()
        if not self._dirty and not self._ended:
            return
        dirty, self._dirty = self._dirty, set()
        ended, self._ended = self._ended, []
        now = utcnow()
        rows = [
            {"account": a, "unit": UNIT_NAMES[u], "amount": self._balances[a][u], "updated_at": now}
            for a, u in dirty
        ]
        try:
            async with self._sessions.begin() as s:
                if rows:
                    await self._store_balances(s, rows)
                if ended:
                    await s.execute(insert(cast(Table, Usage.__table__)), ended)
        except Exception:
            self._dirty |= dirty
            self._ended[:0] = ended
            raise

    @staticmethod
    async def _store_balances(s: AsyncSession, rows: list[dict[str, Any]]) -> None:
        """One upsert for every changed balance (Core, not the ORM: this runs every few ms)."""
        table = Balance.__table__
        dialect = s.get_bind().dialect.name
        upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(Balance)
        await s.execute(
            upsert.on_conflict_do_update(
                index_elements=[table.c.account, table.c.unit],
                set_={"amount": upsert.excluded.amount, "updated_at": upsert.excluded.updated_at},
            ),
            rows,
        )
