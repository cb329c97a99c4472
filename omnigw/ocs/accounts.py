"""Charging accounts as provisioning sees them: create, disable, remove, top up, read.

Provisioning plays call this, never the failure policy: an account operation
CGRateS cannot take fails the job (and rolls it back) instead of being granted.
CGRateS's APIer shapes (v0.10 / master): APIerSv2.SetAccount, APIerSv1.RemoveAccount,
APIerSv1.ExecuteAction, APIerSv2.GetAccount.
"""

from __future__ import annotations

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


def _not_found(exc: RpcError) -> bool:
    return "NOT_FOUND" in str(exc)


class CgratesAccounts:
    def __init__(self, cgrates: CgratesOcs) -> None:
        self._cgrates = cgrates
        self._tenant = cgrates.cfg.tenant

    async def _call(self, method: str, **params: Any) -> Any:
        try:
            return await self._cgrates.call(method, {"Tenant": self._tenant, **params})
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
                ExtraOptions={"AllowNegative": False, "Disabled": disabled},
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
        for kind, balances in (reply.get("BalanceMap") or {}).items():
            value = sum(float(b.get("Value", 0)) for b in balances or [])
            name = BALANCE_NAMES.get(kind, kind)
            totals[name] = value / NANOS if kind == "*voice" else value
        return totals
