"""The OpenAPI document lists every registered route with its permission."""

from __future__ import annotations

import re

from aiohttp import web

from tests.support.api import Api


def _registered(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue  # aiohttp adds HEAD beside every GET
        path = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", route.resource.canonical)
        found.add((route.method.lower(), path))
    return found


async def test_every_registered_route_is_documented(api: Api) -> None:
    resp = await api.client.get("/docs/openapi.json", headers=api.auth("noc"))
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert _registered(api.client.app) == documented


async def test_permissions_and_security_are_documented(api: Api) -> None:
    doc = await (await api.client.get("/docs/openapi.json", headers=api.auth("noc"))).json()
    login = doc["paths"]["/crm/auth/login"]["post"]
    assert login["security"] == []
    assert login["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "LoginRequest"
    )
    users = doc["paths"]["/api/v1/users"]["get"]
    assert users["x-permission"] == "user:admin" and users["security"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(doc).replace("'", '"')):
        assert ref in doc["components"]["schemas"]


async def test_docs_page_needs_login(api: Api) -> None:
    assert (await api.client.get("/docs")).status == 401
    resp = await api.client.get("/docs", headers=api.auth("alerting"))
    assert resp.status == 200 and "/crm/auth/login" in await resp.text()
