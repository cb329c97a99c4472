"""Login, refresh, API keys, TOTP and user admin over HTTP."""

from __future__ import annotations

import time

import pyotp

from tests.support.api import PASSWORD, Api


async def test_login_answers_like_omnicrm(api: Api) -> None:
    # OmniCRM clients join base URL and path as base + '/crm/...': the '//' must work.
    base = str(api.client.make_url("/")).rstrip("/")
    resp = await api.client.session.post(
        base + "//crm/auth/login", json={"email": "crm@x.org", "password": PASSWORD}
    )
    assert resp.status == 200 and resp.history[0].status == 308
    body = await resp.json()
    assert {"token", "refresh_token", "permissions", "roles"} <= set(body)
    assert body["roles"] == ["crm"] and "crm:write" in body["permissions"]
    me = await api.client.get("/crm/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await me.json())["email"] == "crm@x.org"


async def test_bad_login_is_401_then_429_with_retry_after(api: Api) -> None:
    for _ in range(3):
        resp = await api.client.post(
            "/crm/auth/login", json={"email": "crm@x.org", "password": "wrong password!"}
        )
        assert resp.status == 401
        assert (await resp.json()) == {"status": "error", "reason": "invalid email or password"}
    resp = await api.client.post(
        "/crm/auth/login", json={"email": "crm@x.org", "password": PASSWORD}
    )
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) >= 1


async def test_refresh_and_logout(api: Api) -> None:
    resp = await api.client.post(
        "/crm/auth/login", json={"email": "noc@x.org", "password": PASSWORD}
    )
    tokens = await resp.json()
    resp = await api.client.post(
        "/crm/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert resp.status == 200
    fresh = await resp.json()
    headers = {"Authorization": f"Bearer {fresh['token']}"}
    assert (await api.client.post("/crm/auth/logout", headers=headers)).status == 200
    assert (await api.client.get("/crm/auth/me", headers=headers)).status == 401
    resp = await api.client.post(
        "/crm/auth/refresh", json={"refresh_token": fresh["refresh_token"]}
    )
    assert resp.status == 401


async def test_api_keys_over_http(api: Api) -> None:
    resp = await api.client.post(
        "/api/v1/apikeys",
        json={"name": "provisioner", "permissions": ["crm:read"]},
        headers=api.auth("crm"),
    )
    assert resp.status == 201
    created = await resp.json()
    key = created["key"]
    # Both header forms work, and the key carries only its scope.
    me = await api.client.get("/crm/auth/me", headers={"X-API-Key": key})
    assert (await me.json())["permissions"] == ["crm:read"]
    me = await api.client.get("/crm/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status == 200
    # Keys cannot mint keys.
    resp = await api.client.post("/api/v1/apikeys", json={"name": "x"}, headers={"X-API-Key": key})
    assert resp.status == 403 or resp.status == 403
    listing = await (await api.client.get("/api/v1/apikeys", headers=api.auth("crm"))).json()
    assert [k["masked"] for k in listing["data"]] == [created["masked"]]
    assert key not in str(listing)
    # The admin sees everyone's keys; another non-admin cannot revoke it.
    assert (
        await api.client.delete(f"/api/v1/apikeys/{created['key_id']}", headers=api.auth("noc"))
    ).status == 403
    resp = await api.client.delete(
        f"/api/v1/apikeys/{created['key_id']}", headers=api.auth("admin")
    )
    assert resp.status == 200 and (await resp.json())["revoked_at"]
    assert (await api.client.get("/crm/auth/me", headers={"X-API-Key": key})).status == 401


async def test_keys_for_other_users_need_admin(api: Api) -> None:
    resp = await api.client.post(
        "/api/v1/apikeys", json={"name": "x", "owner": "noc@x.org"}, headers=api.auth("crm")
    )
    assert resp.status == 403
    resp = await api.client.post(
        "/api/v1/apikeys",
        json={"name": "authority", "owner": "alerting@x.org", "permissions": ["alert:submit"]},
        headers=api.auth("admin"),
    )
    assert resp.status == 201 and (await resp.json())["owner"] == "alerting@x.org"


async def test_totp_enrolment_over_http(api: Api) -> None:
    setup = await (await api.client.post("/crm/auth/totp/setup", headers=api.auth("noc"))).json()
    totp = pyotp.TOTP(setup["secret"])
    enrolled_at = time.time()
    resp = await api.client.post(
        "/crm/auth/totp/enable", json={"code": totp.at(enrolled_at)}, headers=api.auth("noc")
    )
    assert resp.status == 200 and len((await resp.json())["backup_codes"]) == 10
    resp = await api.client.post(
        "/crm/auth/login", json={"email": "noc@x.org", "password": PASSWORD}
    )
    assert resp.status == 401 and "second factor" in (await resp.json())["reason"]
    login = {"email": "noc@x.org", "password": PASSWORD, "totp": totp.at(enrolled_at)}
    resp = await api.client.post("/crm/auth/login", json=login)
    assert resp.status == 401  # that code enabled TOTP: it does not work a second time
    login["totp"] = totp.at(enrolled_at + 30)  # the next time step's
    resp = await api.client.post("/crm/auth/login", json=login)
    assert resp.status == 200
    resp = await api.client.post("/crm/auth/login", json=login)
    assert resp.status == 401  # nor does this one


async def test_user_admin(api: Api) -> None:
    resp = await api.client.post(
        "/api/v1/users",
        json={"email": "new@x.org", "password": PASSWORD, "roles": ["noc"]},
        headers=api.auth("admin"),
    )
    assert resp.status == 201
    resp = await api.client.put(
        "/api/v1/users/new@x.org/roles", json={"add": ["alerting"]}, headers=api.auth("admin")
    )
    assert (await resp.json())["roles"] == ["alerting", "noc"]
    resp = await api.client.post(
        "/api/v1/users",
        json={"email": "new@x.org", "password": PASSWORD},
        headers=api.auth("admin"),
    )
    assert resp.status == 409
    roles = await (await api.client.get("/api/v1/roles", headers=api.auth("admin"))).json()
    assert {r["name"] for r in roles["data"]} == {"admin", "crm", "alerting", "noc"}


async def test_a_refresh_token_works_once_and_its_reuse_revokes_everything(api: Api) -> None:
    login = {"email": "noc@x.org", "password": PASSWORD}
    first = await (await api.client.post("/crm/auth/login", json=login)).json()
    resp = await api.client.post("/crm/auth/refresh",
                                 json={"refresh_token": first["refresh_token"]})  # fmt: skip
    assert resp.status == 200
    second = await resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The used token presented again: someone holds a copy. Everything of the user goes.
    resp = await api.client.post("/crm/auth/refresh",
                                 json={"refresh_token": first["refresh_token"]})  # fmt: skip
    assert resp.status == 401
    resp = await api.client.post("/crm/auth/refresh",
                                 json={"refresh_token": second["refresh_token"]})  # fmt: skip
    assert resp.status == 401
    me = await api.client.get("/crm/auth/me",
                              headers={"Authorization": f"Bearer {second['token']}"})  # fmt: skip
    assert me.status == 401
