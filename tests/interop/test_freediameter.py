"""omnigw's Diameter node against Debian's freeDiameter: CER/CEA, DWR/DWA both ways, DPR both ways.

freeDiameterd is configured from tests/interop/peers/freediameter-gy-client.conf (a copy of the
team's shared peer config) with the ports moved to free ones.
"""

from __future__ import annotations

import asyncio
import shutil
from ipaddress import ip_address
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from omnigw.diameter.node import DiameterNode
from omnigw.diameter.peer import Identity, Policy
from tests.support.ports import free_port
from tests.support.waiting import until

CONFIG = Path(__file__).parent / "peers" / "freediameter-gy-client.conf"
pytestmark = pytest.mark.skipif(
    shutil.which("freeDiameterd") is None, reason="peer unavailable: freediameter not installed"
)


def count(command: str, kind: str, direction: str) -> float:
    labels = {"command": command, "kind": kind, "direction": direction}
    return REGISTRY.get_sample_value("omnigw_diameter_messages_total", labels) or 0.0


async def _freediameter(tmp_path: Path, our_port: int, identity: str) -> asyncio.subprocess.Process:
    text = CONFIG.read_text()
    text = text.replace("Port = 3870;", f"Port = {free_port()};")
    text = text.replace("Port = 3868;", f"Port = {our_port};")
    text = text.replace('Identity = "fdclient.example.net";', f'Identity = "{identity}";')
    conf = tmp_path / f"{identity}.conf"
    conf.write_text(text)
    log = (tmp_path / f"{identity}.log").open("w")
    return await asyncio.create_subprocess_exec(
        "freeDiameterd", "-c", str(conf), stdout=log, stderr=asyncio.subprocess.STDOUT
    )


async def test_capabilities_watchdog_and_disconnect(tmp_path: Path) -> None:
    port = free_port()
    identity = Identity("ocs.example.net", "example.net", (ip_address("127.0.0.1"),), state_id=1)
    node = DiameterNode(identity, Policy(frozenset({"fdclient.example.net"}), frozenset(), 6.0),
                        "127.0.0.1", port)  # fmt: skip
    await node.start()
    keys = [("DWR", "request", "in"), ("DWR", "answer", "out"), ("DWR", "request", "out"),
            ("DWR", "answer", "in"), ("DPR", "request", "in"), ("DPR", "answer", "in")]  # fmt: skip
    before = {k: count(*k) for k in keys}
    first = await _freediameter(tmp_path, port, "fdclient.example.net")
    second: asyncio.subprocess.Process | None = None
    try:
        await until(lambda: "fdclient.example.net" in node.peers, 15)

        # Both run Tw = 6 s +/- jitter, and RFC 3539 lets a side skip its DWR when traffic (the
        # other's DWR) arrived: so which side sends depends on jitter. Either way a complete
        # exchange must happen within about one interval, and the link stays open.
        def grew(*key: str) -> bool:
            return count(*key) > before[key]  # type: ignore[index]

        def exchanged() -> bool:
            theirs = grew("DWR", "request", "in") and grew("DWR", "answer", "out")
            ours = grew("DWR", "request", "out") and grew("DWR", "answer", "in")
            return theirs or ours

        await until(exchanged, 20)
        assert "fdclient.example.net" in node.peers  # still open after the watchdogs
        first.terminate()  # freeDiameter says goodbye with DPR
        await asyncio.wait_for(first.wait(), 20)
        assert count("DPR", "request", "in") > before[("DPR", "request", "in")]
        await until(lambda: not node.peers, 5)

        second = await _freediameter(tmp_path, port, "fdclient.example.net")
        await until(lambda: "fdclient.example.net" in node.peers, 15)
        await node.stop(grace=5)  # now we say goodbye
        assert count("DPR", "answer", "in") > before[("DPR", "answer", "in")]
        second.terminate()
        await second.wait()
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.kill()
        await node.stop(grace=0)


async def test_unknown_peer_is_refused_with_3010(tmp_path: Path) -> None:
    port = free_port()
    identity = Identity("ocs.example.net", "example.net", (ip_address("127.0.0.1"),), state_id=1)
    node = DiameterNode(identity, Policy(frozenset({"someone-else.example"}), frozenset(), 6.0),
                        "127.0.0.1", port)  # fmt: skip
    await node.start()
    before = (
        REGISTRY.get_sample_value("omnigw_diameter_peers_rejected_total", {"result": "3010"}) or 0
    )
    proc = await _freediameter(tmp_path, port, "fdclient.example.net")
    try:
        await until(
            lambda: (REGISTRY.get_sample_value(
                "omnigw_diameter_peers_rejected_total", {"result": "3010"}) or 0) > before,
            15,
        )  # fmt: skip
        assert not node.peers
    finally:
        proc.terminate()
        await proc.wait()
        await node.stop(grace=0)
