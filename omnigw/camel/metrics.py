"""Metric families of the gsmSCF. Label values are bounded: services, outcome and
operation names, causes 0-127, error causes of each layer, configured link names."""

from __future__ import annotations

from prometheus_client import Gauge

from omnigw.metrics import LoopCounter, LoopHistogram

DIALOGUES = LoopCounter(
    "omnigw_camel_dialogues_total",
    "CAMEL dialogues ended, by service (call/sms) and outcome (completed, no_credit, ...)",
    ["service", "outcome"],
)
OPERATIONS = LoopCounter(
    "omnigw_camel_operations_total", "CAP operations invoked, by direction (in/out) and name",
    ["direction", "operation"],
)  # fmt: skip
ACTIVE = Gauge("omnigw_camel_dialogues_active", "CAMEL dialogues open, by service", ["service"])
RELEASES = LoopCounter(
    "omnigw_camel_releases_total", "Calls and SMS released by us, by service and cause",
    ["service", "cause"],
)  # fmt: skip
ERRORS = LoopCounter(
    "omnigw_camel_errors_total",
    "Messages refused or returned, by layer (m3ua/sccp/tcap/cap) and cause",
    ["layer", "cause"],
)
ASP_ACTIVE = Gauge("omnigw_camel_asp_active", "M3UA ASP state per link: 1 active", ["link"])
FIRST_ANSWER = LoopHistogram(
    "omnigw_camel_first_answer_seconds",
    "InitialDP (or InitialDPSMS) received -> our first answer sent, by service",
    ["service"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
