"""CBSP link state machine: RESET at link-up, keep-alive, error indications.

Events in, actions out; time lives in the link (timers are named actions). Every PDU
the peer sends comes through here. Everything that is not link housekeeping is handed
up: answers to the delivery engine's requests with `DeliverAnswer` (read only as far as
matching needs, see `codec.peek`), other PDUs with `Deliver`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omnigw.cbc.cbsp.codec import (
    CellList,
    DecodeError,
    Discriminator,
    MsgType,
    Pdu,
    Summary,
)
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired

KEEPALIVE = "keepalive"
KEEPALIVE_ANSWER = "keepalive-answer"
RESET_ANSWER = "reset-answer"


# --- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    reset: bool  # send RESET first (no delivery state kept for this peer)


@dataclass(frozen=True, slots=True)
class Received:
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Answered:
    """An answer to a WRITE-REPLACE, KILL or status query, peeked, not decoded."""

    summary: Summary
    frame: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    error: DecodeError
    at: float  # loop time: ERROR INDICATIONs are rate-limited


@dataclass(frozen=True, slots=True)
class Probe:
    """Prove the link alive now (a second connection claims to be this peer)."""


Event = Connected | Received | Answered | Malformed | TimerExpired | Probe


# --- actions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class Up:
    """The link is ready for WRITE-REPLACE / KILL traffic."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """A PDU for the delivery engine (answers, RESTART, FAILURE, ...)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class DeliverAnswer:
    """An answer for the delivery engine, with the frame it keeps as the peer's report."""

    summary: Summary
    frame: bytes


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Count, and log when `answered`: the peer sent something malformed, answered with an
    ERROR INDICATION unless the peer is flooding us (then only counted)."""

    cause: int
    reason: str
    answered: bool = True


Action = Send | StartTimer | CancelTimer | Close | Up | Deliver | DeliverAnswer | ProtocolError


class State(Enum):
    IDLE = "idle"
    RESETTING = "resetting"
    UP = "up"
    CLOSED = "closed"


class LinkFsm:
    # ERROR INDICATIONs (and their log lines): a burst of this many, then this many a second.
    ERROR_BURST = 10.0
    ERRORS_PER_SECOND = 1.0

    def __init__(self, keepalive: float, keepalive_timeout: float, reset_timeout: float) -> None:
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self.reset_timeout = reset_timeout
        self.state = State.IDLE
        self._probing = False  # a KEEP-ALIVE is out, its answer timer running
        self._error_tokens = self.ERROR_BURST
        self._error_refill_at: float | None = None

    def _up(self) -> list[Action]:
        self.state = State.UP
        return [Up(), StartTimer(KEEPALIVE, self.keepalive)]

    def handle(self, event: Event) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        if isinstance(event, Answered):  # the hot path: one per delivery, first
            return [DeliverAnswer(event.summary, event.frame)]
        if isinstance(event, Connected):
            if event.reset:
                self.state = State.RESETTING
                reset = Pdu(MsgType.RESET, cell_list=CellList(Discriminator.ALL_IN_BSC))
                return [Send(reset), StartTimer(RESET_ANSWER, self.reset_timeout)]
            return self._up()
        if isinstance(event, TimerExpired):
            return self._timer(event.name)
        if isinstance(event, Probe):
            return self._probe()
        if isinstance(event, Malformed):
            return self._malformed(event.error, event.at)
        return self._received(event.pdu)

    def _probe(self) -> list[Action]:
        if self.state is not State.UP or self._probing:
            return []
        return [CancelTimer(KEEPALIVE), *self._ping()]

    def _ping(self) -> list[Action]:
        self._probing = True
        ping = Pdu(MsgType.KEEP_ALIVE, keepalive_period=int(self.keepalive))
        return [Send(ping), StartTimer(KEEPALIVE_ANSWER, self.keepalive_timeout)]

    def _timer(self, name: str) -> list[Action]:
        if name == KEEPALIVE and self.state is State.UP:
            return self._ping()
        if name == KEEPALIVE_ANSWER and self.state is State.UP:
            self.state = State.CLOSED
            return [Close(f"no KEEP-ALIVE COMPLETE within {self.keepalive_timeout:g} s")]
        if name == RESET_ANSWER and self.state is State.RESETTING:
            self.state = State.CLOSED
            return [Close(f"no RESET COMPLETE within {self.reset_timeout:g} s")]
        return []

    def _received(self, pdu: Pdu) -> list[Action]:
        if pdu.type is MsgType.KEEP_ALIVE_COMPLETE:
            if self.state is not State.UP:
                return []
            self._probing = False
            return [CancelTimer(KEEPALIVE_ANSWER), StartTimer(KEEPALIVE, self.keepalive)]
        if pdu.type is MsgType.KEEP_ALIVE:
            return [Send(Pdu(MsgType.KEEP_ALIVE_COMPLETE))]
        if pdu.type in (MsgType.RESET_COMPLETE, MsgType.RESET_FAILURE):
            if self.state is State.RESETTING:
                # A RESET FAILURE names cells that could not be reset; the link still works.
                return [CancelTimer(RESET_ANSWER), Deliver(pdu), *self._up()]
            return [Deliver(pdu)]
        return [Deliver(pdu)]

    def _malformed(self, error: DecodeError, at: float) -> list[Action]:
        if self._error_refill_at is not None:
            refill = (at - self._error_refill_at) * self.ERRORS_PER_SECOND
            self._error_tokens = min(self.ERROR_BURST, self._error_tokens + refill)
        self._error_refill_at = at
        if self._error_tokens < 1:
            return [ProtocolError(int(error.cause), error.reason, answered=False)]
        self._error_tokens -= 1
        partial = error.pdu
        answer = Pdu(
            MsgType.ERROR_INDICATION,
            cause=error.cause,
            message_id=partial.message_id if partial else None,
            new_serial=partial.new_serial if partial else None,
            old_serial=partial.old_serial if partial else None,
        )
        return [Send(answer), ProtocolError(int(error.cause), error.reason)]
