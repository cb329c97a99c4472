"""Plays by name: the built-in OmniCRM patterns, plus (and overridden by) the configured ones."""

from __future__ import annotations

from collections.abc import Sequence

from omnigw.config import AnsibleStep, CrmConfig, PlayStep, StepName, WebhookStep
from omnigw.crm_bridge.steps import (
    AllocateInventory,
    AnsiblePlaybook,
    CreateAccount,
    CreateService,
    EndService,
    ExecuteAction,
    ReleaseInventory,
    RemoveAccount,
    RequireService,
    SetAccountEnabled,
    Step,
    Webhook,
)

_STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        CreateService(), AllocateInventory(), CreateAccount(), ExecuteAction(),
        RequireService(), SetAccountEnabled(enable=False), SetAccountEnabled(enable=True),
        ReleaseInventory(), RemoveAccount(), EndService(),
    )
}  # fmt: skip

NEW_SERVICE: tuple[StepName, ...] = ("create_service", "allocate_inventory", "create_account")
BUILTIN: dict[str, Sequence[PlayStep]] = {
    # A SIM service: service record, SIM and number from inventory, its CGRateS account.
    "play_psim_only": NEW_SERVICE,
    # The same, then the product's balances from Action_<product_slug>.
    "play_simple_service": (*NEW_SERVICE, "execute_action"),
    # An addon on an existing service (OmniCRM also charges the customer here: billing
    # is not omnigw's, so only the action runs).
    "play_topup_charge_then_action": ("require_service", "execute_action"),
    "play_topup_no_charge": ("require_service", "execute_action"),
    # Service lifecycle, run by PATCH service_status and DELETE /crm/service/<id>.
    "play_suspend": ("suspend_account",),
    "play_resume": ("resume_account",),
    "play_deprovision": ("release_inventory", "remove_account", "end_service"),
}
LIFECYCLE = {"suspend": "play_suspend", "resume": "play_resume", "deprovision": "play_deprovision"}


def _step(spec: PlayStep) -> Step:
    if isinstance(spec, WebhookStep):
        return Webhook(spec)
    if isinstance(spec, AnsibleStep):
        return AnsiblePlaybook(spec)
    return _STEPS[spec]


class Plays:
    def __init__(self, cfg: CrmConfig) -> None:
        self._plays: dict[str, Sequence[PlayStep]] = {**BUILTIN, **cfg.plays}

    def names(self) -> list[str]:
        return sorted(self._plays)

    def steps(self, play: str) -> list[Step] | None:
        specs = self._plays.get(play)
        return None if specs is None else [_step(s) for s in specs]
