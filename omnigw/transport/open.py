"""Opening associations and listeners on either transport, chosen by configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Literal, Protocol

from omnigw.transport import sctp
from omnigw.transport.base import MessageProtocol, MessageTransport
from omnigw.transport.framed import FramedTcp

Kind = Literal["sctp", "tcp"]
# What carries a protocol's messages over TCP: omnigw's framing by default, or a protocol's
# own delimiting (transport.delimited, for M3UA)
TcpCarrier = Callable[[MessageProtocol], FramedTcp]


class Listener(Protocol):
    @property
    def port(self) -> int: ...

    def close(self) -> None: ...


async def connect(
    kind: Kind,
    remote: Sequence[str],
    port: int,
    local: Sequence[str],
    upper: MessageProtocol,
    local_port: int = 0,
    tcp: TcpCarrier = FramedTcp,
) -> MessageTransport:
    if kind == "sctp":
        return await sctp.connect(remote, port, local, upper, local_port)
    loop = asyncio.get_running_loop()
    local_addr = (local[0], local_port) if local else None
    _, framed = await loop.create_connection(
        lambda: tcp(upper), remote[0], port, local_addr=local_addr
    )
    return framed


class _TcpListener:
    def __init__(self, server: asyncio.Server) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.sockets[0].getsockname()[1])

    def close(self) -> None:
        self._server.close()


class Gate(asyncio.Protocol):
    """Server-side admission for a TCP connection: `accept(remote address)` gives the
    protocol that takes the connection over (its bytes go straight to it from then on),
    or None to close it."""

    def __init__(self, accept: Callable[[str], asyncio.Protocol | None]) -> None:
        self._accept = accept

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        protocol = self._accept(str(transport.get_extra_info("peername")[0]))
        if protocol is None:
            transport.close()
            return
        transport.set_protocol(protocol)
        protocol.connection_made(transport)


def _framed(accept: Callable[[str], MessageProtocol | None], tcp: TcpCarrier) -> Gate:
    def framed(remote: str) -> FramedTcp | None:
        upper = accept(remote)
        return tcp(upper) if upper is not None else None

    return Gate(framed)


async def serve(
    kind: Kind,
    local: Sequence[str],
    port: int,
    accept: Callable[[str], MessageProtocol | None],
    tcp: TcpCarrier = FramedTcp,
) -> Listener:
    """Listen on `local`; `accept(remote address)` gives each association its protocol, or
    None to refuse it."""
    if kind == "sctp":
        return sctp.SctpServer(local, port, accept)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _framed(accept, tcp), list(local), port)
    return _TcpListener(server)
