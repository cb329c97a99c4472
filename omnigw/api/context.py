"""What the API handlers reach through the app: the services and live settings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from omnigw.config import ApiConfig
from omnigw.identity.service import IdentityService


@dataclass
class ApiContext:
    identity: IdentityService
    settings: ApiConfig
    # Named readiness checks; /readyz is 200 only when all pass.
    readiness: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)
    draining: bool = False


CONTEXT = web.AppKey("omnigw_context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
