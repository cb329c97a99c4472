"""Per-cell delivery results, one form whatever the peer speaks.

Each delivery keeps its peer's answers as they came (see models.Delivery); the reader of
the delivery's interface turns them into cell results when someone asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from omnigw.cbc.areas import Target
from omnigw.cbc.models import Delivery


@dataclass(slots=True)
class CellResult:
    cell: str
    # CBSP: installed | failed | killed. SBc-AP: scheduled | failed | stopped, or
    # accepted when the MME took the request but reported no cell.
    state: str
    cause: str | None = None
    broadcasts_completed: int | None = None


class Reader(Protocol):
    """How one interface's answers and reports read (a module per interface)."""

    def cells(self, delivery: Delivery, target: Target) -> list[CellResult]:
        """The delivery's cells, from what the peer answered and reported."""
        ...

    def answer(self, delivery: Delivery) -> dict[str, Any] | None:
        """What the peer answered to the request as a whole, when its protocol says."""
        ...
