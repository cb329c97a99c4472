"""eager.start: the first step runs now; a task carries on only a coroutine that waits."""

from __future__ import annotations

import asyncio

import pytest

from omnigw import eager


async def test_a_coroutine_that_never_waits_is_done_without_a_task() -> None:
    seen: list[str] = []

    async def quick() -> None:
        seen.append("ran")

    assert eager.start(quick()) is None
    assert seen == ["ran"]


async def test_a_waiting_coroutine_gets_the_result_and_the_exception_of_its_future() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    seen: list[object] = []

    async def slow() -> None:
        seen.append(await first)
        try:
            await second
        except KeyError as exc:
            seen.append(exc)
        await asyncio.sleep(0)  # a bare yield is carried on too
        seen.append("end")

    task = eager.start(slow())
    assert task is not None and seen == []
    first.set_result(1)
    for _ in range(3):  # the task's first step, then its wake-up
        await asyncio.sleep(0)
    assert seen == [1]
    second.set_exception(KeyError("k"))
    await task
    assert seen[0] == 1 and isinstance(seen[1], KeyError) and seen[2] == "end"


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    gate = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def waits() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = eager.start(waits())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]


async def test_an_exception_of_the_first_step_reaches_the_caller() -> None:
    async def broken() -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        eager.start(broken())


async def test_several_coroutines_may_wait_for_one_future() -> None:
    """A group commit resolves one future for many requests started eagerly."""
    shared = asyncio.get_running_loop().create_future()
    seen: list[int] = []

    async def waiter(n: int) -> None:
        await shared
        seen.append(n)

    tasks = [eager.start(waiter(n)) for n in range(3)]  # all start before any task runs
    shared.set_result(None)
    await asyncio.gather(*(t for t in tasks if t is not None))
    assert seen == [0, 1, 2]
