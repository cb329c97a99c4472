"""CAMEL load: the gsmSSF simulator plays complete prepaid calls (InitialDP, answer, two
ApplyChargingReports, the last report with the disconnect) against omnigw's gsmSCF, with
the embedded OCS and with the CGRateS stand-in over TCP, and, in the same run, against
the same gsmSCF made to read and write every TCAP/CAP message with pycrate's TCAP_CAP
(the pycrate-only path), and made to use it for TCAP/CAP alone.

The simulator stands in for the STP: the gsmSCF's ASP connects to it over M3UA/TCP; each
server runs in its own process. A CAP transaction is one message to the gsmSCF and its
answer (four per call; the answer notification gets none). Printed per server: CAP
transactions/s, calls/s, answer latency p50/p99 (simulator side), server CPU us per
transaction, server peak RSS; then omnigw's ratio to the pycrate-only path.

The pycrate paths keep the machines, the OCS and the wiring the same. With pycrate for
TCAP/CAP, every message received is decoded by TCAP_CAP (TCAP and the CAP argument) and
every message sent is built as TCAP_CAP values and encoded by it (the values come from our
own reading of what the gsmSCF meant to send). The pycrate-only path also reads every M3UA
message received with pycrate_mobile's SIGTRAN and its SCCP with parse_SCCP; the M3UA and
SCCP it sends are still written by our codecs, which flatters it. Each received message is
also read by our decoders, for the machines: a few percent charged to the pycrate paths.

    .venv/bin/python bench/camel_load.py --seconds 8 --concurrency 60 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gy_load import spawn
from bench.measure import cpu_and_rss, percentile_ms
from omnigw.camel.cap import codec as cap
from omnigw.camel.cap.codec import Event, Mode, Op
from omnigw.camel.tcap import codec as tcap
from omnigw.config import CamelConfig, CgratesConfig, FailurePolicy, Quota
from omnigw.diameter.gy import account_resolver
from omnigw.ocs.cgrates import CgratesOcs
from omnigw.ocs.charge import Ocs, Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.ocs.guard import GuardedOcs
from omnigw.sim.ssf import CallScenario, SimSsf, listen_sgp
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from tests.support.ports import free_port

ACCOUNTS = 1000
TALK = 650.0  # seconds: with 300-second periods, two reports and the last one


def account(i: int) -> str:
    return f"3460{i:07d}"


# --- the pycrate-only path -----------------------------------------------------------------

EVENT_NAMES = {  # the armed events, as TCAP_CAP names them
    Event.ROUTE_SELECT_FAILURE: "routeSelectFailure", Event.O_CALLED_PARTY_BUSY: "oCalledPartyBusy",
    Event.O_NO_ANSWER: "oNoAnswer", Event.O_ANSWER: "oAnswer", Event.O_DISCONNECT: "oDisconnect",
    Event.O_ABANDON: "oAbandon", Event.T_BUSY: "tBusy", Event.T_NO_ANSWER: "tNoAnswer",
    Event.T_ANSWER: "tAnswer", Event.T_DISCONNECT: "tDisconnect", Event.T_ABANDON: "tAbandon",
}  # fmt: skip
MODE_NAMES = {Mode.INTERRUPTED: "interrupted", Mode.NOTIFY_AND_CONTINUE: "notifyAndContinue",
              Mode.TRANSPARENT: "transparent"}  # fmt: skip
ARGUMENT_TYPES = {
    Op.REQUEST_REPORT_BCSM_EVENT: "RequestReportBCSMEventArg",
    Op.APPLY_CHARGING: "ApplyChargingArg",
    Op.RELEASE_CALL: "ReleaseCallArg",
}


def _argument(op: int, raw: bytes) -> Any:
    """The TCAP_CAP value of an argument the gsmSCF sends, read by our decoders."""
    if op == Op.REQUEST_REPORT_BCSM_EVENT:
        events = []
        for event, mode, leg in cap.request_report_bcsm_events(raw):
            item: dict[str, Any] = {"eventTypeBCSM": EVENT_NAMES[event],
                                    "monitorMode": MODE_NAMES[Mode(mode)]}  # fmt: skip
            if leg is not None:
                item["legID"] = ("sendingSideID", bytes([leg]))
            events.append(item)
        return {"bcsmEvents": events}
    if op == Op.APPLY_CHARGING:
        inner = raw[raw.index(b"\x80") :]
        characteristics = inner[2 : 2 + inner[1]]
        return {
            "aChBillingChargingCharacteristics": characteristics,
            "partyToCharge": ("sendingSideID", bytes([cap.read_apply_charging(raw).party])),
        }
    return ("allCallSegments", raw[2:])


def _component(c: tcap.Component) -> Any:
    if isinstance(c, tcap.Invoke):
        invoke: dict[str, Any] = {
            "invokeId": ("present", c.invoke_id),
            "opcode": ("local", c.opcode),
        }
        if c.argument is not None:
            invoke["argument"] = (ARGUMENT_TYPES[c.opcode], _argument(c.opcode, c.argument))
        return ("basicROS", ("invoke", invoke))
    assert isinstance(c, tcap.Reject)
    return ("basicROS", ("reject", {"invokeId": ("present", c.invoke_id),
                                    "problem": ("invoke", c.problem & 0xFF)}))  # fmt: skip


def install_pycrate_path(everything: bool) -> None:
    from pycrate_asn1dir import TCAP_CAP

    from omnigw.camel.tcap import dialogues

    if everything:  # M3UA and SCCP received are read by pycrate_mobile too
        from pycrate_mobile.SCCP import parse_SCCP
        from pycrate_mobile.SIGTRAN import SIGTRAN

        from omnigw.camel.m3ua import link
        from omnigw.camel.sccp import codec as sccp

        lean_m3ua, lean_sccp = link.decode, sccp.decode

        def read_m3ua(data: bytes) -> Any:
            SIGTRAN().from_bytes(data)
            return lean_m3ua(data)

        def read_sccp(data: bytes) -> Any:
            parse_SCCP(data)
            return lean_sccp(data)

        link.decode = read_m3ua  # type: ignore[assignment]
        sccp.decode = read_sccp  # type: ignore[assignment]

    reference = TCAP_CAP.TCAP_CAP_Messages.TCAP_CAP_Message
    lean_decode, kinds = tcap.decode, {tcap.Kind.CONTINUE: "continue", tcap.Kind.END: "end"}

    def decode(data: bytes) -> tcap.Message:
        reference.from_ber(data)
        reference.get_val()
        return lean_decode(data)

    def encode(msg: tcap.Message) -> bytes:
        value: dict[str, Any] = {"dtid": msg.dtid}
        if msg.otid is not None:
            value["otid"] = msg.otid
        if isinstance(msg.dialogue, tcap.Response):
            value["dialoguePortion"] = {
                "direct-reference": (0, 0, 17, 773, 1, 1, 1),
                "encoding": ("single-ASN1-type", ("DialoguePDU", ("dialogueResponse", {
                    "protocol-version": (1, 1), "application-context-name": msg.dialogue.context,
                    "result": 0,
                    "result-source-diagnostic": ("dialogue-service-user", 0)})))}  # fmt: skip
        if msg.components:
            value["components"] = [_component(c) for c in msg.components]
        reference.set_val((kinds[msg.kind], value))
        return bytes(reference.to_ber())

    dialogues.decode = decode  # type: ignore[assignment]
    tcap.encode = encode  # type: ignore[assignment]


# --- servers (each in its own process) ---------------------------------------------------


async def serve(port: int, cgrates_port: int | None, pycrate: str | None) -> None:
    if pycrate:
        install_pycrate_path(pycrate == "all")
    directory = Path(tempfile.mkdtemp(prefix="omnigw-camel-"))
    url = f"sqlite+aiosqlite:///{directory / 'camel.db'}"
    await asyncio.to_thread(upgrade, url)
    sessions = session_factory(create_engine(url))
    ocs: Ocs
    if cgrates_port is None:
        embedded = EmbeddedOcs(sessions, Quota(seconds=300), directory)
        await embedded.start()
        for i in range(ACCOUNTS):
            await embedded.set_balance(account(i), Unit.SECONDS, 10**12)
        ocs = embedded
    else:
        cfg = CgratesConfig(port=cgrates_port, cdrs=True)
        ocs = GuardedOcs(CgratesOcs(cfg, Quota(seconds=300)), FailurePolicy(), sessions)
        await ocs.start()
    from omnigw.camel.service import CamelService

    camel = CamelConfig.model_validate({
        "enabled": True, "period_seconds": 300, "max_dialogues": 1_000_000,
        "links": [{"name": "sim", "transport": "tcp", "addresses": ["127.0.0.1"], "port": port}],
    })  # fmt: skip
    service = CamelService(camel, ocs, account_resolver("e164"))
    await service.start()
    gc.freeze()  # as the daemon does once started
    print("ready", flush=True)
    await asyncio.Event().wait()


# --- the load ------------------------------------------------------------------------------


async def load(ssf: SimSsf, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    calls = failed = 0
    deadline = time.perf_counter() + seconds
    scenarios = [CallScenario(calling=account(i), talk_seconds=TALK) for i in range(ACCOUNTS)]

    async def caller(n: int) -> None:
        nonlocal calls, failed
        i = n
        while time.perf_counter() < deadline:
            result = await ssf.call(scenarios[i % ACCOUNTS])
            i += concurrency
            calls += 1
            failed += result.ended_by != "scf" or len(result.latencies) != 4
            latencies.extend(result.latencies)

    started = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"transactions": len(latencies), "rate": len(latencies) / elapsed,
            "calls": calls / elapsed, "p50": percentile_ms(latencies, 50),
            "p99": percentile_ms(latencies, 99), "failed": failed}  # fmt: skip


async def measure(name: str, server_args: list[str], seconds: float,
                  concurrency: int) -> dict[str, Any]:  # fmt: skip
    ssf = SimSsf(timeout=30.0)
    port = free_port()
    listener = await listen_sgp(ssf, "tcp", "127.0.0.1", port)
    server = await spawn(__file__, "--serve", "--port", str(port), *server_args)
    try:
        await asyncio.wait_for(ssf.ready.wait(), 30)
        await ssf.call(CallScenario(calling=account(0), talk_seconds=TALK))  # warm up
        cpu0, _ = cpu_and_rss(server.pid)
        client0 = time.process_time()
        result = await load(ssf, seconds, concurrency)
        client = time.process_time() - client0
        cpu1, rss = cpu_and_rss(server.pid)
    finally:
        server.terminate()
        await server.wait()
        listener.close()
    cpu = cpu1 - cpu0
    return {"name": name, **result, "cpu": cpu, "client_cpu": client, "rss": rss,
            "cpu_per_tx_us": cpu / result["transactions"] * 1e6}  # fmt: skip


async def main(seconds: float, concurrency: int, rounds: int) -> None:
    rows: list[dict[str, Any]] = []
    ratios: dict[str, list[tuple[float, float]]] = {"tcap": [], "all": []}
    for _ in range(rounds):  # interleaved, so every path sees the machine's drift alike
        ours = await measure("omnigw, embedded OCS", [], seconds, concurrency)
        rows.append(ours)
        for kind, name in (("tcap", "pycrate TCAP/CAP, embedded OCS"),
                           ("all", "pycrate-only path, embedded OCS")):  # fmt: skip
            theirs = await measure(name, ["--pycrate", kind], seconds, concurrency)
            rows.append(theirs)
            ratios[kind].append((ours["rate"] / theirs["rate"],
                                 theirs["cpu_per_tx_us"] / ours["cpu_per_tx_us"]))  # fmt: skip
    cgrates_port = free_port()
    accounts = [f"--account={account(i)}={10**21}:*voice" for i in range(ACCOUNTS)]
    stub = await spawn("-m", "tests.support.cgrates", "--port", str(cgrates_port), *accounts)
    try:
        args = ["--cgrates", str(cgrates_port)]
        rows.append(await measure("omnigw, CGRateS stand-in (TCP)", args, seconds, concurrency))
        stub_cpu, stub_rss = cpu_and_rss(stub.pid)
    finally:
        stub.terminate()
        await stub.wait()
    print(f"{seconds:.0f} s per server, {concurrency} calls at once (IDP, answer, 2 reports, "
          "last report + disconnect: 4 CAP transactions per call)")  # fmt: skip
    print(f"{'server':<34} {'CAP tx/s':>9} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'CPU us/tx':>9} {'RSS MiB':>8} {'failed':>6} {'sim CPU s':>9}")  # fmt: skip
    for r in rows:
        print(f"{r['name']:<34} {r['rate']:>9.0f} {r['calls']:>8.0f} {r['p50']:>7.2f}"
              f" {r['p99']:>7.2f} {r['cpu_per_tx_us']:>9.0f} {r['rss']:>8.0f}"
              f" {r['failed']:>6} {r['client_cpu']:>9.1f}")  # fmt: skip
    print(f"(CGRateS stand-in process: {stub_cpu:.1f} CPU s, {stub_rss:.0f} MiB)")
    for kind, label in (("tcap", "pycrate for TCAP/CAP"), ("all", "the pycrate-only path")):
        pairs = ratios[kind]
        for n, (rate, cpu) in enumerate(pairs, 1):
            print(f"round {n}: omnigw / {label}: {rate:.1f}x CAP tx/s, {cpu:.1f}x less CPU per tx")
        rate = statistics.median(r for r, _ in pairs)
        cpu = statistics.median(c for _, c in pairs)
        print(f"median over {len(pairs)} rounds: {rate:.1f}x CAP tx/s, {cpu:.1f}x less CPU per tx")
    print(json.dumps(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cgrates", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pycrate", choices=["tcap", "all"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.port, args.cgrates, args.pycrate))
    else:
        uvloop.run(main(args.seconds, args.concurrency, args.rounds))
