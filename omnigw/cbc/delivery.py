"""One state machine per (message, peer): write, confirm, retry, re-send, kill.

Pure: `step(state, event)` returns the new state and what to do. The CBC service
persists the state, sends the PDUs and runs the answer timer.

    PENDING --peer up / queued--> WRITING --complete--> ACTIVE --cancel--> KILLING --> KILLED
       ^                            |  timeout (retry) / failure (all cells) -> FAILED
       +------- peer down ----------+  ACTIVE --restart (data lost)--> WRITING (re-send)

A retarget (the alert's area changed and again covers this peer) is an update that also
brings back a delivery killed, or being killed, because the area had left the peer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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


class Do(StrEnum):
    WRITE = "write"  # send WRITE-REPLACE and start the answer timer
    KILL = "kill"  # send KILL and start the answer timer
    STOP_TIMER = "stop_timer"


@dataclass(frozen=True, slots=True)
class Step:
    state: DeliveryState
    actions: tuple[Do, ...] = ()
    attempts: int = 0  # attempts so far after this step


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
            return Step(S.WRITING, (Do.WRITE,), attempts + 1)
        if state is S.KILL_PENDING:
            return Step(S.KILLING, (Do.KILL,), attempts + 1)
        return Step(state, (), attempts)
    if event is E.CANCEL:
        if state in (S.PENDING, S.FAILED):
            return Step(S.KILLED, (), attempts)  # never installed anywhere
        if state in (S.WRITING, S.ACTIVE):
            if peer_up:
                return Step(S.KILLING, (Do.STOP_TIMER, Do.KILL), 1)
            return Step(S.KILL_PENDING, (Do.STOP_TIMER,), 0)
        return Step(state, (), attempts)
    if event is E.RETARGET and state in (S.KILLED, S.KILLING, S.KILL_PENDING):
        if not peer_up:
            return Step(S.PENDING, (Do.STOP_TIMER,), 0)
        return Step(S.WRITING, (Do.STOP_TIMER, Do.WRITE), 1)
    if event in (E.UPDATE, E.RESTART, E.RETARGET):
        if state in (S.ACTIVE, S.WRITING, S.FAILED, S.PENDING):
            if not peer_up:
                return Step(S.PENDING, (Do.STOP_TIMER,), 0)
            return Step(S.WRITING, (Do.STOP_TIMER, Do.WRITE), 1)
        return Step(state, (), attempts)
    if state is S.WRITING:
        if event is E.COMPLETE:
            return Step(S.ACTIVE, (Do.STOP_TIMER,), attempts)
        if event is E.FAILURE:
            return Step(S.ACTIVE if partial else S.FAILED, (Do.STOP_TIMER,), attempts)
        if event is E.TIMEOUT:
            if attempts >= max_attempts:
                return Step(S.FAILED, (), attempts)
            return Step(S.WRITING, (Do.WRITE,), attempts + 1)
    if state is S.KILLING:
        if event in (E.KILL_COMPLETE, E.KILL_FAILURE):
            return Step(S.KILLED, (Do.STOP_TIMER,), attempts)
        if event is E.TIMEOUT:
            if attempts >= max_attempts:
                return Step(S.KILLED, (), attempts)  # give up; the alert is cancelled anyway
            return Step(S.KILLING, (Do.KILL,), attempts + 1)
    return Step(state, (), attempts)


SETTLED = frozenset({DeliveryState.ACTIVE, DeliveryState.FAILED, DeliveryState.KILLED})
