"""Diameter over TCP: frames bytes into messages and runs a peer state machine's actions."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

from omnigw.diameter.codec import DecodeError, Message, decode, encode, frame_length, header_of
from omnigw.diameter.peer import (
    Action,
    Connected,
    Deliver,
    Event,
    Malformed,
    Opened,
    PeerFsm,
    Received,
    Rejected,
    Send,
    Shutdown,
)
from omnigw.machine import Close, StartTimer, TimerExpired
from omnigw.metrics import WRITES_PAUSED
from omnigw.timers import Timers

log = logging.getLogger("omnigw.diameter")

# Back-pressure: past this many unsent bytes we stop reading the peer's requests (a peer
# that does not read its answers cannot make us buffer without bound); below the low mark
# reading resumes.
WRITE_BUFFER_HIGH = 256 * 1024
WRITE_BUFFER_LOW = 64 * 1024


class NodeHandler(Protocol):
    """What the node does with a link's events."""

    def peer_opened(self, link: DiameterLink, host: str, realm: str) -> None: ...
    def peer_rejected(self, link: DiameterLink, host: str, result_code: int) -> None: ...
    def peer_closed(self, link: DiameterLink, reason: str) -> None: ...
    def request(self, link: DiameterLink, message: Message) -> None: ...
    def seen(self, link: DiameterLink, message: Message, direction: str) -> None: ...


class DiameterLink(asyncio.Protocol):
    def __init__(self, fsm: PeerFsm, handler: NodeHandler) -> None:
        self.fsm = fsm
        self._handler = handler
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._timers = Timers(lambda name: self._feed(TimerExpired(name)))
        self._reason = "closed"
        self._loop = asyncio.get_running_loop()
        self.closed = self._loop.create_future()
        self._out: list[bytes] = []  # answers of this loop iteration, written in one go

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        self._feed(Connected())

    def pause_writing(self) -> None:
        assert self._transport is not None
        self._transport.pause_reading()
        WRITES_PAUSED.labels("diameter").inc()
        log.warning("Diameter peer is not reading its answers: reading paused",
                    extra={"peer": self.fsm.host})  # fmt: skip

    def resume_writing(self) -> None:
        assert self._transport is not None
        if not self._transport.is_closing():
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0  # frames are read in place; what they used goes in one deletion at the end
        try:
            while True:
                try:
                    size = frame_length(buffer, pos)
                except DecodeError as exc:
                    self._close(f"unframeable input: {exc.reason}")
                    return
                if size is None or len(buffer) - pos < size:
                    return
                frame = bytes(buffer[pos : pos + size])
                pos += size
                try:
                    message = decode(frame)
                except DecodeError as exc:
                    self._feed(Malformed(exc, header_of(frame)))
                    continue
                self._handler.seen(self, message, "in")
                self._feed(Received(message))
        finally:
            del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self._timers.cancel_all()
        reason = str(exc) if exc else self._reason
        if not self.closed.done():
            self.closed.set_result(reason)
        self._handler.peer_closed(self, reason)

    def send(self, message: Message) -> None:
        if self._transport is not None and not self._transport.is_closing():
            if not self._out:
                self._loop.call_soon(self._flush)
            self._out.append(encode(message))
            self._handler.seen(self, message, "out")

    def _flush(self) -> None:
        """One write for everything sent since the last: a syscall per batch, not per CCA."""
        if self._out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def shutdown(self) -> None:
        """Say goodbye with DPR (or just close if the peer never opened)."""
        self._feed(Shutdown())

    def _close(self, reason: str) -> None:
        self._reason = reason
        self._flush()  # what was said before closing still goes out
        if self._transport is not None and not self._transport.is_closing():
            log.info("closing Diameter connection", extra={"peer": self.fsm.host, "reason": reason})
            self._transport.close()

    def _feed(self, event: Event) -> None:
        for action in self.fsm.handle(event):
            self._execute(action)

    def _execute(self, action: Action) -> None:
        if isinstance(action, Send):
            self.send(action.message)
        elif isinstance(action, StartTimer):
            self._timers.start(action.name, action.seconds)
        elif isinstance(action, Close):
            self._close(action.reason)
        elif isinstance(action, Opened):
            self._handler.peer_opened(self, action.host, action.realm)
        elif isinstance(action, Rejected):
            self._handler.peer_rejected(self, action.host, action.result_code)
        elif isinstance(action, Deliver):
            self._handler.request(self, action.message)
