"""SessionSv1 as CGRateS answers it, down to the traps a client can fall into.

Line references are to sessions/sessions.go at master 19463bd unless they say otherwise.
Stricter than CGRateS (which ignores unknown JSON fields): an unknown field, a missing
flag or a missing event field is an error, so a shape mistake on our side fails the test.
"""

from __future__ import annotations

from typing import Any

from tests.support.cgrates.rating import increment_of
from tests.support.cgrates.state import (
    DEFAULT_USAGE,
    TORS,
    CgrError,
    Session,
    State,
    go_duration,
    round_up,
    session_key,
)

FLAGS = {
    "SessionSv1.InitiateSession": "InitSession",
    "SessionSv1.UpdateSession": "UpdateSession",
    "SessionSv1.TerminateSession": "TerminateSession",
    "SessionSv1.ProcessMessage": "Debit",
    "SessionSv1.ProcessCDR": None,
}
CGREVENT = {"Tenant", "ID", "Time", "Event", "APIOpts"}
OPTIONAL_FLAGS = {
    "GetAttributes", "AllocateResources", "ForceDuration", "ProcessThresholds", "ProcessStats",
    "AttributeIDs", "ThresholdIDs", "StatIDs", "ReleaseResources", "AuthorizeResources",
    "GetRoutes",
}  # fmt: skip
EVENT_REQUIRED = {"ToR", "OriginID", "OriginHost", "RequestType", "Account"}
EVENT_KNOWN = EVENT_REQUIRED | {
    "Tenant", "Subject", "Destination", "Category", "SetupTime", "AnswerTime", "Usage",
    "LastUsed", "InitialOriginID",
}  # fmt: skip


def check(method: str, params: Any) -> dict[str, Any]:
    if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
        raise CgrError("params must be a list of one object")
    args: dict[str, Any] = params[0]
    flag = FLAGS[method]
    allowed = CGREVENT | OPTIONAL_FLAGS | ({flag} if flag else set())
    unknown = set(args) - allowed
    if unknown:
        raise CgrError(f"json: unknown field {sorted(unknown)[0]!r}")
    if flag and args.get(flag) is not True:
        raise CgrError(f"MANDATORY_IE_MISSING: [{flag}]")
    for key in ("Tenant", "ID", "Event"):
        if not args.get(key):
            raise CgrError(f"MANDATORY_IE_MISSING: [{key}]")
    event = args["Event"]
    missing = EVENT_REQUIRED - set(event)
    if missing:
        raise CgrError(f"MANDATORY_IE_MISSING: [{sorted(missing)[0]}]")
    unknown = set(event) - EVENT_KNOWN
    if unknown:
        raise CgrError(f"unknown event field {sorted(unknown)[0]!r}")
    if event["ToR"] not in TORS:
        raise CgrError(f"unsupported ToR {event['ToR']}")
    for key in ("Usage", "LastUsed"):
        if key in event and (not isinstance(event[key], int) or event[key] < 0):
            raise CgrError(f"{key} must be a non-negative integer")
    return args


class SessionS:
    def __init__(self, state: State) -> None:
        self.state = state

    def dispatch(self, method: str, event: dict[str, Any], event_id: str) -> Any:
        if method == "SessionSv1.InitiateSession":
            return self._initiate(event)
        if method == "SessionSv1.UpdateSession":
            return self._update(event)
        if method == "SessionSv1.TerminateSession":
            return self._terminate(event)
        if method == "SessionSv1.ProcessMessage":
            return self._message(event)
        return self._cdr(event, event_id)

    # --- what RALs checks before it debits -------------------------------------------------

    def _rated(self, event: dict[str, Any]) -> int:
        """engine/calldesc.go 232-244 then 249-266: the account (disabled, then missing), then
        the tariff; returns the rate increment."""
        account = event["Account"]
        if account in self.state.disabled:
            raise CgrError("ACCOUNT_DISABLED")
        if account not in self.state.accounts:
            raise CgrError("ACCOUNT_NOT_FOUND")
        return increment_of(self.state, event)

    def _usage(self, event: dict[str, Any]) -> int:
        """The event's Usage, else default_usage of its ToR (sessions.go 1703-1705)."""
        usage: int = event.get("Usage", DEFAULT_USAGE[event["ToR"]])
        return usage

    # --- the methods ---------------------------------------------------------------------

    def _initiate(self, event: dict[str, Any]) -> dict[str, Any]:
        key = session_key(event)
        if key in self.state.sessions:  # sessions.go 1268-1269
            raise CgrError("EXISTS")
        # initSession registers the session (1667-1669) before updateSession debits it
        # (2668): a refusal, or MaxUsage 0, leaves it registered, and with session_ttl 0
        # (config_defaults.go 690) nothing ever ends it but the client.
        session = self.state.sessions[key] = Session(
            event["Account"], event["ToR"], dict(event), answer_time=event.get("AnswerTime", "")
        )
        try:
            session.increment = self._rated(event)
        except CgrError as exc:
            raise CgrError(f"RALS_ERROR:{exc}") from None  # NewErrRALs, sessions.go 2669
        return {"MaxUsage": self._reserve(session, self._usage(event))}

    def _update(self, event: dict[str, Any]) -> dict[str, Any]:
        key = session_key(event)
        session = self.state.sessions.get(key)
        if session is None:  # BiRPCv1UpdateSession: an unknown session is initiated
            session = self.state.sessions[key] = Session(event["Account"], event["ToR"],
                                                         dict(event))  # fmt: skip
        try:
            session.increment = self._rated(event)
        except CgrError as exc:
            raise CgrError(f"RALS_ERROR:{exc}") from None
        self._correct(session, event.get("LastUsed"))
        return {"MaxUsage": self._reserve(session, self._usage(event))}

    def _terminate(self, event: dict[str, Any]) -> str:
        key = session_key(event)
        session = self.state.sessions.pop(key, None)
        if session is None:
            # A one-time charge (isMsg, 3172-3186): newSession takes LastUsed for a missing
            # Usage (1253-1255), updateSession default_usage for neither (1703-1705), and the
            # debit of Usage + LastUsed is refunded down to Usage in endSession (1786-1800).
            usage = event.get("Usage", event.get("LastUsed", DEFAULT_USAGE[event["ToR"]]))
            increment = self._rated(event)  # unwrapped: 3184 returns updateSession's error
            session = Session(event["Account"], event["ToR"], dict(event), increment)
            self._debit(session.account, session.tor, round_up(usage, increment))
            session.charged = usage
        else:
            self._correct(session, event.get("LastUsed"))
        if event.get("AnswerTime"):  # 3136 -> 1840-1842: the CDR's AnswerTime
            session.answer_time = event["AnswerTime"]
        self._close(key, session)
        return "OK"

    def _message(self, event: dict[str, Any]) -> dict[str, Any]:
        """chargeEvent (1860-1893): debit what the balance allows, then end the one-time
        session, which leaves it in the closed-sessions cache (endSession 1843)."""
        try:
            increment = self._rated(event)
        except CgrError as exc:
            raise CgrError(f"RALS_ERROR:{exc}") from None
        session = Session(event["Account"], event["ToR"], dict(event), increment)
        granted = self._reserve(session, self._usage(event))
        session.charged, session.reserved = granted, 0
        self._close(session_key(event), session)
        return {"MaxUsage": granted}

    def _cdr(self, event: dict[str, Any], event_id: str) -> str:
        key = session_key(event)
        closed = self.state.closed.get(key)  # 4456: Get, not popped
        if closed is not None and self.state.clock() - closed.closed_at >= self.state.closed_ttl:
            closed = None
        session = self.state.sessions.get(key) or closed  # an active one too (4444-4451)
        if session is not None:
            # The CDR is the session's own: its total usage (1839) and its times; the
            # event's Usage and times are not used; nothing is debited.
            start = session.event
            times = {"SetupTime": start.get("SetupTime", ""), "AnswerTime": session.answer_time}
            self.store_cdr({**start, **times}, event_id, session.charged)
            return "OK"
        # 4459-4466: no cached session, the event goes to CDRs with *rals and is rated by its
        # own Usage. For *prepaid, engine/cdrs.go 171-204 first looks for the session's stored
        # cost: the same usage is taken as it is; another is refunded and debited anew. With
        # none stored, 278-280 debit the Usage again. A rating error marks the CDR (Cost -1,
        # ExtraInfo) and debits nothing (323-331).
        usage = event.get("Usage", 0)
        try:
            increment = self._rated(event)
        except CgrError as exc:
            self.store_cdr(event, event_id, usage, error=str(exc))
            return "OK"
        stored = self.state.session_costs.get(key) if self.state.store_session_costs else None
        if stored is None or stored[0] != usage:
            if stored is not None:
                self._debit(event["Account"], event["ToR"], -stored[1])
            self._debit(event["Account"], event["ToR"], round_up(usage, increment))
        self.store_cdr(event, event_id, usage)
        return "OK"

    # --- balances --------------------------------------------------------------------------

    def _close(self, key: str, session: Session) -> None:
        session.closed_at = self.state.clock()
        self.state.closed[key] = session
        if self.state.store_session_costs:
            debited = round_up(session.charged, session.increment)
            self.state.session_costs[key] = (session.charged, debited)

    def _debit(self, account: str, tor: str, amount: int) -> None:
        self.state.accounts[account][tor] = self.state.balance(account, tor) - amount

    def _affordable(self, account: str, tor: str, usage: int, increment: int) -> int:
        """MaxDebit's answer: all of `usage` if its increments are covered (or the account
        may go negative), else the whole increments the balance covers."""
        balance = self.state.balance(account, tor)
        if account in self.state.allow_negative or balance >= round_up(usage, increment):
            return usage
        return max(balance, 0) // increment * increment

    def _reserve(self, session: Session, usage: int) -> int:
        granted = self._affordable(session.account, session.tor, usage, session.increment)
        session.reserved = round_up(granted, session.increment)
        self._debit(session.account, session.tor, session.reserved)
        return granted

    def _correct(self, session: Session, last_used: int | None) -> None:
        """LastUsed replaces the reservation debited in advance with what was used."""
        used = session.reserved if last_used is None else last_used
        charged = round_up(used, session.increment)
        self._debit(session.account, session.tor, charged - session.reserved)
        session.charged += used
        session.reserved = 0

    # --- CDRs ------------------------------------------------------------------------------

    def store_cdr(self, event: dict[str, Any], event_id: str, usage: int, error: str = "") -> None:
        for run in self.state.charger_runs:
            key = event_id if run == "*default" else f"{event_id}:{run}"
            self.state.cdrs[key] = self._external_cdr(event, run, usage, error)

    def _external_cdr(
        self, event: dict[str, Any], run: str, usage: int, error: str
    ) -> dict[str, Any]:
        tor = event["ToR"]
        return {
            "CGRID": session_key(event), "RunID": run, "OrderID": len(self.state.cdrs) + 1,
            "OriginHost": event["OriginHost"], "Source": "*sessions",
            "OriginID": event["OriginID"], "ToR": tor, "RequestType": event["RequestType"],
            "Tenant": event.get("Tenant", "cgrates.org"), "Category": event.get("Category", ""),
            "Account": event["Account"], "Subject": event.get("Subject", event["Account"]),
            "Destination": event.get("Destination", ""), "SetupTime": event.get("SetupTime", ""),
            "AnswerTime": event.get("AnswerTime", ""),
            "Usage": go_duration(usage) if tor == "*voice" else str(usage),
            "ExtraFields": {}, "CostSource": "*sessions", "Cost": -1.0 if error else float(usage),
            "CostDetails": "", "ExtraInfo": error, "PreRated": False,
        }  # fmt: skip
