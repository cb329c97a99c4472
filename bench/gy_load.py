"""Gy load: an asyncio Gy client against omnigw (embedded; CGRateS stand-in over TCP and over
HTTP) and against a minimal Gy server on python-diameter's own threaded Node, in the same run.
With `--baseline DIR` (a checkout of another omnigw revision) its omnigw is measured through
the same stand-in over both transports too, for before/after figures from one run.

Each server runs in its own process; the client does CER, then keeps `--concurrency`
sessions going, each doing CCR-I, three CCR-U and CCR-T with one MSCC, for `--seconds`.
Printed per server: CCR/s, answer latency p50/p99 (client side), server CPU seconds per
1000 CCRs and in all, server peak RSS.

    .venv/bin/python bench/gy_load.py --seconds 8 --concurrency 50 --rounds 3
    git worktree add /tmp/before <rev> && .venv/bin/python bench/gy_load.py --baseline /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from ipaddress import ip_address
from pathlib import Path

import uvloop

# A baseline server imports omnigw from its own tree (OMNIGW_TREE); all else from this one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if os.environ.get("OMNIGW_TREE"):
    sys.path.insert(0, os.environ["OMNIGW_TREE"])

from bench.measure import cpu_and_rss
from omnigw.config import CgratesConfig, FailurePolicy, GyConfig, Quota
from omnigw.diameter.ccr import (
    AUTH_APPLICATION_ID,
    CC_REQUEST_NUMBER,
    CC_REQUEST_TYPE,
    CC_TOTAL_OCTETS,
    DESTINATION_REALM,
    MSCC,
    ORIGIN_HOST,
    ORIGIN_REALM,
    RATING_GROUP,
    RESULT_CODE,
    RSU,
    SERVICE_CONTEXT_ID,
    SESSION_ID,
    SUBSCRIPTION_ID,
    SUBSCRIPTION_ID_DATA,
    SUBSCRIPTION_ID_TYPE,
    USU,
)  # fmt: skip
from omnigw.diameter.codec import FLAG_REQUEST, Avp, Message, encode, frame_length
from omnigw.diameter.gy import GyApplication
from omnigw.diameter.node import DiameterNode
from omnigw.diameter.peer import Identity, Policy
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Ocs, Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port

ACCOUNTS = 1000
MB = 1024 * 1024
CLIENT = "bench.client"


def account(i: int) -> str:
    return f"49170{i:07d}"


# --- servers (each in its own process) ---------------------------------------------------


async def serve_omnigw(port: int, cgrates_port: int | None, transport: str) -> None:
    directory = Path(tempfile.mkdtemp(prefix="omnigw-gy-"))
    url = f"sqlite+aiosqlite:///{directory / 'gy.db'}"
    await asyncio.to_thread(upgrade, url)
    sessions = session_factory(create_engine(url))
    ocs: Ocs
    if cgrates_port is None:
        embedded = EmbeddedOcs(sessions, Quota(), directory)
        await embedded.start()
        for i in range(ACCOUNTS):
            await embedded.set_balance(account(i), Unit.OCTETS, 10**15)
        ocs = embedded
    else:
        cfg = CgratesConfig(transport=transport, port=cgrates_port,  # type: ignore[arg-type]
                            url=f"http://127.0.0.1:{cgrates_port}/jsonrpc")  # fmt: skip
        ocs = GuardedOcs(CgratesOcs(cfg, Quota()), FailurePolicy(), sessions)
        await ocs.start()
    origin = [Avp.of_text(ORIGIN_HOST, "omnigw.bench"), Avp.of_text(ORIGIN_REALM, "bench")]
    gy = GyApplication(GyConfig(), ocs, origin)
    node = DiameterNode(
        Identity("omnigw.bench", "bench", (ip_address("127.0.0.1"),), 1),
        Policy(frozenset({CLIENT}), frozenset()), "127.0.0.1", port, {4: gy},
    )  # fmt: skip
    await node.start()
    gc.freeze()  # as the daemon does once started
    print("ready", flush=True)
    await asyncio.Event().wait()


def serve_python_diameter(port: int) -> None:
    """The library's own design: a Node with a thread per peer and a thread per request."""
    from diameter.message.avp.grouped import GrantedServiceUnit, MultipleServicesCreditControl
    from diameter.message.commands.credit_control import CreditControlAnswer
    from diameter.node import Node
    from diameter.node.application import SimpleThreadingApplication

    lock = threading.Lock()
    sessions: dict[str, int] = {}

    def handle(app: SimpleThreadingApplication, request: object) -> CreditControlAnswer:
        answer: CreditControlAnswer = app.generate_answer(request, result_code=2001)
        answer.cc_request_type = request.cc_request_type  # type: ignore[attr-defined]
        answer.cc_request_number = request.cc_request_number  # type: ignore[attr-defined]
        with lock:
            if request.cc_request_type == 3:  # type: ignore[attr-defined]
                sessions.pop(request.session_id, None)  # type: ignore[attr-defined]
            else:
                sessions[request.session_id] = request.cc_request_number  # type: ignore[attr-defined]
        for mscc in request.multiple_services_credit_control:  # type: ignore[attr-defined]
            if mscc.requested_service_unit is not None:
                answer.multiple_services_credit_control.append(
                    MultipleServicesCreditControl(
                        rating_group=mscc.rating_group, result_code=2001, validity_time=1800,
                        granted_service_unit=GrantedServiceUnit(
                            cc_total_octets=mscc.requested_service_unit.cc_total_octets
                        ),
                    )
                )  # fmt: skip
        return answer

    node = Node("pd.bench", "bench", ip_addresses=["127.0.0.1"], tcp_port=port)
    peer = node.add_peer(f"aaa://{CLIENT}:3868;transport=tcp", "bench")
    app = SimpleThreadingApplication(4, is_auth_application=True, request_handler=handle)
    node.add_application(app, [peer])
    node.start()
    print("ready", flush=True)
    threading.Event().wait()


# --- the client ----------------------------------------------------------------------------

SESSION_DIGITS = 12  # fixed width, so every CCR of a kind has the same layout


class Template:
    """One CCR kind encoded once; per request only the ids and numbers are patched in.

    A load generator that encoded every CCR from objects would measure itself: this
    one costs a few microseconds per request, so the server is what runs out of CPU.
    """

    def __init__(self, kind: int, rsu: bool, used: int) -> None:
        sample = encode(_ccr(f"{CLIENT};{0:0{SESSION_DIGITS}d}", kind, 0, account(0), rsu, used))
        self.wire = bytearray(sample)
        self.session = sample.index(f"{CLIENT};".encode()) + len(CLIENT) + 1
        self.msisdn = sample.index(account(0).encode())
        self.number = _avp_value(sample, CC_REQUEST_NUMBER)

    def render(self, hop: int, session: int, number: int, msisdn: bytes) -> bytes:
        wire = self.wire
        wire[12:20] = hop.to_bytes(4, "big") * 2  # hop-by-hop and end-to-end
        wire[self.session : self.session + SESSION_DIGITS] = b"%012d" % session
        wire[self.msisdn : self.msisdn + len(msisdn)] = msisdn
        wire[self.number : self.number + 4] = number.to_bytes(4, "big")
        return bytes(wire)


def _avp_value(frame: bytes, code: int) -> int:
    """Offset of the value of the first top-level AVP `code` (no vendor AVPs at top level)."""
    pos = 20
    while pos < len(frame):
        length = int.from_bytes(frame[pos + 5 : pos + 8], "big")
        if int.from_bytes(frame[pos : pos + 4], "big") == code:
            return pos + 8
        pos += (length + 3) & ~3
    raise ValueError(f"no AVP {code}")


def _result_code(frame: bytes) -> int:
    return int.from_bytes(frame[_avp_value(frame, RESULT_CODE) :][:4], "big")


class GyLoad(asyncio.Protocol):
    """Keeps `concurrency` sessions going (I, 3x U, T, then a new session), each sending its
    next CCR as soon as the answer to the last one is in; written in one go per iteration."""

    STEPS = ((1, True, 0), (2, True, MB), (2, True, MB), (2, True, MB), (3, False, MB // 2))

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.templates = [Template(*step) for step in self.STEPS]
        self.hops = itertools.count(1)
        self.waiting: dict[int, tuple[float, int, int]] = {}  # hop -> (sent, session, step)
        self.out: list[bytes] = []
        self.sessions = itertools.count()
        self.latencies: list[float] = []
        self.failures = 0
        self.deadline = 0.0
        self.running = 0
        self.done: asyncio.Future[None] | None = None
        self.answered: asyncio.Future[bytes] | None = None  # the CEA

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        now = time.perf_counter()
        while (size := frame_length(self.buffer)) is not None and len(self.buffer) >= size:
            frame = bytes(self.buffer[:size])
            del self.buffer[:size]
            if self.answered is not None and not self.answered.done():
                self.answered.set_result(frame)
                continue
            sent, session, step = self.waiting.pop(int.from_bytes(frame[12:16], "big"))
            self.latencies.append(now - sent)
            if _result_code(frame) != 2001:
                self.failures += 1
            self.next(session, step + 1, now)

    def start(self, concurrency: int, seconds: float) -> asyncio.Future[None]:
        self.done = asyncio.get_running_loop().create_future()
        self.deadline = time.perf_counter() + seconds
        self.running = concurrency
        for _ in range(concurrency):
            self.next(next(self.sessions), 0, time.perf_counter())
        return self.done

    def next(self, session: int, step: int, now: float) -> None:
        if step == len(self.STEPS):
            if now >= self.deadline:
                self.running -= 1
                if not self.running and self.done is not None:
                    self.done.set_result(None)
                return
            session, step = next(self.sessions), 0
        hop = next(self.hops)
        msisdn = account(session % ACCOUNTS).encode()
        self.send(self.templates[step].render(hop, session, step, msisdn))
        self.waiting[hop] = (time.perf_counter(), session, step)

    def send(self, wire: bytes) -> None:
        if not self.out:
            asyncio.get_running_loop().call_soon(self.flush)
        self.out.append(wire)

    def flush(self) -> None:
        assert self.transport is not None
        self.transport.write(b"".join(self.out))
        self.out.clear()


def _ccr(session: str, kind: int, number: int, msisdn: str, rsu: bool, used: int) -> Message:
    inner = [Avp.of_u32(RATING_GROUP, 10)]
    if rsu:
        inner.append(Avp.of_group(RSU, [Avp.of_u64(CC_TOTAL_OCTETS, MB)]))
    if used:
        inner.append(Avp.of_group(USU, [Avp.of_u64(CC_TOTAL_OCTETS, used)]))
    return Message(272, 4, 0, 0, FLAG_REQUEST | 0x40, [
        Avp.of_text(SESSION_ID, session), Avp.of_text(ORIGIN_HOST, CLIENT),
        Avp.of_text(ORIGIN_REALM, "bench"), Avp.of_text(DESTINATION_REALM, "bench"),
        Avp.of_u32(AUTH_APPLICATION_ID, 4), Avp.of_text(SERVICE_CONTEXT_ID, "32251@3gpp.org"),
        Avp.of_u32(CC_REQUEST_TYPE, kind), Avp.of_u32(CC_REQUEST_NUMBER, number),
        Avp.of_group(SUBSCRIPTION_ID, [Avp.of_u32(SUBSCRIPTION_ID_TYPE, 0),
                                       Avp.of_text(SUBSCRIPTION_ID_DATA, msisdn)]),
        Avp.of_group(MSCC, inner),
    ])  # fmt: skip


async def load(port: int, seconds: float, concurrency: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(GyLoad, "127.0.0.1", port)
    client.answered = loop.create_future()
    client.send(encode(Message(257, 0, 1, 1, FLAG_REQUEST, [
        Avp.of_text(ORIGIN_HOST, CLIENT), Avp.of_text(ORIGIN_REALM, "bench"),
        Avp.of_address(257, ip_address("127.0.0.1")),
        Avp.of_u32(266, 0), Avp.of_text(269, "gy_load"), Avp.of_u32(258, 4),
    ])))  # fmt: skip
    assert _result_code(await client.answered) == 2001, "CER refused"
    started = time.perf_counter()
    await client.start(concurrency, seconds)
    elapsed = time.perf_counter() - started
    latencies = client.latencies
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"ccrs": len(latencies), "rate": len(latencies) / elapsed, "p50": q[49] * 1000,
            "p99": q[98] * 1000, "failures": client.failures}  # fmt: skip


async def spawn(*args: str, tree: str | None = None) -> asyncio.subprocess.Process:
    env = {**os.environ, "OMNIGW_TREE": tree} if tree else None
    # A baseline may fail every request (that can be the point of it): its log is not shown.
    stderr = asyncio.subprocess.DEVNULL if tree else None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[1],
        env=env,
        stderr=stderr,
    )
    assert proc.stdout is not None
    await proc.stdout.readline()  # "ready" (or the stand-in's ports)
    return proc


async def measure(name: str, server_args: list[str], seconds: float, concurrency: int,
                  port: int, tree: str | None = None) -> dict[str, object]:  # fmt: skip
    server = await spawn(*server_args, tree=tree)
    try:
        cpu0, _ = cpu_and_rss(server.pid)
        client0 = time.process_time()
        result = await load(port, seconds, concurrency)
        client = time.process_time() - client0
        cpu1, rss = cpu_and_rss(server.pid)
    finally:
        server.terminate()
        await server.wait()
    return {"name": name, **result, "cpu": cpu1 - cpu0, "client_cpu": client,
            "cpu_per_ccr_us": (cpu1 - cpu0) / result["ccrs"] * 1_000_000, "rss": rss}  # fmt: skip


async def main(seconds: float, concurrency: int, skip_python_diameter: bool, rounds: int,
               baseline: str | None) -> None:  # fmt: skip
    rows = []
    port = free_port()
    rows.append(await measure("omnigw, embedded OCS",
                              [__file__, "--serve", "omnigw", "--port", str(port)],
                              seconds, concurrency, port))  # fmt: skip
    cgrates_port, cgrates_http = free_port(), free_port()
    accounts = [f"--account={account(i)}={10**15}:*data" for i in range(ACCOUNTS)]
    stub = await spawn("-m", "tests.support.cgrates", "--port", str(cgrates_port),
                       "--http-port", str(cgrates_http), *accounts)  # fmt: skip
    trees = [("omnigw", None)] + ([("baseline", baseline)] if baseline else [])
    try:
        for name, tree in trees:
            for transport, target in (("tcp", cgrates_port), ("http", cgrates_http)):
                port = free_port()
                rows.append(await measure(
                    f"{name}, CGRateS stand-in over {transport.upper()}",
                    [__file__, "--serve", "omnigw", "--port", str(port), "--cgrates",
                     str(target), "--transport", transport],
                    seconds, concurrency, port, tree,
                ))  # fmt: skip
        stub_cpu, stub_rss = cpu_and_rss(stub.pid)
    finally:
        stub.terminate()
        await stub.wait()
    ratios: list[tuple[float, float]] = []  # (CCR/s, CPU per CCR) omnigw over python-diameter
    for round_ in range(0 if skip_python_diameter else rounds):
        if round_:  # interleaved with python-diameter, so both see the machine's drift alike
            rows.append(await measure("omnigw, embedded OCS", [__file__, "--serve", "omnigw",
                                      "--port", str(port := free_port())],
                                      seconds, concurrency, port))  # fmt: skip
        port = free_port()
        rows.append(await measure("python-diameter Node (threaded)",
                                  [__file__, "--serve", "python-diameter", "--port", str(port)],
                                  seconds, concurrency, port))  # fmt: skip
        ours, theirs = rows[0] if not round_ else rows[-2], rows[-1]
        rate = float(ours["rate"]) / float(theirs["rate"])  # type: ignore[arg-type]
        cpu = float(theirs["cpu_per_ccr_us"]) / float(ours["cpu_per_ccr_us"])  # type: ignore[arg-type]
        ratios.append((rate, cpu))
    print(f"{seconds:.0f} s per server, {concurrency} concurrent sessions (I, 3x U, T; 1 MSCC)")
    print(f"{'server':<34} {'CCR/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU s':>7}"
          f" {'CPU us/CCR':>10} {'RSS MiB':>8} {'failed':>6} {'client CPU s':>12}")  # fmt: skip
    for r in rows:
        print(f"{r['name']:<34} {r['rate']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}"
              f" {r['cpu']:>7.1f} {r['cpu_per_ccr_us']:>10.0f} {r['rss']:>8.0f}"
              f" {r['failures']:>6} {r['client_cpu']:>12.1f}")  # fmt: skip
    print(f"(CGRateS stand-in process: {stub_cpu:.1f} CPU s, {stub_rss:.0f} MiB)")
    for n, (rate, cpu) in enumerate(ratios, 1):
        print(f"round {n}: omnigw embedded / python-diameter: {rate:.1f}x CCR/s, "
              f"{cpu:.1f}x less CPU per CCR")  # fmt: skip
    if len(ratios) > 1:
        print(f"median over {len(ratios)} rounds: "
              f"{statistics.median(r for r, _ in ratios):.1f}x CCR/s, "
              f"{statistics.median(c for _, c in ratios):.1f}x less CPU per CCR")  # fmt: skip
    print(json.dumps(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-python-diameter", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="omnigw (embedded) and python-diameter measured this many times",
    )
    parser.add_argument("--serve", choices=["omnigw", "python-diameter"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="another omnigw checkout, measured via the stand-in")
    parser.add_argument("--cgrates", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--transport", default="tcp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "omnigw":
        uvloop.run(serve_omnigw(args.port, args.cgrates, args.transport))
    elif args.serve == "python-diameter":
        serve_python_diameter(args.port)
    else:
        uvloop.run(main(args.seconds, args.concurrency, args.skip_python_diameter, args.rounds,
                        args.baseline))  # fmt: skip
