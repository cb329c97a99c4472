"""The delivery engine: drives one `delivery.step` machine per (message, peer), whatever the
peer's protocol.

It owns each peer's priority queue (Presidential first), drained as fast as the link
takes it, and its answer deadlines; it records progress through the group-commit writer
and tells who asked when every peer has settled an alert. What a request looks like on
the wire is the southbound adapter's business: the engine asks it for a write, a kill
or a query of a message on a peer, and the adapter turns the peer's answers into events.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from omnigw.cbc.areas import Target
from omnigw.cbc.delivery import DeliveryState, Do, Event, step
from omnigw.cbc.metrics import DELIVERY_LATENCY, MESSAGES
from omnigw.cbc.runtime import AlertRt, DeliveryRt, MessageRt, PeerRuntime, Runtime
from omnigw.cbc.writer import DeliveryRow, StoreWriter
from omnigw.store.base import utcnow

log = logging.getLogger("omnigw.cbc")

S = DeliveryState
# What a state in progress is stored as (and reloaded as after a restart).
PENDING_FORM = {S.WRITING: S.PENDING, S.KILLING: S.KILL_PENDING}
Request = tuple[Any, bytes | None]  # a PDU, and its encoding when the adapter has it


class Southbound(Protocol):
    """A protocol's side of delivery: requests for a message on a peer."""

    def write(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        """Write (or replace) the message; None when the peer serves none of its cells."""
        ...

    def kill(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request: ...

    def kill_left(
        self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow, old: Target
    ) -> Request | None:
        """A kill of the cells the alert's new area left on this peer, if any."""
        ...

    def covers(self, peer: PeerRuntime, alert: AlertRt) -> bool: ...

    def query(self, peer: PeerRuntime, message: MessageRt, row: DeliveryRow) -> Request | None:
        """A query of the message's broadcast counts; None: the protocol has none."""
        ...


class DeliveryEngine:
    def __init__(
        self,
        runtime: Runtime,
        writer: StoreWriter,
        southbound: dict[str, Southbound],
        clock: Callable[[], float],
        wall: Callable[[], datetime] = utcnow,
    ) -> None:
        self._rt = runtime
        self._writer = writer
        self._south = southbound  # by interface: the one switch on the peer's protocol
        self.clock = clock  # monotonic: answer deadlines, delivery latency
        self.wall = wall  # UTC date and time: what the store records
        self._seq = itertools.count()
        self.delivery_ids = itertools.count(1)  # continued from the store at load
        self._timer: asyncio.Task[None] | None = None
        # Called with (alert id, seconds from accept) when every peer has answered.
        self.on_delivered: list[Callable[[str, float], None]] = []

    def start(self) -> None:
        self._timer = asyncio.get_running_loop().create_task(self._answer_timeouts())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    # --- deliveries ----------------------------------------------------------------------

    def register(self, peer: PeerRuntime, message: MessageRt) -> DeliveryRt:
        """A new delivery: in memory at once, in the store with its first change."""
        delivery_id = next(self.delivery_ids)
        row = DeliveryRow(delivery_id, S.PENDING, 0, None, None, None, None, None, None)
        self._writer.new_delivery(row, message.id, peer.cfg.name, peer.interface)
        drt = DeliveryRt(row, peer.cfg.name, message)
        self.adopt(peer, drt)
        return drt

    def adopt(self, peer: PeerRuntime, delivery: DeliveryRt) -> None:
        """Index a delivery (new, or reloaded from the store)."""
        message = delivery.message
        peer.deliveries[delivery.row.id] = delivery
        self._rt.refs[(peer.cfg.name, message.identifier, message.code)] = delivery
        alert = message.alert
        alert.deliveries.append((peer, delivery))
        alert.held += 1
        alert.progress.added(delivery.state)
        if delivery.state is S.ACTIVE:
            self._rt.holding.add(peer.cfg.name)

    def add_missing_deliveries(self) -> None:
        """Every configured peer owes every active message, including peers added since."""
        for peer in self._rt.peers.values():
            have = {d.message.id for d in peer.deliveries.values()}
            for alert in self._rt.alerts.values():
                if alert.state == "active":
                    for message in alert.messages:
                        if message.id not in have and not message.stopped:
                            self.register(peer, message)

    def start_alert(self, alert: AlertRt) -> None:
        for peer, delivery in alert.deliveries:
            if peer.up:  # the others are written when their link comes up
                self.step(peer, delivery, Event.PEER_UP)

    def publish(self, message: MessageRt) -> None:
        """A message new to an alert in progress: owed by every peer, written where up."""
        for peer in self._rt.peers.values():
            delivery = self.register(peer, message)
            if peer.up:
                self.step(peer, delivery, Event.PEER_UP)

    def retarget(self, peer: PeerRuntime, delivery: DeliveryRt, old: Target) -> None:
        """A kept message after an update: written again where the area still is."""
        if not self._south[peer.interface].covers(peer, delivery.message.alert):
            self.step(peer, delivery, Event.CANCEL)  # the area left this peer
            return
        # A replace leaves other cells as they are: kill it where the area left.
        left = self._south[peer.interface].kill_left(peer, delivery.message, delivery.row, old)
        if left is not None:
            self.push(peer, 0, -1, *left)
        self.step(peer, delivery, Event.RETARGET)

    def query(self, alert: AlertRt) -> int:
        """Ask each peer holding the alert for its broadcast counts; returns queries sent."""
        sent = 0
        for peer, delivery in list(alert.deliveries):
            if not peer.up or delivery.state is not S.ACTIVE:
                continue
            request = self._south[peer.interface].query(peer, delivery.message, delivery.row)
            if request is None:
                continue
            self.push(peer, alert.priority, -1, *request)
            sent += 1
        return sent

    def status_report(self, delivery: DeliveryRt, frame: bytes) -> None:
        """A peer's answer to a status query, kept as it came."""
        delivery.row.status_report = frame
        self._writer.delivery(delivery.row)

    # --- links ---------------------------------------------------------------------------

    def peer_up(self, peer: PeerRuntime) -> None:
        waiting = [d for d in peer.deliveries.values() if d.state in (S.PENDING, S.KILL_PENDING)]
        waiting.sort(key=lambda d: (d.message.alert.priority, d.message.alert.accepted_at))
        for delivery in waiting:
            self.step(peer, delivery, Event.PEER_UP)

    def peer_down(self, peer: PeerRuntime) -> None:
        peer.outbound.clear()  # regenerated from the delivery states on the next link-up
        for delivery in list(peer.deliveries.values()):
            if delivery.state in (S.WRITING, S.KILLING):
                self.step(peer, delivery, Event.PEER_DOWN)

    def writable(self, peer: PeerRuntime, writable: bool) -> None:
        peer.writable = writable
        if writable:
            self._drain(peer)

    # --- one step --------------------------------------------------------------------------

    def step(
        self,
        peer: PeerRuntime,
        delivery: DeliveryRt,
        event: Event,
        frame: bytes | None = None,
        partial: bool = False,
    ) -> None:
        row = delivery.row
        before = delivery.state
        result = step(before, event, row.attempts, peer.max_attempts, peer.up, partial)
        row.state, row.attempts = result.state, result.attempts
        message = delivery.message
        alert = message.alert
        no_cells = timed = False
        for action in result.actions:
            if action is Do.STOP_TIMER:
                peer.deadlines.pop(row.id, None)
            elif action is Do.START_TIMER:
                timed = True  # the request that follows starts its timer when it leaves
            elif action is Do.WRITE:
                write = self._south[peer.interface].write(peer, message, row)
                if write is None:
                    no_cells = True
                else:
                    self.push(peer, alert.priority, row.id, *write, timed=timed)
            elif action is Do.KILL:
                kill = self._south[peer.interface].kill(peer, message, row)
                self.push(peer, 0, row.id, *kill, timed=timed)
            elif action is Do.CONFIRM:
                row.confirmed_serial = message.serial
                row.confirmed_at = self.wall()
                row.error = None
                self._rt.holding.add(peer.cfg.name)
        if result.reason is not None:
            row.error = result.reason
        if frame is not None and event in (Event.COMPLETE, Event.FAILURE):
            row.report = frame
            MESSAGES.inc(peer.confirmed if row.state == S.ACTIVE else peer.failed)
        elif frame is not None:
            row.kill_report = frame
        if row.state == S.FAILED and event is Event.TIMEOUT:
            MESSAGES.inc(peer.failed)
        after = delivery.state
        # Persist what survives a restart. WRITING and KILLING come back as their pending
        # forms, so leaving a pending form for them changes nothing worth a write.
        if (after != before and PENDING_FORM.get(after) is not before) or frame is not None:
            self._writer.delivery(row)
        if after != before and (after in (S.FAILED, S.KILLED) or event is Event.RESTART):
            self._writer.event(
                alert.id,
                f"delivery_{after}",
                {"peer": peer.cfg.name, "language": message.language, "event": str(event),
                 "error": row.error},
            )  # fmt: skip
        if after == S.KILLED:
            self._forget(peer, delivery)
        if alert.progress.changed(before, after, alert.state == "active"):
            self._delivered(alert)
        if no_cells:  # the adapter found nothing to write: the machine decides what follows
            self.step(peer, delivery, Event.NO_CELLS)

    def _delivered(self, alert: AlertRt) -> None:
        elapsed = self.clock() - alert.accepted_at
        DELIVERY_LATENCY.observe(elapsed)
        for hook in self.on_delivered:
            hook(alert.id, elapsed)
        self._writer.alert_delivered(alert.id, self.wall())
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
        if self._rt.refs.get(key) is delivery:
            del self._rt.refs[key]
        if alert.held == 0:
            self._rt.untrack(alert.id)

    # --- the queue -------------------------------------------------------------------------

    def push(
        self,
        peer: PeerRuntime,
        priority: int,
        delivery_id: int,
        pdu: Any,
        wire: bytes | None,
        timed: bool = False,
    ) -> None:
        """Send now, or queue by priority; `timed`: the delivery waits for an answer."""
        if not peer.outbound and peer.up and peer.writable:
            self._send(peer, delivery_id, pdu, wire, timed)  # nothing queued to overtake
            return
        entry = (priority, next(self._seq), delivery_id, pdu, wire, timed)
        heapq.heappush(peer.outbound, entry)
        self._drain(peer)

    def _drain(self, peer: PeerRuntime) -> None:
        """Send queued PDUs, most urgent first, while the link takes them."""
        while peer.outbound and peer.up and peer.writable:
            _, _, delivery_id, pdu, wire, timed = heapq.heappop(peer.outbound)
            if not self._send(peer, delivery_id, pdu, wire, timed):
                return

    def _send(
        self, peer: PeerRuntime, delivery_id: int, pdu: Any, wire: bytes | None, timed: bool
    ) -> bool:
        assert peer.link is not None
        try:
            peer.link.send(pdu, wire)
        except ConnectionError:
            return False
        if timed:
            peer.deadlines.pop(delivery_id, None)  # a re-send goes to the back
            peer.deadlines[delivery_id] = self.clock() + peer.answer_timeout
        return True

    async def _answer_timeouts(self) -> None:
        """One sweep a tick instead of a timer per PDU (two timer operations per delivery
        were a sixth of the fan-out's cost); a timeout fires up to a tick late."""
        tick = min([0.5] + [p.answer_timeout / 4 for p in self._rt.peers.values()])
        while True:
            await asyncio.sleep(tick)
            self.expire(self.clock())

    def expire(self, now: float) -> None:
        """Time out every delivery whose answer is due by `now`."""
        for peer in self._rt.peers.values():
            while peer.deadlines:
                delivery_id, deadline = next(iter(peer.deadlines.items()))
                if deadline > now:
                    break
                del peer.deadlines[delivery_id]
                delivery = peer.deliveries.get(delivery_id)
                if delivery is not None:
                    self.step(peer, delivery, Event.TIMEOUT)
