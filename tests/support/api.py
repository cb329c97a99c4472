"""An API app on a migrated SQLite store, with users of each built-in role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp.test_utils import TestClient, TestServer

from omnigw.api.app import build_app
from omnigw.api.context import ApiContext
from omnigw.config import ApiConfig
from omnigw.identity.service import IdentityService

PASSWORD = "correct horse battery"
ROLES = ("admin", "crm", "alerting", "noc")


def sqlite_store_url(tmp_path: object) -> str:
    # API behaviour does not depend on the backend; the store tests cover both.
    return f"sqlite+aiosqlite:///{tmp_path}/api.db"


@dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    identity: IdentityService
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def api_fixture(identity: IdentityService) -> AsyncIterator[Api]:
    ctx = ApiContext(identity=identity, settings=ApiConfig(max_body_bytes=4096))
    client = TestClient(TestServer(build_app(ctx)))
    await client.start_server()
    tokens = {}
    for role in ROLES:
        await identity.create_user(f"{role}@x.org", PASSWORD, [role])
        tokens[role] = (await identity.login(f"{role}@x.org", PASSWORD, None, "setup")).token
    try:
        yield Api(client, identity, tokens)
    finally:
        await client.close()
