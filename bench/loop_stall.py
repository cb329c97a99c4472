"""The worst event-loop stall an allowed request can cause, measured from outside.

Starts the daemon with a cell inventory of `--cells` positions (config file), then, for
each heavy-but-allowed request below, pings `/healthz` every 2 ms while it runs and prints
the slowest ping (what every other request would have waited) next to the request's own
time. The comparison is the same pings with nothing else running.

    .venv/bin/python bench/loop_stall.py --cells 200000
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.daemon import wait_healthy
from tests.support.ports import free_port

PASSWORD = "bench-admin-password"


def _config(directory: Path, cells: int, api_port: int) -> Path:
    rng = random.Random(1)
    inventory = [{"cgi": f"901-70-{i // 60000 + 1}-{i % 60000}",
                  "lat": round(rng.uniform(40, 44), 5), "lon": round(rng.uniform(0, 4), 5)}
                 for i in range(cells)]  # fmt: skip
    config = {
        "state_dir": str(directory / "state"),
        "api": {"port": api_port},
        "metrics": {"port": free_port()},
        "diameter": {"port": free_port()},
        "log": {"level": "WARNING"},
        "cbc": {"cbsp": {"port": free_port()}, "cells": inventory},
    }
    path = directory / "omnigw.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _ring(points: int, radius: float) -> list[list[float]]:
    return [[round(42 + radius * math.sin(2 * math.pi * k / points), 6),
             round(2 + radius * math.cos(2 * math.pi * k / points), 6)]
            for k in range(points)]  # fmt: skip


async def _pinger(http: httpx.AsyncClient, stop: asyncio.Event, out: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await http.get("/healthz")
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.002)


async def _during(http: httpx.AsyncClient, name: str, call: object) -> None:
    pings: list[float] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=http.base_url) as pinger_client:
        task = asyncio.create_task(_pinger(pinger_client, stop, pings))
        await asyncio.sleep(0.2)
        started = time.perf_counter()
        status = await call  # type: ignore[misc]
        took = time.perf_counter() - started
        await asyncio.sleep(0.1)
        stop.set()
        await task
    print(
        f"{name:48s} {status!s:>5s} {took * 1000:9.1f} {max(pings) * 1000:12.1f} "
        f"{sorted(pings)[len(pings) // 2] * 1000:10.1f}",
        flush=True,
    )


async def main(cells: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="omnigw-stall-"))
    api_port = free_port()
    config = _config(directory, cells, api_port)
    omnigw = [sys.executable, "-m", "omnigw"]
    subprocess.run([*omnigw, "db", "upgrade", "--config", str(config)], check=True)  # noqa: ASYNC221
    env = {**os.environ, "OMNIGW_ADMIN_PASSWORD": PASSWORD}
    daemon = subprocess.Popen([*omnigw, "run", "--config", str(config)], env=env,  # noqa: ASYNC220
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}",
                                     timeout=120) as http:  # fmt: skip
            await wait_healthy(http, 300)  # a big inventory takes a while to load
            admin = {"email": "admin@example.com", "password": PASSWORD}
            login = await http.post("/crm/auth/login", json=admin)
            http.headers["Authorization"] = f"Bearer {login.json()['token']}"
            print(f"{cells} cells in the inventory; /healthz pinged every 2 ms during each")
            print(
                f"{'request':48s} {'HTTP':>5s} {'took ms':>9s} {'worst ping':>12s} "
                f"{'p50 ping':>10s}"
            )

            async def idle() -> int:
                await asyncio.sleep(1.0)
                return 0

            async def alert(target: dict[str, object]) -> int:
                body = {"class": "extreme", "texts": [{"language": "en", "text": "Stall test"}],
                        "target": target, "duration_seconds": 60}  # fmt: skip
                return (await http.post("/api/v1/alerts", json=body)).status_code

            async def cells_put(count: int) -> int:
                body = {"cells": [{"cgi": f"902-01-1-{i}", "lat": 41.0, "lon": 1.0}
                                  for i in range(count)]}  # fmt: skip
                return (await http.put("/api/v1/cells", json=body)).status_code

            async def cap_document(kb: int) -> int:
                filler = "x" * 1000
                infos = "".join(
                    f"<info><language>l{i}</language><urgency>Immediate</urgency>"
                    f"<severity>Extreme</severity><certainty>Observed</certainty>"
                    f"<headline>{filler}</headline><area><areaDesc>a</areaDesc>"
                    f"<circle>42,2 1</circle></area></info>"
                    for i in range(kb)
                )
                doc = (
                    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>S'
                    "</identifier><sender>s</sender><sent>2026-12-03T00:00:00+00:00</sent>"
                    "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
                    f"{infos}</alert>"
                )
                return (await http.post("/api/v1/cap", content=doc.encode())).status_code

            async def logins(count: int) -> int:
                calls = [http.post("/crm/auth/login", json={"email": f"x{i}@x.org",
                                                            "password": "wrong-password"})
                         for i in range(count)]  # fmt: skip
                return max(r.status_code for r in await asyncio.gather(*calls))

            await _during(http, "nothing (baseline)", idle())
            await _during(http, "alert, PLMN-wide", alert({"plmn": True}))
            await _during(
                http,
                "alert, circle of 100 km",
                alert({"circle": {"lat": 42, "lon": 2, "radius_km": 100}}),
            )
            await _during(
                http,
                "alert, 5000-point polygon over the inventory",
                alert({"polygon": _ring(5000, 1.9)}),
            )
            await _during(
                http, "alert, 5000-point polygon, 10 km", alert({"polygon": _ring(5000, 0.09)})
            )
            await _during(http, "PUT /api/v1/cells, ~1 MiB (14k cells)", cells_put(14000))
            await _during(http, "CAP document, 30 languages, each 1 KB", cap_document(30))
            await _during(http, "30 failed logins at once (Argon2)", logins(30))
    finally:
        daemon.terminate()
        daemon.wait(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().cells))
