"""The interface every message transport offers, and what it calls back.

A message transport moves whole messages, each with the SCTP stream it travels on and its
payload protocol identifier (PPID). Protocol code sees only this, so the same link
machines run over kernel SCTP in production and over TCP framing in fast tests.
"""

from __future__ import annotations

from typing import Protocol


class MessageTransport(Protocol):
    def send(self, data: bytes, stream: int, ppid: int) -> None:
        """Queue one message; raises ConnectionError when the association is gone."""
        ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...

    @property
    def remote(self) -> str:
        """The peer's (primary) address."""
        ...

    @property
    def streams(self) -> int:
        """Outbound streams (SCTP's negotiated count; the TCP framing carries any)."""
        ...


class MessageProtocol(Protocol):
    def connection_made(self, transport: MessageTransport) -> None: ...

    def message_received(self, data: bytes, stream: int, ppid: int) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...

    def writable(self, writable: bool) -> None:
        """Back-pressure: False past the high-water mark of unsent bytes, True below low."""
        ...


# Back-pressure marks for every transport: past HIGH the sender is told to hold back.
WRITE_BUFFER_HIGH = 1024 * 1024
WRITE_BUFFER_LOW = 256 * 1024
