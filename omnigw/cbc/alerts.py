"""The alert service: alerts in, from any door (JSON API, CAP, ECBE, console), and what
becomes of them: accepted, updated, cancelled, expired; read back.

An alert is committed to the store before the caller is answered; the delivery engine
then takes it to the peers. Updates match messages by language and keep TS 23.041's
serial-number rules (message codes unique among live messages, update numbers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from omnigw.cbc.areas import Target
from omnigw.cbc.composer import Composer, Wanted
from omnigw.cbc.delivery import Event
from omnigw.cbc.engine import DeliveryEngine
from omnigw.cbc.messages import (
    AlertClass,
    Category,
    EncodedText,
    GeoScope,
    class_of,
    encode_text,
    is_etws,
)
from omnigw.cbc.metrics import ALERTS
from omnigw.cbc.models import Alert, AlertEvent, Delivery, Message
from omnigw.cbc.runtime import (
    AlertRt,
    AlertSpec,
    MessageRt,
    Runtime,
    Text,
    alert_rt,
    message_rt,
    priority_of,
    values_of,
)
from omnigw.cbc.writer import StoreWriter, event_row
from omnigw.config import CbcConfig
from omnigw.errors import Conflict, Invalid, NotFound, Unavailable
from omnigw.store.engine import SessionFactory
from omnigw.store.process import Op, StoreProcess

log = logging.getLogger("omnigw.cbc")


class AlertService:
    def __init__(
        self,
        cfg: CbcConfig,
        sessions: SessionFactory,
        store: StoreProcess,
        writer: StoreWriter,
        runtime: Runtime,
        engine: DeliveryEngine,
    ) -> None:
        self.cfg = cfg
        self._sessions = sessions
        self._store = store
        self._writer = writer
        self._rt = runtime
        self._engine = engine
        self._submit_lock = asyncio.Lock()
        self.composer = Composer(runtime)
        self.counts: dict[str, int] = {}  # alerts by state, for the gauge
        self._expiry: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.publish_counts()
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())

    def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()

    async def submit(self, spec: AlertSpec, who: str) -> str:
        """Validate, store and start delivering an alert; returns once it is durable."""
        etws = spec.alert_class is not None and is_etws(spec.alert_class)
        if not spec.texts and spec.encoded is None and spec.warning_type is None and not etws:
            raise Invalid("texts: at least one text is required")
        messages = self.composer.messages(spec)
        cls = spec.alert_class or (class_of(spec.identifier) if spec.identifier else None)
        priority = priority_of(cls)
        category = spec.category if spec.category is not None else (
            Category.HIGH_PRIORITY if priority <= 1 else Category.NORMAL
        )  # fmt: skip
        alert_id = secrets.token_hex(8)
        async with self._submit_lock:
            if spec.external_ref is not None and any(
                a.source == spec.source and a.external_ref == spec.external_ref
                and a.state == "active" for a in self._rt.alerts.values()
            ):  # fmt: skip
                raise Conflict(f"an active alert with reference {spec.external_ref} exists")
            now = self._engine.wall()
            alert = Alert(
                id=alert_id, state="active", source=spec.source, external_ref=spec.external_ref,
                alert_class=cls.value if cls else None, priority=priority, category=int(category),
                repetition_seconds=spec.repetition_seconds or self.cfg.default_repetition_seconds,
                broadcasts_requested=spec.broadcasts_requested,
                target=spec.target.to_json(), submitted_by=who, expires_at=spec.expires_at,
                created_at=now, updated_at=now, ended_at=None, completed_at=None, chain=None,
            )  # fmt: skip
            rows = self.composer.rows(alert_id, spec, cls, messages, 0)
            await self._store_alert(
                alert_id,
                [
                    ("insert", "cbc_alerts", [values_of(alert)]),
                    ("insert", "cbc_messages", [values_of(m) for m in rows]),
                    ("insert", "cbc_alert_events",
                     [event_row(alert_id, "accepted", {"by": who, "source": spec.source})]),
                ],
            )  # fmt: skip
            rt = self._runtime(alert, rows, spec.target)
        self.counts["active"] = self.counts.get("active", 0) + 1
        self.publish_counts()
        log.info("alert accepted", extra={"alert_id": alert_id, "class": cls, "by": who})
        # Durable now: answer the caller first, then write to the peers.
        asyncio.get_running_loop().call_soon(self._engine.start_alert, rt)
        return alert_id

    async def _store_alert(self, alert_id: str, ops: list[Op]) -> None:
        try:
            await self._store.run(ops)
        except Unavailable:
            # The helper ended with the transaction in flight: the store says if it committed.
            async with self._sessions() as s:
                if await s.scalar(select(Alert.id).where(Alert.id == alert_id)) is None:
                    raise

    def _runtime(self, alert: Alert, rows: list[Message], target: Target) -> AlertRt:
        rt = alert_rt(alert, self._engine.clock(), target)
        for message in rows:
            message_rt(message, rt)
        self._rt.track(rt)
        for mrt in rt.messages:
            for peer in self._rt.peers.values():
                self._engine.register(peer, mrt)
        return rt

    def _live(self, alert_id: str) -> AlertRt:
        alert = self._rt.alerts.get(alert_id)
        if alert is None or alert.state != "active":
            raise NotFound(f"no active alert {alert_id}")
        return alert

    async def supersede(
        self, alert_id: str, spec: AlertSpec, who: str, reference: str | None = None
    ) -> None:
        """An update that replaces the alert's content with `spec` (CAP 1.2 Update).

        Messages are matched by language, never by position. One whose identifier is
        unchanged keeps its message code and gets update number + 1 (TS 23.041 9.4.1.2.1);
        a changed identifier (the class changed) is a new message with a new serial number,
        and the old one is stopped; a language `spec` no longer carries is stopped; a new
        language is a new message. A changed area re-targets what is kept: cells no longer
        covered get KILL, a peer no longer covered gets KILL for the message, a peer newly
        covered gets it written. `reference` joins the references the alert answers to.
        """
        cls = spec.alert_class or (class_of(spec.identifier) if spec.identifier else None)
        async with self._submit_lock:
            alert = await self._active(alert_id)
            # The alert's first language stays its local-language message (TS 23.041
            # 9.4.1.2.2): the order of the update's texts says nothing about that.
            order = {m.language: i for i, m in enumerate(self._current(alert))}
            texts = sorted(spec.texts, key=lambda t: order.get(t.language, len(order)))
            wanted = self.composer.messages(replace(spec, texts=tuple(texts)))
            await self._revise(alert, wanted, spec, cls, who, reference)

    async def revise_texts(self, alert_id: str, texts: Sequence[Text], who: str) -> None:
        """New texts for some of an alert's languages; every message gets update number + 1."""
        async with self._submit_lock:
            alert = await self._active(alert_id)
            current = self._current(alert)
            if len(current) == 1 and len(texts) == 1 and texts[0].language is None:
                texts = [Text(current[0].language, texts[0].text)]  # nothing to choose from
            given = {t.language: t for t in texts}
            if len(given) != len(texts):
                raise Invalid("texts: a language is given twice")
            unknown = set(given) - {m.language for m in current}
            if unknown:
                names = ", ".join(str(lang) for lang in unknown)
                raise Invalid(f"texts: the alert has no message in language {names}; name the "
                              "language of each text")  # fmt: skip
            wanted = [
                (m.identifier, given[m.language],
                 encode_text(given[m.language].text, m.language or given[m.language].language))
                if m.language in given else (m.identifier, None, None)
                for m in current
            ]  # fmt: skip
            cls = AlertClass(alert.alert_class) if alert.alert_class else None
            spec = AlertSpec(target=alert.target, expires_at=alert.expires_at)
            await self._revise(alert, wanted, spec, cls, who, None, keep_unnamed=True)

    async def _active(self, alert_id: str) -> AlertRt:
        alert = self._rt.alerts.get(alert_id)
        if alert is None or alert.state != "active":
            await self._require_known(alert_id)
            raise Conflict(f"alert {alert_id} is not active")
        return alert

    @staticmethod
    def _current(alert: AlertRt) -> list[MessageRt]:
        return [m for m in alert.messages if not m.stopped]

    async def _revise(
        self,
        alert: AlertRt,
        wanted: Sequence[Wanted],
        spec: AlertSpec,
        cls: AlertClass | None,
        who: str,
        reference: str | None,
        keep_unnamed: bool = False,
    ) -> None:
        """Apply an update (the submit lock is held). With `keep_unnamed`, `wanted` lists
        every current message in order, None for a text that stays as it is."""
        if keep_unnamed:
            kept = [(m, t, e) for m, (_, t, e) in zip(self._current(alert), wanted, strict=True)]
            added: list[Wanted] = []
            stopped: list[MessageRt] = []
        else:
            kept, added, stopped = self._match(alert, wanted)
        now = self._engine.wall()
        rows = self.composer.rows(alert.id, spec, cls, added, len(alert.messages))
        old_target, priority = alert.target, priority_of(cls)
        chain = sorted(alert.chain | ({reference} if reference else set()))
        changes: list[dict[str, Any]] = []
        for message, text, enc in kept:
            values: dict[str, Any] = {
                "id": message.id,
                "update_number": (message.update_number + 1) % 16,
            }
            if text is not None and enc is not None:
                values |= {"text": text.text, "dcs": enc.dcs,
                           "pages": [[p.length, p.content.hex()] for p in enc.pages]}  # fmt: skip
            changes.append(values)
        await self._store.run(
            [
                ("update", "cbc_messages", changes),
                ("update", "cbc_messages", [{"id": m.id, "stopped_at": now} for m in stopped]),
                ("insert", "cbc_messages", [values_of(m) for m in rows]),
                ("update", "cbc_alerts",
                 [{"id": alert.id, "updated_at": now, "completed_at": None,
                   "target": spec.target.to_json(), "expires_at": spec.expires_at,
                   "alert_class": cls.value if cls else None, "priority": priority,
                   "chain": chain}]),
                ("insert", "cbc_alert_events",
                 [event_row(alert.id, "updated", {
                     "by": who, "reference": reference,
                     "kept": [m.language for m, _, _ in kept],
                     "stopped": [m.language for m in stopped],
                     "added": [t.language if t else None for _, t, _ in added],
                     "retargeted": spec.target != old_target})]),
            ]
        )  # fmt: skip
        for message, _, enc in kept:
            message.encodings.clear()
            message.update_number = (message.update_number + 1) % 16
            if enc is not None:
                message.dcs = enc.dcs
                message.pages = enc.pages
        for message in stopped:
            message.stopped = True
        alert.target, alert.expires_at, alert.chain = spec.target, spec.expires_at, set(chain)
        alert.alert_class, alert.priority = (cls.value if cls else None), priority
        alert.progress.restarted()
        alert.accepted_at = self._engine.clock()
        fresh = [message_rt(m, alert) for m in rows]
        self._rt.track(alert)
        log.info(
            "alert updated",
            extra={"alert_id": alert.id, "by": who, "stopped": len(stopped), "added": len(fresh)},
        )
        kept_ids = {m.id for m, _, _ in kept}
        for peer, delivery in list(alert.deliveries):
            if delivery.message.stopped:
                self._engine.step(peer, delivery, Event.CANCEL)
            elif delivery.message.id in kept_ids:
                self._engine.retarget(peer, delivery, old_target)
        for message in fresh:
            self._engine.publish(message)

    def _match(
        self, alert: AlertRt, wanted: Sequence[Wanted]
    ) -> tuple[
        list[tuple[MessageRt, Text | None, EncodedText | None]],
        list[Wanted],
        list[MessageRt],
    ]:
        """(kept, added, stopped): `wanted` matched to the current messages by language."""
        current = {m.language: m for m in self._current(alert)}
        kept: list[tuple[MessageRt, Text | None, EncodedText | None]] = []
        added: list[Wanted] = []
        stopped: list[MessageRt] = []
        for ident, text, enc in wanted:
            message = current.pop(text.language if text else None, None)
            if message is not None and message.identifier == ident:
                kept.append((message, text, enc))
                continue
            added.append((ident, text, enc))
            if message is not None:
                stopped.append(message)  # the class changed: another message replaces it
        return kept, added, stopped + list(current.values())

    async def _require_known(self, alert_id: str) -> None:
        async with self._sessions() as s:
            if await s.get(Alert, alert_id) is None:
                raise NotFound(f"no alert {alert_id}")

    async def cancel(self, alert_id: str, who: str, reason: str = "cancelled") -> None:
        async with self._submit_lock:
            alert = await self._active(alert_id)
            await self._store.run(
                [
                    ("update", "cbc_alerts",
                     [{"id": alert_id, "state": reason, "ended_at": self._engine.wall()}]),
                    ("insert", "cbc_alert_events", [event_row(alert_id, reason, {"by": who})]),
                ]
            )  # fmt: skip
            alert.state = reason
        self.counts["active"] = self.counts.get("active", 1) - 1
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.publish_counts()
        log.info("alert ended", extra={"alert_id": alert_id, "reason": reason, "by": who})
        deliveries = list(alert.deliveries)
        for peer, delivery in deliveries:
            self._engine.step(peer, delivery, Event.CANCEL)
        if not deliveries:
            self._rt.untrack(alert_id)

    async def find_active(self, source: str, external_ref: str) -> str | None:
        for alert in self._rt.alerts.values():
            if (
                alert.state == "active"
                and alert.source == source
                and (alert.external_ref == external_ref or external_ref in alert.chain)
            ):
                return alert.id
        return None

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self._engine.wall()
            due = [
                a.id
                for a in self._rt.alerts.values()
                if a.state == "active" and a.expires_at is not None and a.expires_at <= now
            ]
            for alert_id in due:
                with contextlib.suppress(Conflict, NotFound):
                    await self.cancel(alert_id, "omnigw", "expired")

    def publish_counts(self) -> None:
        for state in ("active", "cancelled", "expired"):
            ALERTS.labels(state).set(self.counts.get(state, 0))

    async def query_status(self, alert_id: str) -> int:
        """Ask each peer holding the alert for its broadcast counts; returns queries sent."""
        return self._engine.query(self._live(alert_id))

    # --- reading -----------------------------------------------------------------------------

    def summary(self, alert_id: str) -> dict[str, Any]:
        """The engine's current view of an alert, without touching the store."""
        alert = self._rt.alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id} in progress")
        states: dict[str, int] = {}
        for _, delivery in list(alert.deliveries):
            states[delivery.row.state] = states.get(delivery.row.state, 0) + 1
        return {
            "id": alert.id,
            "state": alert.state,
            "class": alert.alert_class,
            "source": alert.source,
            "reference": alert.external_ref,
            "expires_at": alert.expires_at,
            "delivered": alert.progress.delivered,
            "deliveries": states,
            "messages": [
                {
                    "language": m.language,
                    "message_id": m.identifier,
                    "serial_number": m.serial,
                    "geo_scope": GeoScope(m.geo_scope).name.lower(),
                    "message_code": m.code,
                    "update_number": m.update_number,
                    "dcs": m.dcs,
                    "pages": len(m.pages),
                    "stopped": m.stopped,
                }
                for m in alert.messages
            ],
        }

    async def get(self, alert_id: str) -> Alert:
        await self._writer.flush()
        async with self._sessions() as s:
            alert = await s.get(
                Alert,
                alert_id,
                options=[
                    selectinload(Alert.messages)
                    .selectinload(Message.deliveries)
                    .selectinload(Delivery.reports)
                ],
            )
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            return alert

    async def history(self, alert_id: str) -> list[AlertEvent]:
        await self._writer.flush()
        async with self._sessions() as s:
            rows = await s.execute(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
            )
            return list(rows.scalars())

    async def list(
        self, state: str | None, source: str | None, limit: int, offset: int
    ) -> tuple[int, list[Alert]]:
        await self._writer.flush()
        async with self._sessions() as s:
            query = select(Alert)
            if state:
                query = query.where(Alert.state == state)
            if source:
                query = query.where(Alert.source == source)
            total = await s.scalar(select(func.count()).select_from(query.subquery()))
            rows = await s.execute(
                query.order_by(Alert.created_at.desc()).limit(limit).offset(offset)
            )
            return int(total or 0), list(rows.scalars())
