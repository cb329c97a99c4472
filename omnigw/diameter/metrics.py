"""Metric families of the Diameter node."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from omnigw.metrics import LoopCounter, LoopHistogram

COMMANDS = {257: "CER", 280: "DWR", 282: "DPR", 272: "CCR"}  # bounded label values

MESSAGES = LoopCounter(  # several per CCR: lock-free
    "omnigw_diameter_messages_total",
    "Diameter messages by command, kind (request/answer) and direction (in/out)",
    ["command", "kind", "direction"],
)
PEERS_OPEN = Gauge("omnigw_diameter_peers_open", "Diameter peers in the open state")
REJECTED = Counter(
    "omnigw_diameter_peers_rejected_total", "Connections refused at CER by result code", ["result"]
)
CCRS = LoopCounter(
    "omnigw_gy_ccr_total", "Credit-Control requests answered, by request type and result code",
    ["type", "result"],
)  # fmt: skip
CCR_LATENCY = LoopHistogram(
    "omnigw_gy_answer_duration_seconds", "CCR received -> CCA sent, by request type", ["type"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0),
)  # fmt: skip
SESSIONS = Gauge("omnigw_gy_sessions_active", "Gy sessions open")
ORPHANED = Counter(
    "omnigw_gy_sessions_orphaned_total", "Gy sessions ended by us after no CCR for idle_seconds"
)
DUPLICATES = Counter(
    "omnigw_gy_duplicates_total", "Repeated CCRs answered from the original (replayed or waited)",
    ["how"],
)  # fmt: skip
