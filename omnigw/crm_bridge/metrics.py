"""Provisioning and subscriber-lookup metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

JOBS = Counter(
    "omnigw_provisioning_jobs_total", "Provisioning jobs finished, by operation and result",
    ["operation", "result"],
)  # fmt: skip
JOB_STEPS = Counter(
    "omnigw_provisioning_steps_total",
    "Play steps finished by step and status (0 ok, 2 failed, 3 failed-ignored)",
    ["step", "status"],
)  # fmt: skip
SUBSCRIBERS = Gauge(
    "omnigw_crm_subscriber_identifiers", "IMSIs and MSISDNs the charging edge can resolve"
)
LOOKUPS = Counter(
    "omnigw_crm_subscriber_lookups_total",
    "Charging-edge subscriber lookups by result (found, unknown, barred)", ["result"],
)  # fmt: skip
