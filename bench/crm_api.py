"""CRM API under load: the real daemon on a store of 10,000 customers with services.

Seeds the store directly (customers, a product, services with SIM and number),
starts `omnigw run` in a subprocess, then offers each read at a fixed rate
(open loop: a slow answer does not slow the offered load) and prints p50/p99:
login (argon2 by design, so offered at a lower rate), product list, customer
search, service get. Then runs provisioning jobs (create service, allocate SIM
and number, create the account, run Action_<slug>) with the embedded backend
and again with the CGRateS stand-in over TCP JSON-RPC, and prints jobs/s.

    .venv/bin/python bench/crm_api.py --customers 10000 --rate 200 --seconds 10 --jobs 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_and_rss, percentile_ms
from omnigw.crm.models import Customer, InventoryItem, InventoryTemplate, Product, Service
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port

PASSWORD = "benchmark-password"
ROOT = Path(__file__).resolve().parents[1]
SLUG = "bench-plan"


async def seed(url: str, customers: int, stock: int) -> None:
    """Customers each with one active service holding a SIM and a number; spare stock."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    async with sessions.begin() as s:
        await s.execute(insert(InventoryTemplate), [
            {"inventory_template_id": 1, "item": "SIM Card", "itemtext1_label": "ICCID",
             "itemtext2_label": "IMSI"},
            {"inventory_template_id": 2, "item": "Mobile Number",
             "itemtext1_label": "E.164 Mobile Number"}])  # fmt: skip
        await s.execute(
            insert(Product).values(
                product_id=1,
                product_slug=SLUG,
                product_name="Bench plan",
                category="standalone",
                provisioning_play="play_simple_service",
                retail_cost=10,
                inventory_items_list="['SIM Card', 'Mobile Number']",
                service_type="mobile",
            )
        )
        await s.execute(insert(Customer), [
            {"customer_id": i, "customer_name": f"Customer {i:05d}", "customer_type": "individual",
             "customer_status": "active", "customer_email": f"cust-{i}@example.com"}
            for i in range(1, customers + 1)])  # fmt: skip
        await s.execute(insert(Service), [
            {"service_id": i, "service_uuid": str(uuid.uuid4()), "service_name": f"SIM {i}",
             "service_type": "mobile", "service_status": "active", "customer_id": i,
             "product_id": 1} for i in range(1, customers + 1)])  # fmt: skip
        items = []
        for i in range(1, customers + stock + 1):
            owner = i if i <= customers else None
            status = "allocated" if owner else "available"
            items.append({"inventory_template_id": 1, "itemtext1": f"8944{i:015d}",
                          "itemtext2": f"00101{i:010d}", "item_status": status,
                          "service_id": owner, "customer_id": owner})  # fmt: skip
            items.append({"inventory_template_id": 2, "itemtext1": f"614{i:08d}",
                          "item_status": status, "service_id": owner,
                          "customer_id": owner})  # fmt: skip
        await s.execute(insert(InventoryItem), items)
    await engine.dispose()


class Daemon:
    def __init__(self, work: Path, ocs: str) -> None:
        self.port = free_port()
        self.config = work / f"omnigw-{self.port}.yaml"
        self.config.write_text(
            f"state_dir: {work}\n"
            f"api: {{port: {self.port}}}\n"
            "metrics: {enabled: false}\n"
            "diameter: {enabled: false}\n"
            f"log: {{level: WARNING}}\n{ocs}"
        )
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omnigw", "run", "--config", str(self.config), cwd=ROOT,
            env={**os.environ, "OMNIGW_ADMIN_PASSWORD": PASSWORD},
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                try:
                    async with http.get(f"{self.url}/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("omnigw did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            await self.proc.wait()


async def login(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with http.post(
        f"{url}/crm/auth/login", json={"email": "admin@example.com", "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": "Bearer " + (await resp.json())["token"]}


async def offered(
    http: aiohttp.ClientSession, rate: float, seconds: float, request: Any
) -> tuple[list[float], int]:
    """Start one request every 1/rate s whatever the answers do; latency of each."""
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        method, path, body, headers = request()
        async with http.request(method, path, json=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                failures += 1
        latencies.append(time.perf_counter() - started)

    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, failures


def row(name: str, rate: float, latencies: list[float], failures: int) -> None:
    print(f"  {name:<22} {rate:>6.0f}/s {len(latencies):>6} req  "
          f"p50 {percentile_ms(latencies, 50):7.2f} ms  p99 {percentile_ms(latencies, 99):7.2f} ms"
          f"  failures {failures}")  # fmt: skip


async def reads(daemon: Daemon, customers: int, rate: float, seconds: float) -> None:
    pid = daemon.proc.pid if daemon.proc else 0
    cpu0, _ = cpu_and_rss(pid)
    async with aiohttp.ClientSession(daemon.url) as http:
        auth = await login(http, daemon.url)
        login_body = {"email": "admin@example.com", "password": PASSWORD}
        login_rate = min(rate, 10.0)  # argon2id costs tens of ms of CPU on purpose
        lat, bad = await offered(
            http, login_rate, seconds, lambda: ("POST", "/crm/auth/login", login_body, None)
        )
        row("login", login_rate, lat, bad)
        lat, bad = await offered(http, rate, seconds, lambda: ("GET", "/crm/product", None, auth))
        row("product list", rate, lat, bad)

        def search() -> tuple[str, str, None, dict[str, str]]:
            term = f"customer {random.randint(1, customers):05d}"
            return ("GET", f"/crm/customer?search={term}&per_page=20", None, auth)

        lat, bad = await offered(http, rate, seconds, search)
        row("customer search", rate, lat, bad)
        lat, bad = await offered(
            http,
            rate,
            seconds,
            lambda: ("GET", f"/crm/service/{random.randint(1, customers)}", None, auth),
        )
        row("service get", rate, lat, bad)
    cpu1, rss = cpu_and_rss(pid)
    print(f"  omnigw CPU {cpu1 - cpu0:.1f} s over the reads, peak RSS {rss:.0f} MiB")


async def provisioning(daemon: Daemon, jobs: int, concurrency: int) -> None:
    async with aiohttp.ClientSession(daemon.url) as http:
        auth = await login(http, daemon.url)
        latencies: list[float] = []
        failed = 0
        errors: set[str] = set()
        queue = list(range(jobs))

        async def worker() -> None:
            nonlocal failed
            while queue:
                queue.pop()
                started = time.perf_counter()
                body = {"product_id": 1, "customer_id": random.randint(1, 100), "wait": True}
                async with http.put("/crm/provision", json=body, headers=auth) as resp:
                    job = await resp.json()
                    if resp.status != 200 or job.get("status") != 0:
                        failed += 1
                        errors.add(str(job.get("error") or job.get("reason")))
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    print(f"  {jobs} jobs in {wall:.1f} s = {jobs / wall:.1f} jobs/s  "
          f"p50 {percentile_ms(latencies, 50):.1f} ms  p99 {percentile_ms(latencies, 99):.1f} ms"
          f"  failed {failed}")  # fmt: skip
    for error in sorted(errors)[:3]:
        print(f"    failure: {error}")


async def main(customers: int, rate: float, seconds: float, jobs: int, concurrency: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="omnigw-crm-bench-"))
    url = f"sqlite+aiosqlite:///{work / 'omnigw.db'}"
    await asyncio.to_thread(upgrade, url)
    started = time.perf_counter()
    await seed(url, customers, stock=2 * jobs)
    print(f"seeded {customers} customers with services in {time.perf_counter() - started:.1f} s")

    topup = f"ocs: {{backend: embedded, actions: {{Action_{SLUG}: {{octets: 1000000}}}}}}\n"
    embedded = Daemon(work, topup)
    await embedded.start()
    try:
        print(f"reads, offered at a fixed rate for {seconds:.0f} s each (SQLite, 2 cores):")
        await reads(embedded, customers, rate, seconds)
        print(f"provisioning, embedded backend, {concurrency} at a time:")
        await provisioning(embedded, jobs, concurrency)
    finally:
        await embedded.stop()

    stand_in = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.cgrates", "--action",
        f"Action_{SLUG}=1000000:*data", cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert stand_in.stdout is not None
    ports = json.loads(await stand_in.stdout.readline())
    cgrates = Daemon(work, f"ocs: {{backend: cgrates, cgrates: {{port: {ports['port']}}}}}\n")
    await cgrates.start()
    try:
        print(f"provisioning, CGRateS stand-in over TCP JSON-RPC, {concurrency} at a time:")
        await provisioning(cgrates, jobs, concurrency)
    finally:
        await cgrates.stop()
        stand_in.terminate()
        await stand_in.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0, help="reads offered per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="per read kind")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4, help="provisioning jobs at once")
    args = parser.parse_args()
    uvloop.run(main(args.customers, args.rate, args.seconds, args.jobs, args.concurrency))
