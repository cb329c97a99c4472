"""Control API authentication cost: login, then authenticated GETs by JWT and by API key.

Runs the real app on a temporary SQLite store on loopback, drives it with
aiohttp clients in the same process, and prints throughput, p50/p99 latency,
CPU seconds and peak RSS. Bounded: --requests per credential kind.

    .venv/bin/python bench/api_auth.py --requests 2000 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import percentile_ms
from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.config import ApiConfig
from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port

PASSWORD = "benchmark-password"


async def _drive(url: str, headers: dict[str, str], total: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    remaining = total

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return latencies


def _report(name: str, latencies: list[float], wall: float) -> None:
    print(
        f"{name:<22} {len(latencies) / wall:>9.0f} req/s   "
        f"p50 {percentile_ms(latencies, 50):6.2f} ms   "
        f"p99 {percentile_ms(latencies, 99):6.2f} ms"
    )


async def main(requests: int, concurrency: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="omnigw-bench-"))
    url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    identity = IdentityService(
        session_factory(engine),
        TokenIssuer(os.urandom(32), 900, 3600),
        LoginThrottle(1000, 60.0),
    )
    await identity.ensure_builtin_roles()
    await identity.create_user("bench@x.org", PASSWORD, ["noc"])
    port = free_port()
    server = ApiServer(
        build_app(ApiContext(identity=identity, settings=ApiConfig())), "127.0.0.1", port, 5.0
    )
    await server.start()
    base = f"http://127.0.0.1:{port}"
    cpu0 = time.process_time()
    try:
        logins = []
        async with aiohttp.ClientSession() as session:
            for _ in range(20):
                started = time.perf_counter()
                async with session.post(
                    f"{base}/crm/auth/login", json={"email": "bench@x.org", "password": PASSWORD}
                ) as resp:
                    token = (await resp.json())["token"]
                logins.append(time.perf_counter() - started)
        print(
            f"{'login (argon2id)':<22} {len(logins) / sum(logins):>9.1f} req/s   "
            f"p50 {percentile_ms(logins, 50):6.2f} ms   "
            f"p99 {percentile_ms(logins, 99):6.2f} ms"
        )
        _, key = await identity.create_api_key("bench@x.org", "bench", None, None)
        for name, headers in (
            ("GET /crm/auth/me JWT", {"Authorization": f"Bearer {token}"}),
            ("GET /crm/auth/me key", {"X-API-Key": key}),
            ("GET /healthz", {}),
        ):
            path = "/healthz" if name.endswith("healthz") else "/crm/auth/me"
            started = time.perf_counter()
            latencies = await _drive(base + path, headers, requests, concurrency)
            _report(name, latencies, time.perf_counter() - started)
    finally:
        await server.stop()
        await engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CPU {time.process_time() - cpu0:.2f} s (server and client share one process)")
    print(f"peak RSS {peak_mb:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    uvloop.run(main(args.requests, args.concurrency))
