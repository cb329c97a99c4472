"""Cells and areas as the CBC names them, whatever protocol carries them to a peer.

An alert targets every cell, a list of cells, or a list of areas; each southbound adapter
turns that into its protocol's own list (CBSP's cell identification discriminators).
GSM cells (CGI) and location areas (LAC, LAI) today; LTE's cells, tracking areas and
emergency areas come with SBc-AP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AreaKind(StrEnum):
    ALL = "all"  # every cell the peer serves
    CGI = "cgi"  # cells: mcc, mnc, lac, ci
    LAC = "lac"  # location areas by code: lac
    LAI = "lai"  # location areas: mcc, mnc, lac


@dataclass(frozen=True, slots=True)
class CellId:
    """One cell or area; which fields are set depends on the kind of list it is in."""

    mcc: str | None = None
    mnc: str | None = None
    lac: int | None = None
    ci: int | None = None
