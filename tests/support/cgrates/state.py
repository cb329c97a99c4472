"""What the CGRateS stand-in keeps: accounts and balances, live and closed sessions, CDRs,
tariffs, and the settings of CGRateS's own that change what a client sees.

Line references are to CGRateS master at 19463bd unless they say v0.10 (8fae6d6).
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NANOS = 1_000_000_000
TORS = ("*voice", "*data", "*sms")

# sessions.default_usage (config/config_defaults.go 684-689): the Usage of an event without one
DEFAULT_USAGE = {"*voice": 3 * 3600 * NANOS, "*data": 1_048_576, "*sms": 1}


class CgrError(Exception):
    """An error CGRateS answers with; the message is its error string."""


def session_key(event: dict[str, Any]) -> str:
    """CGRateS's CGRID: sha1 of OriginID and OriginHost (sessions/sessions.go GetSetCGRID)."""
    origin = event["OriginID"] + event["OriginHost"]
    return hashlib.sha1(origin.encode()).hexdigest()  # noqa: S324  (an id, not security)


def round_up(amount: int, increment: int) -> int:
    """Rated usage is charged in whole rate increments (engine/rateinterval.go)."""
    return -(-amount // increment) * increment


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() for whole nanoseconds (how *voice CDRs show Usage)."""
    if ns == 0:
        return "0s"
    hours, rest = divmod(ns, 3600 * NANOS)
    minutes, rest = divmod(rest, 60 * NANOS)
    seconds = f"{rest / NANOS:.9f}".rstrip("0").rstrip(".")
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{text}{seconds}s"


@dataclass
class Session:
    """One session run (sessions/session.go SRun), as far as its balance effect goes."""

    account: str
    tor: str
    event: dict[str, Any]  # the event that started it (Session.EventStart)
    increment: int = 1
    reserved: int = 0  # debited in advance for the current reservation
    charged: int = 0  # usage so far (SRun.TotalUsage)
    answer_time: str = ""  # the start's, replaced by TerminateSession's (sessions.go 1840-1842)
    closed_at: float = 0.0  # when it was closed (the *closed_sessions cache)


@dataclass(frozen=True)
class Tariff:
    """A rating profile (Tenant:Category:Subject) and its plan's destination rates, reduced to
    what changes a charge here: which destinations it rates and the increment of each."""

    category: str
    rates: dict[str, int]  # destination id ("*any" for all) -> rate increment
    subject: str = "*any"


@dataclass(frozen=True)
class ExtraBalance:
    """A balance GetAccount shows but no charge may touch: expired or disabled
    (engine/balances.go 130-140)."""

    tor: str
    value: int
    expires: str = "0001-01-01T00:00:00Z"  # Go's zero time: never
    disabled: bool = False


def _any_tariffs() -> list[Tariff]:
    return [Tariff(category, {"*any": 1}) for category in ("call", "data", "sms", "generic")]


@dataclass
class State:
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)  # active balances
    extra_balances: dict[str, list[ExtraBalance]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    allow_negative: set[str] = field(default_factory=set)
    sessions: dict[str, Session] = field(default_factory=dict)  # live, by session key
    cdrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # ExternalCDRs by event ID
    # Just closed, by session key: the *closed_sessions cache, 10 s by default
    # (config/config_defaults.go 347).
    closed: dict[str, Session] = field(default_factory=dict)
    closed_ttl: float = 10.0
    # sessions.store_session_costs (config_defaults.go 683, default false): each closed
    # session's cost is stored (sessions.go 1822-1828), by session key: (usage, debited).
    store_session_costs: bool = False
    session_costs: dict[str, tuple[int, int]] = field(default_factory=dict)
    # caches.partitions.*rpc_responses.limit: 0, the default, is no response cache at all
    # (config/config_defaults.go 346): a request sent twice is processed twice.
    rpc_responses_limit: int = 0
    # ChargerS: each charger profile gives the event a run, and each run its own CDR
    # (engine/chargers.go); one default charger unless a test configures more.
    charger_runs: tuple[str, ...] = ("*default",)
    # Tariff plan: rating profiles and destinations (destination id -> prefixes). The
    # default rates every category the stand-in's users send to any destination, by 1.
    tariffs: list[Tariff] = field(default_factory=_any_tariffs)
    destinations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clock: Callable[[], float] = time.monotonic
    calls: Counter[str] = field(default_factory=Counter)
    cache: dict[tuple[str, str], tuple[Any, str | None]] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=Counter)  # account -> debited, lost in crashes
    actions: dict[str, dict[str, int]] = field(default_factory=dict)  # ActionsId -> ToR: units
    record: bool = False  # keep every request in `requests` (the wire contract test does)
    requests: list[tuple[str, Any]] = field(default_factory=list)  # (method, params)

    def balance(self, account: str, tor: str) -> int:
        return self.accounts[account].get(tor, 0)
