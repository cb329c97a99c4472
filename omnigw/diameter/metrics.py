"""Metric families of the Diameter node."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

COMMANDS = {257: "CER", 280: "DWR", 282: "DPR", 272: "CCR"}  # bounded label values

MESSAGES = Counter(
    "omnigw_diameter_messages_total",
    "Diameter messages by command, kind (request/answer) and direction (in/out)",
    ["command", "kind", "direction"],
)
PEERS_OPEN = Gauge("omnigw_diameter_peers_open", "Diameter peers in the open state")
REJECTED = Counter(
    "omnigw_diameter_peers_rejected_total", "Connections refused at CER by result code", ["result"]
)
