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
from omnigw.printable import unprintable

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


# The widest integer any field, protocol or store column takes (signed 64 bits).
INT_LIMIT = 2**63 - 1


def _integer(text: str) -> int:
    # Long digit strings are refused before conversion, which is quadratic in their length.
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is out of range "
                         "(64 bits at most)")  # fmt: skip
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_values(value: Any, path: str) -> None:
    """Every string of the document, keys included, is printable (see omnigw.printable),
    and every integer fits 64 bits, whatever the field says beyond that."""
    if isinstance(value, str):
        reason = unprintable(value)
        if reason:
            raise Invalid(f"{path or 'body'}: {reason}")
    elif isinstance(value, int) and not -INT_LIMIT <= value <= INT_LIMIT:
        raise Invalid(f"{path or 'body'}: {value} is out of range (64 bits at most)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key, path)
            _check_values(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{path}.{index}" if path else str(index))


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate the JSON body; errors name the offending field.

    JSON is UTF-8 (RFC 8259 8.1); integers are bounded to 64 bits, NaN and Infinity are
    refused, nesting is bounded by the interpreter's recursion limit: each gets a 400.
    """
    return parse_body(await request.read(), model)


def parse_body(data: bytes, model: type[M]) -> M:
    """`read_body` without the request: bytes in, a validated model or Invalid out."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"body: not UTF-8 (byte {exc.start})") from None
    try:
        raw: Any = (
            json.loads(text, parse_int=_integer, parse_constant=_no_constant)
            if text.strip() else {}
        )  # fmt: skip
    except json.JSONDecodeError as exc:
        raise Invalid(f"body: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValueError as exc:
        raise Invalid(f"body: {exc}") from None
    except RecursionError:
        raise Invalid("body: nested too deeply") from None
    try:
        _check_values(raw, "")
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Invalid(describe(exc)) from None
    except RecursionError:
        raise Invalid("body: nested too deeply") from None


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


def model_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(), status=status, content_type="application/json"
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
