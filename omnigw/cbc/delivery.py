"""One state machine per (message, peer): write, confirm, retry, re-send, kill.

Pure: `step(state, event)` returns the new state and what to do. The CBC service
persists the state, sends the PDUs and runs the answer timer.

    PENDING --peer up / queued--> WRITING --complete--> ACTIVE --cancel--> KILLING --> KILLED
       ^                            |  timeout (retry) / failure (all cells) -> FAILED
       +------- peer down ----------+  ACTIVE --restart (data lost)--> WRITING (re-send)

A retarget (the alert's area changed and again covers this peer) is an update that also
brings back a delivery killed, or being killed, because the area had left the peer.
A write the peer has no cells for (its adapter says so) ends the delivery there.

`AlertProgress` rolls an alert's deliveries up: it is delivered once every one settled.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for the peer's link, or queued
    WRITING = "writing"  # WRITE-REPLACE sent, answer timer running
    ACTIVE = "active"  # confirmed by the peer (per-cell results recorded)
    FAILED = "failed"  # the peer refused every cell, or retries ran out
    KILL_PENDING = "kill_pending"  # cancelled while the peer is down
    KILLING = "killing"  # KILL sent
    KILLED = "killed"  # gone from the peer (or never reached it)


class Event(StrEnum):
    PEER_UP = "peer_up"
    PEER_DOWN = "peer_down"
    COMPLETE = "complete"  # WRITE-REPLACE COMPLETE
    FAILURE = "failure"  # WRITE-REPLACE FAILURE; `partial` says if some cells took it
    TIMEOUT = "timeout"  # no answer in time
    CANCEL = "cancel"  # alert cancelled or expired
    UPDATE = "update"  # alert updated: write again with the old serial
    RETARGET = "retarget"  # the alert's area changed: write its new cells for this peer
    RESTART = "restart"  # the peer lost its messages (RESTART with data lost)
    KILL_COMPLETE = "kill_complete"
    KILL_FAILURE = "kill_failure"
    NO_CELLS = "no_cells"  # the peer serves none of the alert's cells: nothing to write


class Do(StrEnum):
    WRITE = "write"  # send the message (WRITE-REPLACE, Write-Replace-Warning)
    KILL = "kill"  # send its kill (KILL, Stop-Warning)
    START_TIMER = "start_timer"  # wait for the answer to what is sent, from when it leaves
    STOP_TIMER = "stop_timer"
    CONFIRM = "confirm"  # the peer holds the message: record its serial, when, and that
    # this peer now holds something (never RESET it on link-up)


class Step(NamedTuple):
    """One transition's outcome (a named tuple: one is made per event, on the hot path)."""

    state: DeliveryState
    actions: tuple[Do, ...] = ()
    attempts: int = 0  # attempts so far after this step
    reason: str | None = None  # why the delivery failed or ended, when the machine decided


SEND_WRITE = (Do.START_TIMER, Do.WRITE)
SEND_KILL = (Do.START_TIMER, Do.KILL)


def step(
    state: DeliveryState,
    event: Event,
    attempts: int,
    max_attempts: int,
    peer_up: bool,
    partial: bool = False,
) -> Step:
    """The transition for `event` in `state`; unknown combinations change nothing."""
    S, E = DeliveryState, Event
    if event is E.PEER_DOWN:
        if state is S.WRITING:
            return Step(S.PENDING, (Do.STOP_TIMER,), attempts)
        if state is S.KILLING:
            return Step(S.KILL_PENDING, (Do.STOP_TIMER,), attempts)
        return Step(state, (), attempts)
    if event is E.PEER_UP:
        if state is S.PENDING:
            return Step(S.WRITING, SEND_WRITE, attempts + 1)
        if state is S.KILL_PENDING:
            return Step(S.KILLING, SEND_KILL, attempts + 1)
        return Step(state, (), attempts)
    if event is E.CANCEL:
        if state in (S.PENDING, S.FAILED):
            return Step(S.KILLED, (), attempts)  # never installed anywhere
        if state in (S.WRITING, S.ACTIVE):
            if peer_up:
                return Step(S.KILLING, (Do.STOP_TIMER, *SEND_KILL), 1)
            return Step(S.KILL_PENDING, (Do.STOP_TIMER,), 0)
        return Step(state, (), attempts)
    if event is E.RETARGET and state in (S.KILLED, S.KILLING, S.KILL_PENDING):
        if not peer_up:
            return Step(S.PENDING, (Do.STOP_TIMER,), 0)
        return Step(S.WRITING, (Do.STOP_TIMER, *SEND_WRITE), 1)
    if event in (E.UPDATE, E.RESTART, E.RETARGET):
        if state in (S.ACTIVE, S.WRITING, S.FAILED, S.PENDING):
            if not peer_up:
                return Step(S.PENDING, (Do.STOP_TIMER,), 0)
            return Step(S.WRITING, (Do.STOP_TIMER, *SEND_WRITE), 1)
        return Step(state, (), attempts)
    if state is S.WRITING:
        if event is E.COMPLETE or (event is E.FAILURE and partial):
            return Step(S.ACTIVE, (Do.STOP_TIMER, Do.CONFIRM), attempts)
        if event is E.FAILURE:
            return Step(S.FAILED, (Do.STOP_TIMER,), attempts)
        if event is E.TIMEOUT:
            if attempts >= max_attempts:
                return Step(S.FAILED, (), attempts, f"no answer after {attempts} attempts")
            return Step(S.WRITING, SEND_WRITE, attempts + 1)
        if event is E.NO_CELLS:
            return Step(S.KILLED, (Do.STOP_TIMER,), attempts, "no target cell served by this peer")
    if state is S.KILLING:
        if event in (E.KILL_COMPLETE, E.KILL_FAILURE):
            return Step(S.KILLED, (Do.STOP_TIMER,), attempts)
        if event is E.TIMEOUT:
            if attempts >= max_attempts:
                return Step(S.KILLED, (), attempts)  # give up; the alert is cancelled anyway
            return Step(S.KILLING, SEND_KILL, attempts + 1)
    return Step(state, (), attempts)


SETTLED = frozenset({DeliveryState.ACTIVE, DeliveryState.FAILED, DeliveryState.KILLED})


@dataclass(slots=True)
class AlertProgress:
    """An alert's deliveries, rolled up: how many have yet to settle, and whether the alert
    was delivered (every peer answered) since it was accepted or last updated."""

    unsettled: int = 0
    delivered: bool = False

    def added(self, state: DeliveryState) -> None:
        if state not in SETTLED:
            self.unsettled += 1

    def changed(self, before: DeliveryState, after: DeliveryState, active: bool) -> bool:
        """A delivery went from `before` to `after`; True when that delivers the alert."""
        self.unsettled += int(before in SETTLED) - int(after in SETTLED)
        if self.unsettled == 0 and not self.delivered and active:
            self.delivered = True
            return True
        return False

    def restarted(self) -> None:
        """The alert changed: it is delivered again once every peer has the change."""
        self.delivered = False
