"""CBC fan-out: fleets of simulated BSCs and MMEs, alerts in a row through the control API.

The CBC (store, service, API) runs in this process, with its store helper process; the
BSC fleet runs in another (`omnigw sim bsc`), each BSC connecting from its own loopback
address and answering WRITE-REPLACE with a COMPLETE that lists all its cells; the MME fleet
in another (`omnigw sim mme`), each MME listening for the CBC, accepting
Write-Replace-Warning and reporting every cell scheduled in indications of 1,000 cells;
the authority's client in a third. Every alert is PLMN-wide.
Printed: API accept latency p50/p99, accept -> every peer's answer handled p50/p99, with
MMEs accept -> every cell reported scheduled (first alert alone, then the row), CPU
seconds while the alerts ran (omnigw split into SBc-AP encode, decode and the rest; its
store helper; the fleets), peak RSS.

    .venv/bin/python bench/cbc_fanout.py --bscs 200 --cells 500 --alerts 50
    .venv/bin/python bench/cbc_fanout.py --sbcap     # 50 MMEs x 20,000 cells, 50 alerts
    .venv/bin/python bench/cbc_fanout.py --bscs 200 --cells 500 --mmes 50 --ecgis 20000

There is no kernel SCTP on the build machine: SBc-AP runs framed over TCP here
(`--transport sctp` where the kernel has it).
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
from prometheus_client import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_and_rss, percentile_ms
from omnigw.api.app import ApiServer, build_app
from omnigw.api.context import ApiContext
from omnigw.cbc import api as cbc_api
from omnigw.cbc import intake as cbc_intake
from omnigw.cbc.areas import Areas
from omnigw.cbc.sbcap import adapter as sbcap_adapter
from omnigw.cbc.sbcap import link as sbcap_link
from omnigw.cbc.service import CbcService
from omnigw.config import ApiConfig, CbcConfig
from omnigw.identity.service import IdentityService
from omnigw.identity.throttle import LoginThrottle
from omnigw.identity.tokens import TokenIssuer
from omnigw.sim.bsc import fleet_address
from omnigw.sim.mme import fleet_tais
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port


class Timed:
    """CPU seconds spent in a function, summed (the SBc-AP codec's share of the run)."""

    def __init__(self, module: object, name: str) -> None:
        self.seconds = 0.0
        self._module, self._name = module, name
        self._real = getattr(module, name)
        setattr(module, name, self)

    def __call__(self, *args: object) -> object:
        t0 = time.process_time()
        try:
            return self._real(*args)
        finally:
            self.seconds += time.process_time() - t0


def _scheduled_cells() -> float:
    """Cells the MMEs reported scheduled so far, as the NOC's counter shows them."""
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "omnigw_cbc_cells_reported":
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels["report"] == "scheduled":
                    total += sample.value
    return total


async def _cells_reported(count: int, since: float) -> float:
    """Seconds from `since` (loop time) until `count` cells have been reported scheduled."""
    while _scheduled_cells() < count:
        await asyncio.sleep(0.005)
    return asyncio.get_running_loop().time() - since


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="omnigw-fanout-"))
    url = f"sqlite+aiosqlite:///{work / 'cbc.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cbsp_port, mme_port = free_port(), free_port()
    fleets = []
    if args.mmes:
        mmes = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omnigw", "sim", "mme", "--listen", f"127.0.0.1:{mme_port}",
            "--count", str(args.mmes), "--cells", str(args.ecgis), "--tais", "1",
            "--transport", args.transport, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert mmes.stdout is not None
        await mmes.stdout.readline()  # listening
        fleets.append(("MME", mmes))
    peers = [{"name": f"bsc{i}", "address": fleet_address(i)} for i in range(args.bscs)]
    for i in range(args.mmes):
        tais = [f"{t.plmn}-{t.tac}" for t in fleet_tais("901-70", i, 1)]
        peers.append({"name": f"mme{i}", "protocol": "sbcap", "address": "127.0.0.1",
                      "port": mme_port + i, "tais": tais})  # fmt: skip
    cfg = CbcConfig.model_validate({
        "cbsp": {"port": cbsp_port, "answer_timeout_seconds": 60},
        "sbcap": {"transport": args.transport, "answer_timeout_seconds": 60},
        "peers": peers,
    })  # fmt: skip
    encode = Timed(sbcap_adapter, "encode")
    decode = Timed(sbcap_link, "decode")
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

    if args.bscs:
        bscs = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omnigw", "sim", "bsc", "--connect", f"127.0.0.1:{cbsp_port}",
            "--count", str(args.bscs), "--cells", str(args.cells), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        fleets.append(("BSC", bscs))
    while not all(service.peer_status().values()):
        await asyncio.sleep(0.05)
    print(f"{args.bscs} BSCs x {args.cells} cells, {args.mmes} MMEs x {args.ecgis} cells "
          f"(SBc-AP over {args.transport}), links up; 1 + {args.alerts} alerts")  # fmt: skip
    gc.freeze()  # as the daemon does once started
    assert service.store_pid is not None
    helper_pid = service.store_pid
    helper0 = cpu_and_rss(helper_pid)[0]
    fleet0 = {name: cpu_and_rss(proc.pid)[0] for name, proc in fleets}
    cpu0 = time.process_time()
    mme_cells = args.mmes * args.ecgis

    # One alert alone: the time to every answer and to every cell reported.
    first = await _run_alerts(service, api_port, token, 1, 0.0)
    first_cells = await _cells_reported(mme_cells, first[2]) if mme_cells else None
    # Then the row.
    accept, fanout, row_start = await _run_alerts(service, api_port, token, args.alerts, args.gap)
    rest_cells = None
    if mme_cells:
        rest_cells = await _cells_reported(mme_cells * (1 + args.alerts), row_start)
    await service.flush()
    stored = asyncio.get_running_loop().time() - row_start
    cpu = time.process_time() - cpu0
    helper_cpu, helper_rss = cpu_and_rss(helper_pid)
    helper_cpu -= helper0
    fleet_cpu = {name: cpu_and_rss(proc.pid)[0] - fleet0[name] for name, proc in fleets}
    for _, proc in fleets:
        proc.terminate()
        await proc.wait()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reported = f", -> every cell reported {first_cells * 1000:.0f} ms" if first_cells else ""
    print(f"first alert: accept {first[0][0] * 1000:.1f} ms, accept -> every peer answered "
          f"{first[1][0] * 1000:.1f} ms{reported}")  # fmt: skip
    print("accept ms in order:", [round(x * 1000, 1) for x in accept])
    for name, samples in (("API accept latency", accept), ("accept -> all answered", fanout)):
        p50, p99 = percentile_ms(samples, 50), percentile_ms(samples, 99)
        print(f"{name:<26} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    if rest_cells is not None:
        print(f"the row: first alert accepted -> every cell of every alert reported: "
              f"{rest_cells * 1000:.0f} ms, all of it stored: {stored * 1000:.0f} ms")  # fmt: skip
    fleet_text = ", ".join(f"the {name} fleet {c:.2f} s" for name, c in fleet_cpu.items())
    print(
        f"CPU during the alerts: omnigw {cpu + helper_cpu:.2f} s (SBc-AP encode "
        f"{encode.seconds:.2f} s, decode {decode.seconds:.2f} s, the rest of the event loop "
        f"{cpu - encode.seconds - decode.seconds:.2f} s, store helper {helper_cpu:.2f} s); "
        f"{fleet_text}"
    )
    print(f"peak RSS: omnigw {rss:.0f} MiB, store helper {helper_rss:.0f} MiB")
    await server.stop()
    await service.stop()
    await engine.dispose()


async def _run_alerts(
    service: CbcService, api_port: int, token: str, alerts: int, gap: float
) -> tuple[list[float], list[float], float]:
    """Submit `alerts` from the authority's process: accept latencies, accept -> answered,
    and when the first was accepted (loop time)."""
    delivered: dict[str, float] = {}
    accepted_at: list[float] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_delivered(alert_id: str, seconds: float) -> None:
        delivered[alert_id] = seconds
        accepted_at.append(loop.time() - seconds)
        if len(delivered) == alerts:
            done.set()

    service.on_delivered.append(on_delivered)
    # The authority is another process, as in production.
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", f"http://127.0.0.1:{api_port}", "--token", token,
        "--alerts", str(alerts), "--gap", str(gap), stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await client.communicate()
    await asyncio.wait_for(done.wait(), 600)
    service.on_delivered.remove(on_delivered)
    return json.loads(out), list(delivered.values()), min(accepted_at)


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
    parser.add_argument("--cells", type=int, default=500, help="cells per BSC")
    parser.add_argument("--mmes", type=int, default=0)
    parser.add_argument("--ecgis", type=int, default=20_000, help="cells per MME")
    parser.add_argument("--transport", choices=["tcp", "sctp"], default="tcp")
    parser.add_argument("--sbcap", action="store_true", help="--bscs 0 --mmes 50")
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.0, help="seconds between submissions")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        uvloop.run(submit_alerts(args.client, args.token, args.alerts, args.gap))
    else:
        if args.sbcap:
            args.bscs, args.mmes = 0, args.mmes or 50
        uvloop.run(main(args))
