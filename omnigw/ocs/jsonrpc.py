"""JSON-RPC 1.0 clients for CGRateS: pipelined raw TCP (:2012) and HTTP (:2080/jsonrpc).

Both take `{"method", "params": [obj], "id"}` and give back `result` or raise
`RpcError` with CGRateS's error string. A transport failure or timeout raises
`OcsUnavailable`, which the failure policy acts on.

Raw TCP is the fast path: a few persistent connections, each carrying many
requests at once, answers matched by id (Go's net/rpc/jsonrpc codec answers
one JSON object per line, in any order).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, Protocol, cast

import aiohttp

from omnigw.ocs.charge import OcsUnavailable

MAX_LINE = 4 * 1024 * 1024  # the longest reply taken, either transport
_JSON = {"Content-Type": "application/json"}


class RpcError(Exception):
    """CGRateS answered with an error string."""


class JsonRpc(Protocol):
    async def call(self, method: str, params: dict[str, Any]) -> Any: ...

    async def close(self) -> None: ...


def _result(reply: dict[str, Any]) -> Any:
    if reply.get("error") is not None:
        raise RpcError(str(reply["error"]))
    return reply.get("result")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._buffer = bytearray()
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if not line.strip():
                continue
            try:
                reply = json.loads(line)
                future = self.pending.pop(int(reply["id"]), None)
            except (ValueError, KeyError, TypeError):
                self._fail("CGRateS sent something that is not a JSON-RPC reply")
                return
            if future is not None and not future.done():
                future.set_result(reply)
        if len(self._buffer) > MAX_LINE:
            self._fail("CGRateS reply too long")

    def _fail(self, reason: str) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._fail_pending(reason)

    def _fail_pending(self, reason: str) -> None:
        for future in self.pending.values():
            if not future.done():
                future.set_exception(OcsUnavailable(reason))
        self.pending.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.lost.set()
        self._fail_pending("connection to CGRateS lost")


class TcpJsonRpc:
    """A small pool of pipelined connections; a dead one is replaced on next use."""

    def __init__(self, host: str, port: int, connections: int, timeout: float) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._slots: list[_Connection | None] = [None] * connections
        self._locks = [asyncio.Lock() for _ in range(connections)]
        self._next = itertools.cycle(range(connections))
        self._ids = itertools.count(1)

    async def _connection(self, slot: int) -> _Connection:
        conn = self._slots[slot]
        if conn is not None and conn.transport is not None:
            return conn
        async with self._locks[slot]:  # one connect per slot, however many callers wait
            conn = self._slots[slot]
            if conn is not None and conn.transport is not None:
                return conn
            loop = asyncio.get_running_loop()
            try:
                _, made = await asyncio.wait_for(
                    loop.create_connection(_Connection, self._host, self._port), self._timeout
                )
            except (OSError, TimeoutError) as exc:
                raise OcsUnavailable(f"cannot connect to CGRateS: {exc}", sent=False) from None
            self._slots[slot] = made
            return made

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        conn = await self._connection(next(self._next))
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = future
        payload = {"method": method, "params": [params], "id": request_id}
        assert conn.transport is not None
        conn.transport.write(json.dumps(payload, separators=(",", ":")).encode() + b"\n")
        try:
            reply = await asyncio.wait_for(future, self._timeout)
        except TimeoutError:
            conn.pending.pop(request_id, None)
            raise OcsUnavailable(f"CGRateS did not answer {method} in time") from None
        return _result(reply)

    async def close(self) -> None:
        for conn in self._slots:
            if conn is not None and conn.transport is not None:
                conn.transport.close()
                await conn.lost.wait()


class HttpJsonRpc:
    """JSON-RPC over HTTP POST on a few keep-alive connections (aiohttp's client: under Gy
    load httpx's pool served a fraction of the requests per second, see bench/gy_load.py)."""

    def __init__(self, url: str, connections: int, timeout: float) -> None:
        self._url = url
        self._ids = itertools.count(1)
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None  # made in the loop, on first use

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        # Always in a task of its own: the Diameter node runs a request's first step before
        # it has a task (omnigw.eager), and aiohttp's timeouts need the task they run in.
        return await asyncio.ensure_future(self._call(method, params))

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        payload = json.dumps({"method": method, "params": [params], "id": next(self._ids)})
        try:
            async with self._session.post(self._url, data=payload, headers=_JSON) as response:
                status = response.status
                body = bytearray()
                async for chunk in response.content.iter_any():
                    body += chunk
                    if len(body) > MAX_LINE:
                        raise OcsUnavailable("CGRateS reply too long")
        except aiohttp.ClientConnectorError as exc:
            raise OcsUnavailable(f"CGRateS unreachable: {exc}", sent=False) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OcsUnavailable(f"CGRateS unreachable: {exc!r}") from None
        if status != 200:
            raise OcsUnavailable(f"CGRateS answered HTTP {status}")
        try:
            reply = json.loads(body)
        except ValueError:
            raise OcsUnavailable("CGRateS sent something that is not JSON") from None
        return _result(reply)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
