"""The delivery engine with no sockets, no store and no protocol: fake links record what is
sent, a fake southbound says what a request is, a fake clock moves the answer deadlines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnigw.cbc.areas import Target
from omnigw.cbc.cells import AreaKind
from omnigw.cbc.delivery import AlertProgress, DeliveryState, Event
from omnigw.cbc.engine import DeliveryEngine, Request
from omnigw.cbc.messages import GeoScope
from omnigw.cbc.runtime import AlertRt, DeliveryRt, MessageRt, PeerRuntime, Runtime
from omnigw.cbc.writer import DeliveryRow
from omnigw.config import CbcPeer

S = DeliveryState
TIMEOUT = 10.0
PLMN = Target(AreaKind.ALL, (), GeoScope.PLMN)


class Link:
    def __init__(self) -> None:
        self.up = True
        self.sent: list[Any] = []

    def send(self, pdu: Any, wire: bytes | None = None) -> None:
        self.sent.append(pdu)


class Southbound:
    """Requests as plain tuples; `served` says which peers have cells for the alert."""

    def __init__(self) -> None:
        self.served: set[str] = {"bsc1", "bsc2"}

    def write(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        if peer.cfg.name not in self.served:
            return None
        return ("write", message.alert.id, row.confirmed_serial), None

    def kill(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request:
        return ("kill", message.alert.id), None

    def kill_left(self, *_: Any) -> Request | None:
        return None

    def covers(self, peer: PeerRuntime, alert: AlertRt) -> bool:
        return peer.cfg.name in self.served

    def query(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request:
        return ("query", message.alert.id), None


class Writer:
    """What the engine asks the store to record, kept in lists."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, S]] = []
        self.events: list[tuple[str, str]] = []
        self.delivered: list[str] = []

    def new_delivery(self, row: DeliveryRow, message_id: int, peer: str, interface: str) -> None:
        pass

    def delivery(self, row: DeliveryRow) -> None:
        self.rows.append((row.id, row.state))

    def event(self, alert_id: str, what: str, detail: dict[str, Any]) -> None:
        self.events.append((alert_id, what))

    def alert_delivered(self, alert_id: str, at: datetime) -> None:
        self.delivered.append(alert_id)


class Harness:
    def __init__(self, *peers: str) -> None:
        cfgs = [CbcPeer(name=name, address="127.0.0.1") for name in peers]  # type: ignore[arg-type]
        self.runtime = Runtime(cfgs, {"cbsp": (TIMEOUT, 2)})
        self.south = Southbound()
        self.writer = Writer()
        self.now = 0.0
        self.engine = DeliveryEngine(
            self.runtime, self.writer, {"cbsp": self.south},  # type: ignore[dict-item]
            clock=lambda: self.now,
            wall=lambda: datetime(2026, 12, 3, tzinfo=UTC),
        )  # fmt: skip
        self.links = {name: Link() for name in peers}
        self.settled: list[tuple[str, float]] = []
        self.engine.on_delivered.append(lambda alert, took: self.settled.append((alert, took)))

    def connect(self, name: str) -> None:
        self.runtime.peers[name].link = self.links[name]
        self.engine.peer_up(self.runtime.peers[name])

    def alert(self, alert_id: str, priority: int = 2) -> AlertRt:
        alert = AlertRt(
            id=alert_id, state="active", alert_class=None, priority=priority, category=2,
            repetition_seconds=60, broadcasts=0, target=PLMN, source="api", external_ref=None,
            expires_at=None, accepted_at=self.now, progress=AlertProgress(),
        )  # fmt: skip
        message = MessageRt(1, alert, 4370, 0, 1, 0, 15, (), None, "en", False)
        alert.messages.append(message)
        self.runtime.track(alert)
        for peer in self.runtime.peers.values():
            self.engine.register(peer, message)
        self.engine.start_alert(alert)
        return alert

    def delivery(self, alert: AlertRt, peer: str) -> DeliveryRt:
        return next(d for p, d in alert.deliveries if p.cfg.name == peer)

    def answer(self, alert: AlertRt, peer: str, event: Event) -> None:
        self.engine.step(self.runtime.peers[peer], self.delivery(alert, peer), event, b"frame")


def test_an_alert_is_written_to_every_peer_up_and_delivered_when_all_confirm() -> None:
    h = Harness("bsc1", "bsc2")
    h.connect("bsc1")
    alert = h.alert("a1")
    assert h.links["bsc1"].sent == [("write", "a1", None)]
    h.connect("bsc2")  # written when its link comes up
    assert h.links["bsc2"].sent == [("write", "a1", None)]
    h.now = 2.5
    h.answer(alert, "bsc1", Event.COMPLETE)
    assert h.settled == []
    h.answer(alert, "bsc2", Event.COMPLETE)
    assert h.settled == [("a1", 2.5)] and h.writer.delivered == ["a1"]
    row = h.delivery(alert, "bsc1").row
    assert (row.state, row.confirmed_serial) == (S.ACTIVE, alert.messages[0].serial)
    assert h.runtime.holding == {"bsc1", "bsc2"}  # never RESET these on link-up again


def test_an_unanswered_write_is_sent_again_then_fails_with_the_reason() -> None:
    h = Harness("bsc1")
    h.connect("bsc1")
    alert = h.alert("a1")
    h.engine.expire(TIMEOUT - 0.1)
    assert len(h.links["bsc1"].sent) == 1  # not yet due
    h.engine.expire(TIMEOUT)
    assert len(h.links["bsc1"].sent) == 2  # the second attempt, with a fresh deadline
    h.engine.expire(2 * TIMEOUT)
    row = h.delivery(alert, "bsc1").row
    assert (row.state, row.error) == (S.FAILED, "no answer after 2 attempts")
    assert h.settled == [("a1", 0.0)]  # failed is settled: every peer has answered or not


def test_a_peer_with_no_cell_of_the_alert_ends_its_delivery_without_a_write() -> None:
    h = Harness("bsc1", "bsc3")
    h.south.served = {"bsc1"}
    h.connect("bsc1")
    h.connect("bsc3")
    alert = h.alert("a1")
    assert h.links["bsc3"].sent == []
    row = h.delivery(alert, "bsc3").row
    assert (row.state, row.error) == (S.KILLED, "no target cell served by this peer")


def test_a_link_that_goes_down_brings_writes_back_to_pending_and_stops_their_timers() -> None:
    h = Harness("bsc1")
    h.connect("bsc1")
    alert = h.alert("a1")
    peer = h.runtime.peers["bsc1"]
    h.links["bsc1"].up = False
    h.engine.peer_down(peer)
    assert h.delivery(alert, "bsc1").state is S.PENDING and peer.deadlines == {}
    h.links["bsc1"].up = True
    h.engine.peer_up(peer)
    assert h.delivery(alert, "bsc1").state is S.WRITING and len(h.links["bsc1"].sent) == 2


def test_a_peer_that_cannot_take_more_gets_the_most_urgent_first() -> None:
    h = Harness("bsc1")
    h.connect("bsc1")
    peer = h.runtime.peers["bsc1"]
    h.engine.writable(peer, False)
    h.alert("routine", priority=2)
    h.alert("presidential", priority=0)
    assert h.links["bsc1"].sent == []
    h.engine.writable(peer, True)
    assert [pdu[1] for pdu in h.links["bsc1"].sent] == ["presidential", "routine"]


def test_a_cancelled_alert_is_killed_and_forgotten_once_the_kill_is_answered() -> None:
    h = Harness("bsc1")
    h.connect("bsc1")
    alert = h.alert("a1")
    h.answer(alert, "bsc1", Event.COMPLETE)
    alert.state = "cancelled"
    h.engine.step(h.runtime.peers["bsc1"], h.delivery(alert, "bsc1"), Event.CANCEL)
    assert h.links["bsc1"].sent[-1] == ("kill", "a1")
    h.answer(alert, "bsc1", Event.KILL_COMPLETE)
    assert "a1" not in h.runtime.alerts and h.runtime.peers["bsc1"].deliveries == {}
