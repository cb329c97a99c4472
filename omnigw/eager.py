"""Run a coroutine's first step at once; give it a task only if it has to wait.

A Gy answer from the embedded backend never waits for anything, yet a task per
request (create, schedule, run on the next loop iteration, done callbacks) was
a tenth of the CPU a CCR cost. Python 3.12's eager task factory does the same
for every task; omnigw supports 3.11, and only the request hot path needs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


class _Rest:
    """The rest of a coroutine that suspended on `waiting`, as an awaitable for a task.

    The task gets the very object the coroutine yielded (a future, or None for a bare
    yield), so it waits for it exactly as it would have; cancellation is passed on.
    """

    def __init__(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self._waiting
        if _is_future(waiting):
            waiting._asyncio_future_blocking = True  # handed over now (see start)
        while True:
            try:
                yield waiting
            except BaseException as exc:  # the task is cancelled: the coroutine decides
                try:
                    waiting = self._coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waiting = self._coro.send(None)
            except StopIteration:
                return


async def _finish(rest: _Rest) -> None:
    await rest


def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` until it first waits; None if it finished, else the task carrying it on.

    Exceptions of the first step propagate to the caller, as they would from a call.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    # An awaited future raises a flag that the task receiving it lowers; a second await of
    # the same future while the flag is up fails. We received it, so we lower the flag (the
    # next eagerly started request may await the same future, a group commit's), and _Rest
    # raises it again when it hands the future to the task.
    if _is_future(waiting):
        waiting._asyncio_future_blocking = False
    return asyncio.get_running_loop().create_task(_finish(_Rest(coro, waiting)))


def _is_future(waiting: Any) -> bool:
    return getattr(waiting, "_asyncio_future_blocking", None) is not None
