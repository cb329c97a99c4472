"""Migrations run forward and back on SQLite and PostgreSQL, and the head check sees it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import inspect

from omnigw.store.engine import create_engine
from omnigw.store.migrate import downgrade, head_revisions, is_current, upgrade
from omnigw.store.tables import metadata


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


async def test_peer_answers_are_compressed_on_upgrade_and_restored_on_downgrade(
    store_url: str,
) -> None:
    """0006 changes how the CBC keeps peers' answers; the answers themselves survive it."""
    from omnigw.cbc.models import Delivery

    await asyncio.to_thread(upgrade, store_url, "0005")
    answer = bytes([2, 0, 0, 9]) + bytes(range(9)) * 40
    now = datetime.now(UTC)
    # The tables as 0005 left them, with plain types: the bytes go in and come out as stored.
    alerts = sa.table(*_columns("cbc_alerts", id=sa.String, state=sa.String, source=sa.String,
        priority=sa.Integer, category=sa.Integer, repetition_seconds=sa.Integer,
        broadcasts_requested=sa.Integer, target=sa.JSON, submitted_by=sa.String,
        created_at=sa.DateTime(timezone=True), updated_at=sa.DateTime(timezone=True)))  # fmt: skip
    messages = sa.table(*_columns("cbc_messages", id=sa.Integer, alert_id=sa.String,
        index=sa.Integer, text=sa.String, message_identifier=sa.Integer, geo_scope=sa.Integer,
        message_code=sa.Integer, update_number=sa.Integer, dcs=sa.Integer,
        pages=sa.JSON))  # fmt: skip
    deliveries = sa.table(*_columns("cbc_deliveries", id=sa.Integer, message_id=sa.Integer,
        peer=sa.String, state=sa.String, attempts=sa.Integer,
        updated_at=sa.DateTime(timezone=True), report=sa.LargeBinary))  # fmt: skip
    engine = create_engine(store_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(alerts).values(id="a", state="active", source="api",
                priority=0, category=0, repetition_seconds=60, broadcasts_requested=0,
                target={}, submitted_by="x", created_at=now, updated_at=now))  # fmt: skip
            await conn.execute(sa.insert(messages).values(id=1, alert_id="a", index=0, text="t",
                message_identifier=4370, geo_scope=0, message_code=1, update_number=0, dcs=15,
                pages=[]))  # fmt: skip
            await conn.execute(sa.insert(deliveries).values(id=1, message_id=1, peer="bsc1",
                state="active", attempts=1, updated_at=now, report=answer))  # fmt: skip
        stored = sa.select(deliveries.c.report)
        await asyncio.to_thread(upgrade, store_url)
        async with engine.connect() as conn:
            compressed = (await conn.execute(stored)).scalar_one()
            assert compressed != answer and len(compressed) < len(answer)
            assert (await conn.execute(sa.select(Delivery.report))).scalar_one() == answer
        await asyncio.to_thread(downgrade, store_url, "0005")
        async with engine.connect() as conn:
            assert (await conn.execute(stored)).scalar_one() == answer
    finally:
        await engine.dispose()


def _columns(name: str, **types: Any) -> list[Any]:
    return [name, *(sa.column(column, kind) for column, kind in types.items())]
