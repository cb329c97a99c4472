"""The failure policy around a remote OCS: circuit breaker, fallback quota, no lost usage.

While the OCS cannot be reached, a CCR either gets the configured result code at
once or the configured fallback quota (Credit-Control-Failure-Handling
CONTINUE, done on the server side). Either way, every usage a client reports
that the OCS could not take is written to the store before we answer, and
replayed in order as CDRs once the OCS is back. A charge whose OCS session is
unknown to the OCS (opened during an outage, or broken by one) is "offline":
its usage is kept the same way, its stale OCS session is closed on recovery,
and it goes back online at its next update with a fresh OCS session under a
new OriginID (so closing the stale one can never touch the new one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import delete, func, select, update

from omnigw.config import FailurePolicy
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import (
    UNIT_NAMES,
    UNITS_BY_NAME,
    Charge,
    Grant,
    OcsError,
    OcsUnavailable,
    Outcome,
    quota_of,
)
from omnigw.ocs.metrics import BREAKER_OPEN, FALLBACK_GRANTS, UNREPORTED
from omnigw.ocs.models import UnreportedUsage
from omnigw.store.engine import SessionFactory

log = logging.getLogger("omnigw.ocs")

T = TypeVar("T")
A = TypeVar("A")
REPLAY_BATCH = 100


class Breaker:
    """Closed; open after `failures` in a row; after `reset` seconds one trial call."""

    def __init__(
        self, failures: int, reset: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limit, self._reset, self._clock = failures, reset, clock
        self._failures = 0
        self._open_until: float | None = None
        self._trial = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def allow(self) -> bool:
        if self._open_until is None:
            return True
        if self._trial or self._clock() < self._open_until:
            return False
        self._trial = True  # half-open: this caller is the trial
        return True

    def success(self) -> None:
        self._failures, self._open_until, self._trial = 0, None, False
        BREAKER_OPEN.set(0)

    def failure(self) -> None:
        self._failures += 1
        self._trial = False
        if self._failures >= self._limit or self._open_until is not None:
            if self._open_until is None:
                log.warning("OCS unreachable: suspending calls", extra={"seconds": self._reset})
            self._open_until = self._clock() + self._reset
            BREAKER_OPEN.set(1)


class GuardedOcs:
    def __init__(self, backend: CgratesOcs, policy: FailurePolicy, sessions: SessionFactory):
        self._backend = backend
        self._policy = policy
        # What a refusal under the reject policy says (3004 TOO_BUSY: try another gateway)
        self._refusal = Outcome.BUSY if policy.result_code == 3004 else Outcome.UNAVAILABLE
        self._sessions = sessions
        self.breaker = Breaker(policy.breaker_failures, policy.breaker_reset_seconds)
        self._offline: set[str] = set()
        self._generation: dict[str, int] = {}  # charge key -> times reopened
        self._unreported = 0  # records in the store waiting for the OCS
        self._queued = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._backend.start()
        async with self._sessions() as s:
            count = await s.scalar(
                select(func.count()).select_from(UnreportedUsage).where(
                    UnreportedUsage.error.is_(None)
                )
            )  # fmt: skip
        self._unreported = count or 0
        UNREPORTED.set(self._unreported)
        if count:
            self._queued.set()
        self._task = asyncio.get_running_loop().create_task(self._replay_loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._backend.close()

    # --- charging ------------------------------------------------------------------------

    def _online(self, charge: Charge) -> Charge:
        """The charge as the OCS knows it: reopened ones carry their generation."""
        generation = self._generation.get(charge.key)
        return charge if generation is None else replace(charge, key=f"{charge.key}#{generation}")

    async def admit(self, account: str) -> None:
        try:
            await self._attempt(self._backend.admit, account)
        except OcsUnavailable as exc:
            if self._policy.action == "reject":
                raise OcsError(self._refusal, exc.reason) from None

    async def initiate(self, charge: Charge) -> Grant:
        try:
            return await self._attempt(self._backend.initiate, charge)
        except OcsUnavailable as exc:
            if exc.sent:  # CGRateS may have opened it and reserved: closed once it is back
                await self._keep((charge, "close"))
            return self._fall_back(charge, exc)
        except OcsError:
            await self._close(charge)
            raise

    async def _close(self, charge: Charge) -> None:
        """End a charge CGRateS refused: it registers a session before it debits and keeps
        it after a refusal or a grant of nothing (sessions/sessions.go 1667-1669 and 2668,
        master 19463bd); with its session_ttl at the default 0, nothing else ever would.
        Kept and retried like any usage if CGRateS cannot take it now."""
        try:
            await self._attempt(self._backend.end_session, replace(charge, used=0))
        except OcsUnavailable:
            await self._keep((charge, "close"))
        except OcsError:
            pass  # nothing open to close

    async def update(self, charge: Charge) -> Grant:
        if charge.key in self._offline:
            await self._keep((charge, "usage"))
            if charge.requested == 0:
                return Grant(0)
            generation = self._generation.get(charge.key, 0) + 1
            fresh = replace(
                charge, key=f"{charge.key}#{generation}", used=0,
                request_id=f"{charge.request_id}:reopen",
            )  # fmt: skip
            try:  # back online with a fresh OCS session for what comes next
                grant = await self._attempt(self._backend.initiate, fresh)
            except OcsUnavailable as exc:
                return self._fall_back(charge, exc)
            self._generation[charge.key] = generation
            self._offline.discard(charge.key)
            return grant
        online = self._online(charge)
        try:
            return await self._attempt(self._backend.update, online)
        except OcsUnavailable as exc:
            await self._keep((online, "close"), (charge, "usage"))
            self._offline.add(charge.key)
            return self._fall_back(charge, exc)

    async def terminate(self, charge: Charge) -> None:
        online = self._online(charge)
        self._generation.pop(charge.key, None)
        if charge.key in self._offline:
            self._offline.discard(charge.key)
            await self._keep((charge, "usage"))
            return
        try:
            await self._attempt(self._backend.terminate, online)
        except OcsUnavailable:
            await self._keep(
                (online, "close"), (charge, "usage")
            )  # stored: the client is told done

    async def debit(self, charge: Charge) -> Grant:
        try:
            return await self._attempt(self._backend.debit, charge)
        except OcsUnavailable as exc:
            grant = self._fall_back(charge, exc)
            await self._keep((replace(charge, used=grant.amount), "usage"))
            return grant

    async def _attempt(self, call: Callable[[A], Awaitable[T]], argument: A) -> T:
        if not self.breaker.allow():
            raise OcsUnavailable("OCS calls suspended after repeated failures", sent=False)
        try:
            result = await call(argument)
        except OcsUnavailable:
            self.breaker.failure()
            raise
        except OcsError:
            self.breaker.success()  # it answered: it is up
            raise
        self.breaker.success()
        if self._unreported:
            self._queued.set()  # the OCS answers: what was kept can go now
        return result

    def _fall_back(self, charge: Charge, exc: OcsUnavailable) -> Grant:
        if self._policy.action == "reject":
            raise OcsError(self._refusal, exc.reason)
        self._offline.add(charge.key)
        FALLBACK_GRANTS.inc()
        wanted = quota_of(self._policy.fallback_quota, charge.unit)
        if charge.requested is not None:
            wanted = min(wanted, charge.requested)
        return Grant(wanted)

    # --- usage the OCS has not taken -----------------------------------------------------

    async def _keep(self, *records: tuple[Charge, str]) -> None:
        """Store (charge, kind) records in one transaction before the client is answered."""
        rows = [
            UnreportedUsage(
                kind=kind, request_id=f"{charge.request_id}:{kind}", charge_key=charge.key,
                session_id=charge.session_id, account=charge.account,
                unit=UNIT_NAMES[charge.unit], used=charge.used if kind == "usage" else 0,
                rating_group=charge.rating_group, service_context=charge.service_context,
                other_party=charge.other_party, at=charge.at,
            )
            for charge, kind in records
            if kind != "usage" or charge.used
        ]  # fmt: skip
        if not rows:
            return
        try:
            async with self._sessions.begin() as s:
                known = set(
                    await s.scalars(
                        select(UnreportedUsage.request_id).where(
                            UnreportedUsage.request_id.in_([r.request_id for r in rows])
                        )
                    )
                )
                new = [r for r in rows if r.request_id not in known]  # a retransmission: once
                s.add_all(new)
        except Exception as exc:
            log.exception("cannot keep unreported usage")
            raise OcsError(Outcome.FAILED, "usage could not be stored") from exc
        if new:
            self._unreported += len(new)
            UNREPORTED.set(self._unreported)
            self._queued.set()

    async def _replay_loop(self) -> None:
        while True:
            await self._queued.wait()
            self._queued.clear()  # records kept from now on set it again
            try:
                more = await self.replay()
            except OcsUnavailable:  # still away, or the breaker holds calls back
                self._queued.set()
                await asyncio.sleep(min(1.0, self._policy.breaker_reset_seconds))
                continue
            except Exception:
                log.exception("replaying unreported usage failed; will retry")
                self._queued.set()
                await asyncio.sleep(1.0)
                continue
            if more:
                self._queued.set()

    async def replay(self) -> bool:
        """Send kept records in order; True if more remain. Raises OcsUnavailable when the
        OCS stops answering (what was sent so far is done)."""
        async with self._sessions() as s:
            rows = list(
                (
                    await s.execute(
                        select(UnreportedUsage)
                        .where(UnreportedUsage.error.is_(None))
                        .order_by(UnreportedUsage.id)
                        .limit(REPLAY_BATCH)
                    )
                ).scalars()
            )
        for row in rows:
            charge = Charge(
                key=row.charge_key, session_id=row.session_id, request_id=row.request_id,
                account=row.account, unit=UNITS_BY_NAME[row.unit], requested=None, used=row.used,
                at=row.at, rating_group=row.rating_group, service_context=row.service_context,
                other_party=row.other_party,
            )  # fmt: skip
            call = self._backend.report if row.kind == "usage" else self._backend.end_session
            error: str | None = None
            try:
                await self._attempt(call, charge)
            except OcsUnavailable:
                raise  # (a subclass of OcsError: not a refusal)
            except OcsError as exc:
                if row.kind == "close":
                    error = ""  # its session is already gone: nothing to close
                else:
                    error = exc.reason[:500]
                    log.error(
                        "OCS refused kept usage; it stays in the store",
                        extra={"record": row.id, "account": row.account, "reason": exc.reason},
                    )
            async with self._sessions.begin() as s:
                if error:
                    await s.execute(
                        update(UnreportedUsage)
                        .where(UnreportedUsage.id == row.id)
                        .values(error=error)
                    )
                else:
                    await s.execute(delete(UnreportedUsage).where(UnreportedUsage.id == row.id))
            self._unreported -= 1
            UNREPORTED.set(self._unreported)
        return len(rows) == REPLAY_BATCH
