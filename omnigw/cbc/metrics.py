"""Metric families of the CBC."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from omnigw.metrics import LoopCounter

ALERTS = Gauge("omnigw_cbc_alerts", "Alerts in the store by state", ["state"])
MESSAGES = LoopCounter(  # two per delivery: lock-free
    "omnigw_cbc_messages_total",
    "Messages toward peers by peer, interface and result (sent, confirmed, failed)",
    ["peer", "interface", "result"],
)
PEER_UP = Gauge("omnigw_cbc_peer_up", "1 when the peer's link is up", ["peer", "interface"])
DELIVERY_LATENCY = Histogram(
    "omnigw_cbc_delivery_seconds",
    "From accepting an alert (or its update) to every peer's final answer",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 30, 60),
)
PROTOCOL_ERRORS = Counter(
    "omnigw_cbc_protocol_errors_total",
    "Protocol errors by peer, interface and cause (ours answered, or the peer's error "
    "indication: cause peer_...)",
    ["peer", "interface", "cause"],
)
CELLS_REPORTED = Counter(
    "omnigw_cbc_cells_reported_total",
    "Cells a peer reported by peer, interface and report (scheduled, stopped, failed)",
    ["peer", "interface", "report"],
)
SECOND_CONNECTIONS = Counter(
    "omnigw_cbc_second_connections_refused_total",
    "Connections refused because the peer's established link is alive (it is probed)",
    ["peer", "interface"],
)
UNKNOWN_PEERS = Counter(
    "omnigw_cbc_unknown_peer_connections_total",
    "Connections refused because the address is not a configured peer",
    ["interface"],
)
REJECTED = Counter(
    "omnigw_cbc_alerts_rejected_total", "Alerts refused at intake by door", ["source"]
)
