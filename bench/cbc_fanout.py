"""CBC fan-out: N simulated BSCs with M cells each; K alerts in a row through the API.

Each BSC connects from its own loopback address (127.0.1.x), is admitted as a
configured peer, and answers WRITE-REPLACE with a COMPLETE listing all its cells.
Prints API accept latency p50/p99, accept -> every peer's COMPLETE p50/p99,
CPU seconds and peak RSS.

    .venv/bin/python bench/cbc_fanout.py --bscs 200 --cells 500 --alerts 50
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.cbc import api as cbc_api
from omnigw.cbc.areas import Areas
from omnigw.cbc.cbsp.codec import CellId, MsgType
from omnigw.cbc.service import CbcService
from omnigw.config import ApiConfig, CbcConfig
from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer
from omnigw.sim.bsc import SimBsc, connect
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port


def pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] * 1000


async def main(bscs: int, cells: int, alerts: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="omnigw-fanout-"))
    url = f"sqlite+aiosqlite:///{work / 'cbc.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cbsp_port = free_port()
    addresses = [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(bscs)]
    cfg = CbcConfig.model_validate(
        {
            "cbsp": {"port": cbsp_port, "answer_timeout_seconds": 30},
            "peers": [{"name": f"bsc{i}", "address": a} for i, a in enumerate(addresses)],
        }
    )
    service = CbcService(cfg, sessions)
    await service.start()
    identity = IdentityService(sessions, TokenIssuer(b"k" * 32, 3600, 7200), LoginThrottle(5, 60))
    await identity.ensure_builtin_roles()
    await identity.create_user("authority@x.org", "benchmark-password", ["alerting"])
    token = (await identity.login("authority@x.org", "benchmark-password", None, "b")).token
    app = build_app(ApiContext(identity=identity, settings=ApiConfig()), [cbc_api.ROUTES])
    app[cbc_api.SERVICE] = service
    app[cbc_api.AREAS] = Areas(cfg)
    api_port = free_port()
    server = ApiServer(app, "127.0.0.1", api_port, 5.0)
    await server.start()

    sims: list[SimBsc] = []
    for i, address in enumerate(addresses):
        sim_cells = [CellId("901", "70", 1000 + i, c) for c in range(cells)]
        sims.append(await connect("127.0.0.1", cbsp_port, sim_cells, local_address=address))
    while not all(service.peer_status().values()):
        await asyncio.sleep(0.05)
    print(f"{bscs} BSCs x {cells} cells = {bscs * cells} cells; links up")

    cpu0 = time.process_time()
    accept: list[float] = []
    started: dict[int, float] = {}
    body = {"class": "presidential", "texts": [{"language": "en", "text": "Benchmark alert"}],
            "target": {"plmn": True}}  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        for n in range(alerts):
            t0 = time.perf_counter()
            async with http.post(f"http://127.0.0.1:{api_port}/api/v1/alerts", json=body,
                                 headers=headers) as resp:  # fmt: skip
                assert resp.status == 201, await resp.text()
            accept.append(time.perf_counter() - t0)
            started[n] = t0
    # completion: every BSC has answered every alert
    done_at: dict[int, float] = {}
    deadline = time.perf_counter() + 600
    while len(done_at) < alerts and time.perf_counter() < deadline:
        answered = min(sum(1 for p in s.received if p.type is MsgType.WRITE_REPLACE) for s in sims)
        now = time.perf_counter()
        for n in range(answered):
            done_at.setdefault(n, now)
        await asyncio.sleep(0.005)
    # wait for the store to record every confirmation
    while True:
        _, rows = await service.list("active", None, alerts, 0)
        if all(a.completed_at for a in rows) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    recorded = time.perf_counter()
    fanout = [done_at[n] - started[n] for n in done_at]
    cpu = time.process_time() - cpu0
    print(f"API accept latency      p50 {pct(accept, 50):8.1f} ms   p99 {pct(accept, 99):8.1f} ms")
    print(f"accept -> all COMPLETE  p50 {pct(fanout, 50):8.1f} ms   p99 {pct(fanout, 99):8.1f} ms"
          "  (PDUs on the wire)")  # fmt: skip
    print(f"all results stored      {recorded - started[0]:8.1f} s after the first accept"
          f" ({alerts * bscs * cells} cell results)")  # fmt: skip
    print(f"CPU {cpu:.1f} s (CBC, API and the {bscs} simulated BSCs share one process)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    await server.stop()
    await service.stop()
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bscs", type=int, default=200)
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--alerts", type=int, default=50)
    args = parser.parse_args()
    uvloop.run(main(args.bscs, args.cells, args.alerts))
