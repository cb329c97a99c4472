"""Alembic driven from code: `omnigw db upgrade` and the daemon's start-up check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parents[1] / "migrations"  # omnigw/migrations


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Run migrations up to `revision`; blocking, call from a thread inside a loop."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revisions(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    def read(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database schema is at the newest migration."""
    return await current_revisions(engine) == head_revisions(str(engine.url))
