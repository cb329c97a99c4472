"""Messages that carry their own length, back to back over TCP: how RFC 4666 1.3.1 runs
M3UA without SCTP. No stream or PPID travels: every message arrives on stream 0 with the
PPID the protocol would have had over SCTP, and `streams` is 1, so a user part that
spreads its traffic over streams keeps it on the one there is."""

from __future__ import annotations

from collections.abc import Callable

from omnigw.transport.base import MessageProtocol
from omnigw.transport.framed import FramedTcp

# The length of the message at the start of the data, None while too little has come;
# raises ValueError when the data cannot start a message.
FrameLength = Callable[[bytes], int | None]


class DelimitedTcp(FramedTcp):
    def __init__(self, upper: MessageProtocol, frame_length: FrameLength, ppid: int) -> None:
        super().__init__(upper)
        self._frame_length, self._ppid = frame_length, ppid
        # While the messages of one read are handed up, what they answer is held and then
        # written in one go: one write (a system call) per read, not one per message.
        self._held: list[bytes] | None = None

    def send(self, data: bytes, stream: int, ppid: int) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("association is down")
        if self._held is not None:
            self._held.append(data)
        else:
            self._transport.write(data)

    @property
    def streams(self) -> int:
        return 1

    def data_received(self, data: bytes) -> None:
        self._held = []
        try:
            self._split(data)
        finally:
            held, self._held = self._held, None
            if held and self._transport is not None and not self._transport.is_closing():
                self._transport.write(b"".join(held))

    def _split(self, data: bytes) -> None:
        self._buffer += data
        while self._buffer:
            try:
                size = self._frame_length(bytes(self._buffer[:16]))
            except ValueError:  # the stream cannot be resynchronised
                self._buffer.clear()
                assert self._transport is not None
                self._transport.abort()
                return
            if size is None or len(self._buffer) < size:
                return
            message = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._upper.message_received(message, 0, self._ppid)
