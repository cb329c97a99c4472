"""Client mode for any link: keep one connection open, retrying with capped backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("omnigw.reconnect")


class Reconnector:
    """`connect()` opens the connection and returns what completes when it closes; a failed
    attempt is retried after `initial` seconds, doubling up to `ceiling`."""

    def __init__(
        self,
        what: str,
        where: dict[str, Any],
        connect: Callable[[], Awaitable[Awaitable[object]]],
        initial: float = 1.0,
        ceiling: float = 30.0,
    ) -> None:
        self._what, self._where = what, where  # for the log: "CBSP connect", its address
        self._connect = connect
        self._initial, self._ceiling = initial, ceiling
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = self._initial
        while True:
            try:
                closed = await self._connect()
            except OSError as exc:
                log.info(
                    f"{self._what} failed; retrying",
                    extra={**self._where, "error": str(exc), "retry_in": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._ceiling)
                continue
            delay = self._initial
            await closed
            await asyncio.sleep(self._initial)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Reconnectors:
    """A service's client-mode connections: each started as it is added, all stopped
    together."""

    def __init__(self) -> None:
        self._all: list[Reconnector] = []

    def start(
        self,
        what: str,
        where: dict[str, Any],
        connect: Callable[[], Awaitable[Awaitable[object]]],
        ceiling: float,
    ) -> None:
        reconnector = Reconnector(what, where, connect, ceiling=ceiling)
        reconnector.start()
        self._all.append(reconnector)

    async def stop(self) -> None:
        for reconnector in self._all:
            await reconnector.stop()
