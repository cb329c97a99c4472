"""Per-MME and per-cell results of an SBc-AP delivery, read from what the MME sent.

An MME's answer covers the request as a whole: accepted (which proves nothing about
phones: some MMEs accept everything), refused with a cause, and the tracking areas it does
not know. Cells are known only from its indications: Write-Replace-Warning-Indication names
cells the warning is scheduled in, Stop-Warning-Indication cells it was stopped in, and a
PWS-Failure-Indication cells that can broadcast nothing; reports are read in the order
they came, so a cell that failed and was scheduled again after a restart is scheduled.
Accepted with no report at all leaves the target "accepted" with no per-cell report
rather than pending forever.
"""

from __future__ import annotations

from typing import Any

from omnigw.cbc.areas import Target, cell_key
from omnigw.cbc.models import Delivery
from omnigw.cbc.results import CellResult
from omnigw.cbc.sbcap.causes import MEANING, Cause, cause_text
from omnigw.cbc.sbcap.codec import (
    DecodeError,
    PwsFailureIndication,
    StopWarningIndication,
    StopWarningResponse,
    WriteReplaceWarningIndication,
    WriteReplaceWarningResponse,
    decode,
)


def _decoded(frame: bytes | None) -> Any:
    if frame is None:
        return None
    try:
        return decode(frame)
    except DecodeError:
        return None


def answer(delivery: Delivery) -> dict[str, Any] | None:
    written = _decoded(delivery.report)
    if not isinstance(written, WriteReplaceWarningResponse):
        return None
    out: dict[str, Any] = {
        "result": "accepted" if written.cause == Cause.MESSAGE_ACCEPTED else "rejected",
        "cause": cause_text(written.cause),
        "meaning": MEANING.get(Cause(written.cause)) if written.cause in Cause._value2member_map_
        else "a cause TS 29.168 does not define",
        "unknown_tais": [f"{t.plmn}-{t.tac}" for t in written.unknown_tais],
    }  # fmt: skip
    stopped = _decoded(delivery.kill_report)
    if isinstance(stopped, StopWarningResponse):
        out["stop_cause"] = cause_text(stopped.cause)
    return out


def cells(delivery: Delivery, target: Target) -> list[CellResult]:
    results: dict[str, CellResult] = {}
    for report in delivery.reports:
        pdu = _decoded(report.frame)
        if isinstance(pdu, WriteReplaceWarningIndication):
            for c in pdu.scheduled:
                key = f"{c.plmn}-{c.eci}"
                results[key] = CellResult(key, "scheduled")
        elif isinstance(pdu, StopWarningIndication):
            for c in pdu.cancelled:
                key = f"{c.plmn}-{c.eci}"
                results[key] = CellResult(key, "stopped", None, c.broadcasts)
        elif isinstance(pdu, PwsFailureIndication):
            for e in pdu.failed:
                key = f"{e.plmn}-{e.eci}"
                results[key] = CellResult(key, "failed", "pws-failure")
    if not results:
        accepted = answer(delivery)
        if accepted is not None and accepted["result"] == "accepted":
            for cell in target.cells or ():
                key = cell_key(cell)
                results[key] = CellResult(key, "accepted", "no per-cell report")
            if not target.cells:
                results["all"] = CellResult("all", "accepted", "no per-cell report")
    return sorted(results.values(), key=lambda r: r.cell)
