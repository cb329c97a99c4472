"""Group commit for delivery progress: many state changes, one transaction.

The delivery engine runs in memory and never waits for the store on its hot
path; this writer batches what changed (delivery rows, history events, alert
completion) and commits it every few milliseconds through the store helper
process. Alerts themselves are stored by the service before the API answers,
through the same helper, which runs one transaction at a time: an alert
waits for at most the one batch already sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omnigw.cbc.delivery import DeliveryState
from omnigw.store.base import utcnow
from omnigw.store.process import Op, StoreProcess, blob

log = logging.getLogger("omnigw.cbc.writer")

BATCH = 64  # rows per transaction: bounds how long an alert submission can wait for us


@dataclass(slots=True)
class DeliveryRow:
    """The persisted columns of a delivery, as the engine last left them."""

    id: int
    state: DeliveryState
    attempts: int
    confirmed_serial: int | None
    error: str | None
    confirmed_at: datetime | None
    report: bytes | None
    kill_report: bytes | None
    status_report: bytes | None


class StoreWriter:
    def __init__(self, store: StoreProcess, interval: float = 0.01) -> None:
        self._store = store
        self._interval = interval
        self._deliveries: dict[int, DeliveryRow] = {}
        # id -> message id, peer, its interface: to INSERT
        self._unstored: dict[int, tuple[int, str, str]] = {}
        # New deliveries nothing has happened to yet: a restart would recreate them as
        # they are (see CbcService._add_missing_deliveries), so they are written with
        # their first change, or when a reader asks, not as soon as they exist.
        self._fresh: dict[int, DeliveryRow] = {}
        self._events: list[dict[str, Any]] = []
        self._reports: collections.deque[dict[str, Any]] = collections.deque()  # see report()
        self._done: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def new_delivery(self, row: DeliveryRow, message_id: int, peer: str, interface: str) -> None:
        self._unstored[row.id] = (message_id, peer, interface)
        self._fresh[row.id] = row

    def delivery(self, row: DeliveryRow) -> None:
        self._fresh.pop(row.id, None)
        self._deliveries[row.id] = row  # the latest version wins
        self._wake.set()

    def report(self, row: DeliveryRow, kind: str, frame: bytes) -> None:
        """A report the peer sent unasked about this delivery (see models.PeerReport)."""
        if row.id in self._fresh:  # its row must exist before its reports
            self.delivery(row)
        self._reports.append(
            {"delivery_id": row.id, "kind": kind, "at": utcnow(), "frame": blob(frame)}
        )
        self._wake.set()

    def event(self, alert_id: str, what: str, detail: dict[str, Any]) -> None:
        self._events.append(event_row(alert_id, what, detail))
        self._wake.set()

    def alert_delivered(self, alert_id: str, at: datetime) -> None:
        self._done[alert_id] = at
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._interval)  # let a burst gather
            try:
                await self._commit_queued()
            except Exception:
                log.exception("could not store delivery progress; will retry")
                await asyncio.sleep(1.0)

    async def flush(self) -> None:
        """Commit everything so far, new deliveries included; readers call this for a
        current view."""
        fresh, self._fresh = self._fresh, {}
        self._deliveries.update(fresh)
        await self._commit_queued()

    async def _commit_queued(self) -> None:
        async with self._lock:
            while self._deliveries or self._events or self._done or self._reports:
                self._wake.clear()
                rows = list(itertools.islice(self._deliveries.values(), BATCH))
                for row in rows:
                    del self._deliveries[row.id]
                events, self._events = self._events[:BATCH], self._events[BATCH:]
                done, self._done = self._done, {}
                # Reports of deliveries not stored yet wait for their row's batch.
                inserted = {row.id for row in rows}
                reports: list[dict[str, Any]] = []
                waiting: list[dict[str, Any]] = []
                while self._reports and len(reports) < BATCH:
                    report = self._reports.popleft()
                    owner = report["delivery_id"]
                    stored = owner in inserted or owner not in self._unstored
                    (reports if stored else waiting).append(report)
                self._reports.extendleft(reversed(waiting))
                try:
                    await self._commit(rows, events, done, reports)
                except Exception:
                    for row in rows:  # keep them for the next attempt, unless newer exist
                        self._deliveries.setdefault(row.id, row)
                    self._events[:0] = events
                    self._reports.extendleft(reversed(reports))
                    self._done.update(done)
                    raise

    async def _commit(
        self,
        rows: list[DeliveryRow],
        events: list[dict[str, Any]],
        done: dict[str, datetime],
        reports: list[dict[str, Any]],
    ) -> None:
        now = utcnow()
        new: list[dict[str, Any]] = []
        known: list[dict[str, Any]] = []
        for row in rows:
            columns = _columns(row, now)
            where = self._unstored.get(row.id)
            if where is None:
                known.append(columns)
            else:
                columns["message_id"], columns["peer"], columns["interface"] = where
                new.append(columns)
        ops: list[Op] = []
        if new:  # insert_new: a batch retried after a lost answer may already be stored
            ops.append(("insert_new", "cbc_deliveries", new))
        if known:
            ops.append(("update", "cbc_deliveries", known))
        if reports:
            ops.append(("insert", "cbc_peer_reports", reports))
        if events:
            ops.append(("insert", "cbc_alert_events", events))
        if done:
            completed = [{"id": alert_id, "completed_at": at} for alert_id, at in done.items()]
            ops.append(("update", "cbc_alerts", completed))
        await self._store.run(ops)
        for columns in new:
            del self._unstored[columns["id"]]


def event_row(alert_id: str, what: str, detail: dict[str, Any]) -> dict[str, Any]:
    """A line of an alert's history, as the store helper inserts it."""
    return {"alert_id": alert_id, "at": utcnow(), "what": what, "detail": detail}


def _columns(row: DeliveryRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": str(row.state),
        "attempts": row.attempts,
        "confirmed_serial": row.confirmed_serial,
        "error": row.error,
        "confirmed_at": row.confirmed_at,
        "report": blob(row.report),
        "kill_report": blob(row.kill_report),
        "status_report": blob(row.status_report),
        "updated_at": now,
    }
