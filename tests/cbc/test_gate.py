"""The store write gate: an authority's write goes before queued background commits."""

from __future__ import annotations

import asyncio

from omnigw.cbc.gate import WriteGate


async def test_foreground_overtakes_queued_background_writers() -> None:
    gate = WriteGate()
    order: list[str] = []
    holder_in = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.background():
            holder_in.set()
            await release.wait()
            order.append("holder")

    async def background(name: str) -> None:
        async with gate.background():
            order.append(name)

    async def foreground() -> None:
        async with gate.foreground():
            order.append("foreground")

    holder = asyncio.create_task(hold())
    await holder_in.wait()
    queued = [asyncio.create_task(background(f"bg{i}")) for i in range(2)]
    await asyncio.sleep(0)
    urgent = asyncio.create_task(foreground())
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(holder, urgent, *queued)
    assert order == ["holder", "foreground", "bg0", "bg1"]


async def test_background_proceeds_when_nobody_waits() -> None:
    gate = WriteGate()
    async with gate.background():
        pass
    async with gate.foreground():
        pass
    async with gate.background():
        pass
