"""What every benchmark reports: percentiles, and a process's CPU seconds and peak RSS."""

from __future__ import annotations

import os
import statistics
from pathlib import Path


def percentile_ms(samples: list[float], q: int) -> float:
    """The q-th percentile of latencies given in seconds, in milliseconds."""
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


def cpu_and_rss(pid: int) -> tuple[float, float]:
    """CPU seconds used so far and peak resident memory in MiB, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss
