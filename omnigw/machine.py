"""What every link state machine shares with its link: timers as named events and actions
(the link runs them with `timers.Timers`, so the machine never reads a clock), and closing
the connection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """Event: the timer of this name ran out."""

    name: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Action: start (or restart) the timer of this name."""

    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Close:
    """Action: close the connection, saying why."""

    reason: str
