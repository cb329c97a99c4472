"""Where an alert goes: PLMN, cells, LACs, LAIs, named areas, polygons and circles.

Geometric and named targets resolve to cells through the configured cell
inventory (`geometry`, off the event loop when the job is big); the result is a
protocol-neutral target, which each peer's adapter turns into its own list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from omnigw.cbc.cells import AreaKind, CellId
from omnigw.cbc.geometry import Geometry, GeometryError, Inventory
from omnigw.cbc.messages import GeoScope
from omnigw.config import CbcConfig


class AreaError(ValueError):
    """The target cannot be resolved; the message names the field."""


# How the store keeps a target's kind: the numbers of CBSP's discriminators, which it held
# before targets were neutral (TS 48.049 8.2.6), so stored alerts read back unchanged.
# LTE's kinds, which CBSP has not, take numbers CBSP does not use.
_STORED = {AreaKind.CGI: 0, AreaKind.LAI: 4, AreaKind.LAC: 5, AreaKind.ALL: 6,
           AreaKind.ECGI: 16, AreaKind.TAI: 17, AreaKind.EAI: 18, AreaKind.CELLS: 19}  # fmt: skip
_KIND_OF = {code: kind for kind, code in _STORED.items()}


_CELL_KINDS = frozenset({AreaKind.CGI, AreaKind.ECGI, AreaKind.CELLS})


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved target: what kind of list, its cells or areas (none for ALL), and the
    serial number's geographical scope."""

    kind: AreaKind
    cells: tuple[CellId, ...]
    scope: GeoScope

    def to_json(self) -> dict[str, Any]:
        return {
            "discriminator": _STORED[self.kind],
            "scope": int(self.scope),
            "cells": [[c.mcc, c.mnc, c.lac, c.ci] for c in self.cells],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        cells = tuple(CellId(*c) for c in data["cells"])
        return cls(_KIND_OF[data["discriminator"]], cells, GeoScope(data["scope"]))

    def for_peer(self, served: Mapping[AreaKind, AbstractSet[str]]) -> Target | None:
        """The part of the target a peer serves (None: nothing for it). `served`: for each
        kind the peer's interface carries, the cells or areas it serves (empty: all)."""
        if self.kind is AreaKind.ALL:
            return self
        if self.kind is AreaKind.CELLS:  # the peer's radio's part of GSM and LTE cells
            gsm = AreaKind.CGI in served
            radio = AreaKind.CGI if gsm else AreaKind.ECGI
            cells = tuple(c for c in self.cells if (c.lac is not None) == gsm)
            return Target(radio, cells, self.scope).for_peer(served) if cells else None
        mine = served.get(self.kind)
        if mine is None:
            return None  # not a kind of list this peer's interface carries
        if not mine:
            return self
        cells = tuple(c for c in self.cells if cell_key(c) in mine)
        return Target(self.kind, cells, self.scope) if cells else None


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


def _plmn_and(text: str, what: str, form: str, bits: int) -> CellId:
    """'mcc-mnc-n' with n below 2**bits, as CellId(mcc, mnc, ...) by the caller's kind."""
    try:
        mcc, mnc, number = text.split("-")
        if not (len(mcc) == 3 and mcc.isdigit() and len(mnc) in (2, 3) and mnc.isdigit()):
            raise ValueError
        value = int(number)
    except ValueError:
        raise AreaError(f"{what} {text!r}: not {form}") from None
    if not 0 <= value < 1 << bits:
        raise AreaError(f"{what} {text!r}: the last part is 0..{(1 << bits) - 1}")
    return CellId(mcc, mnc, value, None)


def parse_ecgi(text: str) -> CellId:
    cell = _plmn_and(text, "ecgi", "'mcc-mnc-eci'", 28)
    return CellId(cell.mcc, cell.mnc, None, cell.lac)


def parse_cell(text: str) -> CellId:
    """A cell of the inventory or of a named area: a CGI (four parts) or an ECGI (three)."""
    return parse_cgi(text) if text.count("-") == 3 else parse_ecgi(text)


def cells_target(cells: Iterable[CellId]) -> Target:
    """Cells as a target: of one radio, or both (see AreaKind.CELLS)."""
    unique = tuple(dict.fromkeys(cells))
    radios = {c.lac is not None for c in unique}
    kind = AreaKind.CELLS if len(radios) > 1 else AreaKind.CGI if True in radios else AreaKind.ECGI
    return Target(kind, unique, GeoScope.CELL)


def parse_tai(text: str) -> CellId:
    return _plmn_and(text, "tai", "'mcc-mnc-tac'", 16)


def cell_key(cell: CellId) -> str:
    """A stable text key for a cell or area as a peer reports it."""
    parts = [cell.mcc, cell.mnc, cell.lac, cell.ci]
    return "-".join(str(p) for p in parts if p is not None) or "all"


@dataclass(frozen=True, slots=True)
class CellPosition:
    """Where a cell is, for polygons and circles (azimuth kept for the operator's records)."""

    cell: str  # CGI or ECGI
    lat: float
    lon: float
    azimuth: float | None = None


class Areas:
    """Resolves targets against the cell inventory (config plus API) and named areas."""

    def __init__(self, cfg: CbcConfig, geometry: Geometry | None = None) -> None:
        self._configured = [CellPosition(c.cell, c.lat, c.lon, c.azimuth) for c in cfg.cells]
        self._stored: list[CellPosition] = []
        self._named = cfg.areas
        self._geometry = geometry or Geometry()
        self._positions: Inventory[CellId] | None = None  # built when needed after a change

    def set_stored(self, cells: Sequence[CellPosition]) -> None:
        """The cells managed through the API; they win over config entries with the same CGI."""
        self._stored = list(cells)
        self._positions = None

    def close(self) -> None:
        self._geometry.close()

    async def prepare(self) -> None:
        """Build the positions now (at start, before the daemon freezes what it built out
        of the collector's passes: 200,000 cells are a lot of objects to scan)."""
        await self._inventory()

    async def _inventory(self) -> Inventory[CellId]:
        """Built in a thread after each change: sorting and parsing 200,000 cells takes a
        good part of a second, which the event loop must not wait for."""
        if self._positions is None:
            cells = self._cells
            self._positions = await asyncio.to_thread(
                lambda: Inventory.of([(parse_cell(c.cell), c.lat, c.lon) for c in cells])
            )
        return self._positions

    @property
    def _cells(self) -> list[CellPosition]:
        stored = {c.cell for c in self._stored}
        return [c for c in self._configured if c.cell not in stored] + self._stored

    def inventory(self) -> list[tuple[CellPosition, str]]:
        """Every cell with where it comes from ("config" or "api")."""
        stored = {c.cell for c in self._stored}
        return [(c, "config") for c in self._configured if c.cell not in stored] + [
            (c, "api") for c in self._stored
        ]

    def _cgis(self, texts: Iterable[str], where: str) -> Target:
        cells = tuple(dict.fromkeys(parse_cgi(t) for t in texts))
        if not cells:
            raise AreaError(f"{where}: no cells")
        return Target(AreaKind.CGI, cells, GeoScope.CELL)

    def plmn(self) -> Target:
        return Target(AreaKind.ALL, (), GeoScope.PLMN)

    def cells(self, cgis: Sequence[str]) -> Target:
        return self._cgis(cgis, "cells")

    def lacs(self, lacs: Sequence[int]) -> Target:
        if not lacs or any(not 0 <= lac <= 0xFFFF for lac in lacs):
            raise AreaError("lac: give LACs in 0..65535")
        cells = tuple(CellId(lac=lac) for lac in dict.fromkeys(lacs))
        return Target(AreaKind.LAC, cells, GeoScope.AREA)

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
        return Target(AreaKind.LAI, tuple(out), GeoScope.AREA)

    def ecgis(self, ecgis: Sequence[str]) -> Target:
        cells = tuple(dict.fromkeys(parse_ecgi(t) for t in ecgis))
        if not cells:
            raise AreaError("ecgis: no cells")
        return Target(AreaKind.ECGI, cells, GeoScope.CELL)

    def tais(self, tais: Sequence[str]) -> Target:
        areas = tuple(dict.fromkeys(parse_tai(t) for t in tais))
        if not areas:
            raise AreaError("tais: no tracking areas")
        return Target(AreaKind.TAI, areas, GeoScope.AREA)

    def emergency_areas(self, ids: Sequence[int]) -> Target:
        if not ids or any(not 0 <= i <= 0xFFFFFF for i in ids):
            raise AreaError("emergency_areas: give emergency area ids in 0..16777215")
        return Target(AreaKind.EAI, tuple(CellId(ci=i) for i in dict.fromkeys(ids)), GeoScope.AREA)

    def named(self, names: Sequence[str]) -> Target:
        cells: list[str] = []
        for name in names:
            if name not in self._named:
                raise AreaError(f"area {name!r}: not a configured area")
            cells += self._named[name]
        if not cells:
            raise AreaError("area: no cells")
        return cells_target(parse_cell(c) for c in cells)

    async def polygon(self, points: Sequence[tuple[float, float]]) -> Target:
        if len(points) < 3:
            raise AreaError("polygon: needs at least 3 points")
        try:
            hit = await self._geometry.polygon(await self._inventory(), points)
        except GeometryError as exc:
            raise AreaError(f"polygon: {exc}") from None
        if not hit:
            raise AreaError("polygon: covers no cell of the cell inventory")
        return cells_target(hit)

    async def circle(self, lat: float, lon: float, radius_km: float) -> Target:
        if radius_km <= 0:
            raise AreaError("circle: radius must be positive")
        hit = await self._geometry.circle(await self._inventory(), lat, lon, radius_km)
        if not hit:
            raise AreaError("circle: covers no cell of the cell inventory")
        return cells_target(hit)

    def union(self, targets: Sequence[Target]) -> Target:
        """Several CAP areas: their cells merged (PLMN-wide wins)."""
        if any(t.kind is AreaKind.ALL for t in targets):
            return self.plmn()
        if all(t.kind in _CELL_KINDS for t in targets):
            return cells_target(c for t in targets for c in t.cells)
        if len({t.kind for t in targets}) != 1:
            raise AreaError("area: cannot mix kinds of cells or areas in one alert")
        cells = tuple(dict.fromkeys(c for t in targets for c in t.cells))
        return Target(targets[0].kind, cells, targets[0].scope)
