"""Cells and areas as the CBC names them, whatever protocol carries them to a peer.

An alert targets every cell, a list of cells, or a list of areas; each southbound adapter
turns that into its protocol's own list (CBSP's cell identification discriminators).
GSM cells (CGI) and location areas (LAC, LAI) go to BSCs; LTE cells (ECGI), tracking
areas (TAI) and emergency areas (EAI) to MMEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class AreaKind(StrEnum):
    ALL = "all"  # every cell the peer serves
    CGI = "cgi"  # cells: mcc, mnc, lac, ci
    LAC = "lac"  # location areas by code: lac
    LAI = "lai"  # location areas: mcc, mnc, lac
    ECGI = "ecgi"  # LTE cells: mcc, mnc, ci (the 28-bit E-UTRAN cell identity)
    TAI = "tai"  # tracking areas: mcc, mnc, lac (the tracking area code)
    EAI = "eai"  # emergency areas: ci (the 24-bit emergency area id)
    # GSM and LTE cells together (a polygon over both networks): each CGI has its lac, each
    # ECGI none; a BSC gets the CGIs, an MME the ECGIs (see Target.for_peer).
    CELLS = "cells"


# The kinds of list each interface carries (an alert of another kind skips its peers).
CARRIED = {
    "cbsp": frozenset({AreaKind.CGI, AreaKind.LAC, AreaKind.LAI, AreaKind.CELLS}),
    "sbcap": frozenset({AreaKind.ECGI, AreaKind.TAI, AreaKind.EAI, AreaKind.CELLS}),
}


@dataclass(frozen=True, slots=True)
class CellId:
    """One cell or area; which fields are set depends on the kind of list it is in: `lac`
    is the area code (a LAC, or a TAC in a TAI), `ci` the cell or area identity (a CI, an
    ECI, or an emergency area id)."""

    mcc: str | None = None
    mnc: str | None = None
    lac: int | None = None
    ci: int | None = None
