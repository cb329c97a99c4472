"""The CBC's in-memory view: alerts in progress, their messages, one delivery per (message,
peer), and the indexes the delivery engine and the alert service share.

Nothing here speaks a protocol: a peer's link is anything that can send a request, and a
message's encodings are whatever its southbound adapter cached for it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from omnigw.cbc.areas import Target
from omnigw.cbc.cells import CARRIED, AreaKind
from omnigw.cbc.delivery import AlertProgress, DeliveryState
from omnigw.cbc.messages import (
    AlertClass,
    Category,
    Certainty,
    EncodedText,
    Page,
    SerialNumber,
    Urgency,
)
from omnigw.cbc.models import Alert, Message
from omnigw.cbc.writer import DeliveryRow
from omnigw.config import CbcPeer


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


class Link(Protocol):
    """A peer's link as the engine uses it, whatever the protocol."""

    up: bool

    def send(self, pdu: Any, wire: bytes | None = None) -> None: ...


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
    accepted_at: float  # engine clock, for the delivery latency
    progress: AlertProgress
    chain: set[str] = field(default_factory=set)  # later references (see models.Alert)
    messages: list[MessageRt] = field(default_factory=list)
    deliveries: list[tuple[PeerRuntime, DeliveryRt]] = field(default_factory=list)
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
    pages: tuple[Page, ...]
    warning_type: int | None
    language: str | None
    stopped: bool  # no longer part of the alert (see models.Message.stopped_at)
    # What the southbound adapters encoded for this message, by their own keys (a
    # PLMN-wide alert is the same PDU for every peer). Emptied whenever the message changes.
    encodings: dict[Hashable, Any] = field(default_factory=dict)

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
    interface: str = "cbsp"
    answer_timeout: float = 10.0  # seconds: its interface's setting
    max_attempts: int = 3
    link: Link | None = None
    writable: bool = True
    # (priority, sequence, delivery id, pdu, wire, timed): see DeliveryEngine.push
    outbound: list[tuple[int, int, int, Any, bytes | None, bool]] = field(default_factory=list)
    # Deliveries waiting for the peer's answer -> when to give up (engine clock). Every
    # answer has the same timeout, so insertion order is deadline order.
    deadlines: dict[int, float] = field(default_factory=dict)
    deliveries: dict[int, DeliveryRt] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # What it serves, by kind of list its interface carries (see Target.for_peer)
        cfg = self.cfg
        listed = {AreaKind.CGI: cfg.cells, AreaKind.ECGI: cfg.cells, AreaKind.TAI: cfg.tais,
                  AreaKind.EAI: [str(e) for e in cfg.emergency_areas]}  # fmt: skip
        self.served = {k: frozenset(listed.get(k, ())) for k in CARRIED[self.interface]}
        # Label tuples built once: two increments per delivery.
        self.sent = (self.cfg.name, self.interface, "sent")
        self.confirmed = (self.cfg.name, self.interface, "confirmed")
        self.failed = (self.cfg.name, self.interface, "failed")

    @property
    def up(self) -> bool:
        return self.link is not None and self.link.up


class Runtime:
    """What the engine and the alert service share."""

    def __init__(self, peers: list[CbcPeer], timers: dict[str, tuple[float, int]]) -> None:
        """`timers`: each interface's answer timeout and attempts."""
        self.peers = {p.name: PeerRuntime(p, p.protocol, *timers[p.protocol]) for p in peers}
        self.alerts: dict[str, AlertRt] = {}
        # (peer, message identifier, message code) -> delivery, to match answers
        self.refs: dict[tuple[str, int, int], DeliveryRt] = {}
        # message identifier -> codes of the messages we hold (live: not to be reused)
        self.codes: dict[int, set[int]] = {}
        # Peers that hold at least one confirmed message: never RESET them on link-up.
        self.holding: set[str] = set()

    def track(self, alert: AlertRt) -> None:
        self.alerts[alert.id] = alert
        for message in alert.messages:
            self.codes.setdefault(message.identifier, set()).add(message.code)

    def untrack(self, alert_id: str) -> None:
        alert = self.alerts.pop(alert_id, None)
        for message in alert.messages if alert else ():
            self.codes.get(message.identifier, set()).discard(message.code)


def values_of(row: Alert | Message) -> dict[str, Any]:
    """Every column of a new row, as the store helper inserts it."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def pages_of(raw: list[list[Any]]) -> tuple[Page, ...]:
    return tuple(Page(bytes.fromhex(h), n) for n, h in raw)


def alert_rt(alert: Alert, accepted_at: float, target: Target | None = None) -> AlertRt:
    """`target`: the alert's, when the caller has it (reading it back from its JSON costs
    a second for a polygon of 150,000 cells)."""
    return AlertRt(
        id=alert.id, state=alert.state, alert_class=alert.alert_class,
        priority=alert.priority, category=alert.category,
        repetition_seconds=alert.repetition_seconds, broadcasts=alert.broadcasts_requested,
        target=target or Target.from_json(alert.target), source=alert.source,
        external_ref=alert.external_ref, expires_at=alert.expires_at,
        accepted_at=accepted_at, progress=AlertProgress(delivered=alert.completed_at is not None),
        chain=set(alert.chain or ()),
    )  # fmt: skip


def message_rt(message: Message, alert: AlertRt) -> MessageRt:
    rt = MessageRt(
        id=message.id, alert=alert, identifier=message.message_identifier,
        geo_scope=message.geo_scope, code=message.message_code,
        update_number=message.update_number, dcs=message.dcs, pages=pages_of(message.pages),
        warning_type=message.warning_type, language=message.language,
        stopped=message.stopped_at is not None,
    )  # fmt: skip
    alert.messages.append(rt)
    return rt
