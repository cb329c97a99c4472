"""The store helper process: one transaction per round trip, refused ones write nothing,
a helper that dies is replaced, and the store's URL stays off the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.cbc.models import Alert
from omnigw.errors import Unavailable
from omnigw.store.base import utcnow
from omnigw.store.engine import session_factory, url_of
from omnigw.store.process import RESTARTS, StoreProcess, StoreWriteError, WalCheckpointer


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[StoreProcess]:
    helper = StoreProcess(url_of(session_factory(engine)), "omnigw.cbc.models")
    await helper.start()
    yield helper
    await helper.stop()


def _alert(alert_id: str, **values: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": alert_id, "state": "active", "source": "api", "external_ref": None,
        "alert_class": "presidential", "priority": 0, "category": 0, "repetition_seconds": 60,
        "broadcasts_requested": 0, "target": {"plmn": True}, "submitted_by": "a@x.org",
        "created_at": now, "updated_at": now, "expires_at": None, "ended_at": None,
        "completed_at": None,
    } | values  # fmt: skip


def _proc(pid: int, name: str) -> str:
    path = Path(f"/proc/{pid}/{name}")
    return path.read_text() if path.exists() else ""


async def _states(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Alert.id, Alert.state))
        return {alert_id: state for alert_id, state in rows}


async def test_operations_commit_as_one_transaction(
    store: StoreProcess, engine: AsyncEngine
) -> None:
    await store.run([("insert", "cbc_alerts", [_alert("a1"), _alert("a2")])])
    await store.run(
        [
            ("update", "cbc_alerts", [{"id": "a1", "state": "cancelled"}]),
            # insert_new skips a row already there and adds the new one
            ("insert_new", "cbc_alerts", [_alert("a2", state="expired"), _alert("a3")]),
        ]
    )
    assert await _states(engine) == {"a1": "cancelled", "a2": "active", "a3": "active"}


async def test_a_refused_transaction_writes_nothing_and_the_helper_goes_on(
    store: StoreProcess, engine: AsyncEngine
) -> None:
    with pytest.raises(StoreWriteError, match="IntegrityError"):
        await store.run(
            [("insert", "cbc_alerts", [_alert("b1")]), ("insert", "cbc_alerts", [_alert("b1")])]
        )
    assert await _states(engine) == {}
    await store.run([("insert", "cbc_alerts", [_alert("b2")])])
    assert await _states(engine) == {"b2": "active"}


async def test_a_helper_killed_mid_transaction_fails_it_and_is_replaced(
    store: StoreProcess, engine: AsyncEngine
) -> None:
    await store.run([("insert", "cbc_alerts", [_alert("c0")])])  # the helper is connected
    restarts = RESTARTS._value.get()
    first = store.pid
    assert first is not None
    async with engine.connect() as conn:
        await conn.begin()
        # An uncommitted row with the same key: the helper's insert waits on it.
        await conn.execute(Alert.__table__.insert(), [_alert("c1")])
        attempt = asyncio.create_task(store.run([("insert", "cbc_alerts", [_alert("c1")])]))
        await asyncio.sleep(0.5)
        assert not attempt.done()
        os.kill(first, signal.SIGKILL)
        with pytest.raises(Unavailable):
            await attempt
        await conn.rollback()
    await store.run([("insert", "cbc_alerts", [_alert("c2")])])
    assert store.pid not in (None, first)
    assert RESTARTS._value.get() == restarts + 1
    assert await _states(engine) == {"c0": "active", "c2": "active"}


async def test_the_url_travels_through_the_pipe_not_the_command_line(
    store: StoreProcess, engine: AsyncEngine
) -> None:
    await store.run([("insert", "cbc_alerts", [_alert("d1")])])
    assert store.pid is not None
    cmdline = _proc(store.pid, "cmdline").replace("\0", " ")
    assert "omnigw.store.process" in cmdline
    assert engine.url.database is not None and engine.url.database not in cmdline


async def test_stop_ends_the_helper_and_refuses_further_work(
    store: StoreProcess, engine: AsyncEngine
) -> None:
    await store.run([("insert", "cbc_alerts", [_alert("e1")])])
    pid = store.pid
    assert pid is not None
    await store.stop()
    assert _proc(pid, "stat") == ""  # ended and reaped
    with pytest.raises(Unavailable):
        await store.run([("insert", "cbc_alerts", [_alert("e2")])])
    assert await _states(engine) == {"e1": "active"}


def test_the_checkpointer_moves_the_log_into_the_database(tmp_path: Path) -> None:
    """The helper's commits skip SQLite's inline checkpoint; the thread does it instead."""
    path = str(tmp_path / "wal.db")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (v BLOB)")
    writer.executemany("INSERT INTO t VALUES (?)", [(bytes(4000),)] * 500)
    writer.commit()

    def in_database_file() -> int:
        # immutable: read the database file alone, as if the log did not exist
        file = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return len(file.execute("SELECT v FROM t").fetchall())
        except sqlite3.OperationalError:  # not even the table has reached the file
            return -1
        finally:
            file.close()

    assert in_database_file() == -1
    checkpoints = WalCheckpointer(path, interval=0.05)
    checkpoints.start()
    time.sleep(0.3)
    checkpoints.stop()
    writer.close()
    assert in_database_file() == 500


def test_an_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="database file"):
        StoreProcess("sqlite+aiosqlite:///:memory:", "omnigw.cbc.models")
