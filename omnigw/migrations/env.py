"""Alembic environment: runs migrations on the async engine for the URL given in code."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from omnigw.schema import metadata
from omnigw.store.engine import create_engine

config = context.config


def _run(connection: Connection) -> None:
    # Batch mode lets ALTER TABLE work on SQLite by copying the table.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.attributes["url"], target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online(config.attributes["url"]))
