"""CBSP over TCP: frames bytes into PDUs and runs the link FSM's timers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, cast

from omnigw.cbc.cbsp.codec import (
    DecodeError,
    MsgType,
    Pdu,
    Summary,
    decode,
    encode,
    frame_length,
    peek,
)
from omnigw.cbc.cbsp.fsm import (
    Action,
    Answered,
    Connected,
    Deliver,
    DeliverAnswer,
    Event,
    LinkFsm,
    Malformed,
    Probe,
    ProtocolError,
    Received,
    Send,
    Up,
)
from omnigw.machine import CancelTimer, Close, StartTimer, TimerExpired
from omnigw.metrics import WRITES_PAUSED
from omnigw.timers import Timers

log = logging.getLogger("omnigw.cbc.cbsp")

# Answers the delivery engine matches by reference only; their cell lists stay raw.
ANSWERS = frozenset(
    {
        MsgType.WRITE_REPLACE_COMPLETE,
        MsgType.WRITE_REPLACE_FAILURE,
        MsgType.KILL_COMPLETE,
        MsgType.KILL_FAILURE,
        MsgType.MSG_STATUS_QUERY_COMPLETE,
    }
)
# Back-pressure: past the high mark the service queues PDUs for this peer and we stop
# reading from it (its own requests would add answers to a buffer it does not drain).
WRITE_BUFFER_HIGH = 256 * 1024
WRITE_BUFFER_LOW = 64 * 1024


@lru_cache(maxsize=1024)
def _encode(pdu: Pdu) -> bytes:
    """A PLMN-wide WRITE-REPLACE is the same PDU for every BSC: encode it once."""
    return encode(pdu)


def _whole_frame(data: bytes) -> bool:
    try:
        return frame_length(data) == len(data)
    except DecodeError:
        return False  # the framing path reports it


class LinkHandler(Protocol):
    """What the CBC service does with link events."""

    def link_up(self, link: CbspLink) -> None: ...
    def link_pdu(self, link: CbspLink, pdu: Pdu) -> None: ...
    def link_down(self, link: CbspLink, reason: str) -> None: ...
    def link_error(
        self, link: CbspLink, cause: int, reason: str, answered: bool = True
    ) -> None: ...
    def link_sent(self, link: CbspLink, pdu: Pdu, wire: bytes) -> None: ...
    def link_answer(self, link: CbspLink, summary: Summary, frame: bytes) -> None: ...
    def link_writable(self, link: CbspLink, writable: bool) -> None: ...


class CbspLink(asyncio.Protocol):
    def __init__(
        self, peer: str, fsm: LinkFsm, handler: LinkHandler, reset: Callable[[], bool]
    ) -> None:
        self.peer = peer
        self._fsm = fsm
        self._handler = handler
        self._reset = reset
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._timers = Timers(lambda name: self._feed(TimerExpired(name)))
        self.closed = asyncio.get_running_loop().create_future()
        self.up = False

    # asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        self._feed(Connected(reset=self._reset()))

    def data_received(self, data: bytes) -> None:
        if not self._buffer and _whole_frame(data):
            self._frame(data)  # the usual case: exactly one PDU, no copy needed
            return
        self._buffer += data
        while True:
            try:
                size = frame_length(self._buffer)
            except DecodeError as exc:
                # An impossible length: the stream cannot be resynchronised.
                self._handler.link_error(self, int(exc.cause), exc.reason)
                self.close(f"unframeable input: {exc.reason}")
                return
            if size is None or len(self._buffer) < size:
                return
            frame = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        try:
            if frame[0] in ANSWERS:
                self._feed(Answered(peek(frame), frame))
                return
            pdu = decode(frame)
        except DecodeError as exc:
            self._feed(Malformed(exc, asyncio.get_running_loop().time()))
            return
        self._feed(Received(pdu))

    def connection_lost(self, exc: Exception | None) -> None:
        self._timers.cancel_all()
        self.up = False
        reason = str(exc) if exc else "closed"
        if not self.closed.done():
            self.closed.set_result(reason)
        self._handler.link_down(self, reason)

    def pause_writing(self) -> None:
        assert self._transport is not None
        self._transport.pause_reading()
        WRITES_PAUSED.labels("cbsp").inc()
        self._handler.link_writable(self, False)

    def resume_writing(self) -> None:
        assert self._transport is not None
        if not self._transport.is_closing():
            self._transport.resume_reading()
        self._handler.link_writable(self, True)

    # actions -----------------------------------------------------------------------

    def send(self, pdu: Pdu, wire: bytes | None = None) -> None:
        """Send `pdu`; `wire` is its encoding when the caller already has it."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError(f"link to {self.peer} is down")
        if wire is None:
            wire = _encode(pdu)
        self._transport.write(wire)
        self._handler.link_sent(self, pdu, wire)

    def probe(self) -> None:
        """Send a KEEP-ALIVE now: the link closes if it is not answered in time."""
        self._feed(Probe())

    def close(self, reason: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            log.warning("closing CBSP link", extra={"peer": self.peer, "reason": reason})
            self._transport.close()

    def _feed(self, event: Event) -> None:
        for action in self._fsm.handle(event):
            self._execute(action)

    def _execute(self, action: Action) -> None:
        if isinstance(action, DeliverAnswer):  # one per delivery: checked first
            self._handler.link_answer(self, action.summary, action.frame)
        elif isinstance(action, Send):
            self.send(action.pdu)
        elif isinstance(action, StartTimer):
            self._timers.start(action.name, action.seconds)
        elif isinstance(action, CancelTimer):
            self._timers.cancel(action.name)
        elif isinstance(action, Close):
            self.close(action.reason)
        elif isinstance(action, Up):
            self.up = True
            self._handler.link_up(self)
        elif isinstance(action, Deliver):
            self._handler.link_pdu(self, action.pdu)
        elif isinstance(action, ProtocolError):
            self._handler.link_error(self, action.cause, action.reason, action.answered)
