"""Kernel SCTP (RFC 4960, the Linux sockets API of RFC 6458) as a message transport.

One-to-one style sockets on the event loop's reader and writer callbacks: each message is
sent with an SCTP_SNDINFO (stream, PPID) and received with its SCTP_RCVINFO; a message
comes in pieces only when it is bigger than the receive buffer, and MSG_EOR marks its end.
Multi-homing: the first local address is bound, the others added (SCTP_SOCKOPT_BINDX_ADD);
several remote addresses are given to SCTP_SOCKOPT_CONNECTX together.
The constants are Linux's (include/uapi/linux/sctp.h); Python's socket module has none.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import ipaddress
import socket
import struct
from collections.abc import Callable, Sequence

from omnigw.transport.base import WRITE_BUFFER_HIGH, WRITE_BUFFER_LOW, MessageProtocol

SOL_SCTP = 132
SCTP_INITMSG = 2
SCTP_NODELAY = 3
SCTP_STATUS = 14
SCTP_RECVRCVINFO = 32
SCTP_SOCKOPT_BINDX_ADD = 100
SCTP_SOCKOPT_CONNECTX = 110
SCTP_SNDINFO = 2  # cmsg type
SCTP_RCVINFO = 3  # cmsg type
MSG_NOTIFICATION = 0x8000
SNDINFO = struct.Struct("=HHIIi")  # sid, flags, ppid, context, assoc id
RCVINFO = struct.Struct("@HHHIIIIi")  # sid, ssn, flags, ppid, tsn, cumtsn, context, assoc
INITMSG = struct.Struct("=HHHH")  # out streams, max in streams, max attempts, max init timeo
RECV_SIZE = 256 * 1024
STREAMS = 2


def unavailable() -> str | None:
    """Why this kernel cannot open an SCTP socket, or None when it can."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError as exc:
        return f"no kernel SCTP: {exc.strerror or exc}"
    return None


def _sockaddr(host: str, port: int) -> tuple[int, bytes]:
    """A struct sockaddr_in / sockaddr_in6 as the SCTP socket options take them."""
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return socket.AF_INET, struct.pack("=H", socket.AF_INET) + struct.pack(
            "!H4s8x", port, ip.packed
        )
    return socket.AF_INET6, struct.pack("=H", socket.AF_INET6) + struct.pack(
        "!HI16sI", port, 0, ip.packed, 0
    )


def _socket(family: int, local: Sequence[str], port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    try:
        sock.setblocking(False)
        sock.setsockopt(SOL_SCTP, SCTP_RECVRCVINFO, 1)
        sock.setsockopt(SOL_SCTP, SCTP_NODELAY, 1)
        sock.setsockopt(SOL_SCTP, SCTP_INITMSG, INITMSG.pack(STREAMS, STREAMS, 0, 0))
        if local:
            if port:  # a fixed port, bound again on every reconnect
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((local[0], port))
            for extra in local[1:]:
                sock.setsockopt(SOL_SCTP, SCTP_SOCKOPT_BINDX_ADD, _sockaddr(extra, port)[1])
    except OSError:
        sock.close()
        raise
    return sock


class SctpAssociation:
    """One association on a connected one-to-one socket, driving a MessageProtocol."""

    def __init__(self, sock: socket.socket, upper: MessageProtocol) -> None:
        self._sock = sock
        self._upper = upper
        self._loop = asyncio.get_running_loop()
        self._pending: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._pending_bytes = 0
        self._paused = False
        self._partial = bytearray()
        self._closing = False
        try:
            self._remote = str(sock.getpeername()[0])
        except OSError:
            self._remote = "?"
        self._loop.add_reader(sock.fileno(), self._readable)
        upper.connection_made(self)

    @property
    def remote(self) -> str:
        return self._remote

    @property
    def streams(self) -> int:
        """Outbound streams the peer granted (struct sctp_status's sstat_outstrms)."""
        try:
            status = self._sock.getsockopt(SOL_SCTP, SCTP_STATUS, 256)
        except OSError:
            return STREAMS
        # assoc id, state, rwnd, unacked, pending, in streams, out streams
        out: int = struct.unpack_from("@iiIHHHH", status)[6]
        return out or STREAMS

    def is_closing(self) -> bool:
        return self._closing

    def send(self, data: bytes, stream: int, ppid: int) -> None:
        if self._closing:
            raise ConnectionError("association is down")
        info = SNDINFO.pack(stream, 0, socket.htonl(ppid), 0, 0)
        if not self._pending and self._try_send(data, info):
            return
        self._pending.append((data, info))
        self._pending_bytes += len(data)
        if len(self._pending) == 1:
            self._loop.add_writer(self._sock.fileno(), self._flush)
        if not self._paused and self._pending_bytes > WRITE_BUFFER_HIGH:
            self._paused = True
            self._upper.writable(False)

    def _try_send(self, data: bytes, info: bytes) -> bool:
        try:
            self._sock.sendmsg([data], [(SOL_SCTP, SCTP_SNDINFO, info)])
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._lost(exc)
        return True

    def _flush(self) -> None:
        while self._pending and not self._closing:
            data, info = self._pending[0]
            if not self._try_send(data, info):
                return
            self._pending.popleft()
            self._pending_bytes -= len(data)
        self._loop.remove_writer(self._sock.fileno())
        if self._paused and self._pending_bytes < WRITE_BUFFER_LOW:
            self._paused = False
            self._upper.writable(True)

    def _readable(self) -> None:
        while not self._closing:
            try:
                data, ancillary, flags, _ = self._sock.recvmsg(
                    RECV_SIZE, socket.CMSG_SPACE(RCVINFO.size)
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(exc)
                return
            if not data and not flags & MSG_NOTIFICATION:
                self._lost(None)  # the peer shut the association down
                return
            if flags & MSG_NOTIFICATION:
                continue  # none subscribed; the kernel may still send some
            if not flags & socket.MSG_EOR:
                self._partial += data
                continue
            if self._partial:
                data, self._partial = bytes(self._partial + data), bytearray()
            stream, ppid = 0, 0
            for level, kind, value in ancillary:
                if level == SOL_SCTP and kind == SCTP_RCVINFO and len(value) >= RCVINFO.size:
                    info = RCVINFO.unpack_from(value)
                    stream, ppid = info[0], socket.ntohl(info[3])
            self._upper.message_received(data, stream, ppid)

    def close(self) -> None:
        self._lost(None)

    def _lost(self, exc: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        self._upper.connection_lost(exc)


async def connect(
    remote: Sequence[str],
    port: int,
    local: Sequence[str],
    upper: MessageProtocol,
    local_port: int = 0,
) -> SctpAssociation:
    """Open an association to `remote` (several addresses: one multi-homed peer), from
    `local_port` when the peer knows us by it (an STP's pre-configured ASPs)."""
    family, _ = _sockaddr(remote[0], port)
    if local_port and not local:
        raise ValueError("a local port needs a local address to bind it on")
    sock = _socket(family, local, local_port)
    loop = asyncio.get_running_loop()
    try:
        packed = b"".join(_sockaddr(a, port)[1] for a in remote)
        try:
            sock.setsockopt(SOL_SCTP, SCTP_SOCKOPT_CONNECTX, packed)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EINPROGRESS:
                raise
        done: asyncio.Future[None] = loop.create_future()

        def writable() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_writer(sock.fileno(), writable)
        try:
            await done
        finally:
            loop.remove_writer(sock.fileno())
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise OSError(error, f"SCTP connect to {remote[0]}: {errno.errorcode.get(error)}")
    except BaseException:
        sock.close()
        raise
    return SctpAssociation(sock, upper)


class SctpServer:
    """A listening socket handing each new association to `accept(remote)`'s protocol, or
    closing it when that returns None."""

    def __init__(
        self,
        local: Sequence[str],
        port: int,
        accept: Callable[[str], MessageProtocol | None],
        backlog: int = 64,
    ) -> None:
        family, _ = _sockaddr(local[0], port)
        self._sock = _socket(family, local, port)
        self._sock.listen(backlog)
        self._accept = accept
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._incoming)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _incoming(self) -> None:
        while True:
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(SOL_SCTP, SCTP_RECVRCVINFO, 1)
            upper = self._accept(str(address[0]))
            if upper is None:
                conn.close()
                continue
            SctpAssociation(conn, upper)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
