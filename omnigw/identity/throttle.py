"""Failed-login throttling per (client address, email), a sliding window in memory."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    # Past this many tracked keys, expired ones are swept so a spray of emails
    # cannot grow the table without bound.
    SWEEP_AT = 10_000

    def __init__(
        self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        stamps = self._failures.get(key)
        if stamps is None:
            return deque()
        horizon = self._clock() - self.window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
        return stamps

    def retry_after(self, client: str, email: str) -> float:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        stamps = self._recent((client, email.lower()))
        if len(stamps) < self.max_failures:
            return 0.0
        return max(0.0, stamps[0] + self.window - self._clock())

    def failed(self, client: str, email: str) -> None:
        key = (client, email.lower())
        if len(self._failures) >= self.SWEEP_AT:
            for stale in list(self._failures):
                self._recent(stale)
        self._recent(key)
        self._failures.setdefault(key, deque()).append(self._clock())

    def succeeded(self, client: str, email: str) -> None:
        self._failures.pop((client, email.lower()), None)
