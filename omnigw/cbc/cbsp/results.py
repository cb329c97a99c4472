"""Per-cell results of a CBSP delivery, decoded from the answers the BSC sent.

A WRITE-REPLACE COMPLETE names the cells that took the message (completed or
cell list; none: every targeted cell), a FAILURE names the refused cells with
their cause, a KILL COMPLETE turns installed cells into killed ones, and a
MESSAGE STATUS QUERY COMPLETE brings broadcast counts.
"""

from __future__ import annotations

from typing import Any

from omnigw.cbc.areas import Target, cell_key
from omnigw.cbc.cbsp.codec import Cause, DecodeError, MsgType, Pdu, decode
from omnigw.cbc.models import Delivery
from omnigw.cbc.results import CellResult


def _decode(frame: bytes | None) -> Pdu | None:
    if frame is None:
        return None
    try:
        return decode(frame)
    except DecodeError:
        return None


def answer(delivery: Delivery) -> dict[str, Any] | None:
    """A BSC answers per cell only."""
    return None


def cells(delivery: Delivery, target: Target) -> list[CellResult]:
    report, kill_report = delivery.report, delivery.kill_report
    status_report = delivery.status_report
    results: dict[str, CellResult] = {}
    written = _decode(report)
    if written is not None:
        for count in written.completed or ():
            results[cell_key(count.cell)] = CellResult(
                cell_key(count.cell), "installed", None, count.completed
            )
        for cell in written.cell_list.cells if written.cell_list else ():
            results.setdefault(cell_key(cell), CellResult(cell_key(cell), "installed"))
        for failure in written.failures or ():
            key = cell_key(failure.cell)
            if failure.cause is Cause.MSG_REF_ALREADY_USED:
                results[key] = CellResult(key, "installed")
            else:
                results[key] = CellResult(key, "failed", failure.cause.name.lower())
        if not results and written.type is MsgType.WRITE_REPLACE_COMPLETE:
            for cell in target.cells:
                results[cell_key(cell)] = CellResult(cell_key(cell), "installed")
            if not target.cells:
                results["all"] = CellResult("all", "installed")
    for extra in (_decode(status_report), _decode(kill_report)):
        if extra is None:
            continue
        for count in extra.completed or ():
            row = results.get(cell_key(count.cell))
            if row is not None:
                row.broadcasts_completed = count.completed
    if kill_report is not None:
        for row in results.values():
            if row.state == "installed":
                row.state = "killed"
    return sorted(results.values(), key=lambda r: r.cell)
