"""Store writes in a helper process: one pipe round trip per transaction.

Under load the event loop is busy with protocol work. Through the async
driver, every statement of a transaction costs the caller a loop iteration
and a hand-over of the GIL to the driver's thread, and that thread waits for
the GIL behind the loop: an alert's five-statement transaction took tens of
milliseconds while 200 BSCs were answering. The helper process runs the whole
transaction with its own interpreter and answers once, so the caller pays
one loop iteration whatever the load.

The helper executes whole transactions in the order they arrive, one at a
time: it is the one writer of the tables it is given. Requests are
`(kind, table, rows)` operations; rows are plain values (pickled on a private
pipe between this process and its own child). The store's URL, password
included, goes through the pipe, never the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import importlib
import itertools
import logging
import os
import pickle
import signal
import sqlite3
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO, Literal

import sqlalchemy
from prometheus_client import Counter
from sqlalchemy import Table, bindparam, event, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.sql.dml import Insert, Update

from omnigw.errors import Unavailable
from omnigw.store.base import Base
from omnigw.store.engine import create_engine, sqlite_pragmas

log = logging.getLogger("omnigw.store.process")

# insert: plain INSERT; insert_new: INSERT that skips rows whose key exists (a retry of a
# commit whose answer was lost); update: UPDATE ... WHERE id = row["id"]; upsert: INSERT,
# or UPDATE of the other columns where the primary key exists.
Kind = Literal["insert", "insert_new", "update", "upsert"]
Op = tuple[Kind, str, list[dict[str, Any]]]

SIZES = struct.Struct(">II")  # pickle length, blob count; then each blob's length
PIPE_SIZE = 1 << 20

RESTARTS = Counter(
    "omnigw_store_helper_restarts_total",
    "Store helper processes that ended unexpectedly and were started again",
)


class StoreProcess:
    """The parent's side: `run` sends one transaction and waits for its outcome."""

    def __init__(self, url: str, tables: str) -> None:
        """`tables`: the module defining the tables this helper writes; it loads only that."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            raise ValueError("the store helper needs a database file, not an in-memory SQLite")
        self._url, self._tables = url, tables
        self._child: asyncio.subprocess.Process | None = None  # None: not running
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._seq = itertools.count()
        self._starting = asyncio.Lock()
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    async def start(self) -> None:
        self._stopping = False
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omnigw.store.process",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdin is not None
        _widen(child.stdin.get_extra_info("pipe"))
        child.stdin.writelines(_frame((self._url, self._tables)))
        self._child = child
        self._reader = asyncio.get_running_loop().create_task(self._read(child))

    async def run(self, ops: Sequence[Op]) -> None:
        """Commit `ops` as one transaction.

        Raises StoreWriteError if the database refused it (nothing was written), and
        Unavailable if the helper ended before answering (it may or may not be written).
        """
        ops = [op for op in ops if op[2]]
        if not ops:
            return
        if self._stopping:
            raise Unavailable("the store is shutting down")
        if self._child is None:
            async with self._starting:
                if self._child is None:
                    RESTARTS.inc()
                    log.error("the store helper process had ended; starting another")
                    await self.start()
        child = self._child
        assert child is not None and child.stdin is not None
        seq = next(self._seq)
        done = asyncio.get_running_loop().create_future()
        self._pending[seq] = done
        child.stdin.writelines(_frame((seq, ops)))
        await done

    async def _read(self, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        try:
            while True:
                seq, error = _load(await _read_frame(child.stdout))
                done = self._pending.pop(seq, None)
                if done is None or done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(StoreWriteError(error))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self._child is child:
                self._child = None
            # What was in flight has an unknown outcome: each caller decides what to do.
            pending, self._pending = self._pending, {}
            for done in pending.values():
                if not done.done():
                    done.set_exception(Unavailable("the store helper process ended"))

    async def stop(self) -> None:
        self._stopping = True
        child = self._child
        if child is None:
            return
        assert child.stdin is not None
        child.stdin.close()  # the helper finishes what it has and exits on end of input
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def _widen(pipe: Any) -> None:
    """A batch of delivery rows carries the peers' answers (a 500-cell BSC's is 5 KB):
    through Linux's default 64 KB pipe it went in many writes, each a loop turn."""
    with contextlib.suppress(OSError, AttributeError):  # capped by fs.pipe-max-size
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)


class StoreWriteError(Exception):
    """The helper ran the transaction and the database refused it (rolled back)."""

    # Refusals caused by a row's own values rather than by the store's state.
    ROW_FAULTS = frozenset({"OverflowError", "IntegrityError", "DataError"})

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error_type = error.split(":", 1)[0]  # the helper sends "Type: message"

    @property
    def row_fault(self) -> bool:
        """A value no retry will store (another row of the same batch may be fine)."""
        return self.error_type in self.ROW_FAULTS


def blob(value: bytes | None) -> Any:
    """A large bytes value for a row: sent beside the pickle, not copied into it."""
    return None if value is None else pickle.PickleBuffer(value)


def _frame(value: object) -> list[bytes | memoryview]:
    """Sizes, the pickle, then the blobs as they are: one copy, into the pipe."""
    blobs: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=blobs.append)
    raws = [b.raw() for b in blobs]
    sizes = struct.pack(f">II{len(raws)}I", len(data), len(raws), *(r.nbytes for r in raws))
    return [sizes, data, *raws]


def _load(frame: tuple[bytes, list[bytes]]) -> Any:
    data, blobs = frame
    # Safe here: the pipe's only other end is this daemon's own parent or child process.
    return pickle.loads(data, buffers=blobs)  # noqa: S301


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bytes, list[bytes]]:
    size, count = SIZES.unpack(await reader.readexactly(SIZES.size))
    lengths = struct.unpack(f">{count}I", await reader.readexactly(4 * count))
    data = await reader.readexactly(size)
    return data, [await reader.readexactly(length) for length in lengths]


# --- the helper's side --------------------------------------------------------------------


def statement(
    dialect: Dialect, kind: Kind, table: Table, columns: Sequence[str]
) -> Insert | Update:
    """The statement for an operation on `table` setting `columns` (one per row shape)."""
    if kind == "insert":
        return insert(table)
    if kind == "insert_new":
        if dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()
    if kind == "upsert":
        upsert = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)
        keys = list(table.primary_key.columns)
        return upsert.on_conflict_do_update(
            index_elements=keys,
            set_={name: upsert.excluded[name] for name in columns
                  if name not in {k.name for k in keys}},
        )  # fmt: skip
    # The key is bound as "key": a column's own name cannot be both WHERE and SET parameter.
    return (
        update(table)
        .where(table.c.id == bindparam("key"))
        .values({name: bindparam(name) for name in columns if name != "id"})
    )


def _keyed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{("key" if k == "id" else k): v for k, v in row.items()} for row in rows]


Transaction = Callable[[Sequence[Op]], None]


def _apply(conn: Connection, ops: Sequence[Op], cache: dict[Any, Insert | Update]) -> None:
    for kind, name, rows in ops:
        key = (kind, name, tuple(rows[0]))
        stmt = cache.get(key)
        if stmt is None:
            stmt = statement(conn.dialect, kind, Base.metadata.tables[name], key[2])
            cache[key] = stmt
        conn.execute(stmt, _keyed(rows) if kind == "update" else rows)


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


class WalCheckpointer(threading.Thread):
    """Copies SQLite's write-ahead log into the database beside the writer, not inside it.

    By default the commit that grows the log past 1000 pages does the checkpoint
    itself, fsyncs included: with an alert's 200 answers (a 500-cell BSC's
    answer is 5 KB) that was every few alerts, and the alert committed right
    then waited 20-50 ms. A PASSIVE checkpoint on its own connection and thread
    runs while commits go on; the log is reused once it has caught up.
    """

    def __init__(self, path: str, interval: float = 0.5) -> None:
        super().__init__(name="wal-checkpoint", daemon=True)
        self._path = path
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stopped.wait(self._interval):
                self.checkpoint(conn)
            self.checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next round tries again
            log.warning("WAL checkpoint failed", extra={"error": str(exc)})

    def stop(self) -> None:
        self._stopped.set()
        self.join()


@contextlib.contextmanager
def _transactions(url: str) -> Iterator[Transaction]:
    """Runs a transaction per call: SQLite through its own driver, with no thread in between
    (this process does nothing else); PostgreSQL through asyncpg, the one driver we ship."""
    cache: dict[Any, Insert | Update] = {}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database  # StoreProcess refuses an in-memory database
        engine = sqlalchemy.create_engine(parsed.set(drivername="sqlite"), hide_parameters=True)
        event.listen(engine, "connect", sqlite_pragmas)
        event.listen(engine, "connect", _no_autocheckpoint)
        checkpoints = WalCheckpointer(parsed.database)
        checkpoints.start()

        def run(ops: Sequence[Op]) -> None:
            with engine.begin() as conn:
                _apply(conn, ops, cache)

        try:
            yield run
        finally:
            checkpoints.stop()
            engine.dispose()
        return
    with asyncio.Runner() as runner:
        async_engine = create_engine(url, pool_size=1)

        async def transaction(ops: Sequence[Op]) -> None:
            async with async_engine.begin() as conn:
                await conn.run_sync(_apply, ops, cache)

        yield lambda ops: runner.run(transaction(ops))
        runner.run(async_engine.dispose())


def _read_blocking(source: BinaryIO) -> tuple[bytes, list[bytes]] | None:
    """The next frame, or None at end of input."""

    def exactly(size: int) -> bytes:
        data = source.read(size)
        if len(data) != size:
            raise EOFError
        return data

    try:
        size, count = SIZES.unpack(exactly(SIZES.size))
        lengths = struct.unpack(f">{count}I", exactly(4 * count))
        data = exactly(size)
        return data, [exactly(length) for length in lengths]
    except EOFError:
        return None


def _error_type(exc: BaseException) -> str:
    """The name the parent judges a refusal by: a row fault anywhere in the chain of causes
    (SQLAlchemy wraps the driver's error, which may wrap the value's own), else the top."""
    names: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(names) < 8:
        names.append(type(cause).__name__)
        cause = getattr(cause, "orig", None) or cause.__cause__ or cause.__context__
    return next((n for n in names if n in StoreWriteError.ROW_FAULTS), names[0])


def _serve() -> None:
    # Our stdout is the answer pipe: anything else printed goes to stderr instead.
    source, sink = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    first = _read_blocking(source)
    if first is None:
        return
    url, tables = _load(first)
    importlib.import_module(tables)  # its models join Base.metadata
    with _transactions(url) as run:
        gc.freeze()  # the imports' objects are forever: keep them out of every collection
        # End of input: the parent closed the pipe after its last flush, or died.
        while (frame := _read_blocking(source)) is not None:
            seq, ops = _load(frame)
            error: str | None = None
            try:
                run(ops)
            except Exception as exc:  # the parent reports it with the caller's context
                error = f"{_error_type(exc)}: {exc}"
            sink.writelines(_frame((seq, error)))
            sink.flush()


if __name__ == "__main__":
    # Shutdown is the parent closing our input, after its last flush: a signal sent to
    # the whole service must not cut that flush short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve()
