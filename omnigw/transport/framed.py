"""Messages framed over TCP: each one preceded by its length, stream and PPID.

Not a standard: it stands in for SCTP where the kernel has none (this build machine, a
lab laptop), between omnigw and its own simulators. A header is 12 octets: payload
length (32 bits), stream (16), zero (16), PPID (32), all in network order.
"""

from __future__ import annotations

import asyncio
import struct
from typing import cast

from omnigw.transport.base import WRITE_BUFFER_HIGH, WRITE_BUFFER_LOW, MessageProtocol

HEADER = struct.Struct("!IHHI")
MAX_MESSAGE = 16 * 1024 * 1024  # a framing error past this: the stream cannot resync


class FramedTcp(asyncio.Protocol):
    """An asyncio protocol carrying a MessageProtocol's messages over one TCP connection."""

    def __init__(self, upper: MessageProtocol) -> None:
        self._upper = upper
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._remote = "?"

    # --- MessageTransport ------------------------------------------------------------------

    def send(self, data: bytes, stream: int, ppid: int) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("association is down")
        self._transport.write(HEADER.pack(len(data), stream, 0, ppid) + data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    @property
    def remote(self) -> str:
        return self._remote

    @property
    def streams(self) -> int:
        return 2  # the framing carries a stream number; SCTP's usual pair

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH, low=WRITE_BUFFER_LOW)
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if peer else "?"
        self._upper.connection_made(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            size, stream, _, ppid = HEADER.unpack_from(self._buffer)
            if size > MAX_MESSAGE:
                self._buffer.clear()
                assert self._transport is not None
                self._transport.abort()
                return
            end = HEADER.size + size
            if len(self._buffer) < end:
                return
            message = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            self._upper.message_received(message, stream, ppid)

    def connection_lost(self, exc: Exception | None) -> None:
        self._upper.connection_lost(exc)

    def pause_writing(self) -> None:
        self._upper.writable(False)

    def resume_writing(self) -> None:
        self._upper.writable(True)
