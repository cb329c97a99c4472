"""SBc-AP over real kernel SCTP, run inside the lane's VM (see test_lane.py), not on a host
without SCTP: association up both ways, PPID 24 on stream 0, multi-homed binding, a
Write-Replace-Warning with indications (one of 20,000 cells: a message bigger than one
read), an eNB restart's re-send, and a Stop-Warning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from omnigw.cbc.api import alert_view
from omnigw.cbc.areas import Areas
from omnigw.cbc.messages import AlertClass
from omnigw.cbc.sbcap.codec import PPID, Ecgi, StopWarningRequest, Tai, WriteReplaceWarningRequest
from omnigw.cbc.service import AlertSpec, CbcService, Text
from omnigw.config import CbcConfig
from omnigw.sim.mme import SimMme, dial, listen, sim_cells
from omnigw.store.engine import create_engine, session_factory
from omnigw.store.migrate import upgrade
from omnigw.transport import sctp
from tests.support.ports import free_port
from tests.support.waiting import until

PLMN = "901-70"
TAIS = [Tai(PLMN, 1), Tai(PLMN, 2)]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[[CbcConfig], Awaitable[CbcService]]]:
    assert sctp.unavailable() is None, "this runs inside the SCTP lane's VM"
    url = f"sqlite+aiosqlite:///{tmp_path / 'omnigw.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url)
    started: list[CbcService] = []

    async def make(cfg: CbcConfig) -> CbcService:
        service = CbcService(cfg, session_factory(engine))
        await service.start()
        started.append(service)
        return service

    yield make
    for service in started:
        await service.stop()
    await engine.dispose()


def _config(peer: dict[str, Any], port: int = 29168) -> CbcConfig:
    return CbcConfig.model_validate({
        "cbsp": {"port": free_port()},
        "sbcap": {"transport": "sctp", "bind": ["127.0.0.1", "127.0.0.2"], "port": port,
                  "reconnect_max_seconds": 0.5, "answer_timeout_seconds": 5},
        "peers": [{"name": "mme1", "protocol": "sbcap", "tais": ["901-70-1", "901-70-2"],
                   **peer}],
    })  # fmt: skip


def _spec(target: Any) -> AlertSpec:
    return AlertSpec(target=target, texts=(Text("en", "Flood warning: move to high ground"),),
                     alert_class=AlertClass.PRESIDENTIAL)  # fmt: skip


async def _peer(service: CbcService, alert_id: str) -> dict[str, Any]:
    peer: dict[str, Any] = alert_view(await service.get(alert_id))["messages"][0]["peers"][0]
    return peer


async def _is(service: CbcService, alert_id: str, state: str) -> bool:
    return (await _peer(service, alert_id))["state"] == state


async def _all_cells(service: CbcService, alert_id: str, state: str, count: int) -> bool:
    cells = (await _peer(service, alert_id))["cells"]
    return len(cells) == count and {c["state"] for c in cells} == {state}


def _writes(mme: SimMme) -> list[WriteReplaceWarningRequest]:
    return [p for p in mme.received if isinstance(p, WriteReplaceWarningRequest)]


async def test_the_cbc_connects_to_an_mme_over_kernel_sctp(start: Any) -> None:
    cells = sim_cells(PLMN, 1, 20_000)
    mme = SimMme(TAIS, cells)
    port = free_port()
    listener = await listen(mme, "sctp", "127.0.0.1", port)
    try:
        cfg = _config({"address": "127.0.0.1", "port": port})
        service = await start(cfg)
        await until(lambda: service.peer_status()["mme1"], within=20)
        target = Areas(cfg).ecgis([f"{c.plmn}-{c.eci}" for c in cells])
        alert_id = await service.submit(_spec(target), "authority@x")
        await until(lambda: _is(service, alert_id, "active"), within=60)
        await until(lambda: _all_cells(service, alert_id, "scheduled", 20_000), within=60)
        [write] = _writes(mme)
        assert write.warning_area is not None and len(write.warning_area.ecgis) == 20_000
        assert set(mme.arrivals) == {(0, PPID)}

        mme.restart(cells[:10])
        await until(lambda: len(_writes(mme)) == 2, within=60)

        await service.cancel(alert_id, "authority@x")
        await until(lambda: _is(service, alert_id, "killed"), within=60)
        assert any(isinstance(p, StopWarningRequest) for p in mme.received)
        await until(lambda: _all_cells(service, alert_id, "stopped", 20_000), within=60)
    finally:
        listener.close()


async def test_an_mme_connects_to_the_cbc_over_kernel_sctp(start: Any) -> None:
    port = free_port()
    cfg = _config({"mode": "server", "address": "127.0.0.7"}, port=port)
    service = await start(cfg)
    mme = SimMme(TAIS, [Ecgi(PLMN, 0x100 + i) for i in range(3)])
    await dial(mme, "sctp", "127.0.0.1", port, local="127.0.0.7")
    await until(lambda: service.peer_status()["mme1"], within=20)
    alert_id = await service.submit(_spec(Areas(cfg).plmn()), "authority@x")
    await until(lambda: _all_cells(service, alert_id, "scheduled", 3), within=60)
    assert set(mme.arrivals) == {(0, PPID)}
