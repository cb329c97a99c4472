"""kill -9 the daemon mid fan-out to an MME and start it again: what the MME confirmed is
not written again, what it had not is written again with the same serial, nothing lost."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from omnigw.cbc.sbcap.codec import Ecgi, Tai, WriteReplaceWarningRequest
from omnigw.sim.mme import SimMme, listen
from tests.cbc.test_crash import _api, _start
from tests.support.daemon import omnigw
from tests.support.ports import free_port
from tests.support.waiting import until


async def _peer_state(http: httpx.AsyncClient, alert_id: str) -> str:
    alert = (await http.get(f"/api/v1/alerts/{alert_id}")).json()
    state: str = alert["messages"][0]["peers"][0]["state"]
    return state


def _writes(mme: SimMme) -> list[WriteReplaceWarningRequest]:
    return [p for p in mme.received if isinstance(p, WriteReplaceWarningRequest)]


async def test_kill_9_mid_fan_out_to_an_mme_then_restart(tmp_path: Path) -> None:
    mme_port, api = free_port(), free_port()
    config = tmp_path / "omnigw.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\napi: {{port: {api}}}\nmetrics: {{enabled: false}}\n"
        f"cbc:\n  cbsp: {{port: {free_port()}}}\n"
        "  sbcap: {transport: tcp, answer_timeout_seconds: 30, reconnect_max_seconds: 0.5}\n"
        f"  peers: [{{name: mme1, protocol: sbcap, address: 127.0.0.1, port: {mme_port},"
        " tais: [901-70-1]}]\n"
    )
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    log = tmp_path / "omnigw.log"
    mme = SimMme([Tai("901-70", 1)], [Ecgi("901-70", 7)])
    listener = await listen(mme, "tcp", "127.0.0.1", mme_port)
    body = {"class": "presidential", "texts": [{"text": "first"}], "target": {"plmn": True}}
    try:
        daemon = await _start(config, log)
        http = await _api(f"http://127.0.0.1:{api}")
        try:
            first = (await http.post("/api/v1/alerts", json=body)).json()["id"]
            await until(lambda: _is(http, first, "active"), within=15)
            mme.silent = True  # the second alert reaches the MME but is never answered
            second = (await http.post("/api/v1/alerts", json={**body, "class": "amber"})).json()
            await until(lambda: _count(mme, 2), within=15)
        finally:
            await http.aclose()
        daemon.send_signal(signal.SIGKILL)
        await daemon.wait()
        await asyncio.wait_for(mme.closed.wait(), 10)
        mme.silent = False
        before = _writes(mme)

        daemon = await _start(config, log)
        try:
            http = await _api(f"http://127.0.0.1:{api}")
            await until(lambda: _is(http, second["id"], "active"), within=15)
            assert await _peer_state(http, first) == "active"
            again = _writes(mme)[2:]
            # Only the unanswered one is written again, with the serial it had.
            assert [(w.message_id, w.serial) for w in again] == [
                (before[1].message_id, before[1].serial)
            ]
            await http.aclose()
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert await daemon.wait() == 0
    finally:
        listener.close()


async def _is(http: httpx.AsyncClient, alert_id: str, state: str) -> bool:
    return await _peer_state(http, alert_id) == state


async def _count(mme: SimMme, writes: int) -> bool:
    return len(_writes(mme)) >= writes
