"""Where an alert goes: PLMN, cells, LACs, LAIs, named areas, polygons and circles.

Geometric and named targets resolve to cells through the configured cell
inventory; the result is one CBSP cell list per peer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from omnigw.cbc.cbsp.codec import CellId, CellList, Discriminator
from omnigw.cbc.messages import GeoScope
from omnigw.config import CbcConfig


class AreaError(ValueError):
    """The target cannot be resolved; the message names the field."""


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved target: one cell list, and the serial number's geographical scope."""

    cells: CellList
    scope: GeoScope

    def to_json(self) -> dict[str, Any]:
        return {
            "discriminator": int(self.cells.discriminator),
            "scope": int(self.scope),
            "cells": [[c.mcc, c.mnc, c.lac, c.ci] for c in self.cells.cells],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        cells = tuple(CellId(*c) for c in data["cells"])
        return cls(CellList(Discriminator(data["discriminator"]), cells), GeoScope(data["scope"]))

    def for_peer(self, served: Sequence[str]) -> CellList | None:
        """The part of the target a peer serves (None: nothing for it)."""
        if self.cells.discriminator is not Discriminator.CGI or not served:
            return self.cells
        mine = tuple(c for c in self.cells.cells if cell_key(c) in served)
        return CellList(Discriminator.CGI, mine) if mine else None


def parse_cgi(text: str) -> CellId:
    try:
        mcc, mnc, lac, ci = text.split("-")
        if not (len(mcc) == 3 and mcc.isdigit() and len(mnc) in (2, 3) and mnc.isdigit()):
            raise ValueError
        cell = CellId(mcc, mnc, int(lac), int(ci))
    except ValueError:
        raise AreaError(f"cell {text!r}: not a CGI 'mcc-mnc-lac-ci'") from None
    if not (0 <= (cell.lac or 0) <= 0xFFFF and 0 <= (cell.ci or 0) <= 0xFFFF):
        raise AreaError(f"cell {text!r}: LAC and CI are 0..65535")
    return cell


def cell_key(cell: CellId) -> str:
    """A stable text key for a cell or area as a peer reports it."""
    parts = [cell.mcc, cell.mnc, cell.lac, cell.ci]
    return "-".join(str(p) for p in parts if p is not None) or "all"


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _inside(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """Ray casting in the lat/lon plane (good enough for alert-sized areas)."""
    inside = False
    j = len(polygon) - 1
    for i, (lat_i, lon_i) in enumerate(polygon):
        lat_j, lon_j = polygon[j]
        if (lon_i > lon) != (lon_j > lon):
            crossing = (lat_j - lat_i) * (lon - lon_i) / (lon_j - lon_i) + lat_i
            if lat < crossing:
                inside = not inside
        j = i
    return inside


@dataclass(frozen=True, slots=True)
class CellPosition:
    """Where a cell is, for polygons and circles (azimuth kept for the operator's records)."""

    cgi: str
    lat: float
    lon: float
    azimuth: float | None = None


class Areas:
    """Resolves targets against the cell inventory (config plus API) and named areas."""

    def __init__(self, cfg: CbcConfig) -> None:
        self._configured = [CellPosition(c.cgi, c.lat, c.lon, c.azimuth) for c in cfg.cells]
        self._stored: list[CellPosition] = []
        self._named = cfg.areas

    def set_stored(self, cells: Sequence[CellPosition]) -> None:
        """The cells managed through the API; they win over config entries with the same CGI."""
        self._stored = list(cells)

    @property
    def _cells(self) -> list[CellPosition]:
        stored = {c.cgi for c in self._stored}
        return [c for c in self._configured if c.cgi not in stored] + self._stored

    def inventory(self) -> list[tuple[CellPosition, str]]:
        """Every cell with where it comes from ("config" or "api")."""
        stored = {c.cgi for c in self._stored}
        return [(c, "config") for c in self._configured if c.cgi not in stored] + [
            (c, "api") for c in self._stored
        ]

    def _cgis(self, texts: Iterable[str], where: str) -> Target:
        cells = tuple(dict.fromkeys(parse_cgi(t) for t in texts))
        if not cells:
            raise AreaError(f"{where}: no cells")
        return Target(CellList(Discriminator.CGI, cells), GeoScope.CELL)

    def plmn(self) -> Target:
        return Target(CellList(Discriminator.ALL_IN_BSC), GeoScope.PLMN)

    def cells(self, cgis: Sequence[str]) -> Target:
        return self._cgis(cgis, "cells")

    def lacs(self, lacs: Sequence[int]) -> Target:
        if not lacs or any(not 0 <= lac <= 0xFFFF for lac in lacs):
            raise AreaError("lac: give LACs in 0..65535")
        cells = tuple(CellId(lac=lac) for lac in dict.fromkeys(lacs))
        return Target(CellList(Discriminator.LAC, cells), GeoScope.AREA)

    def lais(self, lais: Sequence[str]) -> Target:
        out = []
        for text in lais:
            try:
                mcc, mnc, lac = text.split("-")
                out.append(CellId(mcc, mnc, int(lac)))
            except ValueError:
                raise AreaError(f"lai {text!r}: not 'mcc-mnc-lac'") from None
        if not out:
            raise AreaError("lai: no location areas")
        return Target(CellList(Discriminator.LAI, tuple(out)), GeoScope.AREA)

    def named(self, names: Sequence[str]) -> Target:
        cgis: list[str] = []
        for name in names:
            if name not in self._named:
                raise AreaError(f"area {name!r}: not a configured area")
            cgis += self._named[name]
        return self._cgis(cgis, "area")

    def polygon(self, points: Sequence[tuple[float, float]]) -> Target:
        if len(points) < 3:
            raise AreaError("polygon: needs at least 3 points")
        hit = [c.cgi for c in self._cells if _inside(c.lat, c.lon, points)]
        if not hit:
            raise AreaError("polygon: covers no cell of the cell inventory")
        return self._cgis(hit, "polygon")

    def circle(self, lat: float, lon: float, radius_km: float) -> Target:
        if radius_km <= 0:
            raise AreaError("circle: radius must be positive")
        hit = [c.cgi for c in self._cells if _haversine_km(lat, lon, c.lat, c.lon) <= radius_km]
        if not hit:
            raise AreaError("circle: covers no cell of the cell inventory")
        return self._cgis(hit, "circle")

    def union(self, targets: Sequence[Target]) -> Target:
        """Several CAP areas: their CGIs merged (PLMN-wide wins)."""
        if any(t.cells.discriminator is Discriminator.ALL_IN_BSC for t in targets):
            return self.plmn()
        if len({t.cells.discriminator for t in targets}) != 1:
            raise AreaError("area: cannot mix cells with LAC/LAI areas in one alert")
        cells = tuple(dict.fromkeys(c for t in targets for c in t.cells.cells))
        return Target(CellList(targets[0].cells.discriminator, cells), targets[0].scope)
