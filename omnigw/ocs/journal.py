"""The embedded backend's journal: every balance change on disk before it is answered.

Balances live in memory and reach the store in batches; a debit answered in between
would be lost by kill -9. Committing to the store before each answer costs a round trip
per request, and the answers wait for it; one write(2) of a line costs microseconds and
survives the process, because the kernel holds the data from then on. Like SQLite's own
log with synchronous=NORMAL, which the store uses, it does not survive a power cut.

Records go to numbered segment files. A store write covers every segment closed before
it began, which is then deleted; a segment is closed by the first store write after it
is `ROTATE_SECONDS` old (file creation and deletion can wait on the file system's own
journal, so they are not done on every write). Segments
found at start are what the store may lack: they are read back, in order, and stored.
A balance record carries the new value (not the change), so reading one again is
harmless; a usage record carries its charge and end time, so one already stored is
recognised.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("omnigw.ocs.journal")

PREFIX = "ocs-journal."
ROTATE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    account: str
    unit: str
    amount: int


@dataclass(frozen=True, slots=True)
class EndedCharge:
    """A charge that has ended: one record of the account's usage history."""

    account: str
    unit: str
    amount: int
    charge_key: str
    rating_group: int | None
    started_at: datetime
    ended_at: datetime

    def row(self) -> dict[str, Any]:
        return {
            "account": self.account, "unit": self.unit, "amount": self.amount,
            "charge_key": self.charge_key, "rating_group": self.rating_group,
            "started_at": self.started_at, "ended_at": self.ended_at,
        }  # fmt: skip


Record = BalanceRecord | EndedCharge


# One record per line, fields separated by tabs: a few times cheaper to write than JSON on
# the Gy path (every report is one line). A text field that could be mistaken for a
# separator or for an escaped field is written as a JSON string instead.


def _field(text: str) -> str:
    if text.isprintable() and not text.startswith('"'):
        return text
    return json.dumps(text)


def _unfield(text: str) -> str:
    return str(json.loads(text)) if text.startswith('"') else text


def _line(record: Record) -> bytes:
    if isinstance(record, BalanceRecord):
        return f"b\t{_field(record.account)}\t{record.unit}\t{record.amount}\n".encode()
    group = "" if record.rating_group is None else record.rating_group
    return (
        f"u\t{_field(record.account)}\t{record.unit}\t{record.amount}\t"
        f"{_field(record.charge_key)}\t{group}\t{record.started_at.isoformat()}\t"
        f"{record.ended_at.isoformat()}\n"
    ).encode()


def _record(line: str) -> Record:
    fields = line.split("\t")
    if fields[0] == "b" and len(fields) == 4:
        return BalanceRecord(_unfield(fields[1]), fields[2], int(fields[3]))
    if fields[0] == "u" and len(fields) == 8:
        return EndedCharge(
            _unfield(fields[1]), fields[2], int(fields[3]), _unfield(fields[4]),
            int(fields[5]) if fields[5] else None,
            datetime.fromisoformat(fields[6]), datetime.fromisoformat(fields[7]),
        )  # fmt: skip
    raise ValueError(f"not a journal record: {line[:40]!r}")


class Journal:
    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self._directory = directory
        self._clock = clock
        self._opened_at = 0.0
        self._number = 0
        self._fd: int | None = None
        self._kept: list[int] = []  # segments on disk, oldest first

    def _path(self, number: int) -> Path:
        return self._directory / f"{PREFIX}{number:012d}"

    def _segments(self) -> list[int]:
        return sorted(
            int(p.name.removeprefix(PREFIX))
            for p in self._directory.glob(f"{PREFIX}*")
            if p.name.removeprefix(PREFIX).isdigit()
        )

    def open(self) -> list[Record]:
        """What earlier runs recorded and may not have stored, in order; then a new segment.

        A last line cut short (the process died inside a write) was never answered: skipped.
        """
        self._directory.mkdir(parents=True, exist_ok=True)
        records: list[Record] = []
        segments = self._segments()
        for number in segments:
            for raw in self._path(number).read_bytes().split(b"\n"):
                if not raw:
                    continue
                try:
                    records.append(_record(raw.decode()))
                except ValueError:
                    log.warning("skipped a torn journal line", extra={"segment": number})
        self._kept = segments
        self._number = segments[-1] if segments else 0
        self.rotate()
        return records

    def write(self, *records: Record) -> None:
        """Append the records in one write(2): on disk for every process once this returns."""
        assert self._fd is not None, "journal not open"
        data = _line(records[0]) if len(records) == 1 else b"".join(map(_line, records))
        written = os.write(self._fd, data)
        while written < len(data):  # a short write: rare for a regular file, but allowed
            data = data[written:]
            written = os.write(self._fd, data)

    def covered(self) -> int:
        """A store write begins: the newest segment it will cover (closed before it began),
        after closing the current one if it is due."""
        if self._clock() - self._opened_at >= ROTATE_SECONDS:
            return self.rotate()
        return self._number - 1

    def rotate(self) -> int:
        """Start a new segment; returns the number of the last one closed (all older too)."""
        self._opened_at = self._clock()
        closed = self._number
        self._number += 1
        fd = os.open(self._path(self._number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = fd
        self._kept.append(self._number)
        return closed

    def release(self, upto: int) -> None:
        """The store holds everything segments up to `upto` recorded: delete them."""
        while self._kept and self._kept[0] <= upto:
            self._path(self._kept.pop(0)).unlink(missing_ok=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
