"""SBc-AP link state machine: what to do with each PDU an MME sends, and with input that
is not one.

Events in, actions out, no clock of its own (a malformed PDU carries the time it came, for
the rate limit). SBc-AP has no link housekeeping of its own (no RESET, no keep-alive: SCTP
heartbeats watch the association), so the machine's work is sorting: answers to the
engine's requests and the MME's indications go up; a request only a CBC may send, or bytes
that are not a PDU, get an Error-Indication back (TS 29.168 4.3.2.3), rate-limited; an
Error-Indication is never answered with another. What is odd but safe (another PPID or
stream than the spec's) is accepted and reported once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from omnigw.cbc.sbcap.causes import Cause
from omnigw.cbc.sbcap.codec import (
    PPID,
    DecodeError,
    ErrorIndication,
    Pdu,
    Report,
    StopWarningRequest,
    StopWarningResponse,
    WriteReplaceWarningRequest,
    WriteReplaceWarningResponse,
)

# --- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """The association is up."""


@dataclass(frozen=True, slots=True)
class Received:
    pdu: Pdu | Report  # an indication of cells is only peeked at
    frame: bytes
    stream: int
    ppid: int
    at: float  # loop time, for the rate limit of what is refused
    odd: tuple[str, ...] = ()  # what the codec read although it is off the spec


@dataclass(frozen=True, slots=True)
class Malformed:
    error: DecodeError
    at: float  # loop time: Error-Indications are rate-limited


Event = Connected | Received | Malformed


# --- actions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Up:
    """The link is ready for Write-Replace-Warning / Stop-Warning traffic."""


@dataclass(frozen=True, slots=True)
class Send:
    pdu: Pdu


@dataclass(frozen=True, slots=True)
class DeliverAnswer:
    """A response to one of the engine's requests, with the frame kept as the MME's report."""

    pdu: WriteReplaceWarningResponse | StopWarningResponse
    frame: bytes


@dataclass(frozen=True, slots=True)
class Deliver:
    """An indication (or an Error-Indication) for the service, with its frame."""

    pdu: Pdu | Report
    frame: bytes


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Count, and log when `answered`: the MME sent something we cannot take, answered
    with an Error-Indication unless it is flooding us (then only counted)."""

    cause: int
    reason: str
    answered: bool = True


@dataclass(frozen=True, slots=True)
class Oddity:
    """Something off-spec but safe, accepted: logged once per link."""

    what: str


Action = Up | Send | DeliverAnswer | Deliver | ProtocolError | Oddity


class State(Enum):
    IDLE = "idle"
    UP = "up"


class LinkFsm:
    # Error-Indications (and their log lines): a burst of this many, then this many a second.
    ERROR_BURST = 10.0
    ERRORS_PER_SECOND = 1.0

    def __init__(self, stream: int) -> None:
        self.stream = stream  # the stream SBc-AP is expected on
        self.state = State.IDLE
        self._noted: set[str] = set()
        self._error_tokens = self.ERROR_BURST
        self._error_refill_at: float | None = None

    def handle(self, event: Event) -> list[Action]:
        if isinstance(event, Received):
            return self._received(event)
        if isinstance(event, Connected):
            self.state = State.UP
            return [Up()]
        return self._malformed(event.error, event.at)

    def _received(self, event: Received) -> list[Action]:
        out: list[Action] = []
        if event.ppid != PPID:
            out += self._note(f"PPID {event.ppid} instead of {PPID}")
        if event.stream != self.stream:
            out += self._note(f"stream {event.stream} instead of {self.stream}")
        for what in event.odd:
            out += self._note(what)
        pdu = event.pdu
        if isinstance(pdu, WriteReplaceWarningResponse | StopWarningResponse):
            out.append(DeliverAnswer(pdu, event.frame))
        elif isinstance(pdu, WriteReplaceWarningRequest | StopWarningRequest):
            out += self._refuse(
                Cause.MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE,
                f"{pdu.procedure[2]}: only a CBC sends it", event.at, answer=True,
            )  # fmt: skip
        else:
            out.append(Deliver(pdu, event.frame))
        return out

    def _note(self, what: str) -> list[Action]:
        if what in self._noted:
            return []
        self._noted.add(what)
        return [Oddity(what)]

    def _malformed(self, error: DecodeError, at: float) -> list[Action]:
        # An Error-Indication that cannot be decoded is not answered (no ping-pong).
        answer = error.procedure != ErrorIndication.procedure[2]
        return self._refuse(error.cause, str(error), at, answer)

    def _refuse(self, cause: int, reason: str, at: float, answer: bool) -> list[Action]:
        if self._error_refill_at is not None:
            refill = (at - self._error_refill_at) * self.ERRORS_PER_SECOND
            self._error_tokens = min(self.ERROR_BURST, self._error_tokens + refill)
        self._error_refill_at = at
        if self._error_tokens < 1:
            return [ProtocolError(cause, reason, answered=False)]
        self._error_tokens -= 1
        out: list[Action] = [ProtocolError(cause, reason)]
        if answer:
            out.insert(0, Send(ErrorIndication(cause=cause)))
        return out
