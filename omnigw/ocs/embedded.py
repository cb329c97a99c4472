"""The embedded lab backend: balances per account and unit, reservations, commit on use.

Not a rating engine: one unit of quota costs one unit of balance, there are no
tariffs, bundles or expiry. It exists so `make run` charges something real and
labs need no CGRateS. Balances live in memory. Every change is in the journal
(`ocs.journal`) before the request that made it is answered, so kill -9 loses
no acknowledged debit, and is written to the store within `interval` by a
helper process, together with one usage record per ended charge (the account's
history, as CGRateS keeps CDRs). Reservations live in memory only (after a
restart the clients' sessions are unknown anyway and get 5002).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from omnigw.config import MAX_AMOUNT, Quota, Topup
from omnigw.ocs.accounts import AccountError, ActionNotFound, UsageRecord
from omnigw.ocs.charge import (
    UNIT_NAMES,
    UNITS_BY_NAME,
    Charge,
    Grant,
    OcsError,
    Outcome,
    Unit,
    quota_of,
)
from omnigw.ocs.journal import BalanceRecord, EndedCharge, Journal, Record
from omnigw.ocs.metrics import STORE_ROWS_REJECTED
from omnigw.ocs.models import Account, Balance, Usage
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory, url_of
from omnigw.store.process import StoreProcess, StoreWriteError

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
        journal: Path,
        actions: dict[str, Topup] | None = None,
        interval: float = 0.2,
    ):
        self._sessions = sessions
        # Store writes run in a helper process: one pipe round trip per batch, the SQL on
        # the other core (see store.process).
        self._writer = StoreProcess(url_of(sessions), "omnigw.ocs.models")
        self._journal = Journal(journal)
        self._interval = interval
        self._default = default_quota
        self._actions = actions or {}
        self._disabled: set[str] = set()
        self._balances: dict[str, dict[Unit, int]] = {}
        self._reserved: dict[tuple[str, Unit], int] = {}
        self._charges: dict[str, OpenCharge] = {}
        self._dirty: set[tuple[str, Unit]] = set()
        self._ended: list[EndedCharge] = []  # not yet stored
        self._flushing = asyncio.Lock()  # one store write at a time, in order
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._writer.start()
        async with self._sessions() as s:
            for account in (await s.execute(select(Account))).scalars():
                self._balances.setdefault(account.account, {})
                if account.disabled:
                    self._disabled.add(account.account)
            for row in (await s.execute(select(Balance))).scalars():
                self._balances.setdefault(row.account, {})[UNITS_BY_NAME[row.unit]] = row.amount
            await self._recover(s, self._journal.open())
        await self.flush()  # what the journal held is stored, and its segments deleted
        self._task = asyncio.get_running_loop().create_task(self._write_behind())

    async def _recover(self, s: AsyncSession, records: list[Record]) -> None:
        """Apply what an earlier run journaled and may not have stored."""
        usage = [r for r in records if isinstance(r, EndedCharge)]
        stored: set[tuple[str, datetime]] = set()
        if usage:
            keys = {r.charge_key for r in usage}
            found = await s.execute(
                select(Usage.charge_key, Usage.ended_at).where(Usage.charge_key.in_(keys))
            )
            stored = {(key, ended) for key, ended in found}
        for record in records:
            if record.account not in self._balances:
                continue  # removed since
            if isinstance(record, BalanceRecord):
                unit = UNITS_BY_NAME[record.unit]
                self._balances[record.account][unit] = record.amount
                self._dirty.add((record.account, unit))
            elif (record.charge_key, record.ended_at) not in stored:
                self._ended.append(record)
        if records:
            log.info("journal read back", extra={"records": len(records)})

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:  # shutting down: the journal keeps it for the next start
            log.exception("could not store balances at shutdown; kept in the journal")
        await self._writer.stop()
        self._journal.close()

    # --- charging ------------------------------------------------------------------------

    async def admit(self, account: str) -> None:
        self._account(account)

    async def initiate(self, charge: Charge) -> Grant:
        return self._reserve(charge)

    async def update(self, charge: Charge) -> Grant:
        record = self._commit(charge)
        if record is not None:
            self._journaled(record)
        return self._reserve(charge)

    async def terminate(self, charge: Charge) -> None:
        self._journaled(self._commit(charge), self._end(charge))

    async def debit(self, charge: Charge) -> Grant:
        grant = self._reserve(charge)
        used = replace(charge, requested=None, used=grant.amount)
        self._journaled(self._commit(used), self._end(charge))
        return grant

    def _journaled(self, *records: Record | None) -> None:
        """Changes made: in the journal now, before the answer; in the store soon."""
        present = [r for r in records if r is not None]
        if present:
            self._journal.write(*present)
            self._wake.set()

    def _open(self, charge: Charge) -> OpenCharge:
        state = self._charges.get(charge.key)
        if state is None:
            state = self._charges[charge.key] = OpenCharge(
                charge.account, charge.unit, charge.at, charge.rating_group
            )
        return state

    def _end(self, charge: Charge) -> EndedCharge | None:
        """Close the charge; what it used becomes one record of the account's history."""
        state = self._charges.pop(charge.key, None)
        if state is None or not state.used:
            return None
        record = EndedCharge(state.account, UNIT_NAMES[state.unit], state.used, charge.key,
                             state.rating_group, state.started, charge.at)  # fmt: skip
        self._ended.append(record)
        return record

    def _account(self, account: str) -> dict[Unit, int]:
        balances = self._balances.get(account)
        if balances is None:
            raise OcsError(Outcome.UNKNOWN_ACCOUNT, f"no account {account}")
        if account in self._disabled:
            raise OcsError(Outcome.ACCOUNT_DISABLED, f"account {account} is disabled")
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
            raise OcsError(Outcome.NO_CREDIT, f"{charge.account}: no {charge.unit.name} left")
        self._reserved[key] = self._reserved.get(key, 0) + amount
        self._open(charge).held = amount
        return Grant(amount, final=amount < wanted)

    def _commit(self, charge: Charge) -> BalanceRecord | None:
        """Take what was used from the balance and release what was held for it."""
        state = self._charges.get(charge.key)
        if state is not None and state.held:
            self._reserved[(state.account, state.unit)] -= state.held
            state.held = 0
        if charge.used:
            balances = self._account(charge.account)
            # A client may overrun its grant a little; the balance then goes below zero,
            # never so far that the store could not hold it.
            left = balances.get(charge.unit, 0) - charge.used
            if left < -MAX_AMOUNT:
                raise OcsError(Outcome.RATING_FAILED, f"{charge.account}: usage past any balance")
            balances[charge.unit] = left
            self._open(charge).used += charge.used
            return self._changed(charge.account, charge.unit)
        return None

    def _changed(self, account: str, unit: Unit) -> BalanceRecord:
        self._dirty.add((account, unit))
        return BalanceRecord(account, UNIT_NAMES[unit], self._balances[account][unit])

    # --- administration ------------------------------------------------------------------

    def balance_of(self, account: str) -> dict[str, int] | None:
        balances = self._balances.get(account)
        if balances is None:
            return None
        return {UNIT_NAMES[u]: amount for u, amount in balances.items()}

    async def set_balance(self, account: str, unit: Unit, amount: int) -> None:
        await self.create(account)
        self._balances[account][unit] = amount
        self._journaled(self._changed(account, unit))
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
        new = {}
        for unit in Unit:
            amount = getattr(topup, UNIT_NAMES[unit])
            if amount or topup.reset:
                new[unit] = amount if topup.reset else balances.get(unit, 0) + amount
                if new[unit] > MAX_AMOUNT:
                    raise AccountError(f"{account}: {actions_id} would take the "
                                       f"{UNIT_NAMES[unit]} balance past {MAX_AMOUNT}")  # fmt: skip
        for unit, amount in new.items():
            balances[unit] = amount
        self._journaled(*(self._changed(account, unit) for unit in new))
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
                log.exception("could not store balances; kept in the journal, will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        """Store every change made so far; then the journal's older segments go."""
        async with self._flushing:
            self._wake.clear()
            if not self._dirty and not self._ended:
                return
            closed = self._journal.covered()
            dirty, self._dirty = self._dirty, set()
            ended, self._ended = self._ended, []
            try:
                await self._store(dirty, ended)
            except StoreWriteError as exc:
                if not exc.row_fault:
                    self._keep(dirty, ended)
                    raise
                await self._store_each(dirty, ended)
            except Exception:
                self._keep(dirty, ended)
                raise
            self._journal.release(closed)

    def _keep(self, dirty: set[tuple[str, Unit]], ended: list[EndedCharge]) -> None:
        """Not stored: kept for the next write (balances are read again then)."""
        self._dirty |= dirty
        self._ended[:0] = ended

    async def _store(self, dirty: set[tuple[str, Unit]], ended: list[EndedCharge]) -> None:
        now = utcnow()
        balances = [
            {"account": a, "unit": UNIT_NAMES[u], "amount": self._balances[a][u],
             "updated_at": now}
            for a, u in dirty if a in self._balances
        ]  # fmt: skip
        await self._writer.run(
            [
                ("upsert", "ocs_balances", balances),
                ("insert", "ocs_usage", [r.row() for r in ended]),
            ]
        )

    async def _store_each(self, dirty: set[tuple[str, Unit]], ended: list[EndedCharge]) -> None:
        """One row the store refuses must not stop the others: each alone, the bad ones
        reported and dropped (the bounds on every input mean this should never happen)."""
        alone: list[tuple[set[tuple[str, Unit]], list[EndedCharge]]] = [
            *(({key}, []) for key in dirty),
            *((set(), [record]) for record in ended),
        ]
        for index, (balance, usage) in enumerate(alone):
            try:
                await self._store(balance, usage)
            except StoreWriteError as exc:
                if not exc.row_fault:
                    for later_balance, later_usage in alone[index:]:
                        self._keep(later_balance, later_usage)
                    raise
                kind = "balance" if balance else "usage"
                STORE_ROWS_REJECTED.labels(kind).inc()
                log.error("the store refused a row; dropped",
                          extra={"kind": kind, "row": str(usage[0] if usage else balance),
                                 "error": str(exc)})  # fmt: skip
            except Exception:
                for later_balance, later_usage in alone[index:]:
                    self._keep(later_balance, later_usage)
                raise
