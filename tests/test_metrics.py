"""The /metrics listener: build info, process metrics, API families, optional bearer token."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from omnigw.config import MetricsConfig
from omnigw.diameter.metrics import MESSAGES
from omnigw.metrics import LoopHistogram, MetricsServer, watch_loop_lag
from tests.support.api import PASSWORD, Api, sqlite_store_url
from tests.support.ports import free_port

store_url = pytest.fixture(sqlite_store_url)


async def _scrape(port: int, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{port}/metrics", headers=headers)


async def _scrape_once() -> str:
    """Start a metrics listener, scrape it once, stop it."""
    port = free_port()
    server = MetricsServer(MetricsConfig(port=port))
    await server.start()
    try:
        return (await _scrape(port)).text
    finally:
        await server.stop()


async def test_families_follow_conventions(api: Api) -> None:
    await api.client.get("/healthz")
    await api.client.get("/api/v1/apikeys/anything-here")  # 405/404 land on bounded labels
    await api.client.post("/crm/auth/login", json={"email": "noc@x.org", "password": "nope-nope!"})
    await api.client.get("/api/v1/users", headers=api.auth("noc"))
    text = await _scrape_once()
    assert 'omnigw_build_info{python="' in text
    assert "process_resident_memory_bytes" in text and "process_cpu_seconds_total" in text
    assert 'omnigw_api_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert (
        'omnigw_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}'
        in text
    )
    assert 'omnigw_api_auth_failures_total{reason="bad_password"}' in text
    assert 'omnigw_api_auth_failures_total{reason="forbidden"}' in text
    # Unmatched paths never become label values.
    assert "anything-here" not in text
    for line in text.splitlines():
        if line.startswith("# TYPE omnigw_") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line
    assert PASSWORD not in text


async def test_bearer_token_guards_the_scrape_when_configured() -> None:
    port = free_port()
    server = MetricsServer(MetricsConfig(port=port, bearer_token=SecretStr("scrape-me")))
    await server.start()
    try:
        assert (await _scrape(port)).status_code == 401
        assert (await _scrape(port, "wrong")).status_code == 401
        assert (await _scrape(port, "scrape-me")).status_code == 200
    finally:
        await server.stop()


async def test_loop_counter_is_scraped_as_a_counter_family() -> None:
    MESSAGES.inc(("CCR", "request", "in"), 3)
    text = await _scrape_once()
    assert "# TYPE omnigw_diameter_messages_total counter" in text
    expected = MESSAGES.values[("CCR", "request", "in")]
    labels = 'command="CCR",direction="in",kind="request"'
    assert f"omnigw_diameter_messages_total{{{labels}}} {expected}" in text


async def test_loop_histogram_is_scraped_with_cumulative_buckets() -> None:
    family = LoopHistogram("omnigw_test_seconds", "test", ["kind"], buckets=(0.001, 0.01))
    for value in (0.0005, 0.001, 0.005, 2.0):
        family.observe(("x",), value)
    text = await _scrape_once()
    assert 'omnigw_test_seconds_bucket{kind="x",le="0.001"} 2.0' in text  # le is inclusive
    assert 'omnigw_test_seconds_bucket{kind="x",le="0.01"} 3.0' in text
    assert 'omnigw_test_seconds_bucket{kind="x",le="+Inf"} 4.0' in text
    assert 'omnigw_test_seconds_count{kind="x"} 4.0' in text
    assert 'omnigw_test_seconds_sum{kind="x"} 2.0065' in text


async def test_loop_lag_is_observed_when_something_holds_the_loop() -> None:
    def over(bound: str) -> float:
        count = REGISTRY.get_sample_value("omnigw_event_loop_lag_seconds_count") or 0.0
        within = (
            REGISTRY.get_sample_value("omnigw_event_loop_lag_seconds_bucket", {"le": bound}) or 0.0
        )
        return count - within

    before = over("0.025")
    task = asyncio.get_running_loop().create_task(watch_loop_lag(0.01))
    await asyncio.sleep(0.02)
    time.sleep(0.06)  # noqa: ASYNC251  (holds the loop, as heavy work on it would)
    await asyncio.sleep(0.03)
    task.cancel()
    assert over("0.025") > before
