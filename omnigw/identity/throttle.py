"""Failed-login throttling, a sliding window in memory: per (client address, email), and per
client address whatever the email (a spray of emails from one address is throttled too)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

ANY_EMAIL = ""  # the key of a client's failures whatever the email (no email is empty)


class LoginThrottle:
    # Past this many tracked keys, expired ones are swept so a spray of emails
    # cannot grow the table without bound.
    SWEEP_AT = 10_000

    def __init__(
        self,
        max_failures: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        max_client_failures: int | None = None,
    ) -> None:
        self.max_failures = max_failures
        # Whatever the emails: enough for a few people behind one address to mistype.
        self.max_client_failures = max_client_failures or 4 * max_failures
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
        wait = 0.0
        for key, limit in (((client, email.lower()), self.max_failures),
                           ((client, ANY_EMAIL), self.max_client_failures)):  # fmt: skip
            stamps = self._recent(key)
            if len(stamps) >= limit:
                wait = max(wait, stamps[-limit] + self.window - self._clock())
        return max(0.0, wait)

    def failed(self, client: str, email: str) -> None:
        if len(self._failures) >= self.SWEEP_AT:
            for stale in list(self._failures):
                self._recent(stale)
        for key in ((client, email.lower()), (client, ANY_EMAIL)):
            self._recent(key)
            self._failures.setdefault(key, deque()).append(self._clock())

    def succeeded(self, client: str, email: str) -> None:
        self._failures.pop((client, email.lower()), None)
