"""kill -9 the daemon mid-delivery and start it again: nothing lost, nothing written twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from omnigw.cbc.cbsp.codec import MsgType
from omnigw.cbc.cells import CellId
from omnigw.sim.bsc import SimBsc, connect
from tests.support.daemon import ADMIN_PASSWORD, omnigw
from tests.support.ports import free_port
from tests.support.waiting import until

CELL = CellId("901", "70", 23, 1)


async def _start(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD}
    with log.open("a") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "omnigw", "run", "--config", str(config),
            env=env, stdout=out, stderr=out,
        )  # fmt: skip


async def _connect_when_up(port: int) -> SimBsc:
    for _ in range(200):
        try:
            bsc = await connect("127.0.0.1", port, [CELL])
        except OSError:
            await asyncio.sleep(0.1)
            continue
        return bsc
    raise AssertionError("daemon never listened")


async def _api(base: str) -> httpx.AsyncClient:
    for _ in range(200):
        try:
            async with httpx.AsyncClient() as anonymous:
                resp = await anonymous.post(
                    f"{base}/crm/auth/login",
                    json={"email": "admin@example.com", "password": ADMIN_PASSWORD},
                )
            token = resp.json()["token"]
            return httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError("API never came up")


async def _cell_state(http: httpx.AsyncClient, alert_id: str) -> str | None:
    alert = (await http.get(f"/api/v1/alerts/{alert_id}")).json()
    cells = alert["messages"][0]["peers"][0]["cells"]
    return cells[0]["state"] if cells else None


async def test_kill_9_mid_delivery_then_restart(tmp_path: Path) -> None:
    cbsp, api = free_port(), free_port()
    config = tmp_path / "omnigw.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\napi: {{port: {api}}}\nmetrics: {{enabled: false}}\n"
        f"cbc:\n  cbsp: {{port: {cbsp}, answer_timeout_seconds: 30}}\n"
        "  peers: [{name: bsc1, mode: server, address: 127.0.0.1}]\n"
    )
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    log = tmp_path / "omnigw.log"
    body = {"class": "presidential", "texts": [{"text": "first"}], "target": {"plmn": True}}

    daemon = await _start(config, log)
    bsc = await _connect_when_up(cbsp)
    http = await _api(f"http://127.0.0.1:{api}")
    try:
        first = (await http.post("/api/v1/alerts", json=body)).json()["id"]
        await until(lambda: _is(http, first, "installed"), within=15)
        bsc.silent = True  # the second alert reaches the BSC but is never confirmed
        second = (await http.post("/api/v1/alerts", json={**body, "class": "amber"})).json()["id"]
        await until(lambda: _has_writes(bsc, 2), within=15)
    finally:
        await http.aclose()
    daemon.send_signal(signal.SIGKILL)
    await daemon.wait()
    await asyncio.wait_for(bsc.closed.wait(), 10)

    daemon = await _start(config, log)
    try:
        bsc2 = await _connect_when_up(cbsp)
        http = await _api(f"http://127.0.0.1:{api}")
        await until(lambda: _is(http, second, "installed"), within=15)
        assert await _cell_state(http, first) == "installed"
        # The BSC still holds the first alert: no RESET, no second WRITE-REPLACE for it.
        assert MsgType.RESET not in [p.type for p in bsc2.received]
        writes = bsc2.writes()
        assert [w.message_id for w in writes] == [4379]
        assert writes[0].new_serial == bsc.writes()[1].new_serial  # same message, same serial
        history = (await http.get(f"/api/v1/alerts/{first}")).json()["history"]
        assert [h["what"] for h in history] == ["accepted", "delivered"]
        await http.aclose()
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert await daemon.wait() == 0


async def _is(http: httpx.AsyncClient, alert_id: str, state: str) -> bool:
    return await _cell_state(http, alert_id) == state


async def _has_writes(bsc: SimBsc, count: int) -> bool:
    return len(bsc.writes()) >= count
