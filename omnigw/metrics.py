"""The metric families shared across services, and the /metrics listener.

Families live in prometheus-client's default registry, which also carries the
process_* and python_* collectors. Labels are bounded: route templates, never
raw paths; result classes, never free text.
"""

from __future__ import annotations

import asyncio
import hmac
import platform
from bisect import bisect_left
from collections.abc import Iterator, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from omnigw import __version__
from omnigw.config import MetricsConfig

BUILD_INFO = Gauge(
    "omnigw_build_info", "omnigw version and Python runtime; always 1", ["version", "python"]
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

LOOP_LAG = Histogram(
    "omnigw_event_loop_lag_seconds",
    "How late the event loop ran a timer due now: the time every request waited then",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WRITES_PAUSED = Counter(
    "omnigw_link_writes_paused_total",
    "Times a peer's link stopped reading its requests because the peer was not reading our "
    "answers (write buffer past its high-water mark; reading resumes below the low one)",
    ["interface"],
)
IDLE_CLOSED = Counter(
    "omnigw_api_connections_idle_closed_total",
    "Control API connections closed for sending no complete request within api.idle_seconds",
)
API_REQUESTS = Counter(
    "omnigw_api_requests_total",
    "Control API requests by route template, method and HTTP status",
    ["route", "method", "status"],
)
API_LATENCY = Histogram(
    "omnigw_api_request_duration_seconds",
    "Control API request handling time by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
AUTH_FAILURES = Counter(
    "omnigw_api_auth_failures_total",
    "Rejected authentications and authorizations by reason",
    ["reason"],
)
CONFIG_RELOADS = Counter("omnigw_config_reloads_total", "SIGHUP reloads by result", ["result"])


class LoopCounter(Collector):
    """A counter family incremented only on the event loop's thread, so without a lock.

    prometheus-client's Counter takes a lock per increment; on the Gy path, with a
    few increments per CCR, that was a twentieth of the CPU. Scrapes are served on
    the same loop (MetricsServer), so they never see an increment half done.
    """

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str]) -> None:
        self._name = name.removesuffix("_total")
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self.values: dict[tuple[str, ...], float] = {}
        REGISTRY.register(self)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, value in list(self.values.items()):
            family.add_metric(list(labels), value)
        yield family


class LoopHistogram(Collector):
    """A histogram family observed only on the event loop's thread: no lock, and the
    bucket found by bisection in C. See LoopCounter for why."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = list(labelnames)
        self._bounds = sorted(buckets)
        # labels -> counts per bucket (the last one is +Inf, exclusive) and the sum
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}
        REGISTRY.register(self)

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        counts = self._counts.get(labels)
        if counts is None:
            counts = self._counts[labels] = [0] * (len(self._bounds) + 1)
            self._sums[labels] = 0.0
        counts[bisect_left(self._bounds, value)] += 1
        self._sums[labels] += value

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labelnames)
        for labels, counts in list(self._counts.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, self._bounds), "+Inf"], counts, strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            family.add_metric(list(labels), buckets, self._sums[labels])
        yield family


async def watch_loop_lag(interval: float = 0.25) -> None:
    """Observe, every `interval`, how late a sleep on this loop wakes. Budget: no request
    may hold the loop for more than a few milliseconds (docs/ARCHITECTURE.md)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, loop.time() - due))


class MetricsServer:
    """Serves the default registry on its own listener so scrapes never queue behind the API."""

    def __init__(self, cfg: MetricsConfig) -> None:
        self._cfg = cfg
        self._runner: web.AppRunner | None = None

    async def _scrape(self, request: web.Request) -> web.Response:
        token = self._cfg.bearer_token
        if token is not None:
            sent = request.headers.get("Authorization", "")
            expected = f"Bearer {token.get_secret_value()}"
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                AUTH_FAILURES.labels("metrics_token").inc()
                raise web.HTTPUnauthorized(text="bearer token required\n")
        body = generate_latest(REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, str(self._cfg.bind), self._cfg.port)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
