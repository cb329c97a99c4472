"""Per-cell delivery results, one form whatever the peer speaks.

Each delivery keeps its peer's answers as they came (see models.Delivery); the reader of
the delivery's interface turns them into cell results when someone asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omnigw.cbc.areas import Target


@dataclass(slots=True)
class CellResult:
    cell: str
    state: str  # installed | failed | killed
    cause: str | None = None
    broadcasts_completed: int | None = None


# (report, kill report, status report, the alert's target) -> the cells
Reader = Callable[[bytes | None, bytes | None, bytes | None, Target], list[CellResult]]
