"""Charging accounts as provisioning sees them: create, disable, remove, top up, read.

Provisioning plays call this, never the failure policy: an account operation
CGRateS cannot take fails the job (and rolls it back) instead of being granted.
CGRateS's APIer shapes (v0.10 / master): APIerSv2.SetAccount, APIerSv1.RemoveAccount,
APIerSv1.ExecuteAction, APIerSv2.GetAccount, and APIerSv2.GetCDRs for usage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from omnigw.ocs.cgrates import NANOS, CgratesOcs
from omnigw.ocs.charge import OcsError
from omnigw.ocs.jsonrpc import RpcError

# CGRateS balance types -> the unit names omnigw uses everywhere else
BALANCE_NAMES = {"*voice": "seconds", "*data": "octets", "*sms": "units", "*monetary": "monetary"}


class AccountError(Exception):
    """An account operation failed; the message says which and why."""


class ActionNotFound(AccountError):
    pass


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One ended charge (a CGRateS CDR): what it used, in seconds, octets or units."""

    charge: str  # the charge's OriginID, "<Session-Id>_rg<N>"
    unit: str
    amount: float
    started_at: str | None  # ISO 8601
    ended_at: str | None = None
    cost: float | None = None


class Accounts(Protocol):
    async def create(self, account: str) -> bool:
        """Make the account (enabled, no balances); False if it already existed."""
        ...

    async def remove(self, account: str) -> None: ...

    async def set_disabled(self, account: str, disabled: bool) -> None: ...

    async def execute_action(self, account: str, actions_id: str) -> None: ...

    async def balances(self, account: str) -> dict[str, float] | None:
        """Balances by unit name, or None when there is no such account."""
        ...

    async def usage(self, account: str, limit: int, offset: int) -> list[UsageRecord] | None:
        """The account's ended charges, newest first; None when there is no such account."""
        ...


def _usable(balance: dict[str, Any], now: datetime) -> bool:
    """What CGRateS would charge from: not disabled, not expired (engine/balances.go 130-140,
    master 19463bd); Go's zero time (year 1) is "never expires"."""
    if balance.get("Disabled"):
        return False
    expires = balance.get("ExpirationDate") or ""
    try:
        at = datetime.fromisoformat(expires)
    except ValueError:
        return True  # unreadable: counted, as CGRateS would count it
    return at.year <= 1 or at.tzinfo is None or at >= now


def _not_found(exc: RpcError) -> bool:
    return "NOT_FOUND" in str(exc)


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS_PER = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def cdr_usage(tor: str, usage: str) -> float:
    """ExternalCDR.Usage: a Go duration ("1m30s") for *voice, a plain count otherwise."""
    if tor != "*voice":
        return float(usage)
    parts = _GO_DURATION.findall(usage)
    if not parts or "".join(n + u for n, u in parts) != usage.lstrip("-"):
        if usage.isdigit():  # some versions give nanoseconds
            return int(usage) / NANOS
        raise AccountError(f"CGRateS CDR with an unreadable Usage {usage!r}")
    return sum(float(n) * _SECONDS_PER[u] for n, u in parts)


class CgratesAccounts:
    def __init__(self, cgrates: CgratesOcs) -> None:
        self._cgrates = cgrates
        self._tenant = cgrates.cfg.tenant

    async def _call(self, method: str, **params: Any) -> Any:
        return await self._send(method, {"Tenant": self._tenant, **params})

    async def _send(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return await self._cgrates.call(method, params)
        except OcsError as exc:
            raise AccountError(f"CGRateS unreachable for {method}: {exc.reason}") from None

    async def _get(self, account: str) -> dict[str, Any] | None:
        try:
            reply = await self._call("APIerSv2.GetAccount", Account=account)
        except RpcError as exc:
            if _not_found(exc):
                return None
            raise AccountError(f"APIerSv2.GetAccount {account}: {exc}") from None
        return reply if isinstance(reply, dict) else None

    async def _set(self, account: str, disabled: bool) -> None:
        try:
            await self._call(
                "APIerSv2.SetAccount",
                Account=account,
                ActionPlanIDs=[],
                ActionPlansOverwrite=False,
                ActionTriggerIDs=[],
                ActionTriggerOverwrite=False,
                # Only what this operation means to change: CGRateS leaves the flags not
                # named as they are, so an operator's AllowNegative survives a suspension.
                ExtraOptions={"Disabled": disabled},
                ReloadScheduler=True,
            )
        except RpcError as exc:
            raise AccountError(f"APIerSv2.SetAccount {account}: {exc}") from None

    async def create(self, account: str) -> bool:
        if await self._get(account) is not None:
            return False
        await self._set(account, disabled=False)
        return True

    async def remove(self, account: str) -> None:
        try:
            await self._call("APIerSv1.RemoveAccount", Account=account, ReloadScheduler=True)
        except RpcError as exc:
            if not _not_found(exc):  # already gone is what we wanted
                raise AccountError(f"APIerSv1.RemoveAccount {account}: {exc}") from None

    async def set_disabled(self, account: str, disabled: bool) -> None:
        if await self._get(account) is None:
            raise AccountError(f"no CGRateS account {account}")
        await self._set(account, disabled)

    async def execute_action(self, account: str, actions_id: str) -> None:
        try:
            await self._call("APIerSv1.ExecuteAction", Account=account, ActionsId=actions_id)
        except RpcError as exc:
            if _not_found(exc):
                raise ActionNotFound(
                    f"action {actions_id} not found in CGRateS ({exc}); define it first"
                ) from None
            raise AccountError(f"APIerSv1.ExecuteAction {actions_id}: {exc}") from None

    async def balances(self, account: str) -> dict[str, float] | None:
        reply = await self._get(account)
        if reply is None:
            return None
        totals: dict[str, float] = {}
        now = datetime.now(UTC)
        for kind, balances in (reply.get("BalanceMap") or {}).items():
            value = sum(float(b.get("Value", 0)) for b in balances or [] if _usable(b, now))
            name = BALANCE_NAMES.get(kind, kind)
            totals[name] = value / NANOS if kind == "*voice" else value
        return totals

    async def usage(self, account: str, limit: int, offset: int) -> list[UsageRecord] | None:
        if await self._get(account) is None:
            return None
        try:
            cdrs = await self._send("APIerSv2.GetCDRs", {  # utils.RPCCDRsFilter
                "Tenants": [self._tenant], "Accounts": [account], "OrderBy": "OrderID;desc",
                # One CDR per charger run: the default charger's is the account's usage;
                # other runs (wholesale, reseller) would count the same session again.
                "RunIDs": ["*default"],
                "Limit": limit, "Offset": offset,
            })  # fmt: skip
        except RpcError as exc:
            if _not_found(exc):  # CGRateS's answer for "no CDRs"
                return []
            raise AccountError(f"APIerSv2.GetCDRs {account}: {exc}") from None
        return [
            UsageRecord(
                charge=cdr.get("OriginID", ""),
                unit=BALANCE_NAMES.get(cdr.get("ToR", ""), cdr.get("ToR", "")),
                amount=cdr_usage(cdr.get("ToR", ""), str(cdr.get("Usage", "0"))),
                started_at=cdr.get("SetupTime") or None,
                ended_at=None,
                cost=cdr.get("Cost"),
            )
            for cdr in cdrs or []
        ]
