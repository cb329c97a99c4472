"""The CBC service: accepts alerts, stores them, fans them out to peers, tracks results.

An alert is committed to the store before the API answers. Delivery then runs
in memory: one `delivery.step` state machine per (message, peer), a priority
queue per peer (Presidential first) drained as fast as the link takes it, and
a group-commit writer that records progress within milliseconds. After a
restart the engine reloads from the store: deliveries a peer confirmed are not
written again; unanswered ones are.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from omnigw.cbc.areas import Target
from omnigw.cbc.cbsp.codec import (
    Category,
    Cause,
    CellList,
    Content,
    DecodeError,
    Discriminator,
    MsgType,
    Pdu,
    Summary,
    decode,
    encode,
)
from omnigw.cbc.cbsp.fsm import LinkFsm
from omnigw.cbc.cbsp.link import CbspLink, Reconnector
from omnigw.cbc.delivery import SETTLED, DeliveryState, Do, Event, step
from omnigw.cbc.messages import (
    AlertClass,
    Certainty,
    EncodedText,
    GeoScope,
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
    SECOND_CONNECTIONS,
    UNKNOWN_PEERS,
)
from omnigw.cbc.models import Alert, AlertEvent, Delivery, Message
from omnigw.cbc.writer import DeliveryRow, StoreWriter, event_row
from omnigw.config import CbcConfig, CbcPeer
from omnigw.errors import Conflict, Invalid, NotFound, Unavailable
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory, url_of
from omnigw.store.process import Op, StoreProcess

log = logging.getLogger("omnigw.cbc")

INTERFACE = "cbsp"
REPETITION_UNIT = 1.883  # seconds per CBSP repetition-period unit
S = DeliveryState
# What a state in progress is stored as (and reloaded as after a restart).
_PENDING_FORM = {S.WRITING: S.PENDING, S.KILLING: S.KILL_PENDING}


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


def priority_of(cls: AlertClass | None) -> int:
    """0 goes first: Presidential; then Extreme and ETWS; then everything else."""
    if cls is AlertClass.PRESIDENTIAL:
        return 0
    if cls in (AlertClass.EXTREME, AlertClass.ETWS_EARTHQUAKE, AlertClass.ETWS_TSUNAMI,
               AlertClass.ETWS_EARTHQUAKE_TSUNAMI):  # fmt: skip
        return 1
    return 2


# --- the engine's in-memory view ---------------------------------------------------------


@dataclass(slots=True)
class AlertRt:
    id: str
    state: str
    alert_class: str | None
    priority: int
    category: int
    repetition_seconds: int
    broadcasts: int
    target: Target
    source: str
    external_ref: str | None
    expires_at: datetime | None
    delivered: bool
    accepted_at: float  # monotonic, for the delivery latency
    chain: set[str] = field(default_factory=set)  # later references (see models.Alert)
    messages: list[MessageRt] = field(default_factory=list)
    deliveries: list[tuple[PeerRuntime, DeliveryRt]] = field(default_factory=list)
    unsettled: int = 0
    held: int = 0  # deliveries still in the peers' tables (not forgotten)


@dataclass(slots=True)
class MessageRt:
    id: int
    alert: AlertRt
    identifier: int
    geo_scope: int
    code: int
    update_number: int
    dcs: int
    pages: tuple[Content, ...]
    warning_type: int | None
    language: str | None
    stopped: bool  # no longer part of the alert (see models.Message.stopped_at)
    # WRITE-REPLACE PDUs by (cells, old serial), encoded once: a PLMN-wide alert is the same
    # PDU for every peer. Emptied whenever the message changes.
    writes: dict[tuple[CellList, int | None], tuple[Pdu, bytes]] = field(default_factory=dict)

    @property
    def serial(self) -> int:
        return SerialNumber.pack(self.geo_scope, self.code, self.update_number)


@dataclass(slots=True)
class DeliveryRt:
    row: DeliveryRow
    peer: str
    message: MessageRt

    @property
    def state(self) -> DeliveryState:
        return self.row.state


@dataclass
class PeerRuntime:
    cfg: CbcPeer
    link: CbspLink | None = None
    writable: bool = True
    outbound: list[tuple[int, int, int, Pdu, bytes | None]] = field(default_factory=list)
    # Deliveries waiting for the peer's answer -> when to give up (loop time). Every
    # answer has the same timeout, so insertion order is deadline order.
    deadlines: dict[int, float] = field(default_factory=dict)
    deliveries: dict[int, DeliveryRt] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Label tuples built once: two increments per delivery.
        self.sent = (self.cfg.name, INTERFACE, "sent")
        self.confirmed = (self.cfg.name, INTERFACE, "confirmed")
        self.failed = (self.cfg.name, INTERFACE, "failed")

    @property
    def up(self) -> bool:
        return self.link is not None and self.link.up


def _values(row: Alert | Message) -> dict[str, Any]:
    """Every column of a new row, as the store helper inserts it."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def _pages(raw: list[list[Any]]) -> tuple[Content, ...]:
    return tuple(Content(bytes.fromhex(h), n) for n, h in raw)


def _alert_rt(alert: Alert, accepted_at: float, target: Target | None = None) -> AlertRt:
    """`target`: the alert's, when the caller has it (reading it back from its JSON costs
    a second for a polygon of 150,000 cells)."""
    return AlertRt(
        id=alert.id, state=alert.state, alert_class=alert.alert_class,
        priority=alert.priority, category=alert.category,
        repetition_seconds=alert.repetition_seconds, broadcasts=alert.broadcasts_requested,
        target=target or Target.from_json(alert.target), source=alert.source,
        external_ref=alert.external_ref, expires_at=alert.expires_at,
        delivered=alert.completed_at is not None, accepted_at=accepted_at,
        chain=set(alert.chain or ()),
    )  # fmt: skip


def _message_rt(message: Message, message_id: int, alert: AlertRt) -> MessageRt:
    rt = MessageRt(
        id=message_id, alert=alert, identifier=message.message_identifier,
        geo_scope=message.geo_scope, code=message.message_code,
        update_number=message.update_number, dcs=message.dcs, pages=_pages(message.pages),
        warning_type=message.warning_type, language=message.language,
        stopped=message.stopped_at is not None,
    )  # fmt: skip
    alert.messages.append(rt)
    return rt


class CbcService:
    def __init__(self, cfg: CbcConfig, sessions: SessionFactory) -> None:
        self.cfg = cfg
        self._sessions = sessions
        # Every CBC write goes through the helper process, in order (see store.process).
        self._store = StoreProcess(url_of(sessions))
        self._writer = StoreWriter(self._store)
        self._peers = {p.name: PeerRuntime(p) for p in cfg.peers}
        self._by_address = {str(p.address): p.name for p in cfg.peers if p.mode == "server"}
        self._seq = itertools.count()
        self._delivery_ids = itertools.count(1)  # continued from the store by _load
        self._message_ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._reconnectors: list[Reconnector] = []
        self._expiry: asyncio.Task[None] | None = None
        self._answer_timer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop  # set by start
        self._alerts: dict[str, AlertRt] = {}
        # (peer, message identifier, message code) -> delivery, to match answers
        self._refs: dict[tuple[str, int, int], DeliveryRt] = {}
        self._last_code: dict[int, int] = {}
        # message identifier -> codes of the messages we hold (live: not to be reused)
        self._codes: dict[int, set[int]] = {}
        self._submit_lock = asyncio.Lock()
        # Peers that hold at least one confirmed message: never RESET them on link-up.
        self._holding: set[str] = set()
        self._counts: dict[str, int] = {}
        # Called with (alert id, seconds from accept) when every peer has answered.
        self.on_delivered: list[Callable[[str, float], None]] = []

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        await self._store.start()
        await self._load()
        self._writer.start()
        for peer in self._peers.values():
            PEER_UP.labels(peer.cfg.name, INTERFACE).set(0)
        settings = self.cfg.cbsp
        if self._by_address:
            self._server = await loop.create_server(self._accept, str(settings.bind), settings.port)
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
        self._expiry = loop.create_task(self._expire_loop())
        self._answer_timer = loop.create_task(self._answer_timeouts())

    async def _load(self) -> None:
        """Rebuild the engine from the store: what is live, what each peer holds."""
        async with self._sessions.begin() as s:
            # Answers to what was in flight when we stopped are lost: send again later.
            await s.execute(
                update(Delivery).where(Delivery.state == S.WRITING).values(state=S.PENDING)
            )
            await s.execute(
                update(Delivery).where(Delivery.state == S.KILLING).values(state=S.KILL_PENDING)
            )
            unfinished = select(Message.alert_id).join(Delivery).where(Delivery.state != S.KILLED)
            rows = await s.execute(
                select(Alert)
                .where((Alert.state == "active") | Alert.id.in_(unfinished))
                .options(selectinload(Alert.messages).selectinload(Message.deliveries))
            )
            for alert in rows.scalars():
                self._adopt(alert, time.monotonic())
            last = await s.execute(
                select(Message.message_identifier, Message.message_code)
                .where(
                    Message.id.in_(
                        select(func.max(Message.id)).group_by(Message.message_identifier)
                    )
                )
            )  # fmt: skip
            self._last_code = {ident: code for ident, code in last}
            counts = await s.execute(select(Alert.state, func.count()).group_by(Alert.state))
            self._counts = {state: count for state, count in counts}
            # We are the store's only writer of messages and deliveries: number them
            # ourselves, so a write never waits for ids to come back.
            last_id = (await s.execute(select(func.max(Delivery.id)))).scalar()
            self._delivery_ids = itertools.count((last_id or 0) + 1)
            last_id = (await s.execute(select(func.max(Message.id)))).scalar()
            self._message_ids = itertools.count((last_id or 0) + 1)
        self._add_missing_deliveries()
        self._publish_counts()

    def _adopt(self, alert: Alert, accepted_at: float) -> AlertRt:
        rt = _alert_rt(alert, accepted_at)
        for message in alert.messages:
            mrt = _message_rt(message, message.id, rt)
            for delivery in message.deliveries:
                peer = self._peers.get(delivery.peer)
                if peer is None:
                    continue  # a peer removed from the config
                row = DeliveryRow(
                    id=delivery.id, state=S(delivery.state), attempts=delivery.attempts,
                    confirmed_serial=delivery.confirmed_serial, error=delivery.error,
                    confirmed_at=delivery.confirmed_at, report=delivery.report,
                    kill_report=delivery.kill_report, status_report=delivery.status_report,
                )  # fmt: skip
                drt = DeliveryRt(row, peer.cfg.name, mrt)
                peer.deliveries[delivery.id] = drt
                self._refs[(peer.cfg.name, mrt.identifier, mrt.code)] = drt
                rt.deliveries.append((peer, drt))
                rt.held += 1
                if drt.state not in SETTLED:
                    rt.unsettled += 1
                if drt.state is S.ACTIVE:
                    self._holding.add(peer.cfg.name)
        self._track(rt)
        return rt

    @property
    def store_pid(self) -> int | None:
        """The store helper process (see store.process), for operators and benchmarks."""
        return self._store.pid

    def bound_port(self) -> int | None:
        if self._server is None:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for task in (self._expiry, self._answer_timer):
            if task is not None:
                task.cancel()
        for reconnector in self._reconnectors:
            await reconnector.stop()
        if self._server is not None:
            self._server.close()
        for peer in self._peers.values():
            if peer.link is not None:
                peer.link.close("shutting down")
        await self._writer.stop()
        await self._store.stop()
        if self._server is not None:
            await self._server.wait_closed()

    def peer_status(self) -> dict[str, bool]:
        return {name: p.up for name, p in self._peers.items()}

    # --- links -----------------------------------------------------------------------------

    def _make_link(self, peer: PeerRuntime) -> CbspLink:
        s = self.cfg.cbsp
        fsm = LinkFsm(s.keepalive_seconds, s.keepalive_timeout_seconds, s.reset_timeout_seconds)
        return CbspLink(peer.cfg.name, fsm, self, lambda: peer.cfg.name not in self._holding)

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
        if peer.link is not None:
            # Never silently replaced: the established link is asked for a KEEP-ALIVE and
            # the newcomer refused. A link that does not answer closes within the
            # keep-alive timeout, and the BSC's next attempt is admitted.
            peer.link.probe()
            SECOND_CONNECTIONS.labels(name, INTERFACE).inc()
            log.warning(
                "refused a second CBSP connection from a peer's address; its established "
                "link is being checked",
                extra={"peer": name, "remote": address},
            )
            return None
        return self._make_link(peer)

    # LinkHandler ------------------------------------------------------------------------------

    def link_up(self, link: CbspLink) -> None:
        peer = self._peers[link.peer]
        peer.link, peer.writable = link, True
        PEER_UP.labels(link.peer, INTERFACE).set(1)
        log.info("CBSP link up", extra={"peer": link.peer})
        asyncio.get_running_loop().call_soon(self._bring_up, peer)

    def _bring_up(self, peer: PeerRuntime) -> None:
        waiting = [d for d in peer.deliveries.values() if d.state in (S.PENDING, S.KILL_PENDING)]
        waiting.sort(key=lambda d: (d.message.alert.priority, d.message.alert.accepted_at))
        for delivery in waiting:
            self._step(peer, delivery, Event.PEER_UP)

    def _add_missing_deliveries(self) -> None:
        """Every configured peer owes every active message, including peers added since."""
        for peer in self._peers.values():
            have = {d.message.id for d in peer.deliveries.values()}
            for alert in self._alerts.values():
                if alert.state == "active":
                    for message in alert.messages:
                        if message.id not in have and not message.stopped:
                            self._register(peer, message)

    def _register(self, peer: PeerRuntime, message: MessageRt) -> DeliveryRt:
        """A new delivery: in memory at once, in the store with its first change."""
        delivery_id = next(self._delivery_ids)
        row = DeliveryRow(delivery_id, S.PENDING, 0, None, None, None, None, None, None)
        self._writer.new_delivery(row, message.id, peer.cfg.name)
        drt = DeliveryRt(row, peer.cfg.name, message)
        peer.deliveries[delivery_id] = drt
        self._refs[(peer.cfg.name, message.identifier, message.code)] = drt
        message.alert.unsettled += 1
        message.alert.deliveries.append((peer, drt))
        message.alert.held += 1
        return drt

    def link_down(self, link: CbspLink, reason: str) -> None:
        peer = self._peers[link.peer]
        if peer.link is not link:
            return
        peer.link = None
        peer.outbound.clear()  # regenerated from the delivery states on the next link-up
        PEER_UP.labels(link.peer, INTERFACE).set(0)
        log.warning("CBSP link down", extra={"peer": link.peer, "reason": reason})
        for delivery in list(peer.deliveries.values()):
            if delivery.state in (S.WRITING, S.KILLING):
                self._step(peer, delivery, Event.PEER_DOWN)

    def link_writable(self, link: CbspLink, writable: bool) -> None:
        peer = self._peers[link.peer]
        peer.writable = writable
        if writable:
            self._drain(peer)

    def link_error(self, link: CbspLink, cause: int, reason: str, answered: bool = True) -> None:
        name = Cause(cause).name.lower() if cause in Cause._value2member_map_ else str(cause)
        CBSP_ERRORS.labels(link.peer, name).inc()
        if answered:  # a flood is counted, not logged line by line (see LinkFsm)
            log.warning(
                "CBSP protocol error", extra={"peer": link.peer, "cause": name, "reason": reason}
            )

    def link_sent(self, link: CbspLink, pdu: Pdu, wire: bytes) -> None:
        MESSAGES.inc(self._peers[link.peer].sent)

    def link_answer(self, link: CbspLink, summary: Summary, frame: bytes) -> None:
        """A WRITE-REPLACE / KILL / STATUS answer, read only as far as matching needs."""
        peer = self._peers[link.peer]
        serial = summary.new_serial if summary.new_serial is not None else summary.old_serial
        if summary.message_id is None or serial is None:
            return
        code = SerialNumber.code_of(serial)
        delivery = self._refs.get((peer.cfg.name, summary.message_id, code))
        if delivery is None:
            log.warning(
                "answer for an unknown message",
                extra={"peer": peer.cfg.name, "message_id": summary.message_id},
            )
            return
        t = summary.type
        if t is MsgType.WRITE_REPLACE_COMPLETE:
            self._step(peer, delivery, Event.COMPLETE, frame)
        elif t is MsgType.WRITE_REPLACE_FAILURE:
            try:
                pdu = decode(frame)
            except DecodeError:
                return  # peek already validated the framing; nothing more to learn
            refs_used = bool(pdu.failures) and all(
                f.cause is Cause.MSG_REF_ALREADY_USED for f in pdu.failures or ()
            )
            if refs_used:  # the peer already holds this very message
                self._step(peer, delivery, Event.COMPLETE, frame)
            else:
                partial = bool(pdu.completed or (pdu.cell_list and pdu.cell_list.cells))
                self._step(peer, delivery, Event.FAILURE, frame, partial)
        elif t in (MsgType.KILL_COMPLETE, MsgType.KILL_FAILURE):
            done = Event.KILL_COMPLETE if t is MsgType.KILL_COMPLETE else Event.KILL_FAILURE
            self._step(peer, delivery, done, frame)
        elif t is MsgType.MSG_STATUS_QUERY_COMPLETE:
            delivery.row.status_report = frame
            self._writer.delivery(delivery.row)

    def link_pdu(self, link: CbspLink, pdu: Pdu) -> None:
        peer = self._peers[link.peer]
        if pdu.type is MsgType.RESTART:
            lost = pdu.recovery != 0
            log.warning("BSC restarted", extra={"peer": link.peer, "data_lost": lost})
            if lost:
                for delivery in list(peer.deliveries.values()):
                    if delivery.state in (S.ACTIVE, S.WRITING, S.FAILED):
                        self._step(peer, delivery, Event.RESTART)
        elif pdu.type is MsgType.ERROR_INDICATION:
            cause = (pdu.cause or Cause.UNSPECIFIED).name.lower()
            CBSP_ERRORS.labels(link.peer, f"peer_{cause}").inc()
            log.warning(
                "BSC sent ERROR INDICATION",
                extra={"peer": link.peer, "cause": cause, "message_id": pdu.message_id},
            )
        elif pdu.type is MsgType.FAILURE:
            log.warning("BSC reports cell broadcast failure", extra={"peer": link.peer})
        else:
            log.info("CBSP message", extra={"peer": link.peer, "type": pdu.type.name})

    # --- the delivery engine -----------------------------------------------------------------

    def _step(
        self,
        peer: PeerRuntime,
        delivery: DeliveryRt,
        event: Event,
        frame: bytes | None = None,
        partial: bool = False,
    ) -> None:
        row = delivery.row
        before = delivery.state
        result = step(before, event, row.attempts, self.cfg.cbsp.max_attempts, peer.up, partial)
        row.state, row.attempts = result.state, result.attempts
        message = delivery.message
        alert = message.alert
        for action in result.actions:
            if action is Do.STOP_TIMER:
                self._stop_timer(peer, row.id)
            elif action is Do.WRITE:
                write = self._write(peer, message, row)
                if write is None:
                    row.state, row.error = S.KILLED, "no target cell served by this peer"
                else:
                    self._push(peer, alert.priority, row.id, *write)
            elif action is Do.KILL:
                self._push(peer, 0, row.id, self._kill_pdu(peer, message, row))
        if frame is not None and event in (Event.COMPLETE, Event.FAILURE):
            row.report = frame
            if row.state == S.ACTIVE:
                row.confirmed_serial = message.serial
                row.confirmed_at = utcnow()
                row.error = None
                self._holding.add(peer.cfg.name)
            MESSAGES.inc(peer.confirmed if row.state == S.ACTIVE else peer.failed)
        elif frame is not None:
            row.kill_report = frame
        if row.state == S.FAILED and event is Event.TIMEOUT:
            row.error = f"no answer after {row.attempts} attempts"
            MESSAGES.inc(peer.failed)
        after = delivery.state
        # Persist what survives a restart. WRITING and KILLING come back as their pending
        # forms, so leaving a pending form for them changes nothing worth a write.
        if (after != before and _PENDING_FORM.get(after) is not before) or frame is not None:
            self._writer.delivery(row)
        if after != before and (after in (S.FAILED, S.KILLED) or event is Event.RESTART):
            self._writer.event(
                alert.id,
                f"delivery_{after}",
                {"peer": peer.cfg.name, "language": message.language, "event": str(event),
                 "error": row.error},
            )  # fmt: skip
        alert.unsettled += int(before in SETTLED) - int(after in SETTLED)
        if after == S.KILLED:
            self._forget(peer, delivery)
        if alert.unsettled == 0 and not alert.delivered and alert.state == "active":
            alert.delivered = True
            elapsed = time.monotonic() - alert.accepted_at
            DELIVERY_LATENCY.observe(elapsed)
            for hook in self.on_delivered:
                hook(alert.id, elapsed)
            self._writer.alert_delivered(alert.id, utcnow())
            self._writer.event(alert.id, "delivered", {})
            log.info("alert delivered to every peer", extra={"alert_id": alert.id})

    def _forget(self, peer: PeerRuntime, delivery: DeliveryRt) -> None:
        """A killed delivery needs no more attention; drop the alert when all are done."""
        alert = delivery.message.alert
        if alert.state == "active":
            return
        if peer.deliveries.pop(delivery.row.id, None) is not None:
            alert.held -= 1
        key = (peer.cfg.name, delivery.message.identifier, delivery.message.code)
        if self._refs.get(key) is delivery:
            del self._refs[key]
        if alert.held == 0:
            self._untrack(alert.id)

    def _push(
        self,
        peer: PeerRuntime,
        priority: int,
        delivery_id: int,
        pdu: Pdu,
        wire: bytes | None = None,
    ) -> None:
        if not peer.outbound and peer.up and peer.writable:
            self._send(peer, delivery_id, pdu, wire)  # nothing queued to overtake
            return
        heapq.heappush(peer.outbound, (priority, next(self._seq), delivery_id, pdu, wire))
        self._drain(peer)

    def _drain(self, peer: PeerRuntime) -> None:
        """Send queued PDUs, most urgent first, while the link takes them."""
        while peer.outbound and peer.up and peer.writable:
            _, _, delivery_id, pdu, wire = heapq.heappop(peer.outbound)
            if not self._send(peer, delivery_id, pdu, wire):
                return

    def _send(self, peer: PeerRuntime, delivery_id: int, pdu: Pdu, wire: bytes | None) -> bool:
        assert peer.link is not None
        try:
            peer.link.send(pdu, wire)
        except ConnectionError:
            return False
        peer.deadlines.pop(delivery_id, None)  # a re-send goes to the back
        peer.deadlines[delivery_id] = self._loop.time() + self.cfg.cbsp.answer_timeout_seconds
        return True

    async def _answer_timeouts(self) -> None:
        """One sweep a tick instead of a timer per PDU (two timer operations per delivery
        were a sixth of the fan-out's cost); a timeout fires up to a tick late."""
        tick = min(0.5, self.cfg.cbsp.answer_timeout_seconds / 4)
        while True:
            await asyncio.sleep(tick)
            now = self._loop.time()
            for peer in self._peers.values():
                while peer.deadlines:
                    delivery_id, deadline = next(iter(peer.deadlines.items()))
                    if deadline > now:
                        break
                    del peer.deadlines[delivery_id]
                    delivery = peer.deliveries.get(delivery_id)
                    if delivery is not None:
                        self._step(peer, delivery, Event.TIMEOUT)

    def _stop_timer(self, peer: PeerRuntime, delivery_id: int) -> None:
        peer.deadlines.pop(delivery_id, None)

    # --- PDUs ------------------------------------------------------------------------------

    def _write(
        self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow
    ) -> tuple[Pdu, bytes] | None:
        """The WRITE-REPLACE of `message` for `peer`, and its encoding; None: no cell to write."""
        cells = message.alert.target.for_peer(peer.cfg.cells)
        if cells is None:
            return None
        serial = message.serial
        old = row.confirmed_serial
        # Same serial again (the peer lost it): a fresh write, not a replace.
        old_serial = old if old is not None and old != serial else None
        write = message.writes.get((cells, old_serial))
        if write is None:
            pdu = self._write_pdu(message, cells, old_serial)
            write = message.writes[(cells, old_serial)] = (pdu, encode(pdu))
        return write

    @staticmethod
    def _write_pdu(message: MessageRt, cells: CellList, old_serial: int | None) -> Pdu:
        alert = message.alert
        serial = message.serial
        if message.warning_type is not None:
            return Pdu(
                MsgType.WRITE_REPLACE, message_id=message.identifier, new_serial=serial,
                old_serial=old_serial, cell_list=cells, emergency=1,
                warning_type=message.warning_type, warning_security=bytes(50),
                warning_period=min(alert.repetition_seconds, 6000),
            )  # fmt: skip
        period = max(1, min(4095, round(alert.repetition_seconds / REPETITION_UNIT)))
        return Pdu(
            MsgType.WRITE_REPLACE, message_id=message.identifier, new_serial=serial,
            old_serial=old_serial, cell_list=cells, channel=0,
            category=Category(alert.category), repetition_period=period,
            broadcasts_requested=alert.broadcasts, number_of_pages=len(message.pages),
            dcs=message.dcs, content=message.pages,
        )  # fmt: skip

    def _kill_pdu(
        self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow, cells: CellList | None = None
    ) -> Pdu:
        """KILL of `message` in `cells` (default: wherever the alert targets on this peer)."""
        if cells is None:
            cells = message.alert.target.for_peer(peer.cfg.cells) or CellList(
                Discriminator.ALL_IN_BSC
            )
        return Pdu(
            MsgType.KILL, message_id=message.identifier,
            old_serial=row.confirmed_serial or message.serial, cell_list=cells,
            channel=None if message.warning_type is not None else 0,
        )  # fmt: skip

    # --- alerts: the API side ------------------------------------------------------------------

    def _live_codes(self, identifier: int) -> set[int]:
        return self._codes.get(identifier, set())

    def _allocate_code(self, identifier: int) -> int:
        """A message code no live message with this identifier uses (TS 23.041 9.4.1.2.1)."""
        used = self._live_codes(identifier)
        start = self._last_code.get(identifier, 0) + 1
        for offset in range(1024):
            code = (start + offset) % 1024
            if code not in used:
                self._last_code[identifier] = code
                return code
        raise Conflict(f"message identifier {identifier}: all 1024 message codes are live")

    @staticmethod
    def _messages(spec: AlertSpec) -> list[tuple[int, Text | None, EncodedText | None]]:
        """(identifier, text, encoding) per message of the alert; raises on bad input."""
        if spec.identifier is not None:
            enc = spec.encoded
            if enc is None and spec.texts:
                enc = encode_text(spec.texts[0].text, spec.texts[0].language)
            return [(spec.identifier, spec.texts[0] if spec.texts else None, enc)]
        assert spec.alert_class is not None
        if is_etws(spec.alert_class):
            text = spec.texts[0] if spec.texts else None
            return [(message_identifier(spec.alert_class), text, None)]
        languages = [t.language for t in spec.texts]
        if len(set(languages)) != len(languages):
            raise Invalid("texts: each language at most once (one message per language)")
        out: list[tuple[int, Text | None, EncodedText | None]] = []
        for index, text in enumerate(spec.texts):
            ident = message_identifier(
                spec.alert_class, index > 0, spec.severity, spec.urgency, spec.certainty
            )
            out.append((ident, text, encode_text(text.text, text.language)))
        return out

    def _message_rows(
        self,
        alert_id: str,
        spec: AlertSpec,
        cls: AlertClass | None,
        messages: Sequence[tuple[int, Text | None, EncodedText | None]],
        first_index: int,
    ) -> list[Message]:
        """New message rows, each with its serial number (held under the submit lock)."""
        rows: list[Message] = []
        for index, (ident, text, enc) in enumerate(messages, first_index):
            if spec.serial is not None:
                if spec.serial.message_code in self._live_codes(ident):
                    code = spec.serial.message_code
                    raise Conflict(f"message {ident} with code {code} is already active")
                serial = spec.serial
            else:
                serial = SerialNumber(spec.target.scope, self._allocate_code(ident), 0)
            warning = spec.warning_type
            if warning is None and cls is not None and is_etws(cls):
                warning = etws_warning_type(cls)
            rows.append(Message(
                id=next(self._message_ids), alert_id=alert_id, index=index,
                language=text.language if text else None,
                text=text.text if text else "", message_identifier=ident,
                geo_scope=int(serial.geo_scope), message_code=serial.message_code,
                update_number=serial.update_number, dcs=enc.dcs if enc else 0,
                pages=[[p.length, p.content.hex()] for p in (enc.pages if enc else ())],
                warning_type=warning, stopped_at=None,
            ))  # fmt: skip
        return rows

    async def submit(self, spec: AlertSpec, who: str) -> str:
        """Validate, store and start delivering an alert; returns once it is durable."""
        etws = spec.alert_class is not None and is_etws(spec.alert_class)
        if not spec.texts and spec.encoded is None and spec.warning_type is None and not etws:
            raise Invalid("texts: at least one text is required")
        messages = self._messages(spec)
        cls = spec.alert_class or (class_of(spec.identifier) if spec.identifier else None)
        priority = priority_of(cls)
        category = spec.category if spec.category is not None else (
            Category.HIGH_PRIORITY if priority <= 1 else Category.NORMAL
        )  # fmt: skip
        alert_id = secrets.token_hex(8)
        async with self._submit_lock:
            if spec.external_ref is not None and any(
                a.source == spec.source and a.external_ref == spec.external_ref
                and a.state == "active" for a in self._alerts.values()
            ):  # fmt: skip
                raise Conflict(f"an active alert with reference {spec.external_ref} exists")
            now = utcnow()
            alert = Alert(
                id=alert_id, state="active", source=spec.source, external_ref=spec.external_ref,
                alert_class=cls.value if cls else None, priority=priority, category=int(category),
                repetition_seconds=spec.repetition_seconds or self.cfg.default_repetition_seconds,
                broadcasts_requested=spec.broadcasts_requested,
                target=spec.target.to_json(), submitted_by=who, expires_at=spec.expires_at,
                created_at=now, updated_at=now, ended_at=None, completed_at=None, chain=None,
            )  # fmt: skip
            rows = self._message_rows(alert_id, spec, cls, messages, 0)
            await self._store_alert(
                alert_id,
                [
                    ("insert", "cbc_alerts", [_values(alert)]),
                    ("insert", "cbc_messages", [_values(m) for m in rows]),
                    ("insert", "cbc_alert_events",
                     [event_row(alert_id, "accepted", {"by": who, "source": spec.source})]),
                ],
            )  # fmt: skip
            rt = self._runtime(alert, rows, spec.target)
        self._counts["active"] = self._counts.get("active", 0) + 1
        self._publish_counts()
        log.info("alert accepted", extra={"alert_id": alert_id, "class": cls, "by": who})
        # Durable now: answer the caller first, then write to the peers.
        asyncio.get_running_loop().call_soon(self._start, rt)
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
        rt = _alert_rt(alert, time.monotonic(), target)
        for message in rows:
            _message_rt(message, message.id, rt)
        self._track(rt)
        for mrt in rt.messages:
            for peer in self._peers.values():
                self._register(peer, mrt)
        return rt

    def _track(self, alert: AlertRt) -> None:
        self._alerts[alert.id] = alert
        for message in alert.messages:
            self._codes.setdefault(message.identifier, set()).add(message.code)

    def _untrack(self, alert_id: str) -> None:
        alert = self._alerts.pop(alert_id, None)
        for message in alert.messages if alert else ():
            self._codes.get(message.identifier, set()).discard(message.code)

    def _start(self, alert: AlertRt) -> None:
        for peer, delivery in alert.deliveries:
            if peer.up:  # the others are written when their link comes up
                self._step(peer, delivery, Event.PEER_UP)

    @staticmethod
    def _each_delivery(alert: AlertRt) -> list[tuple[PeerRuntime, DeliveryRt]]:
        return list(alert.deliveries)

    def _live(self, alert_id: str) -> AlertRt:
        alert = self._alerts.get(alert_id)
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
            wanted = self._messages(replace(spec, texts=tuple(texts)))
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
        alert = self._alerts.get(alert_id)
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
        wanted: Sequence[tuple[int, Text | None, EncodedText | None]],
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
            added: list[tuple[int, Text | None, EncodedText | None]] = []
            stopped: list[MessageRt] = []
        else:
            kept, added, stopped = self._match(alert, wanted)
        now = utcnow()
        rows = self._message_rows(alert.id, spec, cls, added, len(alert.messages))
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
                ("insert", "cbc_messages", [_values(m) for m in rows]),
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
            message.writes.clear()
            message.update_number = (message.update_number + 1) % 16
            if enc is not None:
                message.dcs = enc.dcs
                message.pages = tuple(Content(p.content, p.length) for p in enc.pages)
        for message in stopped:
            message.stopped = True
        alert.target, alert.expires_at, alert.chain = spec.target, spec.expires_at, set(chain)
        alert.alert_class, alert.priority = (cls.value if cls else None), priority
        alert.delivered = False
        alert.accepted_at = time.monotonic()
        fresh = [_message_rt(m, m.id, alert) for m in rows]
        self._track(alert)
        log.info(
            "alert updated",
            extra={"alert_id": alert.id, "by": who, "stopped": len(stopped), "added": len(fresh)},
        )
        kept_ids = {m.id for m, _, _ in kept}
        for peer, delivery in self._each_delivery(alert):
            if delivery.message.stopped:
                self._step(peer, delivery, Event.CANCEL)
            elif delivery.message.id in kept_ids:
                self._retarget(peer, delivery, old_target)
        for message in fresh:
            for peer in self._peers.values():
                delivery = self._register(peer, message)
                if peer.up:
                    self._step(peer, delivery, Event.PEER_UP)

    def _match(
        self, alert: AlertRt, wanted: Sequence[tuple[int, Text | None, EncodedText | None]]
    ) -> tuple[
        list[tuple[MessageRt, Text | None, EncodedText | None]],
        list[tuple[int, Text | None, EncodedText | None]],
        list[MessageRt],
    ]:
        """(kept, added, stopped): `wanted` matched to the current messages by language."""
        current = {m.language: m for m in self._current(alert)}
        kept: list[tuple[MessageRt, Text | None, EncodedText | None]] = []
        added: list[tuple[int, Text | None, EncodedText | None]] = []
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

    def _retarget(self, peer: PeerRuntime, delivery: DeliveryRt, old: Target) -> None:
        """A kept message after an update: written again where the area still is."""
        served = peer.cfg.cells
        cells = delivery.message.alert.target.for_peer(served)
        if cells is None:
            self._step(peer, delivery, Event.CANCEL)  # the area left this peer
            return
        before = old.for_peer(served)
        row = delivery.row
        if (
            before is not None
            and row.confirmed_serial is not None
            and (before.discriminator == cells.discriminator)
        ):
            staying = set(cells.cells)
            gone = tuple(c for c in before.cells if c not in staying)
            if gone:  # a replace leaves other cells as they are: kill it where it left
                left = CellList(cells.discriminator, gone)
                self._push(peer, 0, -1, self._kill_pdu(peer, delivery.message, row, left))
        self._step(peer, delivery, Event.RETARGET)

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
                     [{"id": alert_id, "state": reason, "ended_at": utcnow()}]),
                    ("insert", "cbc_alert_events", [event_row(alert_id, reason, {"by": who})]),
                ]
            )  # fmt: skip
            alert.state = reason
        self._counts["active"] = self._counts.get("active", 1) - 1
        self._counts[reason] = self._counts.get(reason, 0) + 1
        self._publish_counts()
        log.info("alert ended", extra={"alert_id": alert_id, "reason": reason, "by": who})
        deliveries = self._each_delivery(alert)
        for peer, delivery in deliveries:
            self._step(peer, delivery, Event.CANCEL)
        if not deliveries:
            self._untrack(alert_id)

    async def find_active(self, source: str, external_ref: str) -> str | None:
        for alert in self._alerts.values():
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
            now = utcnow()
            due = [
                a.id
                for a in self._alerts.values()
                if a.state == "active" and a.expires_at is not None and a.expires_at <= now
            ]
            for alert_id in due:
                with contextlib.suppress(Conflict, NotFound):
                    await self.cancel(alert_id, "omnigw", "expired")

    def _publish_counts(self) -> None:
        for state in ("active", "cancelled", "expired"):
            ALERTS.labels(state).set(self._counts.get(state, 0))

    async def query_status(self, alert_id: str) -> int:
        """Ask each peer holding the alert for its broadcast counts; returns queries sent."""
        alert = self._live(alert_id)
        sent = 0
        for peer, delivery in self._each_delivery(alert):
            if not peer.up or delivery.state is not S.ACTIVE:
                continue
            cells = alert.target.for_peer(peer.cfg.cells) or CellList(Discriminator.ALL_IN_BSC)
            query = Pdu(
                MsgType.MSG_STATUS_QUERY, message_id=delivery.message.identifier,
                old_serial=delivery.row.confirmed_serial, cell_list=cells, channel=0,
            )  # fmt: skip
            self._push(peer, alert.priority, -1, query)
            sent += 1
        return sent

    # --- reading -----------------------------------------------------------------------------

    def summary(self, alert_id: str) -> dict[str, Any]:
        """The engine's current view of an alert, without touching the store."""
        alert = self._alerts.get(alert_id)
        if alert is None:
            raise NotFound(f"no alert {alert_id} in progress")
        states: dict[str, int] = {}
        for _, delivery in self._each_delivery(alert):
            states[delivery.row.state] = states.get(delivery.row.state, 0) + 1
        return {
            "id": alert.id,
            "state": alert.state,
            "class": alert.alert_class,
            "source": alert.source,
            "reference": alert.external_ref,
            "expires_at": alert.expires_at,
            "delivered": alert.delivered,
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
                options=[selectinload(Alert.messages).selectinload(Message.deliveries)],
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


class _Gate(asyncio.Protocol):
    """Server-mode admission: checks the remote address, then gives the transport to a
    CbspLink, so a peer's bytes go straight to its link from then on."""

    def __init__(self, service: CbcService) -> None:
        self._service = service

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = transport.get_extra_info("peername")[0]
        link = self._service.admit(address)
        if link is None:
            transport.close()
            return
        transport.set_protocol(link)
        link.connection_made(transport)


__all__ = ["AlertSpec", "CbcService", "Text"]
