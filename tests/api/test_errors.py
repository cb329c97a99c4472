"""Errors are JSON `{"status": "error", "reason": ...}` with real HTTP codes."""

from __future__ import annotations

from tests.support.api import Api


async def _error(resp: object) -> str:
    body = await resp.json()  # type: ignore[attr-defined]
    assert body["status"] == "error"
    return str(body["reason"])


async def test_unknown_route_is_json_404(api: Api) -> None:
    resp = await api.client.get("/no/such/thing")
    assert resp.status == 404
    await _error(resp)


async def test_wrong_method_is_405_with_allow(api: Api) -> None:
    resp = await api.client.delete("/healthz")
    assert resp.status == 405 and "GET" in resp.headers["Allow"]
    await _error(resp)


async def test_bad_json_and_bad_fields_name_the_problem(api: Api) -> None:
    resp = await api.client.post(
        "/crm/auth/login", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400 and "not valid JSON" in await _error(resp)
    resp = await api.client.post(
        "/crm/auth/login", json={"email": "a@x.org", "password": "p", "role": "admin"}
    )
    assert resp.status == 400 and "role: Extra inputs are not permitted" in await _error(resp)
    resp = await api.client.post("/crm/auth/login", json={"email": "a@x.org"})
    assert resp.status == 400 and "password: Field required" in await _error(resp)
    resp = await api.client.post(
        "/api/v1/apikeys", json={"name": "k", "permissions": ["root"]}, headers=api.auth("crm")
    )
    assert resp.status == 400 and "permissions.0" in await _error(resp)


async def test_oversized_body_is_413(api: Api) -> None:
    resp = await api.client.post(
        "/crm/auth/login", data="x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    await _error(resp)


async def test_request_id_is_echoed_or_made(api: Api) -> None:
    resp = await api.client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    resp = await api.client.get("/healthz", headers={"X-Request-Id": "bad id\twith tab"})
    assert resp.headers["X-Request-Id"] != "bad id\twith tab"
