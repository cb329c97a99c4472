"""CBC fan-out: a fleet of simulated BSCs, alerts in a row through the control API.

The CBC (store, service, API) runs in this process, with its store helper
process; the BSC fleet runs in another (`omnigw sim bsc`), each BSC connecting
from its own loopback address as a configured peer and answering WRITE-REPLACE
with a COMPLETE that lists all its cells; the authority's client in a third.
Printed: API accept latency p50/p99, accept -> every peer's COMPLETE handled
p50/p99, CPU seconds while the alerts ran (omnigw and its helper, the fleet),
peak RSS.

    .venv/bin/python bench/cbc_fanout.py --bscs 200 --cells 500 --alerts 50
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_and_rss, percentile_ms
from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.cbc import api as cbc_api
from omnigw.cbc import intake as cbc_intake
from omnigw.cbc.areas import Areas
from omnigw.cbc.service import CbcService
from omnigw.config import ApiConfig, CbcConfig
from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer
from omnigw.sim.bsc import fleet_address
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port


async def main(bscs: int, cells: int, alerts: int, gap: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="omnigw-fanout-"))
    url = f"sqlite+aiosqlite:///{work / 'cbc.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cbsp_port = free_port()
    cfg = CbcConfig.model_validate(
        {
            "cbsp": {"port": cbsp_port, "answer_timeout_seconds": 60},
            "peers": [{"name": f"bsc{i}", "address": fleet_address(i)} for i in range(bscs)],
        }
    )
    service = CbcService(cfg, sessions)
    await service.start()
    identity = IdentityService(sessions, TokenIssuer(b"k" * 32, 3600, 7200), LoginThrottle(5, 60))
    await identity.ensure_builtin_roles()
    await identity.create_user("authority@x.org", "benchmark-password", ["alerting"])
    token = (await identity.login("authority@x.org", "benchmark-password", None, "b")).token
    app = build_app(ApiContext(identity=identity, settings=ApiConfig()), [cbc_api.ROUTES])
    app[cbc_intake.SERVICE] = service
    app[cbc_intake.AREAS] = Areas(cfg)
    api_port = free_port()
    server = ApiServer(app, "127.0.0.1", api_port, 5.0)
    await server.start()

    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "omnigw", "sim", "bsc", "--connect", f"127.0.0.1:{cbsp_port}",
        "--count", str(bscs), "--cells", str(cells), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    while not all(service.peer_status().values()):
        await asyncio.sleep(0.05)
    print(f"{bscs} BSCs x {cells} cells = {bscs * cells} cells, links up; {alerts} alerts")

    delivered: dict[str, float] = {}
    done = asyncio.Event()

    def on_delivered(alert_id: str, seconds: float) -> None:
        delivered[alert_id] = seconds
        if len(delivered) == alerts:
            done.set()

    service.on_delivered.append(on_delivered)
    gc.freeze()  # as the daemon does once started
    assert service.store_pid is not None
    helper_pid = service.store_pid
    helper0, fleet0 = cpu_and_rss(helper_pid)[0], cpu_and_rss(fleet.pid)[0]
    cpu0 = time.process_time()
    # The authority is another process, as in production.
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", f"http://127.0.0.1:{api_port}", "--token", token,
        "--alerts", str(alerts), "--gap", str(gap), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await client.communicate()
    accept = json.loads(out)
    await asyncio.wait_for(done.wait(), 600)
    cpu = time.process_time() - cpu0
    helper_cpu, helper_rss = cpu_and_rss(helper_pid)
    helper_cpu -= helper0
    fleet_cpu = cpu_and_rss(fleet.pid)[0] - fleet0
    fanout = list(delivered.values())
    fleet.terminate()
    await fleet.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("accept ms in order:", [round(x * 1000, 1) for x in accept])
    for name, samples in (("API accept latency", accept), ("accept -> all COMPLETE", fanout)):
        p50, p99 = percentile_ms(samples, 50), percentile_ms(samples, 99)
        print(f"{name:<26} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(
        f"CPU during the alerts: omnigw {cpu + helper_cpu:.2f} s "
        f"(store helper {helper_cpu:.2f} s); the BSC fleet {fleet_cpu:.2f} s"
    )
    print(f"peak RSS: omnigw {rss:.0f} MiB, store helper {helper_rss:.0f} MiB")
    await server.stop()
    await service.stop()
    await engine.dispose()


async def submit_alerts(base: str, token: str, alerts: int, gap: float) -> None:
    """The authority's side: submit alerts one after the other, print accept latencies."""
    accept: list[float] = []
    body = {"class": "presidential", "texts": [{"language": "en", "text": "Benchmark alert"}],
            "target": {"plmn": True}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        # What the client loaded is not what we measure: keep its collector off it, or a
        # full collection in the client reads as a slow answer from omnigw.
        gc.freeze()
        # An authority's gateway keeps its connection open: open it before timing.
        async with http.get(f"{base}/api/v1/alerts", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        for _ in range(alerts):
            t0 = time.perf_counter()
            async with http.post(f"{base}/api/v1/alerts", json=body, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
            accept.append(time.perf_counter() - t0)
            if gap:
                await asyncio.sleep(gap)
    print(json.dumps(accept))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bscs", type=int, default=200)
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between submissions")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        uvloop.run(submit_alerts(args.client, args.token, args.alerts, args.gap))
    else:
        uvloop.run(main(args.bscs, args.cells, args.alerts, args.gap))
