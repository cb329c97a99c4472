"""The ASP side of M3UA (RFC 4666 4.3): bring the ASP up and active, keep it alive, track
which destinations the SGP says are reachable, and pass DATA up. Events in, actions out;
time lives in the link (timers are named actions).

    DOWN --connected: ASPUP--> UP_SENT --ASPUP_ACK: ASPAC--> ACTIVE_SENT --ASPAC_ACK--> ACTIVE

An unanswered ASPUP or ASPAC is sent again after `ack_timeout`, up to `attempts` times,
then the association is closed (the link reconnects). Management and maintenance go on
stream 0 and DATA does not when there is another (an SGP such as osmo-stp answers DATA on
stream 0 with ERR "invalid stream identifier"): a DATA message takes stream 1 + SLS modulo
the streams beyond 0 (TCP, with one stream, has no choice).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum

from omnigw.camel.m3ua.codec import (
    ASPAC,
    ASPAC_ACK,
    ASPIA_ACK,
    ASPUP,
    ASPUP_ACK,
    BEAT,
    BEAT_ACK,
    DATA,
    DAVA,
    DRST,
    DUNA,
    ERR,
    NTFY,
    SCON,
    DecodeError,
    ErrorCode,
    Message,
    ProtocolData,
    Tag,
    TrafficMode,
    message,
    u32,
)
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired

ACK = "ack"  # an ASPUP or ASPAC waits for its acknowledgement
HEARTBEAT = "heartbeat"  # time to send a BEAT
HEARTBEAT_ACK = "heartbeat-ack"  # a BEAT waits for its BEAT_ACK

# --- events ------------------------------------------------------------------------------


@dataclass(slots=True)
class Connected:
    streams: int  # outbound streams the association has


@dataclass(slots=True)
class Received:
    msg: Message
    stream: int


@dataclass(slots=True)
class Malformed:
    error: DecodeError


@dataclass(slots=True)
class Transfer:
    """The user part (SCCP) has a message for a point code."""

    data: ProtocolData


Event = Connected | Received | Malformed | TimerExpired | Transfer

# --- actions -----------------------------------------------------------------------------


@dataclass(slots=True)
class Send:
    msg: Message
    stream: int = 0


@dataclass(slots=True)
class Active:
    """The ASP is active: DATA may flow."""


@dataclass(slots=True)
class Deliver:
    """DATA for the user part."""

    data: ProtocolData


@dataclass(slots=True)
class Reachability:
    """The SGP says these point codes are (un)available."""

    point_codes: tuple[int, ...]
    available: bool


@dataclass(slots=True)
class Refused:
    """Something was refused: the SGP's ERR (`ours` False) or ours to it; count and log."""

    reason: str
    ours: bool
    cause: str = ""  # a bounded name for counting: the M3UA error code, or what went wrong


Action = Send | StartTimer | CancelTimer | Close | Active | Deliver | Reachability | Refused


class State(Enum):
    DOWN = "down"
    UP_SENT = "up-sent"
    ACTIVE_SENT = "active-sent"
    ACTIVE = "active"


class AspFsm:
    def __init__(
        self,
        routing_context: int | None,
        traffic_mode: TrafficMode = TrafficMode.LOADSHARE,
        ack_timeout: float = 2.0,
        attempts: int = 5,
        heartbeat: float | None = 30.0,
        heartbeat_timeout: float = 10.0,
    ) -> None:
        self.routing_context = routing_context
        self.traffic_mode = traffic_mode
        self.ack_timeout, self.attempts = ack_timeout, attempts
        self.heartbeat, self.heartbeat_timeout = heartbeat, heartbeat_timeout
        self.state = State.DOWN
        self.streams = 1
        self.unavailable: set[int] = set()  # point codes the SGP reported unreachable
        self._tries = 0
        self._beat: bytes | None = None  # the heartbeat data a BEAT_ACK must echo

    def handle(self, event: Event) -> list[Action]:
        if isinstance(event, Transfer):  # the hot path first
            return self._transfer(event.data)
        if isinstance(event, Received):
            return self._received(event.msg)
        if isinstance(event, Connected):
            self.streams = max(1, event.streams)
            self.unavailable.clear()
            return self._send_up()
        if isinstance(event, TimerExpired):
            return self._timer(event.name)
        return [Send(message(ERR, (Tag.ERROR_CODE, u32(event.error.code)))),
                Refused(str(event.error), True, event.error.code.name.lower())]  # fmt: skip

    # --- bringing the ASP up -------------------------------------------------------------

    def _send_up(self) -> list[Action]:
        self.state, self._tries = State.UP_SENT, 1
        return [Send(message(ASPUP)), StartTimer(ACK, self.ack_timeout)]

    def _activate(self) -> Message:
        params = [(Tag.TRAFFIC_MODE, u32(self.traffic_mode))]
        if self.routing_context is not None:
            params.append((Tag.ROUTING_CONTEXT, u32(self.routing_context)))
        return message(ASPAC, *params)

    def _timer(self, name: str) -> list[Action]:
        if name == ACK and self.state in (State.UP_SENT, State.ACTIVE_SENT):
            if self._tries >= self.attempts:
                what = "ASPUP" if self.state is State.UP_SENT else "ASPAC"
                return [Close(f"no acknowledgement of {what} after {self._tries} attempts")]
            self._tries += 1
            again = message(ASPUP) if self.state is State.UP_SENT else self._activate()
            return [Send(again), StartTimer(ACK, self.ack_timeout)]
        if name == HEARTBEAT and self.state is State.ACTIVE:
            self._beat = os.urandom(8)
            return [Send(message(BEAT, (Tag.HEARTBEAT_DATA, self._beat))),
                    StartTimer(HEARTBEAT_ACK, self.heartbeat_timeout)]  # fmt: skip
        if name == HEARTBEAT_ACK and self._beat is not None:
            return [Close(f"no BEAT_ACK within {self.heartbeat_timeout:g} s")]
        return []

    # --- what the SGP sends --------------------------------------------------------------

    def _received(self, msg: Message) -> list[Action]:
        kind = msg.kind
        if kind == DATA:
            if self.state is not State.ACTIVE:
                return self._error(ErrorCode.UNEXPECTED_MESSAGE, "DATA before the ASP is active")
            data = msg.protocol_data
            if data is None:
                return self._error(ErrorCode.MISSING_PARAMETER, "DATA without Protocol Data")
            return [Deliver(data)]
        if kind == ASPUP_ACK and self.state is State.UP_SENT:
            self.state, self._tries = State.ACTIVE_SENT, 1
            return [CancelTimer(ACK), Send(self._activate()), StartTimer(ACK, self.ack_timeout)]
        if kind == ASPAC_ACK and self.state is State.ACTIVE_SENT:
            self.state = State.ACTIVE
            out: list[Action] = [CancelTimer(ACK), Active()]
            if self.heartbeat:
                out.append(StartTimer(HEARTBEAT, self.heartbeat))
            return out
        if kind == BEAT:
            return [Send(message(BEAT_ACK, *msg.params.items()))]
        if kind == BEAT_ACK:
            if self._beat is None or msg.params.get(Tag.HEARTBEAT_DATA) != self._beat:
                return []  # not the answer to ours: ignored (RFC 4666 4.3.4.6)
            self._beat = None
            return [CancelTimer(HEARTBEAT_ACK), StartTimer(HEARTBEAT, self.heartbeat or 30.0)]
        if kind in (DUNA, DAVA):
            codes = msg.affected_point_codes
            if kind == DUNA:
                self.unavailable.update(codes)
            else:
                self.unavailable.difference_update(codes)
            return [Reachability(codes, kind == DAVA)]
        if kind in (SCON, DRST, NTFY, ASPIA_ACK, ASPUP_ACK, ASPAC_ACK):
            return []  # congestion, restriction and status: informational here
        if kind == ERR:
            code = msg.u32(Tag.ERROR_CODE)
            known = code is not None and code in ErrorCode._value2member_map_
            name = ErrorCode(code).name if known and code is not None else str(code)
            return [Refused(f"ERR {name.lower()}", False, name.lower())]
        return self._error(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, f"{msg.name} not served")

    def _error(self, code: ErrorCode, reason: str) -> list[Action]:
        return [Send(message(ERR, (Tag.ERROR_CODE, u32(code)))),
                Refused(reason, True, code.name.lower())]  # fmt: skip

    # --- what the user part sends --------------------------------------------------------

    def _transfer(self, data: ProtocolData) -> list[Action]:
        if self.state is not State.ACTIVE:
            return [Refused("DATA while the ASP is not active", True, "not_active")]
        params = [(Tag.PROTOCOL_DATA, data.encode())]
        if self.routing_context is not None:
            params.insert(0, (Tag.ROUTING_CONTEXT, u32(self.routing_context)))
        stream = 1 + data.sls % (self.streams - 1) if self.streams > 1 else 0
        return [Send(message(DATA, *params), stream)]
