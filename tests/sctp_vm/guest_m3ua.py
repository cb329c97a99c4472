"""M3UA over real kernel SCTP through Debian's osmo-stp, run inside the lane's VM (see
test_lane.py): two ASPs of ours, known to the STP by their source ports (the gsmSSF side,
routing context 100, point code 0.12.4; the gsmSCF side, routing context 200, 0.25.0),
come up and active; DATA from one reaches the other through the STP's routing; the STP
refuses DATA on stream 0 (its ERR 9) and nothing else is lost. Then omnigw's gsmSCF and
the gsmSSF simulator take those two places and complete a prepaid call and an SMS."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigw.camel.m3ua.codec import ProtocolData
from omnigw.camel.m3ua.fsm import AspFsm
from omnigw.camel.m3ua.link import AspLink
from omnigw.camel.service import CamelService
from omnigw.config import CamelConfig, Quota
from omnigw.diameter.gy import account_resolver
from omnigw.ocs.charge import Unit
from omnigw.ocs.embedded import EmbeddedOcs
from omnigw.sim.ssf import CallScenario, SimSsf, SmsScenario, connect_asp
from omnigw.store.engine import session_factory
from omnigw.transport import sctp
from omnigw.transport.open import connect
from tests.support.waiting import until

CONFIG = Path(__file__).resolve().parents[1] / "interop" / "peers" / "osmo-stp-m3ua-sctp.cfg"
SSF_PC, SCF_PC = 100, 200  # 0.12.4 and 0.25.0 in ITU 3-8-3
UDT = bytes.fromhex("090003070b" "0443c800fe" "0443" "6400fe" "03" "010203")  # fmt: skip


class Side:
    def __init__(self) -> None:
        self.active = asyncio.Event()
        self.data: list[ProtocolData] = []
        self.down: list[str] = []

    def asp_active(self, link: AspLink) -> None:
        self.active.set()

    def asp_down(self, link: AspLink, reason: str) -> None:
        self.down.append(reason)

    def asp_data(self, link: AspLink, data: ProtocolData) -> None:
        self.data.append(data)

    def asp_reachability(self, link: AspLink, point_codes: tuple[int, ...], up: bool) -> None:
        pass


@pytest.fixture
def stp(tmp_path: Path) -> Iterator[None]:
    assert sctp.unavailable() is None, "this runs inside the SCTP lane's VM"
    assert shutil.which("osmo-stp"), "osmo-stp is installed on the host (make test does)"
    config = tmp_path / "osmo-stp.cfg"
    config.write_text(CONFIG.read_text())
    log = (tmp_path / "osmo-stp.log").open("w")
    proc = subprocess.Popen(["osmo-stp", "-c", str(config)], cwd=tmp_path, stdout=log,
                            stderr=subprocess.STDOUT)  # fmt: skip
    yield
    proc.terminate()
    proc.wait(10)


async def _asp(side: Side, name: str, port: int, rc: int) -> AspLink:
    link = AspLink(name, AspFsm(routing_context=rc, heartbeat=None), side)
    for _ in range(100):  # the STP takes a moment to listen
        try:
            await connect("sctp", ["127.0.0.1"], 2905, ["127.0.0.1"], link, local_port=port)
            return link
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError("osmo-stp never listened on 2905")


async def test_data_crosses_osmo_stp_between_two_active_asps(stp: Any) -> None:
    ssf, scf = Side(), Side()
    ssf_link = await _asp(ssf, "asp-ssf", 3001, 100)
    scf_link = await _asp(scf, "asp-scf", 3002, 200)
    await asyncio.wait_for(asyncio.gather(ssf.active.wait(), scf.active.wait()), 30)
    sent = ProtocolData(opc=SSF_PC, dpc=SCF_PC, si=3, ni=2, mp=0, sls=5, data=UDT)
    ssf_link.transfer(sent)
    await until(lambda: scf.data, within=20)
    [got] = scf.data
    assert (got.opc, got.dpc, got.si, got.data) == (SSF_PC, SCF_PC, 3, UDT)
    back = ProtocolData(opc=SCF_PC, dpc=SSF_PC, si=3, ni=2, mp=0, sls=1, data=UDT)
    scf_link.transfer(back)
    await until(lambda: ssf.data, within=20)
    assert ssf.data[0].dpc == SSF_PC
    assert not ssf.down and not scf.down
    ssf_link.close("done")
    scf_link.close("done")


async def test_a_prepaid_call_and_an_sms_through_osmo_stp(
    stp: Any, sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    """omnigw's gsmSCF and the gsmSSF simulator, each an ASP of osmo-stp over kernel SCTP
    (PPID 3, DATA off stream 0), complete a prepaid call and an SMS routed on point codes."""
    ocs = EmbeddedOcs(session_factory(sqlite_engine), Quota(seconds=300), tmp_path)
    await ocs.start()
    await ocs.set_balance("34600000001", Unit.SECONDS, 3600)
    await ocs.set_balance("34600000001", Unit.UNITS, 5)
    cfg = CamelConfig.model_validate({
        "enabled": True, "point_code": SCF_PC, "period_seconds": 300,
        "links": [{"name": "stp", "addresses": ["127.0.0.1"], "local_addresses": ["127.0.0.1"],
                   "local_port": 3002, "routing_context": 200}],
    })  # fmt: skip
    scf = CamelService(cfg, ocs, account_resolver("e164"))
    ssf = SimSsf(point_code=SSF_PC, scf_point_code=SCF_PC)
    await scf.start()
    for _ in range(100):  # the STP takes a moment to listen
        try:
            await connect_asp(ssf, "sctp", "127.0.0.1", 2905, 100, ["127.0.0.1"], 3001)
            break
        except OSError:
            await asyncio.sleep(0.1)
    await asyncio.wait_for(ssf.ready.wait(), 30)
    await until(lambda: all(link.active for link in scf.links.values()) and bool(scf.links),
                within=30)  # fmt: skip
    call = await ssf.call(CallScenario(talk_seconds=451.2))
    sms = await ssf.sms(SmsScenario())
    await scf.settled()
    assert call.ended_by == "scf" and call.periods == [3000, 3000]
    assert sms.ended_by == "scf"
    assert ocs.balance_of("34600000001") == {"seconds": 3600 - 452, "units": 4}
    await scf.stop()
    await ocs.close()
