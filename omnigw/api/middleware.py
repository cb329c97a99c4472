"""The API's middleware chain: observe (request id, metrics, access log), errors, auth."""

from __future__ import annotations

import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.typedefs import Handler as NextHandler

from omnigw.api.context import context
from omnigw.api.routes import Access, json_response, route_of
from omnigw.errors import Forbidden, OmnigwError, TooManyRequests, Unauthenticated
from omnigw.identity.service import Principal
from omnigw.logs import request_id
from omnigw.metrics import API_LATENCY, API_REQUESTS, AUTH_FAILURES

log = logging.getLogger("omnigw.api")

PRINCIPAL = web.RequestKey("omnigw_principal", Principal)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def principal(request: web.Request) -> Principal:
    """The authenticated caller; only valid on routes that are not public."""
    return request[PRINCIPAL]


def _template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    # Unmatched paths collapse into one label value so the series stay bounded.
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: NextHandler) -> web.StreamResponse:
    """Tag the request with an id, time it, count it and write one access-log line."""
    sent = request.headers.get("X-Request-Id", "")
    rid = sent if _SANE_ID.match(sent) else secrets.token_hex(8)
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _template(request)
        API_REQUESTS.labels(route, request.method, str(status)).inc()
        API_LATENCY.labels(route, request.method).observe(elapsed)
        who = request.get(PRINCIPAL)
        log.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "user": who.email if who else None,
                "remote": request.remote,
            },
        )
        request_id.reset(token)


def _error(status: int, reason: str) -> web.Response:
    return json_response({"status": "error", "reason": reason}, status=status)


@web.middleware
async def errors(request: web.Request, handler: NextHandler) -> web.StreamResponse:
    """Every failure leaves as `{"status": "error", "reason": ...}` with a real HTTP code."""
    try:
        return await handler(request)
    except OmnigwError as exc:
        response = _error(exc.status, exc.reason)
        if isinstance(exc, Unauthenticated):
            AUTH_FAILURES.labels(exc.code).inc()
            response.headers["WWW-Authenticate"] = 'Bearer realm="omnigw"'
        elif isinstance(exc, Forbidden):
            AUTH_FAILURES.labels("forbidden").inc()
        elif isinstance(exc, TooManyRequests):
            AUTH_FAILURES.labels("rate_limited").inc()
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error(exc.status, exc.reason)
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return _error(500, f"internal error; quote request id {request_id.get()}")


@web.middleware
async def authenticate(request: web.Request, handler: NextHandler) -> web.StreamResponse:
    """Resolve the caller from a Bearer JWT or an API key and enforce the route's permission."""
    route = route_of(request)
    if route is None or route.access is Access.PUBLIC:
        return await handler(request)
    identity = context(request).identity
    api_key = request.headers.get("X-API-Key")
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if api_key:
        who = await identity.from_api_key(api_key.strip())
    elif scheme.lower() == "bearer" and credential.strip():
        credential = credential.strip()
        if identity.looks_like_api_key(credential):
            who = await identity.from_api_key(credential)
        else:
            who = await identity.from_access_token(credential)
    else:
        raise Unauthenticated("authentication required: Bearer token or X-API-Key", "missing")
    request[PRINCIPAL] = who
    if isinstance(route.access, Access):
        return await handler(request)
    if not who.allows(route.access):
        raise Forbidden(f"permission {route.access.value} required")
    return await handler(request)
