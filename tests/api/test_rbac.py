"""Every non-public route refuses the unauthenticated (401) and the unpermitted (403)."""

from __future__ import annotations

import pytest

from omnigw.api.routes import Access, declared
from omnigw.identity.permissions import BUILTIN_ROLES
from tests.support.api import Api


async def test_every_protected_route_needs_credentials(api: Api) -> None:
    routes = [r for r in declared(api.client.app) if r.access is not Access.PUBLIC]
    assert routes
    for route in routes:
        path = route.path.replace("{key_id}", "abc").replace("{email}", "a@x.org")
        resp = await api.client.request(route.method, path)
        assert resp.status == 401, route.path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        resp = await api.client.request(
            route.method, path, headers={"Authorization": "Bearer forged.token.value"}
        )
        assert resp.status == 401, route.path


@pytest.mark.parametrize("role", ["crm", "alerting", "noc"])
async def test_routes_outside_a_role_are_forbidden(api: Api, role: str) -> None:
    granted = BUILTIN_ROLES[role][1]
    for route in declared(api.client.app):
        if isinstance(route.access, Access) or route.access in granted:
            continue
        path = route.path.replace("{key_id}", "abc").replace("{email}", "a@x.org")
        resp = await api.client.request(route.method, path, headers=api.auth(role))
        assert resp.status == 403, (role, route.path)
        assert route.access.value in (await resp.json())["reason"]


async def test_alerting_role_holds_only_alert_permissions() -> None:
    assert BUILTIN_ROLES["alerting"][1] == {"alert:submit", "alert:read"}
    assert not any(
        p.endswith((":write", ":submit", ":run", ":admin")) for p in BUILTIN_ROLES["noc"][1]
    )
