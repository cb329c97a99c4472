"""The configured OCS backend (embedded, or CGRateS behind the failure policy) and its accounts."""

from __future__ import annotations

from pathlib import Path

from omnigw.config import OcsConfig
from omnigw.ocs.accounts import Accounts, CgratesAccounts
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Ocs
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.store.engine import SessionFactory


def build_ocs(cfg: OcsConfig, sessions: SessionFactory, state_dir: Path) -> tuple[Ocs, Accounts]:
    """The charging backend and the account administration that goes with it."""
    if cfg.backend == "embedded":
        embedded = EmbeddedOcs(sessions, cfg.default_quota, state_dir, actions=cfg.actions)
        return embedded, embedded
    cgrates = CgratesOcs(cfg.cgrates, cfg.default_quota)
    return GuardedOcs(cgrates, cfg.on_failure, sessions), CgratesAccounts(cgrates)
