"""Builds the control API application and runs it on its listener with graceful drain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.web_middlewares import normalize_path_middleware

from omnigw.api import health, identity, openapi
from omnigw.api.context import CONTEXT, ApiContext
from omnigw.api.middleware import authenticate, errors, observe
from omnigw.api.routes import Route, register


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
    """Owns the listener; `stop` stops accepting, then waits for in-flight requests."""

    def __init__(self, app: web.Application, host: str, port: int, grace: float) -> None:
        self._app = app
        self._host, self._port = host, port
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=grace)

    @property
    def app(self) -> web.Application:
        return self._app

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    def bound_port(self) -> int:
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("not started")

    async def stop(self) -> None:
        await self._runner.cleanup()
