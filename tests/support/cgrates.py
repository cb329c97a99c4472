"""A strict stand-in for CGRateS SessionS (v0.10/master JSON-RPC shapes), over TCP and HTTP.

CGRateS itself cannot be installed here (no package; its Go build needs a module
proxy we cannot reach), so this server implements the methods omnigw calls with
CGRateS's argument and reply shapes, error strings and traps, and is stricter
than CGRateS: an unknown field, a missing flag or a missing event field is an
error, so a shape mistake on our side fails the test.

Reproduced behaviour: sessions keyed by sha1(OriginID + OriginHost); debit in
advance (Usage) with correction on the next report (LastUsed); MaxUsage 0 and no
error when the balance is empty; "ACCOUNT_NOT_FOUND" / "ACCOUNT_DISABLED";
UpdateSession of an unknown session creates one, TerminateSession of an unknown
session charges its usage one-shot; sessions are lost on restart, accounts kept.

ProcessCDR of a session TerminateSession has just closed makes its CDR from the
session (nothing more is debited); of anything else it rates and debits the
usage, as CDRs does for an event no session charged.

It also takes the APIer calls provisioning and the CRM make (SetAccount,
RemoveAccount, ExecuteAction of actions added with `add_action`, GetAccount,
GetCDRs answering ExternalCDRs) with the same strictness.

    python -m tests.support.cgrates --port 2012 [--http-port 2080] [--account 4911=10000000:*data]
                                    [--action Action_plan=1000000:*data]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FLAGS = {
    "SessionSv1.AuthorizeEvent": "GetMaxUsage",
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
TORS = {"*voice", "*data", "*sms"}
# APIer methods provisioning uses: (required fields, every field CGRateS knows)
APIER = {
    "APIerSv2.SetAccount": ({"Tenant", "Account"}, {
        "Tenant", "Account", "ActionPlanIDs", "ActionPlansOverwrite", "ActionTriggerIDs",
        "ActionTriggerOverwrite", "ExtraOptions", "ReloadScheduler"}),
    "APIerSv1.RemoveAccount": ({"Tenant", "Account"}, {"Tenant", "Account", "ReloadScheduler"}),
    "APIerSv1.ExecuteAction": ({"Tenant", "Account", "ActionsId"},
                               {"Tenant", "Account", "ActionsId"}),
    "APIerSv2.GetAccount": ({"Tenant", "Account"}, {"Tenant", "Account"}),
    "APIerSv2.GetCDRs": (set(), {"Tenants", "Accounts", "ToRs", "RunIDs", "OrderBy", "Limit",
                                 "Offset", "SetupTimeStart", "SetupTimeEnd"}),
}  # fmt: skip
NANOS = 1_000_000_000


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() for whole nanoseconds (how *voice CDRs show Usage)."""
    if ns == 0:
        return "0s"
    hours, rest = divmod(ns, 3600 * NANOS)
    minutes, rest = divmod(rest, 60 * NANOS)
    seconds = f"{rest / NANOS:.9f}".rstrip("0").rstrip(".")
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{text}{seconds}s"


class CgrError(Exception):
    pass


@dataclass
class Session:
    account: str
    tor: str
    reserved: int = 0  # debited in advance for the current reservation
    charged: int = 0
    setup_time: str = ""  # from the event that started it (Session.EventStart)
    answer_time: str = ""  # the start's, replaced by TerminateSession's (sessions.go 1840-1842)
    closed_at: float = 0.0  # when TerminateSession closed it (the closed-sessions cache)


@dataclass
class State:
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    disabled: set[str] = field(default_factory=set)
    allow_negative: set[str] = field(default_factory=set)
    sessions: dict[str, Session] = field(default_factory=dict)
    cdrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # ExternalCDRs by event ID
    # Just terminated, by session key: CGRateS's *closed_sessions cache, 10 s by default
    # (config/config_defaults.go 347, master 19463bd).
    closed: dict[str, Session] = field(default_factory=dict)
    closed_ttl: float = 10.0
    # caches.partitions.*rpc_responses.limit: 0, the default, is no response cache at all
    # (config/config_defaults.go 346): a request sent twice is processed twice.
    rpc_responses_limit: int = 0
    # ChargerS: each charger profile gives the event a run, and each run its own CDR
    # (engine/chargers.go); one default charger unless a test configures more.
    charger_runs: tuple[str, ...] = ("*default",)
    clock: Callable[[], float] = time.monotonic
    calls: Counter[str] = field(default_factory=Counter)
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)  # (method, ID) -> reply
    lost: dict[str, int] = field(default_factory=Counter)  # account -> debited, lost in crashes
    actions: dict[str, dict[str, int]] = field(default_factory=dict)  # ActionsId -> ToR: units

    def balance(self, account: str, tor: str) -> int:
        return self.accounts[account].get(tor, 0)


def _check(method: str, params: Any) -> dict[str, Any]:
    if method not in FLAGS:
        raise CgrError(f"rpc: can't find method {method}")
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


class Cgrates:
    def __init__(self, state: State | None = None, latency: float = 0.0) -> None:
        self.state = state or State()
        self.latency = latency
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.http_port = 0

    def add_account(self, account: str, tor: str, amount: int) -> None:
        self.state.accounts.setdefault(account, {})[tor] = amount

    # --- the methods ---------------------------------------------------------------------

    def add_action(self, actions_id: str, tor: str, units: int) -> None:
        """Like APIerSv1.SetActions with one *topup of `units` on `tor`."""
        self.state.actions.setdefault(actions_id, {})[tor] = units

    def _apier(self, method: str, params: Any) -> Any:
        if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
            raise CgrError("params must be a list of one object")
        args: dict[str, Any] = params[0]
        required, known = APIER[method]
        unknown = set(args) - known
        if unknown:
            raise CgrError(f"json: unknown field {sorted(unknown)[0]!r}")
        missing = sorted(k for k in required if not args.get(k))
        if missing:
            raise CgrError(f"MANDATORY_IE_MISSING: [{missing[0]}]")
        if method == "APIerSv2.GetCDRs":
            return self._cdrs(args)
        account, accounts = args["Account"], self.state.accounts
        if method == "APIerSv2.SetAccount":
            options = args.get("ExtraOptions") or {}
            if set(options) - {"AllowNegative", "Disabled"} or not all(
                isinstance(v, bool) for v in options.values()
            ):
                raise CgrError("ExtraOptions: only AllowNegative and Disabled, as booleans")
            accounts.setdefault(account, {})
            # apier/v2/accounts.go 242-247 (master 19463bd): a flag changes only when its key
            # is in ExtraOptions; an absent key leaves the account's value as it is.
            for key, flagged in (("Disabled", self.state.disabled),
                                 ("AllowNegative", self.state.allow_negative)):  # fmt: skip
                if key in options:
                    (flagged.add if options[key] else flagged.discard)(account)
            return "OK"
        if account not in accounts:
            raise CgrError("NOT_FOUND")
        if method == "APIerSv1.RemoveAccount":
            del accounts[account]
            self.state.disabled.discard(account)
            self.state.allow_negative.discard(account)
            return "OK"
        if method == "APIerSv1.ExecuteAction":
            action = self.state.actions.get(args["ActionsId"])
            if action is None:
                raise CgrError("NOT_FOUND")
            for tor, units in action.items():
                accounts[account][tor] = accounts[account].get(tor, 0) + units
            return "OK"
        balances = {
            tor: [{"Uuid": f"{account}-{tor}", "ID": "*default", "Value": value, "Weight": 10}]
            for tor, value in accounts[account].items()
        }
        return {"ID": f"{args['Tenant']}:{account}", "BalanceMap": balances,
                "UnitCounters": None, "ActionTriggers": None,
                "AllowNegative": account in self.state.allow_negative,
                "Disabled": account in self.state.disabled}  # fmt: skip

    def _cdrs(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        found = [
            cdr for cdr in self.state.cdrs.values()
            if cdr["Account"] in args.get("Accounts", [cdr["Account"]])
            and cdr["Tenant"] in args.get("Tenants", [cdr["Tenant"]])
            and cdr["RunID"] in args.get("RunIDs", [cdr["RunID"]])  # utils/apitpdata.go 1139
        ]  # fmt: skip
        order = args.get("OrderBy", "")
        if order not in ("", "OrderID", "OrderID;desc"):
            raise CgrError(f"SERVER_ERROR: unsupported OrderBy {order}")
        found.sort(key=lambda cdr: cdr["OrderID"], reverse=order.endswith(";desc"))
        offset = args.get("Offset") or 0
        found = found[offset:]
        if args.get("Limit") is not None:
            found = found[: args["Limit"]]
        if not found:
            raise CgrError("NOT_FOUND")
        return found

    def _store_cdr(self, event: dict[str, Any], event_id: str, usage: int) -> None:
        for run in self.state.charger_runs:
            key = event_id if run == "*default" else f"{event_id}:{run}"
            self.state.cdrs[key] = self._cdr(event, run, usage)

    def _cdr(self, event: dict[str, Any], run: str, usage: int) -> dict[str, Any]:
        tor = event["ToR"]
        return {
            "CGRID": hashlib.sha1(  # noqa: S324  (CGRateS's CGRID, not security)
                (event["OriginID"] + event["OriginHost"]).encode()
            ).hexdigest(),
            "RunID": run, "OrderID": len(self.state.cdrs) + 1,
            "OriginHost": event["OriginHost"], "Source": "*sessions",
            "OriginID": event["OriginID"], "ToR": tor, "RequestType": event["RequestType"],
            "Tenant": event.get("Tenant", "cgrates.org"), "Category": event.get("Category", ""),
            "Account": event["Account"], "Subject": event.get("Subject", event["Account"]),
            "Destination": event.get("Destination", ""), "SetupTime": event.get("SetupTime", ""),
            "AnswerTime": event.get("AnswerTime", ""),
            "Usage": go_duration(usage) if tor == "*voice" else str(usage),
            "ExtraFields": {}, "CostSource": "*sessions", "Cost": float(usage),
            "CostDetails": "", "ExtraInfo": "", "PreRated": False,
        }  # fmt: skip

    def call(self, method: str, params: Any) -> Any:
        if method in APIER:
            self.state.calls[method] += 1
            return self._apier(method, params)
        if method == "ConfigSv1.GetConfig":
            self.state.calls[method] += 1
            return self._config(params)
        args = _check(method, params)
        self.state.calls[method] += 1
        cache_key = (method, args["ID"])
        cached = self.state.rpc_responses_limit != 0
        if cached and cache_key in self.state.cache:  # the response cache, by event ID
            return self.state.cache[cache_key]
        reply = self._dispatch(method, args["Event"], args["ID"])
        if cached:
            self.state.cache[cache_key] = reply
        return reply

    def _config(self, params: Any) -> dict[str, Any]:
        """ConfigSv1.GetConfig (config/config.go 1667, master 19463bd): {Section: map}; the
        caches section as CacheCfg.AsMapInterface (config/cachecfg.go 153), only the
        partition omnigw reads."""
        if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
            raise CgrError("params must be a list of one object")
        args = params[0]
        if set(args) - {"Tenant", "Section", "APIOpts"}:
            raise CgrError("ConfigSv1.GetConfig: SectionWithAPIOpts {Tenant, Section, APIOpts}")
        if args.get("Section") != "caches":
            raise CgrError(f"stand-in: section {args.get('Section')!r} is not served")
        partition = {"limit": self.state.rpc_responses_limit, "ttl": "2s", "static_ttl": False,
                     "precache": False, "remote": False, "replicate": False}  # fmt: skip
        return {"caches": {"partitions": {"*rpc_responses": partition}}}

    def _dispatch(self, method: str, event: dict[str, Any], event_id: str) -> Any:
        account, tor = event["Account"], event["ToR"]
        if account not in self.state.accounts:
            raise CgrError("RALS_ERROR:ACCOUNT_NOT_FOUND")
        if account in self.state.disabled:
            raise CgrError("RALS_ERROR:ACCOUNT_DISABLED")
        key = hashlib.sha1(  # noqa: S324  (CGRateS's session key, not security)
            (event["OriginID"] + event["OriginHost"]).encode()
        ).hexdigest()
        sessions = self.state.sessions
        if method == "SessionSv1.AuthorizeEvent":
            return {"MaxUsage": min(event.get("Usage", 0), self.state.balance(account, tor))}
        if method == "SessionSv1.InitiateSession":
            if key in sessions:
                raise CgrError("SESSION_ALREADY_EXISTS")
            if "Usage" not in event:
                raise CgrError("MANDATORY_IE_MISSING: [Usage]")
            session = sessions[key] = Session(account, tor, setup_time=event.get("SetupTime", ""),
                                              answer_time=event.get("AnswerTime", ""))  # fmt: skip
            return {"MaxUsage": self._reserve(session, event["Usage"])}
        if method == "SessionSv1.UpdateSession":
            session = sessions.setdefault(key, Session(account, tor))  # trap: creates one
            self._correct(session, event.get("LastUsed"))
            return {"MaxUsage": self._reserve(session, event.get("Usage", 0))}
        if method == "SessionSv1.TerminateSession":
            session = sessions.pop(key, None)
            if session is None:  # trap: a one-shot charge of what it says was used
                used = event.get("LastUsed", event.get("Usage", 0))
                self._debit(account, tor, used)
                session = Session(account, tor, charged=used,
                                  setup_time=event.get("SetupTime", ""))  # fmt: skip
            else:
                self._correct(session, event.get("LastUsed"))
            if event.get("AnswerTime"):  # sessions.go 3136 -> 1840-1842: the CDR's AnswerTime
                session.answer_time = event["AnswerTime"]
            session.closed_at = self.state.clock()
            self.state.closed[key] = session
            return "OK"
        if method == "SessionSv1.ProcessMessage":
            usage = min(event.get("Usage", 0), max(self.state.balance(account, tor), 0))
            self._debit(account, tor, usage)
            return {"MaxUsage": usage}
        closed = self.state.closed.get(key)  # sessions.go 4456: Get, not popped
        if closed is not None and self.state.clock() - closed.closed_at < self.state.closed_ttl:
            # The CDR is the closed session's own: its total usage (sessions.go 1839) and its
            # times; the event's Usage and times are not used; nothing is debited.
            times = {"SetupTime": closed.setup_time, "AnswerTime": closed.answer_time}
            self._store_cdr({**event, **times}, event_id, closed.charged)
            return "OK"
        # sessions.go 4459-4466: no cached session, the event goes to CDRs with *rals: rated
        # and, for *prepaid, debited by its own Usage; the balance may go negative.
        self._debit(account, tor, event.get("Usage", 0))
        self._store_cdr(event, event_id, event.get("Usage", 0))
        return "OK"

    def _debit(self, account: str, tor: str, amount: int) -> None:
        self.state.accounts[account][tor] = self.state.balance(account, tor) - amount

    def _reserve(self, session: Session, usage: int) -> int:
        granted = min(usage, max(self.state.balance(session.account, session.tor), 0))
        self._debit(session.account, session.tor, granted)
        session.reserved = granted
        return granted

    def _correct(self, session: Session, last_used: int | None) -> None:
        """LastUsed replaces the reservation debited in advance with what was used."""
        used = session.reserved if last_used is None else last_used
        self._debit(session.account, session.tor, used - session.reserved)
        session.charged += used
        session.reserved = 0

    def charged(self, account: str, tor: str, initial: int) -> int:
        """What the account paid so far, reservations of live sessions excluded."""
        held = sum(
            s.reserved for s in self.state.sessions.values()
            if s.account == account and s.tor == tor
        )  # fmt: skip
        return initial - self.state.balance(account, tor) - held

    # --- transports ----------------------------------------------------------------------

    def _answer(self, request: Any) -> dict[str, Any]:
        request_id = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict):
                raise CgrError("request must be an object")
            result = self.call(str(request.get("method")), request.get("params"))
        except CgrError as exc:
            return {"id": request_id, "result": None, "error": str(exc)}
        return {"id": request_id, "result": result, "error": None}

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while line := await reader.readline():
                if self.latency:
                    await asyncio.sleep(self.latency)
                reply = self._answer(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
        except (ConnectionError, ValueError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    async def _serve_http(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response(self._answer(await request.json()))

    async def start(self, port: int = 0, http_port: int = 0) -> None:
        server = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
        self._servers = [server]
        self.port = server.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_post("/jsonrpc", self._serve_http)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", http_port)
        await site.start()
        self.http_port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Like a crash: listeners and connections go, sessions are lost, accounts stay."""
        for server in self._servers:
            server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        for server in self._servers:
            await server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()
        for session in self.state.sessions.values():
            # CGRateS debits a reservation in advance; a crash loses the session, not the debit.
            self.state.lost[session.account] += session.reserved
        self.state.sessions.clear()
        self.state.closed.clear()
        self.state.cache.clear()

    async def restart(self) -> None:
        await self.start(self.port, self.http_port)


def _spec(text: str) -> tuple[str, str, int]:
    name, rest = text.split("=")
    amount, tor = rest.split(":")
    return name, tor, int(amount)


async def _main(port: int, http_port: int, accounts: list[str], actions: list[str]) -> None:
    cgrates = Cgrates()
    for spec in accounts:
        cgrates.add_account(*_spec(spec))
    for spec in actions:
        cgrates.add_action(*_spec(spec))
    await cgrates.start(port, http_port)
    print(json.dumps({"port": cgrates.port, "http_port": cgrates.http_port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="strict CGRateS SessionS stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--account", action="append", default=[], help="NAME=AMOUNT:TOR")
    parser.add_argument("--action", action="append", default=[], help="ACTIONS_ID=UNITS:TOR")
    args = parser.parse_args()
    import uvloop

    uvloop.run(_main(args.port, args.http_port, args.account, args.action))
