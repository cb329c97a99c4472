"""One store writer at a time, with the authority's requests first.

SQLite has a single writer. The delivery engine's group commits are background
work; an alert submission, update or cancel is someone waiting for an answer.
Background writers step aside while any foreground writer is queued, so an
authority's request waits for at most the one commit already in progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriteGate:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @asynccontextmanager
    async def foreground(self) -> AsyncIterator[None]:
        self._waiting += 1
        self._clear.clear()
        try:
            async with self._lock:
                yield
        finally:
            self._waiting -= 1
            if not self._waiting:
                self._clear.set()

    @asynccontextmanager
    async def background(self) -> AsyncIterator[None]:
        while True:
            await self._clear.wait()
            await self._lock.acquire()
            if not self._waiting:
                break
            self._lock.release()  # a foreground writer queued while we waited for the lock
        try:
            yield
        finally:
            self._lock.release()
