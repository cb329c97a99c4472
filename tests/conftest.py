"""Shared fixtures: a migrated store on SQLite and on a throw-away PostgreSQL cluster."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.api import api_fixture
from tests.support.postgres import Cluster

_db_names = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    try:
        cluster = Cluster()
    except FileNotFoundError as exc:
        pytest.skip(f"peer unavailable: {exc}")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database in the PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'omnigw.db'}"
    cluster: Cluster = request.getfixturevalue("postgres")
    name = f"t{next(_db_names)}"
    conn = await asyncpg.connect(
        user=cluster.user, host="127.0.0.1", port=cluster.port, database="postgres"
    )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return cluster.url(name)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a store migrated to head."""
    import asyncio

    await asyncio.to_thread(upgrade, store_url)
    eng = create_engine(store_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def identity(engine: AsyncEngine) -> IdentityService:
    service = IdentityService(
        session_factory(engine),
        TokenIssuer(b"test-signing-key-of-enough-length!", 900, 3600),
        LoginThrottle(max_failures=3, window=60.0),
    )
    await service.ensure_builtin_roles()
    return service


api = pytest.fixture(api_fixture)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite store, for tests whose subject is not the store."""
    import asyncio

    url = f"sqlite+aiosqlite:///{tmp_path / 'omnigw.db'}"
    await asyncio.to_thread(upgrade, url)
    eng = create_engine(url)
    yield eng
    await eng.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Under `make test` (which installs every peer) a missing peer fails, never skips."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("OMNIGW_REQUIRE_PEERS"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
        if "peer unavailable" in reason:
            report.outcome = "failed"
            report.longrepr = f"OMNIGW_REQUIRE_PEERS is set but {reason}"
