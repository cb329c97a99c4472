"""Named one-shot timers for a link: starting a name again replaces the running one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Timers:
    def __init__(self, fire: Callable[[str], None]) -> None:
        self._fire = fire  # called with the timer's name when it expires
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def start(self, name: str, seconds: float) -> None:
        self.cancel(name)
        self._handles[name] = asyncio.get_running_loop().call_later(seconds, self._expired, name)

    def cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _expired(self, name: str) -> None:
        self._handles.pop(name, None)
        self._fire(name)
