"""Logins, token use, TOTP and API-key calls leave no password, token or key in the log."""

from __future__ import annotations

import io
import logging

import pyotp

from omnigw.config import LogConfig
from omnigw.logs import JsonFormatter, configure
from tests.support.api import PASSWORD, Api


async def test_no_secret_reaches_the_log(api: Api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(with_timestamp=True))
    root = logging.getLogger()
    root.addHandler(handler)
    configure(LogConfig(level="DEBUG"))  # the most talkative setting an operator could pick
    try:
        login = await (
            await api.client.post(
                "/crm/auth/login", json={"email": "crm@x.org", "password": PASSWORD}
            )
        ).json()
        await api.client.post(
            "/crm/auth/login", json={"email": "crm@x.org", "password": "Wr0ng-password"}
        )
        headers = {"Authorization": f"Bearer {login['token']}"}
        created = await (
            await api.client.post("/api/v1/apikeys", json={"name": "k"}, headers=headers)
        ).json()
        await api.client.get("/crm/auth/me", headers={"X-API-Key": created["key"]})
        await api.client.get("/crm/auth/me", headers={"X-API-Key": created["key"] + "x"})
        refreshed = await (
            await api.client.post(
                "/crm/auth/refresh", json={"refresh_token": login["refresh_token"]}
            )
        ).json()
        setup = await (await api.client.post("/crm/auth/totp/setup", headers=headers)).json()
        code = pyotp.TOTP(setup["secret"]).now()
        backup = await (
            await api.client.post("/crm/auth/totp/enable", json={"code": code}, headers=headers)
        ).json()
        await api.client.post(
            "/api/v1/users",
            json={"email": "n@x.org", "password": "Another-long-pw"},
            headers=api.auth("admin"),
        )
    finally:
        root.removeHandler(handler)
        configure(LogConfig())
    text = stream.getvalue()
    assert '"msg": "request"' in text  # the access log did run
    secret_key_part = created["key"].split(".", 1)[1]
    for secret in (
        PASSWORD,
        "Wr0ng-password",
        "Another-long-pw",
        login["token"],
        login["refresh_token"],
        refreshed["token"],
        secret_key_part,
        setup["secret"],
        *backup["backup_codes"],
    ):
        assert secret not in text
