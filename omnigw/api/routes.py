"""Route declarations: every route states its permission, models and summary in one place.

The auth middleware reads the permission from here and the OpenAPI document
is generated from the same table, so neither can drift from the routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from omnigw.errors import Invalid
from omnigw.identity.permissions import Permission

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


class Access(Enum):
    PUBLIC = "public"  # health and login only
    AUTHENTICATED = "authenticated"  # any valid credential


class Body(BaseModel):
    """Base of request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Permission | Access
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200


ROUTE_KEY = "omnigw_route"
ROUTES = web.AppKey("omnigw_routes", list[Route])


def register(app: web.Application, routes: Sequence[Route]) -> None:
    """Add routes to the app and remember each one's declaration for auth and OpenAPI."""
    table = app.setdefault(ROUTES, [])
    for route in routes:
        added = app.router.add_route(route.method, route.path, route.handler)
        setattr(added, ROUTE_KEY, route)
        table.append(route)


def declared(app: web.Application) -> list[Route]:
    return app.get(ROUTES, [])


def route_of(request: web.Request) -> Route | None:
    route = getattr(request.match_info.route, ROUTE_KEY, None)
    return route if isinstance(route, Route) else None


def describe(exc: ValidationError, prefix: str = "") -> str:
    """One line per problem, each naming the field path."""
    parts = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        where = f"{prefix}{path}" if path else (prefix.rstrip(".") or "body")
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate the JSON body; errors name the offending field."""
    raw_text = await request.text()
    try:
        raw: Any = json.loads(raw_text) if raw_text.strip() else {}
    except json.JSONDecodeError as exc:
        raise Invalid(f"body: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(describe(exc)) from None


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
