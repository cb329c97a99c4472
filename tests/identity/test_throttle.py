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


def test_many_emails_from_one_address_are_throttled_too() -> None:
    throttle = LoginThrottle(max_failures=2, window=10.0, clock=lambda: 0.0)
    for n in range(8):  # one failure each for eight emails: 4 x max_failures by default
        assert throttle.retry_after("10.0.0.1", f"user{n}@x.org") == 0.0
        throttle.failed("10.0.0.1", f"user{n}@x.org")
    assert throttle.retry_after("10.0.0.1", "someone.else@x.org") == 10.0
    assert throttle.retry_after("10.0.0.2", "someone.else@x.org") == 0.0  # others are not
