"""Builds the control API application and runs it on its listener with graceful drain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp import web
from aiohttp.web_middlewares import normalize_path_middleware

from omnigw.api import health, identity, openapi
from omnigw.api.context import CONTEXT, ApiContext
from omnigw.api.middleware import authenticate, errors, observe
from omnigw.api.routes import Route, register
from omnigw.metrics import IDLE_CLOSED

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(ctx: ApiContext, extra: Iterable[Sequence[Route]] = ()) -> web.Application:
    """The aiohttp app with every route group registered behind the middleware chain."""
    app = web.Application(
        middlewares=[
            # OmniCRM clients build URLs like base + '/crm/...', giving '//crm/...', and
            # list some collections with a trailing slash.
            normalize_path_middleware(append_slash=False, remove_slash=True, merge_slashes=True),
            observe,
            errors,
            authenticate,
        ],
        client_max_size=ctx.settings.max_body_bytes,
    )
    app[CONTEXT] = ctx
    for group in (health.ROUTES, identity.ROUTES, openapi.ROUTES, *extra):
        register(app, group)
    return app


class ApiServer:
    """Owns the listener; `stop` stops accepting, then waits for in-flight requests.

    A connection that neither has a request in hand nor has finished one for
    `idle_seconds` is closed: aiohttp has no timeout on reading a request's head, so
    clients sending their headers a byte at a time could otherwise hold connections
    (and file descriptors) without end. Idle keep-alive connections go the same way.
    """

    def __init__(
        self, app: web.Application, host: str, port: int, grace: float, idle_seconds: float = 10.0
    ) -> None:
        self._app = app
        self._host, self._port = host, port
        self._idle = idle_seconds
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace)
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # Each connection's protocol -> when it last finished a request (or opened).
        self._connections: dict[asyncio.BaseProtocol, float] = {}
        self._busy: dict[asyncio.BaseTransport, int] = {}  # requests in hand, by transport
        app.middlewares.insert(0, self._track)

    @property
    def app(self) -> web.Application:
        return self._app

    async def start(self) -> None:
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connect, self._host, self._port)
        self._sweeper = loop.create_task(self._sweep())

    def _connect(self) -> asyncio.BaseProtocol:
        protocol = self._runner.server()  # type: ignore[misc]
        self._connections[protocol] = asyncio.get_running_loop().time()
        return protocol

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is None:
            return await handler(request)
        self._busy[transport] = self._busy.get(transport, 0) + 1
        try:
            return await handler(request)
        finally:
            left = self._busy[transport] - 1
            if left:
                self._busy[transport] = left
            else:
                del self._busy[transport]
            protocol = transport.get_protocol()
            if protocol in self._connections:
                self._connections[protocol] = asyncio.get_running_loop().time()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, self._idle / 4))
            horizon = loop.time() - self._idle
            for protocol, since in list(self._connections.items()):
                transport = getattr(protocol, "transport", None)
                if transport is None or transport.is_closing():
                    del self._connections[protocol]  # closed (or never opened)
                    continue
                if since < horizon and transport not in self._busy:
                    IDLE_CLOSED.inc()
                    transport.close()
                    del self._connections[protocol]

    def bound_port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        await self._runner.cleanup()
