"""What the charging edge asks of an online charging system, whatever the backend.

One charge is one rating group of one Gy session (or one CAMEL call leg): it is
initiated with a reservation, updated with what was used and what is wanted
next, and terminated with the last usage. Amounts are whole seconds, octets or
service units, as Gy counts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Protocol

from omnigw.config import Quota


class Outcome(Enum):
    """Why a charge was not granted, in charging terms: each client protocol says it in
    its own (Gy as result codes, CAMEL as release causes)."""

    NO_CREDIT = "no_credit"
    UNKNOWN_ACCOUNT = "unknown_account"
    ACCOUNT_DISABLED = "account_disabled"
    RATING_FAILED = "rating_failed"  # the OCS cannot price it (no tariff, no destination)
    UNKNOWN_CHARGE = "unknown_charge"  # the OCS holds no such charge
    FAILED = "failed"  # the OCS (or omnigw) could not do what was asked
    UNAVAILABLE = "unavailable"  # the OCS could not be asked
    BUSY = "busy"  # could not be asked, and the client had better try another gateway


class Unit(Enum):
    """The kind of quota; its value is the CGRateS ToR it is rated as."""

    SECONDS = "*voice"
    OCTETS = "*data"
    UNITS = "*sms"

    # Members are singletons compared by identity: hash them the same way, in C. Enum's
    # own hash runs Python code, and balances are keyed by unit on every CCR.
    __hash__ = object.__hash__


# Units by the names the config (Quota), the store and the API use
UNIT_NAMES = {Unit.SECONDS: "seconds", Unit.OCTETS: "octets", Unit.UNITS: "units"}
UNITS_BY_NAME = {name: unit for unit, name in UNIT_NAMES.items()}


def quota_of(quota: Quota, unit: Unit) -> int:
    amount: int = getattr(quota, UNIT_NAMES[unit])
    return amount


@dataclass(frozen=True, slots=True)
class Charge:
    key: str  # this charge's own id: "<Session-Id>_rg<N>"
    session_id: str  # the Gy Session-Id (CGRateS InitialOriginID)
    request_id: str  # unique per request and charge, stable across retransmissions
    account: str
    unit: Unit
    requested: int | None  # None: the OCS chooses the quota
    used: int  # consumed since the last report
    at: datetime
    rating_group: int | None = None
    service_id: int | None = None
    service_context: str = ""  # Gy Service-Context-Id: which service is charged
    # The party the charge is priced against: the called party of a call or the recipient
    # of an SMS the client named, None when it named none.
    other_party: str | None = None
    # When the call was answered, if it was set up before (CAMEL reserves at InitialDP):
    # the usage record's answer time. None: the charge began with its service (Gy).
    answered: datetime | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    amount: int
    final: bool = False  # the balance is exhausted: this is the last quota


class OcsError(Exception):
    """The OCS refused, for `outcome`."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class OcsUnavailable(OcsError):
    """The OCS could not be asked (down, timed out, refusing connections).

    `sent`: the request may have reached the OCS (a timeout, a connection lost while
    waiting), so whatever it opens may be open there; False when it cannot have left.
    """

    def __init__(self, reason: str, sent: bool = True) -> None:
        super().__init__(Outcome.UNAVAILABLE, reason)
        self.sent = sent


class Ocs(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def admit(self, account: str) -> None:
        """A session that asks for nothing yet: refuse an account that does not exist or is
        disabled (OcsError), as its first charge would be refused."""
        ...

    async def initiate(self, charge: Charge) -> Grant: ...

    async def update(self, charge: Charge) -> Grant: ...

    async def terminate(self, charge: Charge) -> None: ...

    async def debit(self, charge: Charge) -> Grant:
        """A one-shot event (CCR-Event, direct debiting) of `requested` units."""
        ...
