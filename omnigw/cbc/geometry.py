"""Which cells of the inventory a polygon or a circle covers, without holding the event loop.

The inventory may hold 200,000 cells and a polygon 5,000 points: testing every cell against
every edge is 10^9 steps, and on the event loop it stalled Gy answers for seconds. Three
things keep it bounded:

- Cells are kept sorted by latitude, so a shape's bounding box selects its candidates
  with two bisections and an array slice (no Python loop over the inventory).
- A polygon is resolved edge by edge: an edge toggles the inside-parity of the candidate
  cells that lie below it within its longitude span (found by bisection in the candidates
  sorted by longitude). The cost is the sum of those spans, a few times the candidate
  count for any real area; it is computed first, and a shape over `MAX_STEPS` is refused.
- Unless even its worst case is small (`INLINE_STEPS`), the work runs in a helper process,
  so the loop only slices arrays and waits.

Latitude and longitude are treated as a plane, as everywhere in omnigw: good enough for
alert-sized areas, not across the antimeridian.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import multiprocessing
from array import array
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Generic, TypeVar

from omnigw.errors import Unavailable

Cell = TypeVar("Cell")  # whatever names a cell for the caller
EARTH_KM = 6371.0
KM_PER_DEGREE = math.pi * EARTH_KM / 180
# On the loop only when even the worst case stays small: candidates x polygon edges (every
# edge spanning every candidate) at most this many steps, a few milliseconds.
INLINE_STEPS = 50_000
MAX_STEPS = 20_000_000  # parity toggles for one polygon (a few seconds in the helper)


class GeometryError(ValueError):
    """The shape cannot be resolved; the message says why."""


@dataclass(frozen=True, slots=True)
class Inventory(Generic[Cell]):
    """Cell positions sorted by latitude, as parallel arrays (cheap to slice and to ship),
    and the cells themselves in the same order."""

    lats: array[float]
    lons: array[float]
    cells: tuple[Cell, ...]

    @classmethod
    def of(cls, cells: Sequence[tuple[Cell, float, float]]) -> Inventory[Cell]:
        ordered = sorted(cells, key=lambda c: c[1])
        return cls(array("d", (c[1] for c in ordered)), array("d", (c[2] for c in ordered)),
                   tuple(c[0] for c in ordered))  # fmt: skip

    def band(self, south: float, north: float) -> tuple[int, int]:
        """The index range of the cells with south <= latitude <= north."""
        return bisect.bisect_left(self.lats, south), bisect.bisect_right(self.lats, north)


def polygon_hits(
    lats: array[float], lons: array[float], polygon: Sequence[tuple[float, float]]
) -> array[int]:
    """Indices of the points strictly inside `polygon` (even-odd rule), edge by edge."""
    order = sorted(range(len(lons)), key=lons.__getitem__)
    by_lon = [lons[i] for i in order]
    edges = []
    steps = 0
    count = len(polygon)
    for k in range(count):
        lat1, lon1 = polygon[k]
        lat2, lon2 = polygon[k - 1]
        if lon1 == lon2:
            continue  # a vertical edge is never crossed by the upward ray
        # Half-open span [min, max): a ray through a vertex is counted once.
        low, high = (lon1, lon2) if lon1 < lon2 else (lon2, lon1)
        first, last = bisect.bisect_left(by_lon, low), bisect.bisect_left(by_lon, high)
        steps += last - first
        edges.append((first, last, lat1, lon1, lat2 - lat1, lon2 - lon1))
    if steps > MAX_STEPS:
        raise GeometryError(
            f"{count} points over {len(lons)} cells is more than omnigw resolves "
            f"({steps} steps, at most {MAX_STEPS}): simplify the polygon"
        )
    inside = bytearray(len(lons))
    for first, last, lat1, lon1, dlat, dlon in edges:
        for position in range(first, last):
            i = order[position]
            # The crossing computed in the plain ray cast's own order, so a cell on the
            # boundary falls on the same side as it always did.
            if lats[i] < dlat * (by_lon[position] - lon1) / dlon + lat1:
                inside[i] ^= 1
    return array("I", (i for i, flag in enumerate(inside) if flag))


def circle_hits(
    lats: array[float], lons: array[float], lat: float, lon: float, radius_km: float
) -> array[int]:
    """Indices of the points within `radius_km` of (lat, lon), great-circle distance."""
    p1 = math.radians(lat)
    cos1 = math.cos(p1)
    hits = array("I")
    for i in range(len(lats)):
        p2 = math.radians(lats[i])
        dp, dl = p2 - p1, math.radians(lons[i] - lon)
        a = math.sin(dp / 2) ** 2 + cos1 * math.cos(p2) * math.sin(dl / 2) ** 2
        if 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a))) <= radius_km:
            hits.append(i)
    return hits


class Geometry:
    """Resolves shapes against an inventory; big jobs go to a helper process."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def polygon(
        self, inventory: Inventory[Cell], polygon: Sequence[tuple[float, float]]
    ) -> list[Cell]:
        south, north = min(p[0] for p in polygon), max(p[0] for p in polygon)
        first, last = inventory.band(south, north)
        lats, lons = inventory.lats[first:last], inventory.lons[first:last]
        if (last - first) * len(polygon) <= INLINE_STEPS:
            hits = polygon_hits(lats, lons, polygon)
        else:
            hits = await self._run(polygon_hits, lats, lons, tuple(polygon))
        return [inventory.cells[first + i] for i in hits]

    async def circle(
        self, inventory: Inventory[Cell], lat: float, lon: float, radius_km: float
    ) -> list[Cell]:
        reach = radius_km / KM_PER_DEGREE
        first, last = inventory.band(lat - reach, lat + reach)
        lats, lons = inventory.lats[first:last], inventory.lons[first:last]
        if last - first <= INLINE_STEPS // 25:  # a distance costs some 25 toggles
            hits = circle_hits(lats, lons, lat, lon, radius_km)
        else:
            hits = await self._run(circle_hits, lats, lons, lat, lon, radius_km)
        return [inventory.cells[first + i] for i in hits]

    async def _run(self, function: object, *args: object) -> array[int]:
        if self._pool is None:
            # spawn, not fork: the daemon has threads, and a forked copy of them is unsafe
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        try:
            result: array[int] = await loop.run_in_executor(
                self._pool,
                function,  # type: ignore[arg-type]
                *args,
            )
        except BrokenProcessPool:
            self._pool = None  # a new helper next time
            raise Unavailable("the geometry helper process ended; try again") from None
        return result
