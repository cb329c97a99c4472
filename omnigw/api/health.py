"""Liveness and readiness probes: the only routes without authentication."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from omnigw import __version__
from omnigw.api.context import context
from omnigw.api.routes import Access, Route, model_response

TAG = "health"


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, bool]


async def healthz(request: web.Request) -> web.Response:
    """The process answers: the event loop is not stuck."""
    return model_response(Health(status="ok", version=__version__))


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: every component's check passes and the daemon is not draining."""
    ctx = context(request)
    checks = {name: bool(await check()) for name, check in ctx.readiness.items()}
    checks["not_draining"] = not ctx.draining
    ready = all(checks.values())
    return model_response(
        Readiness(status="ready" if ready else "not ready", checks=checks),
        status=200 if ready else 503,
    )


ROUTES = [
    Route("GET", "/healthz", healthz, Access.PUBLIC, "Liveness probe", TAG, None, Health),
    Route("GET", "/readyz", readyz, Access.PUBLIC, "Readiness probe", TAG, None, Readiness),
]
