"""The sliding window forgets failures once they are older than the window."""

from __future__ import annotations

from omnigw.identity.throttle import LoginThrottle


def test_window_slides() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=2, window=10.0, clock=lambda: now[0])
    throttle.failed("ip", "A@x")
    now[0] = 4.0
    throttle.failed("ip", "a@x")
    assert throttle.retry_after("ip", "a@x") == 6.0
    now[0] = 10.5
    assert throttle.retry_after("ip", "a@x") == 0.0  # the first failure aged out
    throttle.failed("ip", "a@x")
    assert throttle.retry_after("ip", "a@x") == 3.5


def test_success_clears() -> None:
    throttle = LoginThrottle(max_failures=1, window=10.0, clock=lambda: 0.0)
    throttle.failed("ip", "a@x")
    assert throttle.retry_after("ip", "a@x") > 0
    throttle.succeeded("ip", "a@x")
    assert throttle.retry_after("ip", "a@x") == 0.0
