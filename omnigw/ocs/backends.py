"""The configured OCS backend: embedded, or CGRateS behind the failure policy."""

from __future__ import annotations

from omnigw.config import OcsConfig
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Ocs
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.store.engine import SessionFactory


def build_ocs(cfg: OcsConfig, sessions: SessionFactory) -> Ocs:
    if cfg.backend == "embedded":
        return EmbeddedOcs(sessions, cfg.default_quota)
    return GuardedOcs(CgratesOcs(cfg.cgrates, cfg.default_quota), cfg.on_failure, sessions)
