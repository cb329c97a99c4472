"""OCS metrics: CGRateS calls and their latency, usage waiting to be reported."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CGRATES_CALLS = Counter(
    "omnigw_cgrates_calls_total", "CGRateS JSON-RPC calls by method and outcome",
    ["method", "outcome"],
)  # fmt: skip
CGRATES_LATENCY = Histogram(
    "omnigw_cgrates_call_duration_seconds", "CGRateS JSON-RPC answer time", ["method"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)  # fmt: skip
UNREPORTED = Gauge(
    "omnigw_ocs_unreported_usage", "Usage records kept while the OCS was unreachable"
)
BREAKER_OPEN = Gauge("omnigw_ocs_breaker_open", "1 while calls to the OCS are suspended")
FALLBACK_GRANTS = Counter(
    "omnigw_ocs_fallback_grants_total", "Quotas granted by the failure policy, not the OCS"
)
STORE_ROWS_REJECTED = Counter(
    "omnigw_ocs_store_rows_rejected_total",
    "Balance or usage rows the store refused (dropped and logged; the others are stored)",
    ["kind"],
)
RESPONSE_CACHE_OFF = Gauge(
    "omnigw_cgrates_response_cache_off",
    "1 when CGRateS's *rpc_responses cache was off at start: retried requests may be charged twice",
)
