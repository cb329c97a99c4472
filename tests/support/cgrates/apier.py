"""The APIer and ConfigS calls provisioning and the CRM make, as CGRateS answers them.

Line references are to CGRateS master at 19463bd.
"""

from __future__ import annotations

from typing import Any

from tests.support.cgrates.state import CgrError, State

# method -> (required fields, every field CGRateS knows)
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
    "ConfigSv1.GetConfig": (set(), {"Tenant", "Section", "APIOpts"}),
}  # fmt: skip
NEVER = "0001-01-01T00:00:00Z"  # Go's zero time.Time: a balance that does not expire


def _one_object(params: Any) -> dict[str, Any]:
    if not isinstance(params, list) or len(params) != 1 or not isinstance(params[0], dict):
        raise CgrError("params must be a list of one object")
    args: dict[str, Any] = params[0]
    return args


class Apier:
    def __init__(self, state: State) -> None:
        self.state = state

    def call(self, method: str, params: Any) -> Any:
        args = _one_object(params)
        required, known = APIER[method]
        unknown = set(args) - known
        if unknown:
            raise CgrError(f"json: unknown field {sorted(unknown)[0]!r}")
        missing = sorted(k for k in required if not args.get(k))
        if missing:
            raise CgrError(f"MANDATORY_IE_MISSING: [{missing[0]}]")
        if method == "APIerSv2.GetCDRs":
            return self._cdrs(args)
        if method == "ConfigSv1.GetConfig":
            return self._config(args)
        account, accounts = args["Account"], self.state.accounts
        if method == "APIerSv2.SetAccount":
            return self._set_account(account, args.get("ExtraOptions") or {})
        if method == "APIerSv1.ExecuteAction":
            return self._execute(account, args["ActionsId"])
        if account not in accounts:
            raise CgrError("NOT_FOUND")
        if method == "APIerSv1.RemoveAccount":
            del accounts[account]
            self.state.extra_balances.pop(account, None)
            self.state.disabled.discard(account)
            self.state.allow_negative.discard(account)
            return "OK"
        return self._account(args["Tenant"], account)

    def _set_account(self, account: str, options: dict[str, Any]) -> str:
        if set(options) - {"AllowNegative", "Disabled"} or not all(
            isinstance(v, bool) for v in options.values()
        ):
            raise CgrError("ExtraOptions: only AllowNegative and Disabled, as booleans")
        self.state.accounts.setdefault(account, {})
        # apier/v2/accounts.go 242-247: a flag changes only when its key is in ExtraOptions;
        # an absent key leaves the account's value as it is.
        for key, flagged in (("Disabled", self.state.disabled),
                             ("AllowNegative", self.state.allow_negative)):  # fmt: skip
            if key in options:
                (flagged.add if options[key] else flagged.discard)(account)
        return "OK"

    def _execute(self, account: str, actions_id: str) -> str:
        action = self.state.actions.get(actions_id)
        if action is None:
            raise CgrError("NOT_FOUND")
        # engine/action_plan.go 241-251: an account that does not exist is created by the
        # action run on it.
        balances = self.state.accounts.setdefault(account, {})
        for tor, units in action.items():
            balances[tor] = balances.get(tor, 0) + units
        return "OK"

    def _account(self, tenant: str, account: str) -> dict[str, Any]:
        """engine/account.go Account as JSON; balances as engine/balances.go 34-52."""
        balances: dict[str, list[dict[str, Any]]] = {
            tor: [{"Uuid": f"{account}-{tor}", "ID": "*default", "Value": value,
                   "ExpirationDate": NEVER, "Weight": 10, "Disabled": False}]
            for tor, value in self.state.accounts[account].items()
        }  # fmt: skip
        for n, extra in enumerate(self.state.extra_balances.get(account, [])):
            balances.setdefault(extra.tor, []).append(
                {"Uuid": f"{account}-{extra.tor}-{n}", "ID": f"extra{n}", "Value": extra.value,
                 "ExpirationDate": extra.expires, "Weight": 0, "Disabled": extra.disabled}
            )  # fmt: skip
        return {"ID": f"{tenant}:{account}", "BalanceMap": balances,
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

    def _config(self, args: dict[str, Any]) -> dict[str, Any]:
        """ConfigSv1.GetConfig (config/config.go 1667): {Section: map}; the caches section as
        CacheCfg.AsMapInterface (config/cachecfg.go 153), only the partition omnigw reads."""
        if args.get("Section") != "caches":
            raise CgrError(f"stand-in: section {args.get('Section')!r} is not served")
        partition = {"limit": self.state.rpc_responses_limit, "ttl": "2s", "static_ttl": False,
                     "precache": False, "remote": False, "replicate": False}  # fmt: skip
        return {"caches": {"partitions": {"*rpc_responses": partition}}}
