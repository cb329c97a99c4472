"""The embedded backend's journal: records read back in order, segments released, torn tails."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from omnigw.ocs.journal import PREFIX, BalanceRecord, EndedCharge, Journal

NOW = datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=UTC)


def _segments(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob(f"{PREFIX}*"))


def test_what_was_written_and_not_released_is_read_back_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.open() == []
    records = [
        BalanceRecord("4911", "octets", 100),
        EndedCharge('odd\t"account\n', "seconds", 5, "s;1_rg10", 10, NOW, NOW),
        BalanceRecord('"quoted', "units", -7),
        EndedCharge("4911", "octets", 1, "s;2_sid3", None, NOW, NOW),
    ]
    journal.write(records[0], records[1])
    journal.rotate()
    journal.write(*records[2:])
    journal.close()
    again = Journal(tmp_path)
    assert again.open() == records
    again.close()


def test_a_released_segment_is_gone_and_the_newer_ones_stay(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.write(BalanceRecord("a", "octets", 1))
    closed = journal.rotate()  # a store write begins: it covers the first segment
    journal.write(BalanceRecord("a", "octets", 2))  # made while the store was being written
    journal.release(closed)
    assert len(_segments(tmp_path)) == 1
    journal.close()
    assert Journal(tmp_path).open() == [BalanceRecord("a", "octets", 2)]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    journal.write(BalanceRecord("a", "octets", 1))
    journal.close()
    [segment] = _segments(tmp_path)
    with (tmp_path / segment).open("ab") as f:
        f.write(b"u\ta\toctets\t5\tk")  # the process died inside this write
    assert Journal(tmp_path).open() == [BalanceRecord("a", "octets", 1)]
