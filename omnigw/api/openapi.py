"""The OpenAPI 3.1 document, generated from the route declarations, and /docs."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from omnigw import __version__
from omnigw.api.routes import Access, Route, declared, json_response

TAG = "docs"
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["status", "reason"],
    "properties": {"status": {"const": "error"}, "reason": {"type": "string"}},
}


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
    }
    params = _PARAM.findall(route.path)
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema_ref(route.body, components)}},
        }
    ok: dict[str, Any] = {"description": "success"}
    if route.response is not None:
        ok["content"] = {"application/json": {"schema": _schema_ref(route.response, components)}}
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    op["responses"] = {str(route.status): ok, "4XX": error}
    if route.access is Access.PUBLIC:
        op["security"] = []
    else:
        op["security"] = [{"bearer": []}, {"apiKey": []}]
        if not isinstance(route.access, Access):
            op["x-permission"] = route.access.value
    return op


def build_document(routes: list[Route]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = _PARAM.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "omnigw control API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(build_document(declared(request.app)))


async def docs(request: web.Request) -> web.Response:
    """A plain HTML index of the operations; no external scripts, works offline."""
    document = build_document(declared(request.app))
    rows = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                    method.upper(),
                    html.escape(path),
                    html.escape(op["summary"]),
                    html.escape(op.get("x-permission", "public" if not op["security"] else "any")),
                )
            )
    page = (
        "<!doctype html><meta charset=utf-8><title>omnigw API</title>"
        "<h1>omnigw control API</h1><p>Machine-readable: <a href=/docs/openapi.json>"
        "openapi.json</a></p><table border=1 cellpadding=4><tr><th>method</th><th>path</th>"
        "<th>what</th><th>permission</th></tr>" + "".join(rows) + "</table>"
    )
    return web.Response(text=page, content_type="text/html")


ROUTES = [
    Route("GET", "/docs", docs, Access.AUTHENTICATED, "API reference (HTML)", TAG),
    Route(
        "GET",
        "/docs/openapi.json",
        openapi_json,
        Access.AUTHENTICATED,
        "OpenAPI 3.1 document of every route",
        TAG,
    ),
]
