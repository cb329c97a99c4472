"""Migrations run forward and back on SQLite and PostgreSQL, and the head check sees it."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from omnigw.schema import metadata
from omnigw.store.engine import create_engine
from omnigw.store.migrate import downgrade, head_revisions, is_current, upgrade


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_creates_every_table_and_is_current(store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        assert not await is_current(engine)
        await asyncio.to_thread(upgrade, store_url)
        assert await is_current(engine)
    finally:
        await engine.dispose()
    tables = await _tables(store_url)
    assert set(metadata.tables) <= tables
    assert "alembic_version" in tables


async def test_upgrade_is_idempotent_and_downgrade_removes_tables(store_url: str) -> None:
    await asyncio.to_thread(upgrade, store_url)
    await asyncio.to_thread(upgrade, store_url)
    await asyncio.to_thread(downgrade, store_url, "base")
    assert not (set(metadata.tables) & await _tables(store_url))


def test_one_head() -> None:
    assert len(head_revisions("sqlite+aiosqlite://")) == 1


async def test_models_match_migrations(store_url: str) -> None:
    """Autogenerate finds nothing to do: the migrations describe exactly the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    await asyncio.to_thread(upgrade, store_url)
    engine = create_engine(store_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []
