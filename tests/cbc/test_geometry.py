"""Cells in polygons and circles: the edge-by-edge resolver against the plain ray cast,
its bound on work, and the event loop left free while a big job runs."""

from __future__ import annotations

import asyncio
import math
import random
from array import array
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnigw.cbc.geometry import (
    MAX_STEPS,
    Geometry,
    GeometryError,
    Inventory,
    circle_hits,
    polygon_hits,
)


def inside_by_ray_cast(lat: float, lon: float, polygon: Sequence[tuple[float, float]]) -> bool:
    """The reference: one ray per point, every edge (what omnigw did before)."""
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


coordinate = st.integers(min_value=0, max_value=40).map(lambda n: n / 4)  # ties on purpose
points = st.lists(st.tuples(coordinate, coordinate), min_size=1, max_size=60)
polygons = st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12)


@settings(max_examples=300, deadline=None)
@given(points, polygons)
def test_polygon_hits_agree_with_the_ray_cast(
    cells: list[tuple[float, float]], polygon: list[tuple[float, float]]
) -> None:
    lats, lons = array("d", (c[0] for c in cells)), array("d", (c[1] for c in cells))
    expected = [i for i, (lat, lon) in enumerate(cells) if inside_by_ray_cast(lat, lon, polygon)]
    assert sorted(polygon_hits(lats, lons, polygon)) == expected


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def _inventory(count: int, seed: int = 7) -> Inventory[str]:
    rng = random.Random(seed)
    return Inventory.of(
        [(f"901-70-{i // 60000}-{i % 60000}", rng.uniform(40, 44), rng.uniform(0, 4))
         for i in range(count)]
    )  # fmt: skip


async def test_a_circle_selects_by_great_circle_distance_inline_and_in_the_helper() -> None:
    geometry = Geometry()
    try:
        for count in (500, 20_000):  # below and above the inline limit (2,000 candidates)
            inventory = _inventory(count)
            got = await geometry.circle(inventory, 42.0, 2.0, 60.0)
            cells = zip(inventory.cells, inventory.lats, inventory.lons, strict=True)
            expected = [n for n, lat, lon in cells if _km(42.0, 2.0, lat, lon) <= 60.0]
            assert sorted(got) == sorted(expected) and expected
    finally:
        geometry.close()


def test_circle_hits_at_the_edge() -> None:
    lats, lons = array("d", [0.0, 0.0]), array("d", [0.0, 1.0])
    assert list(circle_hits(lats, lons, 0.0, 0.0, 111.2)) == [0, 1]
    assert list(circle_hits(lats, lons, 0.0, 0.0, 111.0)) == [0]


def _zigzag(count: int) -> list[tuple[float, float]]:
    """An adversarial polygon: every edge spans the whole width of the inventory."""
    ring = [(40.0 + 4.0 * i / count, 0.0 if i % 2 else 4.0) for i in range(count)]
    return [*ring, (44.0, -1.0), (40.0, -1.0)]


def test_a_polygon_over_the_work_bound_is_refused_with_the_reason() -> None:
    inventory = _inventory(200_000)
    with pytest.raises(GeometryError, match=f"at most {MAX_STEPS}"):
        polygon_hits(inventory.lats, inventory.lons, _zigzag(5000))


async def test_the_loop_keeps_turning_while_a_big_polygon_is_resolved() -> None:
    """The largest job the bounds allow runs in the helper: the loop is not held."""
    inventory = _inventory(200_000)
    polygon = [(42 + 1.9 * math.sin(2 * math.pi * k / 5000),
                2 + 1.9 * math.cos(2 * math.pi * k / 5000)) for k in range(5000)]  # fmt: skip
    geometry = Geometry()
    ticks = 0
    longest = 0.0

    async def ticker() -> None:
        nonlocal ticks, longest
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            longest = max(longest, loop.time() - before)
            ticks += 1

    task = asyncio.get_running_loop().create_task(ticker())
    try:
        started = asyncio.get_running_loop().time()
        hits = await geometry.polygon(inventory, polygon)
        took = asyncio.get_running_loop().time() - started
    finally:
        task.cancel()
        geometry.close()
    assert len(hits) > 100_000
    # The loop ran all along: its longest pause is a small part of the job, not all of it.
    assert ticks > 5
    assert longest < took / 2


def test_a_shape_over_gsm_and_lte_cells_targets_each_radio_on_its_peers() -> None:
    from omnigw.cbc.areas import cells_target, parse_cell
    from omnigw.cbc.cells import CARRIED, AreaKind

    target = cells_target([parse_cell("901-70-1-1"), parse_cell("901-70-4097")])
    assert target.kind is AreaKind.CELLS
    bsc = {k: frozenset[str]() for k in CARRIED["cbsp"]}
    mme = {k: frozenset[str]() for k in CARRIED["sbcap"]}
    assert [(t.kind, t.cells) for t in (target.for_peer(bsc), target.for_peer(mme)) if t] == [
        (AreaKind.CGI, (parse_cell("901-70-1-1"),)),
        (AreaKind.ECGI, (parse_cell("901-70-4097"),)),
    ]
    only_lte = cells_target([parse_cell("901-70-4097")])
    assert only_lte.kind is AreaKind.ECGI and only_lte.for_peer(bsc) is None
