"""Diameter peer state machine (RFC 6733 5.6, watchdog per RFC 3539), responder side.

Events in, actions out; time and jitter are injected. The peer connects to us,
must open with a CER from an allowed Origin-Host/Origin-Realm naming a common
application, is watched with DWR/DWA, and leaves with DPR/DPA in either
direction. Application messages are handed up only while the peer is open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv4Address, IPv6Address

from omnigw.diameter.codec import FLAG_REQUEST, Avp, DecodeError, Message
from omnigw.machine import Close, StartTimer, TimerExpired

# Commands (RFC 6733 3.1)
CER, DWR, DPR = 257, 280, 282
# AVP codes
RESULT_CODE, ORIGIN_HOST, ORIGIN_REALM = 268, 264, 296
HOST_IP_ADDRESS, VENDOR_ID, PRODUCT_NAME = 257, 266, 269
AUTH_APPLICATION_ID, ACCT_APPLICATION_ID = 258, 259
VENDOR_SPECIFIC_APPLICATION_ID, ORIGIN_STATE_ID = 260, 278
DISCONNECT_CAUSE, ERROR_MESSAGE, FAILED_AVP = 273, 281, 279
FIRMWARE_REVISION = 267
RELAY_APPLICATION = 0xFFFFFFFF
# Result codes
SUCCESS = 2001
UNKNOWN_PEER = 3010
NO_COMMON_APPLICATION = 5010
# Disconnect-Cause
REBOOTING = 0

WATCHDOG = "watchdog"
CER_WAIT = "cer"
DPA_WAIT = "dpa"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who we are in CEA, DWR, DPR."""

    host: str
    realm: str
    addresses: tuple[IPv4Address | IPv6Address, ...]
    state_id: int
    vendor_id: int = 0
    product: str = "omnigw"
    applications: tuple[int, ...] = (4,)  # Diameter Credit-Control


@dataclass(frozen=True, slots=True)
class Policy:
    """Which peers may open a connection, and the timers."""

    allowed_hosts: frozenset[str]
    allowed_realms: frozenset[str]
    watchdog_seconds: float = 30.0  # Tw (RFC 3539: at least 6 s)
    cer_timeout: float = 10.0
    dpa_timeout: float = 5.0


# --- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    message: Message


@dataclass(frozen=True, slots=True)
class Malformed:
    error: DecodeError
    request: Message | None  # the header, when it could be read, to answer


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class Shutdown:
    """We are stopping: send DPR, accept no new requests."""


Event = Connected | Received | Malformed | TimerExpired | Shutdown


# --- actions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    message: Message


@dataclass(frozen=True, slots=True)
class Opened:
    host: str
    realm: str


@dataclass(frozen=True, slots=True)
class Deliver:
    message: Message


@dataclass(frozen=True, slots=True)
class Rejected:
    """A peer refused at CER (for logs and metrics)."""

    host: str
    result_code: int


Action = Send | StartTimer | Close | Opened | Deliver | Rejected


class State(Enum):
    WAIT_CER = "wait_cer"
    OPEN = "open"
    SUSPECT = "suspect"  # a DWA is overdue (RFC 3539)
    CLOSING = "closing"  # our DPR is out
    CLOSED = "closed"


@dataclass
class PeerFsm:
    identity: Identity
    policy: Policy
    jitter: Callable[[], float]  # returns seconds in [-2, 2] (RFC 3539 3.4.1)
    state: State = State.WAIT_CER
    host: str = ""
    realm: str = ""
    _next_hop: int = field(default=1)
    _dwa_pending: bool = False
    _traffic: bool = False  # something arrived since the watchdog last fired

    def _ids(self) -> tuple[int, int]:
        self._next_hop = (self._next_hop + 1) & 0xFFFFFFFF
        return self._next_hop, (self.identity.state_id << 20 | self._next_hop) & 0xFFFFFFFF

    def _origin(self) -> list[Avp]:
        return [
            Avp.of_text(ORIGIN_HOST, self.identity.host),
            Avp.of_text(ORIGIN_REALM, self.identity.realm),
        ]

    def _tw(self) -> StartTimer:
        return StartTimer(WATCHDOG, max(6.0, self.policy.watchdog_seconds + self.jitter()))

    def handle(self, event: Event) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        if isinstance(event, Connected):
            return [StartTimer(CER_WAIT, self.policy.cer_timeout)]
        if isinstance(event, Shutdown):
            return self._shutdown()
        if isinstance(event, TimerExpired):
            return self._timer(event.name)
        if isinstance(event, Malformed):
            return self._malformed(event)
        return self._received(event.message)

    # --- CER / CEA -------------------------------------------------------------------

    def _capabilities(self, cer: Message, result: int) -> Message:
        avps = [Avp.of_u32(RESULT_CODE, result), *self._origin()]
        avps += [Avp.of_address(HOST_IP_ADDRESS, a) for a in self.identity.addresses]
        avps += [Avp.of_u32(VENDOR_ID, self.identity.vendor_id),
                 Avp.of_text(PRODUCT_NAME, self.identity.product, mandatory=False),
                 Avp.of_u32(ORIGIN_STATE_ID, self.identity.state_id)]  # fmt: skip
        avps += [Avp.of_u32(AUTH_APPLICATION_ID, app) for app in self.identity.applications]
        return cer.answer(avps, error=False)

    def _offered(self, cer: Message) -> set[int]:
        apps = {a.u32() for a in cer.find_all(AUTH_APPLICATION_ID)}
        apps |= {a.u32() for a in cer.find_all(ACCT_APPLICATION_ID)}
        for vsai in cer.find_all(VENDOR_SPECIFIC_APPLICATION_ID):
            apps |= {
                a.u32()
                for a in vsai.group()
                if a.code in (AUTH_APPLICATION_ID, ACCT_APPLICATION_ID)
            }
        return apps

    def _on_cer(self, cer: Message) -> list[Action]:
        host_avp, realm_avp = cer.find(ORIGIN_HOST), cer.find(ORIGIN_REALM)
        host = host_avp.text() if host_avp else ""
        realm = realm_avp.text() if realm_avp else ""
        allowed = host in self.policy.allowed_hosts or realm in self.policy.allowed_realms
        if not host or not allowed:
            self.state = State.CLOSED
            return [Send(self._capabilities(cer, UNKNOWN_PEER)), Rejected(host, UNKNOWN_PEER),
                    Close(f"unknown peer {host or '(no Origin-Host)'}")]  # fmt: skip
        offered = self._offered(cer)
        if RELAY_APPLICATION not in offered and not offered & set(self.identity.applications):
            self.state = State.CLOSED
            return [
                Send(self._capabilities(cer, NO_COMMON_APPLICATION)),
                Rejected(host, NO_COMMON_APPLICATION),
                Close(f"{host}: no common application"),
            ]
        self.state, self.host, self.realm = State.OPEN, host, realm
        return [Send(self._capabilities(cer, SUCCESS)), Opened(host, realm), self._tw()]

    # --- in the open state -------------------------------------------------------------

    def _received(self, message: Message) -> list[Action]:
        if self.state is State.WAIT_CER:
            if message.command == CER and message.is_request:
                return self._on_cer(message)
            self.state = State.CLOSED
            return [Close("first message was not a CER")]
        self._traffic = True
        if self.state is State.SUSPECT:
            self.state = State.OPEN  # any traffic proves the peer alive (RFC 3539 3.4.1)
        if message.command == DWR and message.is_request:
            dwa = [Avp.of_u32(RESULT_CODE, SUCCESS), *self._origin(),
                   Avp.of_u32(ORIGIN_STATE_ID, self.identity.state_id)]  # fmt: skip
            return [Send(message.answer(dwa))]
        if message.command == DWR:
            self._dwa_pending = False
            return [self._tw()]
        if message.command == DPR and message.is_request:
            self.state = State.CLOSED
            return [Send(message.answer([Avp.of_u32(RESULT_CODE, SUCCESS), *self._origin()])),
                    Close(f"{self.host} sent DPR")]  # fmt: skip
        if message.command == DPR:
            self.state = State.CLOSED
            return [Close("DPA received")]
        if message.command == CER and message.is_request:
            # RFC 6733 5.6 (I-Open/R-Open, Rcv-CER): answered with a CEA, still open; from
            # another host than the one that opened it, refused (and the link is kept).
            host = message.find(ORIGIN_HOST)
            same = host is not None and host.text() == self.host
            return [Send(self._capabilities(message, SUCCESS if same else UNKNOWN_PEER))]
        if message.command == CER:
            return []
        if self.state is State.CLOSING and message.is_request:
            return []  # draining: no new work is taken
        return [Deliver(message)]

    def _timer(self, name: str) -> list[Action]:
        if name == CER_WAIT and self.state is State.WAIT_CER:
            self.state = State.CLOSED
            return [Close("no CER in time")]
        if name == DPA_WAIT and self.state is State.CLOSING:
            self.state = State.CLOSED
            return [Close("no DPA in time")]
        if name != WATCHDOG or self.state not in (State.OPEN, State.SUSPECT):
            return []
        if self._traffic and self.state is State.OPEN:
            # A busy link needs no DWR: wait another interval (the timer restarts on traffic).
            self._traffic = False
            return [self._tw()]
        self._traffic = False
        if self._dwa_pending:
            if self.state is State.SUSPECT:
                self.state = State.CLOSED
                return [Close(f"{self.host}: no DWA after two watchdog intervals")]
            self.state = State.SUSPECT
            return [self._tw()]
        self._dwa_pending = True
        hop, e2e = self._ids()
        state_id = Avp.of_u32(ORIGIN_STATE_ID, self.identity.state_id)
        dwr = Message(DWR, 0, hop, e2e, FLAG_REQUEST, [*self._origin(), state_id])
        return [Send(dwr), self._tw()]

    def _shutdown(self) -> list[Action]:
        if self.state in (State.OPEN, State.SUSPECT):
            self.state = State.CLOSING
            hop, e2e = self._ids()
            dpr = Message(DPR, 0, hop, e2e, FLAG_REQUEST,
                          [*self._origin(), Avp.of_u32(DISCONNECT_CAUSE, REBOOTING)])  # fmt: skip
            return [Send(dpr), StartTimer(DPA_WAIT, self.policy.dpa_timeout)]
        self.state = State.CLOSED
        return [Close("shutting down")]

    def _malformed(self, event: Malformed) -> list[Action]:
        request = event.request
        if request is None or not request.is_request:
            self.state = State.CLOSED
            return [Close(f"unreadable message: {event.error.reason}")]
        avps = [Avp.of_u32(RESULT_CODE, event.error.result_code), *self._origin(),
                Avp.of_text(ERROR_MESSAGE, event.error.reason, mandatory=False)]  # fmt: skip
        if event.error.avp is not None:
            avps.append(Avp.of_group(FAILED_AVP, [event.error.avp]))
        return [Send(request.answer(avps, error=event.error.result_code < 4000))]
