"""A control API with the CRM routes on a migrated store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.api.app import build_app
from omnigw.api.context import ApiContext
from omnigw.config import ApiConfig
from omnigw.crm import api as crm_api
from omnigw.crm.service import CrmService
from omnigw.identity.service import IdentityService
from omnigw.store.engine import session_factory

PASSWORD = "correct horse battery"


@dataclass
class Crm:
    client: TestClient  # type: ignore[type-arg]
    service: CrmService
    headers: dict[str, str]  # an admin's
    noc: dict[str, str]  # read-only

    async def call(self, method: str, path: str, body: Any = None, status: int = 200,
                   headers: dict[str, str] | None = None) -> Any:  # fmt: skip
        response = await self.client.request(
            method, path, json=body, headers=self.headers if headers is None else headers
        )
        payload = await response.json()
        assert response.status == status, payload
        return payload


async def login(identity: IdentityService, email: str, role: str) -> dict[str, str]:
    await identity.create_user(email, PASSWORD, [role])
    token = (await identity.login(email, PASSWORD, None, "setup")).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def crm(identity: IdentityService, engine: AsyncEngine) -> AsyncIterator[Crm]:
    service = CrmService(session_factory(engine))
    ctx = ApiContext(identity=identity, settings=ApiConfig())
    app = build_app(ctx, [crm_api.ROUTES])
    app[crm_api.CRM] = service
    client = TestClient(TestServer(app))
    await client.start_server()
    admin = await login(identity, "admin@example.com", "admin")
    noc = await login(identity, "noc@example.com", "noc")
    try:
        yield Crm(client, service, admin, noc)
    finally:
        await client.close()
