"""The API-managed part of the cell inventory, in the store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select

from omnigw.cbc.areas import CellPosition, parse_cell
from omnigw.cbc.models import InventoryCell
from omnigw.errors import Invalid
from omnigw.store.base import utcnow
from omnigw.store.engine import SessionFactory


async def load(sessions: SessionFactory) -> list[CellPosition]:
    async with sessions() as s:
        rows = await s.execute(select(InventoryCell).order_by(InventoryCell.cell))
        return [CellPosition(r.cell, r.lat, r.lon, r.azimuth) for r in rows.scalars()]


async def replace(sessions: SessionFactory, cells: Sequence[CellPosition], who: str) -> None:
    """Replace the whole API-managed inventory in one transaction."""
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        try:
            parse_cell(cell.cell)
        except ValueError as exc:
            raise Invalid(f"cells.{index}.{exc}") from None
        if cell.cell in seen:
            raise Invalid(f"cells.{index}: {cell.cell} is listed twice")
        seen.add(cell.cell)
    now = utcnow()
    rows = [{"cell": c.cell, "lat": c.lat, "lon": c.lon, "azimuth": c.azimuth, "updated_by": who,
             "updated_at": now} for c in cells]  # fmt: skip
    async with sessions.begin() as s:
        await s.execute(delete(InventoryCell))
        if rows:  # one statement for all (the ORM's unit of work took a second for 14,000)
            await s.execute(insert(InventoryCell), rows)
