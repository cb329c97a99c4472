"""The CGRateS backend: SessionSv1 over JSON-RPC, one CGRateS session per charge.

Argument and reply shapes are CGRateS's (v0.10 / master): the flags of
V1InitSessionArgs & co. with the CGREvent embedded beside them, `Usage`,
`LastUsed` and `MaxUsage` as integer nanoseconds for time and plain counts for
octets and units. CGREvent.ID is the charge's request id, stable across our own
retries, so CGRateS's response cache can tell a retry from a new request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from omnigw.config import CgratesConfig, Quota
from omnigw.ocs.charge import (
    Charge,
    Grant,
    OcsError,
    Outcome,
    Unit,
    quota_of,
)
from omnigw.ocs.jsonrpc import HttpJsonRpc, JsonRpc, RpcError, TcpJsonRpc
from omnigw.ocs.metrics import CGRATES_CALLS, CGRATES_LATENCY, RESPONSE_CACHE_OFF

NANOS = 1_000_000_000
log = logging.getLogger("omnigw.ocs.cgrates")

# CGRateS error strings (often prefixed by the subsystem, "RALS_ERROR:...") -> result code
_ERRORS = (
    ("ACCOUNT_NOT_FOUND", Outcome.UNKNOWN_ACCOUNT),
    ("ACCOUNT_DISABLED", Outcome.ACCOUNT_DISABLED),
    ("INSUFFICIENT_CREDIT", Outcome.NO_CREDIT),
    ("MAX_USAGE_EXCEEDED", Outcome.NO_CREDIT),
    ("SESSION_NOT_FOUND", Outcome.UNKNOWN_CHARGE),
    ("MANDATORY_IE_MISSING", Outcome.FAILED),
)


def outcome_of(error: str) -> Outcome:
    """What a CGRateS error string means; anything else is a rating failure."""
    for marker, code in _ERRORS:
        if marker in error:
            return code
    return Outcome.RATING_FAILED


def _to_cgrates(unit: Unit, amount: int) -> int:
    return amount * NANOS if unit is Unit.SECONDS else amount


def _from_cgrates(unit: Unit, amount: int) -> int:
    return amount // NANOS if unit is Unit.SECONDS else amount


# Category and Destination of a charge no rating rule names, by unit
DEFAULT_RATING = {
    Unit.SECONDS: ("call", "voice"), Unit.OCTETS: ("data", "data"), Unit.UNITS: ("sms", "sms"),
}  # fmt: skip
RATINGS_KEPT = 4096  # distinct (service context, rating group, unit) resolved and remembered


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class OpenSession:
    """What CGRateS must be told about a session on every request, not only its last one:
    when it was set up and answered (TerminateSession's AnswerTime becomes the CDR's,
    sessions.go 1840-1842 at master; a CAMEL call is answered after it was set up), and
    what it used in all (a CDR rated after the closed-session cache forgot it takes its
    Usage from the request, sessions.go 4459)."""

    started: datetime
    used: int = 0
    answered: datetime | None = None


class CgratesOcs:
    def __init__(self, cfg: CgratesConfig, default_quota: Quota) -> None:
        self.cfg = cfg
        self._default = default_quota
        self._rpc: JsonRpc | None = None
        # Charges between InitiateSession and TerminateSession. After a restart of omnigw a
        # charge is not here: its times are then those of its last request, its usage the
        # last report (what CGRateS's own cached session still knows for 10 s).
        self._open: dict[str, OpenSession] = {}
        # (service context, rating group, unit) -> (Category, fixed Destination or None)
        self._ratings: dict[tuple[str, int | None, Unit], tuple[str, str | None]] = {}

    async def start(self) -> None:
        cfg = self.cfg
        if cfg.transport == "tcp":
            pool = cfg.connections or 2
            self._rpc = TcpJsonRpc(cfg.host, cfg.port, pool, cfg.timeout_seconds)
        else:
            self._rpc = HttpJsonRpc(cfg.url, cfg.connections or 16, cfg.timeout_seconds)
        await self._check_response_cache()

    async def _check_response_cache(self) -> None:
        """Say at start if a repeated request could be charged twice. A request reaches
        CGRateS again with the same CGREvent ID when a PGW retransmits a CCR across an omnigw
        restart; CGRateS recognises it only through its *rpc_responses cache, off by
        default (limit 0, config/config_defaults.go 346)."""
        try:
            reply = await self.call(
                "ConfigSv1.GetConfig", {"Tenant": self.cfg.tenant, "Section": "caches"}
            )
            limit = reply["caches"]["partitions"]["*rpc_responses"]["limit"]
        except (RpcError, OcsError, KeyError, TypeError) as exc:
            log.warning(
                "could not read CGRateS's *rpc_responses cache setting; if it is off, a "
                "request that reaches it twice is charged twice",
                extra={"error": str(exc)},
            )
            return
        RESPONSE_CACHE_OFF.set(int(limit == 0))
        if limit == 0:
            log.warning(
                "CGRateS's *rpc_responses cache is off (caches.partitions.*rpc_responses.limit "
                "is 0): a request that reaches it twice (a PGW retransmitting across an omnigw "
                "restart) is charged twice; give it a limit (-1: no limit) and a ttl longer "
                "than omnigw's timeout"
            )

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One JSON-RPC call, counted and timed; raises RpcError with CGRateS's own string."""
        assert self._rpc is not None, "start() first"
        started = time.perf_counter()
        try:
            result = await self._rpc.call(method, params)
        except RpcError:
            CGRATES_CALLS.labels(method, "error").inc()
            raise
        except OcsError:
            CGRATES_CALLS.labels(method, "unavailable").inc()
            raise
        CGRATES_CALLS.labels(method, "ok").inc()
        CGRATES_LATENCY.labels(method).observe(time.perf_counter() - started)
        return result

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self.call(method, params)
        except RpcError as exc:
            raise OcsError(outcome_of(str(exc)), f"CGRateS {method}: {exc}") from None

    def _rating(self, charge: Charge) -> tuple[str, str]:
        """Category and Destination: CGRateS picks the rating profile by Category and the
        rate by the longest prefix of Destination (engine/calldesc.go 249-266,
        engine/ratingprofile.go 224-270), so a number there must be a party's, never a
        rating group's ("10" would be priced as a call to +1)."""
        key = (charge.service_context, charge.rating_group, charge.unit)
        found = self._ratings.get(key)
        if found is None:
            if len(self._ratings) >= RATINGS_KEPT:
                self._ratings.clear()
            found = self._ratings[key] = self._rule(*key)
        category, destination = found
        return category, destination or charge.other_party or DEFAULT_RATING[charge.unit][1]

    def _rule(self, context: str, rating_group: int | None, unit: Unit) -> tuple[str, str | None]:
        for rule in self.cfg.rating:
            if rule.service_context not in (None, context):
                continue
            if rule.rating_group not in (None, rating_group):
                continue
            return rule.category or DEFAULT_RATING[unit][0], rule.destination
        return DEFAULT_RATING[unit][0], None

    def _args(self, charge: Charge, **event: Any) -> dict[str, Any]:
        """A CGREvent (its fields sit beside the flags, as Go embeds the struct)."""
        session = self._open.get(charge.key)
        started = _stamp(session.started if session is not None else charge.at)
        answered = charge.answered or (session.answered if session is not None else None)
        if session is not None and charge.answered is not None:
            session.answered = charge.answered
        category, destination = self._rating(charge)
        return {
            "Tenant": self.cfg.tenant,
            "ID": charge.request_id,
            "Time": _stamp(charge.at),
            "Event": {
                "ToR": charge.unit.value,
                "OriginID": charge.key,
                "OriginHost": self.cfg.origin_host,
                "InitialOriginID": charge.session_id,
                "RequestType": self.cfg.request_type,
                "Tenant": self.cfg.tenant,
                "Account": charge.account,
                "Subject": charge.account,
                "Destination": destination,
                "Category": category,
                "SetupTime": started,
                "AnswerTime": _stamp(answered) if answered is not None else started,
                **event,
            },
            "APIOpts": {},
        }

    def _wanted(self, charge: Charge) -> int:
        if charge.requested is not None:
            return charge.requested
        return quota_of(self._default, charge.unit)

    def _grant(self, charge: Charge, reply: Any, wanted: int) -> Grant:
        try:
            max_usage = int(reply["MaxUsage"])
        except (TypeError, KeyError, ValueError):
            raise OcsError(Outcome.FAILED, f"CGRateS reply without MaxUsage: {reply!r}") from None
        if max_usage < 0:  # -1: no limit
            return Grant(wanted)
        amount = min(_from_cgrates(charge.unit, max_usage), wanted)
        if amount <= 0:
            raise OcsError(Outcome.NO_CREDIT, f"{charge.account}: no credit")
        return Grant(amount, final=amount < wanted)

    async def admit(self, account: str) -> None:
        """APIerSv2.GetAccount: SessionS has no call that checks an account without rating
        an event, and a session without a rating group has nothing to rate yet."""
        try:
            reply = await self.call(
                "APIerSv2.GetAccount", {"Tenant": self.cfg.tenant, "Account": account}
            )
        except RpcError as exc:
            if "NOT_FOUND" in str(exc):
                raise OcsError(Outcome.UNKNOWN_ACCOUNT, f"no CGRateS account {account}") from None
            raise OcsError(outcome_of(str(exc)), f"CGRateS GetAccount: {exc}") from None
        if isinstance(reply, dict) and reply.get("Disabled"):
            raise OcsError(Outcome.ACCOUNT_DISABLED, f"CGRateS account {account} is disabled")

    async def initiate(self, charge: Charge) -> Grant:
        wanted = self._wanted(charge)
        usage = _to_cgrates(charge.unit, wanted)
        self._open[charge.key] = OpenSession(charge.at)
        try:
            reply = await self._call(
                "SessionSv1.InitiateSession",
                {"InitSession": True, **self._args(charge, Usage=usage)},
            )
        except OcsError:
            del self._open[charge.key]
            raise
        return self._grant(charge, reply, wanted)

    async def update(self, charge: Charge) -> Grant:
        wanted = 0 if charge.requested == 0 else self._wanted(charge)
        session = self._open.get(charge.key)
        if session is not None:
            session.used += charge.used
        reply = await self._call(
            "SessionSv1.UpdateSession",
            {
                "UpdateSession": True,
                **self._args(
                    charge,
                    Usage=_to_cgrates(charge.unit, wanted),
                    LastUsed=_to_cgrates(charge.unit, charge.used),
                ),
            },
        )
        if wanted == 0:
            return Grant(0)  # a report only: nothing asked, nothing granted
        return self._grant(charge, reply, wanted)

    async def terminate(self, charge: Charge) -> None:
        session = self._open.get(charge.key)
        total = charge.used + (session.used if session is not None else 0)
        cdr = self._args(charge, Usage=_to_cgrates(charge.unit, total))
        await self.end_session(charge)
        if self.cfg.cdrs:
            # CGRateS makes the CDR from the session it has just closed and debits nothing
            # more; if it no longer has it, it rates this event: the whole session, its times.
            await self._send_cdr(charge, cdr)

    async def _send_cdr(self, charge: Charge, cdr: dict[str, Any]) -> None:
        cdr["ID"] = f"{charge.request_id}:cdr"
        try:
            await self._call("SessionSv1.ProcessCDR", cdr)
        except OcsError as exc:
            # The usage is charged; only its history record is missing. Counted in
            # omnigw_cgrates_calls_total; never retried, so it cannot be charged twice.
            log.warning("CGRateS took no CDR for an ended charge",
                        extra={"charge": charge.key, "reason": exc.reason})  # fmt: skip

    async def end_session(self, charge: Charge) -> None:
        """TerminateSession alone: what closing a session kept during an outage needs."""
        args = self._args(charge, LastUsed=_to_cgrates(charge.unit, charge.used))
        self._open.pop(charge.key, None)
        await self._call("SessionSv1.TerminateSession", {"TerminateSession": True, **args})

    async def debit(self, charge: Charge) -> Grant:
        wanted = self._wanted(charge)
        reply = await self._call(
            "SessionSv1.ProcessMessage",
            {"Debit": True, **self._args(charge, Usage=_to_cgrates(charge.unit, wanted))},
        )
        grant = self._grant(charge, reply, wanted)
        if self.cfg.cdrs:
            # ProcessMessage keeps no CDR; the one-time session it charged stays in the
            # closed-sessions cache (sessions.go 1888, 1843), so this CDR is made from it and
            # debits nothing more; past the cache, it is rated from this Usage, the grant.
            cdr = self._args(charge, Usage=_to_cgrates(charge.unit, grant.amount))
            await self._send_cdr(charge, cdr)
        return grant

    async def report(self, charge: Charge) -> None:
        """Usage the failure policy kept while CGRateS was away, as a CDR (no session).

        Its OriginID is the record's own id: under the charge's OriginID, CGRateS would
        take it for the session just closed (its closed-sessions cache) and not rate it.
        """
        record = replace(charge, key=charge.request_id)
        await self._call(
            "SessionSv1.ProcessCDR",
            self._args(record, Usage=_to_cgrates(charge.unit, charge.used)),
        )
