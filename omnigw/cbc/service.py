"""The CBC service: accepts alerts, stores them, fans them out to peers, tracks results.

Every state change is committed to the store before the PDU that follows from
it leaves, so a restarted daemon resumes exactly where it stopped: deliveries a
peer confirmed are not written again; unanswered ones are.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from omnigw.cbc.areas import Target, cell_key
from omnigw.cbc.cbsp.codec import (
    Category,
    Cause,
    CellList,
    Content,
    Discriminator,
    MsgType,
    Pdu,
)
from omnigw.cbc.cbsp.fsm import LinkFsm
from omnigw.cbc.cbsp.link import CbspLink, Reconnector
from omnigw.cbc.delivery import SETTLED, DeliveryState, Do, Event, step
from omnigw.cbc.messages import (
    AlertClass,
    Certainty,
    EncodedText,
    GeoScope,
    Page,
    SerialNumber,
    Urgency,
    class_of,
    encode_text,
    etws_warning_type,
    is_etws,
    message_identifier,
)
from omnigw.cbc.metrics import (
    ALERTS,
    CBSP_ERRORS,
    DELIVERY_LATENCY,
    MESSAGES,
    PEER_UP,
    UNKNOWN_PEERS,
)
from omnigw.cbc.models import Alert, AlertEvent, CellResult, Delivery, Message
from omnigw.config import CbcConfig, CbcPeer
from omnigw.errors import Conflict, Invalid, NotFound
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory

log = logging.getLogger("omnigw.cbc")

INTERFACE = "cbsp"
REPETITION_UNIT = 1.883  # seconds per CBSP repetition-period unit
ANSWER_PRIORITY = -1  # peer answers are handled before new writes


@dataclass(frozen=True, slots=True)
class Text:
    language: str | None
    text: str


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """A validated alert, whatever door it came in through."""

    target: Target
    texts: tuple[Text, ...] = ()
    alert_class: AlertClass | None = None
    identifier: int | None = None  # explicit message identifier (ECBE)
    severity: str = "Extreme"
    urgency: Urgency = Urgency.IMMEDIATE
    certainty: Certainty = Certainty.OBSERVED
    category: Category | None = None
    repetition_seconds: int | None = None
    broadcasts_requested: int = 0
    expires_at: datetime | None = None
    source: str = "api"
    external_ref: str | None = None
    serial: SerialNumber | None = None  # explicit serial (ECBE)
    encoded: EncodedText | None = None  # pre-encoded pages (ECBE payload_encoded)
    warning_type: int | None = None  # explicit ETWS warning type (ECBE payload_etws)


def _priority(cls: AlertClass | None) -> int:
    if cls is AlertClass.PRESIDENTIAL:
        return 0
    if cls in (AlertClass.EXTREME, AlertClass.ETWS_EARTHQUAKE, AlertClass.ETWS_TSUNAMI,
               AlertClass.ETWS_EARTHQUAKE_TSUNAMI):  # fmt: skip
        return 1
    return 2


@dataclass
class PeerRuntime:
    cfg: CbcPeer
    link: CbspLink | None = None
    queue: asyncio.PriorityQueue[tuple[int, int, int, Event, dict[str, Any]]] = field(
        default_factory=asyncio.PriorityQueue
    )
    worker: asyncio.Task[None] | None = None
    timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)

    @property
    def up(self) -> bool:
        return self.link is not None and self.link.up


class CbcService:
    def __init__(self, cfg: CbcConfig, sessions: SessionFactory) -> None:
        self.cfg = cfg
        self._sessions = sessions
        self._peers = {p.name: PeerRuntime(p) for p in cfg.peers}
        self._by_address = {str(p.address): p.name for p in cfg.peers if p.mode == "server"}
        self._seq = itertools.count()
        self._server: asyncio.Server | None = None
        self._reconnectors: list[Reconnector] = []
        self._expiry: asyncio.Task[None] | None = None
        self._accepted_at: dict[str, float] = {}
        # Hooks for tests and tools that want to see every PDU on the wire.
        self.on_sent: list[Any] = []
        self._write_lock = asyncio.Lock()
        # Peers that hold at least one confirmed message: never RESET them on link-up.
        self._holding: set[str] = set()

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        async with self._sessions.begin() as s:
            # Answers to what was in flight when we stopped are lost: resend later.
            await s.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.WRITING)
                .values(state=DeliveryState.PENDING)
            )
            await s.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.KILLING)
                .values(state=DeliveryState.KILL_PENDING)
            )
            held = await s.execute(
                select(Delivery.peer).where(Delivery.state == DeliveryState.ACTIVE).distinct()
            )
            self._holding = {peer for (peer,) in held}
        for peer in self._peers.values():
            peer.worker = asyncio.get_running_loop().create_task(self._work(peer))
            PEER_UP.labels(peer.cfg.name, INTERFACE).set(0)
        settings = self.cfg.cbsp
        if self._by_address:
            self._server = await asyncio.get_running_loop().create_server(
                self._accept, str(settings.bind), settings.port
            )
        for peer in self._peers.values():
            if peer.cfg.mode == "client":
                reconnector = Reconnector(
                    str(peer.cfg.address),
                    peer.cfg.port,
                    lambda p=peer: self._make_link(p),  # type: ignore[misc]
                    ceiling=settings.reconnect_max_seconds,
                )
                reconnector.start()
                self._reconnectors.append(reconnector)
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())
        await self._refresh_alert_gauge()

    def bound_port(self) -> int | None:
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for reconnector in self._reconnectors:
            await reconnector.stop()
        if self._server is not None:
            self._server.close()
        for peer in self._peers.values():
            if peer.link is not None:
                peer.link.close("shutting down")
            for timer in peer.timers.values():
                timer.cancel()
            if peer.worker is not None:
                peer.worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await peer.worker
        if self._server is not None:
            await self._server.wait_closed()

    def peer_status(self) -> dict[str, bool]:
        return {name: p.up for name, p in self._peers.items()}

    # --- links -----------------------------------------------------------------------

    def _fsm(self) -> LinkFsm:
        s = self.cfg.cbsp
        return LinkFsm(s.keepalive_seconds, s.keepalive_timeout_seconds, s.reset_timeout_seconds)

    def _make_link(self, peer: PeerRuntime) -> CbspLink:
        return CbspLink(peer.cfg.name, self._fsm(), self, lambda: self._needs_reset(peer))

    def _accept(self) -> asyncio.Protocol:
        return _Gate(self)

    def admit(self, address: str) -> CbspLink | None:
        """Server mode: a link for a configured peer's address, or None to refuse it."""
        name = self._by_address.get(address)
        if name is None:
            UNKNOWN_PEERS.labels(INTERFACE).inc()
            log.warning("refused CBSP connection from an unknown peer", extra={"remote": address})
            return None
        peer = self._peers[name]
        if peer.link is not None and peer.link.up:
            peer.link.close("replaced by a new connection")
        return self._make_link(peer)

    def _needs_reset(self, peer: PeerRuntime) -> bool:
        # RESET wipes the BSC's messages; only do it when we hold none confirmed there.
        return peer.cfg.name not in self._holding

    # LinkHandler ---------------------------------------------------------------------

    def link_up(self, link: CbspLink) -> None:
        peer = self._peers[link.peer]
        peer.link = link
        PEER_UP.labels(link.peer, INTERFACE).set(1)
        log.info("CBSP link up", extra={"peer": link.peer})
        self._enqueue(peer, ANSWER_PRIORITY, 0, Event.PEER_UP, {})

    def link_down(self, link: CbspLink, reason: str) -> None:
        peer = self._peers[link.peer]
        if peer.link is not link:
            return
        peer.link = None
        PEER_UP.labels(link.peer, INTERFACE).set(0)
        log.warning("CBSP link down", extra={"peer": link.peer, "reason": reason})
        self._enqueue(peer, ANSWER_PRIORITY, 0, Event.PEER_DOWN, {})

    def link_error(self, link: CbspLink, cause: int, reason: str) -> None:
        name = Cause(cause).name.lower() if cause in Cause._value2member_map_ else str(cause)
        CBSP_ERRORS.labels(link.peer, name).inc()
        log.warning(
            "CBSP protocol error", extra={"peer": link.peer, "cause": name, "reason": reason}
        )

    def link_sent(self, link: CbspLink, pdu: Pdu, wire: bytes) -> None:
        for hook in self.on_sent:
            hook(link.peer, pdu, wire)

    def link_pdu(self, link: CbspLink, pdu: Pdu) -> None:
        peer = self._peers[link.peer]
        t = pdu.type
        if t in (MsgType.WRITE_REPLACE_COMPLETE, MsgType.WRITE_REPLACE_FAILURE):
            event = Event.COMPLETE if t is MsgType.WRITE_REPLACE_COMPLETE else Event.FAILURE
            self._enqueue(peer, ANSWER_PRIORITY, 0, event, {"pdu": pdu})
        elif t in (MsgType.KILL_COMPLETE, MsgType.KILL_FAILURE):
            event = Event.KILL_COMPLETE if t is MsgType.KILL_COMPLETE else Event.KILL_FAILURE
            self._enqueue(peer, ANSWER_PRIORITY, 0, event, {"pdu": pdu})
        elif t is MsgType.RESTART:
            lost = pdu.recovery == 1
            log.warning("BSC restarted", extra={"peer": link.peer, "data_lost": lost})
            if lost or pdu.recovery is None:
                self._enqueue(peer, ANSWER_PRIORITY, 0, Event.RESTART, {"pdu": pdu})
        elif t is MsgType.MSG_STATUS_QUERY_COMPLETE:
            self._enqueue(peer, ANSWER_PRIORITY, 0, Event.COMPLETE, {"pdu": pdu, "status": True})
        elif t is MsgType.ERROR_INDICATION:
            CBSP_ERRORS.labels(
                link.peer, f"peer_{(pdu.cause or Cause.UNSPECIFIED).name.lower()}"
            ).inc()
            log.warning(
                "BSC sent ERROR INDICATION",
                extra={"peer": link.peer, "cause": pdu.cause, "message_id": pdu.message_id},
            )
        else:
            log.info("CBSP message", extra={"peer": link.peer, "type": t.name})

    # --- work queue ------------------------------------------------------------------

    def _enqueue(
        self, peer: PeerRuntime, priority: int, delivery_id: int, event: Event, data: dict[str, Any]
    ) -> None:
        peer.queue.put_nowait((priority, next(self._seq), delivery_id, event, data))

    async def _work(self, peer: PeerRuntime) -> None:
        while True:
            _, _, delivery_id, event, data = await peer.queue.get()
            try:
                await self._handle(peer, delivery_id, event, data)
            except Exception:
                log.exception("CBC delivery step failed", extra={"peer": peer.cfg.name})

    async def _handle(
        self, peer: PeerRuntime, delivery_id: int, event: Event, data: dict[str, Any]
    ) -> None:
        if event in (Event.PEER_UP, Event.PEER_DOWN, Event.RESTART):
            ids = await self._deliveries_of(peer, event)
            for did in ids:
                await self._apply(peer, did, event, data)
            return
        if delivery_id == 0:
            delivery_id = await self._match(peer, data["pdu"])
            if delivery_id == 0:
                log.warning("answer for an unknown message", extra={"peer": peer.cfg.name})
                return
        await self._apply(peer, delivery_id, event, data)

    async def _deliveries_of(self, peer: PeerRuntime, event: Event) -> list[int]:
        states = {
            Event.PEER_UP: (DeliveryState.PENDING, DeliveryState.KILL_PENDING),
            Event.PEER_DOWN: (DeliveryState.WRITING, DeliveryState.KILLING),
            Event.RESTART: (DeliveryState.ACTIVE, DeliveryState.WRITING, DeliveryState.FAILED),
        }[event]
        async with self._sessions() as s:
            if event is Event.PEER_UP:
                await self._ensure_deliveries(s, peer)
                await s.commit()
            rows = await s.execute(
                select(Delivery.id, Alert.priority)
                .join(Message, Delivery.message_id == Message.id)
                .join(Alert, Message.alert_id == Alert.id)
                .where(Delivery.peer == peer.cfg.name, Delivery.state.in_(states))
                .order_by(Alert.priority, Alert.created_at)
            )
            return [r[0] for r in rows]

    async def _ensure_deliveries(self, s: AsyncSession, peer: PeerRuntime) -> None:
        """A peer added after an alert still gets every active alert."""
        have = select(Delivery.message_id).where(Delivery.peer == peer.cfg.name)
        missing = await s.execute(
            select(Message.id).join(Alert).where(Alert.state == "active", Message.id.not_in(have))
        )
        for (message_id,) in missing:
            s.add(Delivery(message_id=message_id, peer=peer.cfg.name, state=DeliveryState.PENDING))

    async def _match(self, peer: PeerRuntime, pdu: Pdu) -> int:
        serial = pdu.new_serial if pdu.new_serial is not None else pdu.old_serial
        if serial is None or pdu.message_id is None:
            return 0
        decoded = SerialNumber.decode(serial)
        async with self._sessions() as s:
            row = await s.execute(
                select(Delivery.id)
                .join(Message)
                .where(
                    Delivery.peer == peer.cfg.name,
                    Message.message_identifier == pdu.message_id,
                    Message.message_code == decoded.message_code,
                    Message.geo_scope == decoded.geo_scope,
                )
            )
            found = row.scalar_one_or_none()
            return int(found) if found is not None else 0

    # --- the delivery step -----------------------------------------------------------

    async def _apply(
        self, peer: PeerRuntime, delivery_id: int, event: Event, data: dict[str, Any]
    ) -> None:
        sends: list[Pdu] = []
        settled_alert: tuple[str, float] | None = None
        async with self._sessions.begin() as s:
            delivery = await s.get(
                Delivery,
                delivery_id,
                options=[selectinload(Delivery.message).selectinload(Message.alert)],
            )
            if delivery is None:
                return
            message = delivery.message
            pdu: Pdu | None = data.get("pdu")
            if data.get("status") and pdu is not None:
                self._record_counts(s, delivery, pdu)
                return
            partial = bool(pdu and (pdu.completed or (pdu.cell_list and pdu.cell_list.cells)))
            # "Message reference already used" for every cell: the BSC holds this message.
            if (
                event is Event.FAILURE
                and pdu is not None
                and pdu.failures
                and all(f.cause is Cause.MSG_REF_ALREADY_USED for f in pdu.failures)
            ):
                event = Event.COMPLETE
            before = DeliveryState(delivery.state)
            result = step(
                before, event, delivery.attempts, self.cfg.cbsp.max_attempts, peer.up, partial
            )
            delivery.state = result.state
            delivery.attempts = result.attempts
            delivery.updated_at = utcnow()
            current_serial = self._serial(message)
            for action in result.actions:
                if action is Do.STOP_TIMER:
                    self._stop_timer(peer, delivery_id)
                elif action is Do.WRITE:
                    write = self._write_pdu(peer, message, delivery)
                    if write is None:
                        delivery.state = DeliveryState.KILLED
                        delivery.error = "no target cell served by this peer"
                    else:
                        sends.append(write)
                elif action is Do.KILL:
                    sends.append(self._kill_pdu(peer, message, delivery))
            if pdu is not None and event in (Event.COMPLETE, Event.FAILURE):
                self._record_write(s, delivery, pdu)
                if result.state is DeliveryState.ACTIVE:
                    delivery.confirmed_serial = current_serial
                    delivery.confirmed_at = utcnow()
                    delivery.error = None
                    self._holding.add(peer.cfg.name)
                MESSAGES.labels(
                    peer.cfg.name, INTERFACE,
                    "confirmed" if result.state is DeliveryState.ACTIVE else "failed",
                ).inc()  # fmt: skip
            elif pdu is not None and event in (Event.KILL_COMPLETE, Event.KILL_FAILURE):
                self._record_kill(s, delivery, pdu)
            if result.state is DeliveryState.FAILED and event is Event.TIMEOUT:
                delivery.error = f"no answer after {delivery.attempts} attempts"
                MESSAGES.labels(peer.cfg.name, INTERFACE, "failed").inc()
            if before is not result.state:
                s.add(
                    AlertEvent(
                        alert_id=message.alert_id,
                        what=f"delivery_{result.state}",
                        detail={"peer": peer.cfg.name, "language": message.language,
                                "event": str(event)},
                    )
                )  # fmt: skip
            settled_alert = await self._maybe_completed(s, message.alert)
        for pdu_out in sends:
            self._send(peer, delivery_id, pdu_out)
        if settled_alert is not None:
            alert_id, started = settled_alert
            DELIVERY_LATENCY.observe(time.monotonic() - started)
            log.info("alert delivered to every peer", extra={"alert_id": alert_id})

    async def _maybe_completed(self, s: AsyncSession, alert: Alert) -> tuple[str, float] | None:
        if alert.completed_at is not None or alert.state != "active":
            return None
        await s.flush()
        states = await s.execute(
            select(Delivery.state).join(Message).where(Message.alert_id == alert.id)
        )
        values = [DeliveryState(v) for (v,) in states]
        if values and all(v in SETTLED for v in values):
            alert.completed_at = utcnow()
            started = self._accepted_at.pop(alert.id, None)
            if started is not None:
                return alert.id, started
        return None

    def _send(self, peer: PeerRuntime, delivery_id: int, pdu: Pdu) -> None:
        if peer.link is None or not peer.link.up:
            self._enqueue(peer, ANSWER_PRIORITY, delivery_id, Event.PEER_DOWN, {})
            return
        try:
            peer.link.send(pdu)
        except ConnectionError:
            return
        MESSAGES.labels(peer.cfg.name, INTERFACE, "sent").inc()
        self._stop_timer(peer, delivery_id)
        peer.timers[delivery_id] = asyncio.get_running_loop().call_later(
            self.cfg.cbsp.answer_timeout_seconds,
            self._enqueue, peer, ANSWER_PRIORITY, delivery_id, Event.TIMEOUT, {},
        )  # fmt: skip

    def _stop_timer(self, peer: PeerRuntime, delivery_id: int) -> None:
        timer = peer.timers.pop(delivery_id, None)
        if timer is not None:
            timer.cancel()

    # --- PDUs ------------------------------------------------------------------------

    @staticmethod
    def _serial(message: Message) -> int:
        return SerialNumber(
            GeoScope(message.geo_scope), message.message_code, message.update_number
        ).encode()

    def _cells_for(self, peer: PeerRuntime, alert: Alert) -> CellList | None:
        target = target_from_json(alert.target)
        return target.for_peer(peer.cfg.cells)

    def _write_pdu(self, peer: PeerRuntime, message: Message, delivery: Delivery) -> Pdu | None:
        alert = message.alert
        cells = self._cells_for(peer, alert)
        if cells is None:
            return None
        serial = self._serial(message)
        old = delivery.confirmed_serial
        # Same serial again (peer lost it): a fresh write, not a replace.
        old_serial = old if old is not None and old != serial else None
        if message.warning_type is not None:
            return Pdu(
                MsgType.WRITE_REPLACE, message_id=message.message_identifier,
                new_serial=serial, old_serial=old_serial, cell_list=cells,
                emergency=1, warning_type=message.warning_type,
                warning_security=bytes(50), warning_period=alert.repetition_seconds,
            )  # fmt: skip
        pages = tuple(Content(bytes.fromhex(h), n) for n, h in message.pages)
        period = max(1, min(4095, round(alert.repetition_seconds / REPETITION_UNIT)))
        return Pdu(
            MsgType.WRITE_REPLACE, message_id=message.message_identifier, new_serial=serial,
            old_serial=old_serial, cell_list=cells, channel=0,
            category=Category(alert.category), repetition_period=period,
            broadcasts_requested=alert.broadcasts_requested, number_of_pages=len(pages),
            dcs=message.dcs, content=pages,
        )  # fmt: skip

    def _kill_pdu(self, peer: PeerRuntime, message: Message, delivery: Delivery) -> Pdu:
        cells = self._cells_for(peer, message.alert) or CellList(Discriminator.ALL_IN_BSC)
        serial = delivery.confirmed_serial or self._serial(message)
        return Pdu(
            MsgType.KILL, message_id=message.message_identifier, old_serial=serial,
            cell_list=cells, channel=None if message.warning_type is not None else 0,
        )  # fmt: skip

    # --- per-cell results ------------------------------------------------------------

    async def _cell(self, s: AsyncSession, delivery: Delivery, key: str) -> CellResult:
        for cell in delivery.cells:
            if cell.cell == key:
                return cell
        row = CellResult(delivery=delivery, cell=key, state="installed")
        s.add(row)
        return row

    def _record_write(self, s: AsyncSession, delivery: Delivery, pdu: Pdu) -> None:
        existing = {c.cell: c for c in delivery.cells}
        now = utcnow()

        def put(key: str, state: str, cause: str | None, count: int | None) -> None:
            row = existing.get(key)
            if row is None:
                row = CellResult(delivery=delivery, cell=key, state=state)
                s.add(row)
                existing[key] = row
            row.state, row.cause, row.updated_at = state, cause, now
            if count is not None:
                row.broadcasts_completed = count

        reported = False
        for count in pdu.completed or ():
            put(cell_key(count.cell), "installed", None, count.completed)
            reported = True
        if pdu.cell_list is not None:
            for cell in pdu.cell_list.cells:
                put(cell_key(cell), "installed", None, None)
                reported = True
        for failure in pdu.failures or ():
            if failure.cause is Cause.MSG_REF_ALREADY_USED:
                put(cell_key(failure.cell), "installed", None, None)
            else:
                put(cell_key(failure.cell), "failed", failure.cause.name.lower(), None)
            reported = True
        if not reported and pdu.type is MsgType.WRITE_REPLACE_COMPLETE:
            cells = target_from_json(delivery.message.alert.target).cells
            for cell in cells.cells or ():
                put(cell_key(cell), "installed", None, None)
            if not cells.cells:
                put("all", "installed", None, None)

    def _record_kill(self, s: AsyncSession, delivery: Delivery, pdu: Pdu) -> None:
        counts = {cell_key(c.cell): c.completed for c in pdu.completed or ()}
        for row in delivery.cells:
            if row.state == "installed":
                row.state = "killed"
                row.updated_at = utcnow()
            if row.cell in counts:
                row.broadcasts_completed = counts[row.cell]

    def _record_counts(self, s: AsyncSession, delivery: Delivery, pdu: Pdu) -> None:
        by_key = {c.cell: c for c in delivery.cells}
        for count in pdu.completed or ():
            row = by_key.get(cell_key(count.cell))
            if row is not None:
                row.broadcasts_completed = count.completed
                row.updated_at = utcnow()

    # --- alerts: the API side ---------------------------------------------------------

    async def _allocate_code(self, s: AsyncSession, identifier: int) -> int:
        """A message code no live message with this identifier uses (TS 23.041 9.4.1.2.1)."""
        rows = await s.execute(
            select(Message.message_code)
            .join(Alert)
            .where(Message.message_identifier == identifier, Alert.state == "active")
        )
        used = {code for (code,) in rows}
        last = await s.execute(
            select(Message.message_code)
            .where(Message.message_identifier == identifier)
            .order_by(Message.id.desc())
            .limit(1)
        )
        start = (last.scalar_one_or_none() or 0) + 1
        for offset in range(1024):
            code = (start + offset) % 1024
            if code not in used:
                return code
        raise Conflict(f"message identifier {identifier}: all 1024 message codes are live")

    def _messages(self, spec: AlertSpec) -> list[tuple[int, Text | None, EncodedText | None]]:
        """(identifier, text, encoding) per message of the alert."""
        if spec.identifier is not None:
            enc = spec.encoded
            if enc is None and spec.texts:
                enc = encode_text(spec.texts[0].text, spec.texts[0].language)
            text = spec.texts[0] if spec.texts else None
            return [(spec.identifier, text, enc)]
        assert spec.alert_class is not None
        if is_etws(spec.alert_class):
            ident = message_identifier(spec.alert_class)
            return [(ident, spec.texts[0] if spec.texts else None, None)]
        out: list[tuple[int, Text | None, EncodedText | None]] = []
        for index, text in enumerate(spec.texts):
            ident = message_identifier(
                spec.alert_class, index > 0, spec.severity, spec.urgency, spec.certainty
            )
            out.append((ident, text, encode_text(text.text, text.language)))
        return out

    async def submit(self, spec: AlertSpec, who: str) -> str:
        """Validate, store and queue an alert; returns its id once it is durable."""
        if (
            not spec.texts
            and spec.encoded is None
            and spec.warning_type is None
            and not (spec.alert_class and is_etws(spec.alert_class))
        ):
            raise Invalid("texts: at least one text is required")
        messages = self._messages(spec)  # raises MessageError before anything is stored
        cls = spec.alert_class or (class_of(spec.identifier) if spec.identifier else None)
        priority = _priority(cls)
        category = spec.category if spec.category is not None else (
            Category.HIGH_PRIORITY if priority <= 1 else Category.NORMAL
        )  # fmt: skip
        alert_id = secrets.token_hex(8)
        async with self._write_lock, self._sessions.begin() as s:
            if spec.external_ref is not None:
                dup = await s.execute(
                    select(Alert.id).where(
                        Alert.external_ref == spec.external_ref,
                        Alert.source == spec.source,
                        Alert.state == "active",
                    )
                )
                if dup.first() is not None:
                    raise Conflict(f"an active alert with reference {spec.external_ref} exists")
            alert = Alert(
                id=alert_id, state="active", source=spec.source, external_ref=spec.external_ref,
                alert_class=cls.value if cls else None, priority=priority, category=int(category),
                repetition_seconds=spec.repetition_seconds or self.cfg.default_repetition_seconds,
                broadcasts_requested=spec.broadcasts_requested,
                target=target_to_json(spec.target), submitted_by=who,
                expires_at=spec.expires_at,
            )  # fmt: skip
            s.add(alert)
            for index, (ident, text, enc) in enumerate(messages):
                if spec.serial is not None:
                    serial = spec.serial
                    clash = await s.execute(
                        select(Message.id).join(Alert).where(
                            Message.message_identifier == ident,
                            Message.message_code == serial.message_code,
                            Alert.state == "active",
                        )
                    )  # fmt: skip
                    if clash.first() is not None:
                        raise Conflict(
                            f"message {ident} with code {serial.message_code} is already active"
                        )
                else:
                    code = await self._allocate_code(s, ident)
                    serial = SerialNumber(spec.target.scope, code, 0)
                warning = spec.warning_type
                if warning is None and cls is not None and is_etws(cls):
                    warning = etws_warning_type(cls)
                pages: list[list[Any]] = [
                    [p.length, p.content.hex()] for p in (enc.pages if enc else ())
                ]
                message = Message(
                    alert=alert, index=index, language=text.language if text else None,
                    text=text.text if text else "", message_identifier=ident,
                    geo_scope=int(serial.geo_scope), message_code=serial.message_code,
                    update_number=serial.update_number, dcs=enc.dcs if enc else 0,
                    pages=pages, warning_type=warning,
                )  # fmt: skip
                s.add(message)
                for peer in self._peers.values():
                    s.add(
                        Delivery(message=message, peer=peer.cfg.name, state=DeliveryState.PENDING)
                    )
            s.add(
                AlertEvent(
                    alert_id=alert_id, what="accepted", detail={"by": who, "source": spec.source}
                )
            )
        self._accepted_at[alert_id] = time.monotonic()
        log.info("alert accepted", extra={"alert_id": alert_id, "class": cls, "by": who})
        await self._kick(alert_id, Event.PEER_UP, priority)
        await self._refresh_alert_gauge()
        return alert_id

    async def _kick(self, alert_id: str, event: Event, priority: int) -> None:
        """Queue `event` for every delivery of an alert (on its peer's queue)."""
        async with self._sessions() as s:
            rows = await s.execute(
                select(Delivery.id, Delivery.peer).join(Message).where(Message.alert_id == alert_id)
            )
            for delivery_id, peer_name in rows:
                peer = self._peers.get(peer_name)
                if peer is None:
                    continue
                if event is Event.PEER_UP and not peer.up:
                    continue  # written when the link comes up
                self._enqueue(peer, priority, delivery_id, event, {})

    async def update(self, alert_id: str, texts: Sequence[Text] | None, who: str) -> None:
        """New text for an active alert: same message code, update number + 1."""
        async with self._write_lock, self._sessions.begin() as s:
            alert = await s.get(Alert, alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            if alert.state != "active":
                raise Conflict(f"alert {alert_id} is {alert.state}")
            if texts:
                if len(texts) != len(alert.messages):
                    raise Invalid(f"texts: the alert has {len(alert.messages)} language(s)")
                for message, text in zip(alert.messages, texts, strict=True):
                    enc = encode_text(text.text, text.language or message.language)
                    message.text, message.dcs = text.text, enc.dcs
                    message.pages = [[p.length, p.content.hex()] for p in enc.pages]
            for message in alert.messages:
                message.update_number = (message.update_number + 1) % 16
            alert.updated_at = utcnow()
            alert.completed_at = None
            s.add(AlertEvent(alert_id=alert_id, what="updated", detail={"by": who}))
        self._accepted_at[alert_id] = time.monotonic()
        await self._kick(alert_id, Event.UPDATE, 0)

    async def cancel(self, alert_id: str, who: str, reason: str = "cancelled") -> None:
        async with self._write_lock, self._sessions.begin() as s:
            alert = await s.get(Alert, alert_id)
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            if alert.state != "active":
                raise Conflict(f"alert {alert_id} is already {alert.state}")
            alert.state = reason
            alert.ended_at = utcnow()
            s.add(AlertEvent(alert_id=alert_id, what=reason, detail={"by": who}))
        self._accepted_at.pop(alert_id, None)
        log.info(f"alert {reason}", extra={"alert_id": alert_id, "by": who})
        await self._kick(alert_id, Event.CANCEL, 0)
        await self._refresh_alert_gauge()

    async def find_active(self, source: str, external_ref: str) -> str | None:
        async with self._sessions() as s:
            row = await s.execute(
                select(Alert.id).where(
                    Alert.source == source, Alert.external_ref == external_ref,
                    Alert.state == "active",
                )
            )  # fmt: skip
            return row.scalar_one_or_none()

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                async with self._sessions() as s:
                    rows = await s.execute(
                        select(Alert.id).where(
                            Alert.state == "active",
                            Alert.expires_at.is_not(None),
                            Alert.expires_at <= utcnow(),
                        )
                    )
                    due = [r[0] for r in rows]
                for alert_id in due:
                    with contextlib.suppress(Conflict, NotFound):
                        await self.cancel(alert_id, "omnigw", "expired")
            except Exception:
                log.exception("alert expiry check failed")

    async def _refresh_alert_gauge(self) -> None:
        async with self._sessions() as s:
            rows = await s.execute(select(Alert.state, func.count()).group_by(Alert.state))
            counts = {state: count for state, count in rows}
        for state in ("active", "cancelled", "expired"):
            ALERTS.labels(state).set(counts.get(state, 0))

    async def get(self, alert_id: str) -> Alert:
        async with self._sessions() as s:
            alert = await s.get(
                Alert,
                alert_id,
                options=[
                    selectinload(Alert.messages)
                    .selectinload(Message.deliveries)
                    .selectinload(Delivery.cells)
                ],
            )
            if alert is None:
                raise NotFound(f"no alert {alert_id}")
            return alert

    async def history(self, alert_id: str) -> list[AlertEvent]:
        async with self._sessions() as s:
            rows = await s.execute(
                select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
            )
            return list(rows.scalars())

    async def list(
        self, state: str | None, source: str | None, limit: int, offset: int
    ) -> tuple[int, list[Alert]]:
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

    async def query_status(self, alert_id: str) -> None:
        """Ask every peer holding the alert for its broadcast counts (MSG STATUS QUERY)."""
        alert = await self.get(alert_id)
        for message in alert.messages:
            for delivery in message.deliveries:
                peer = self._peers.get(delivery.peer)
                if peer is None or not peer.up or delivery.state != DeliveryState.ACTIVE:
                    continue
                cells = self._cells_for(peer, alert) or CellList(Discriminator.ALL_IN_BSC)
                assert peer.link is not None
                peer.link.send(
                    Pdu(
                        MsgType.MSG_STATUS_QUERY, message_id=message.message_identifier,
                        old_serial=delivery.confirmed_serial, cell_list=cells, channel=0,
                    )
                )  # fmt: skip


def target_to_json(target: Target) -> dict[str, Any]:
    return {
        "discriminator": int(target.cells.discriminator),
        "scope": int(target.scope),
        "cells": [[c.mcc, c.mnc, c.lac, c.ci] for c in target.cells.cells],
    }


def target_from_json(data: dict[str, Any]) -> Target:
    from omnigw.cbc.cbsp.codec import CellId

    cells = tuple(CellId(*c) for c in data["cells"])
    return Target(CellList(Discriminator(data["discriminator"]), cells), GeoScope(data["scope"]))


class _Gate(asyncio.Protocol):
    """Server-mode admission: checks the remote address, then hands over to a CbspLink."""

    def __init__(self, service: CbcService) -> None:
        self._service = service
        self._link: CbspLink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = transport.get_extra_info("peername")[0]
        self._link = self._service.admit(address)
        if self._link is None:
            transport.close()
            return
        self._link.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._link is not None:
            self._link.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._link is not None:
            self._link.connection_lost(exc)


__all__ = ["AlertSpec", "CbcService", "Page", "Text"]
