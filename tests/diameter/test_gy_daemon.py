"""The daemon as a Gy server: embedded balances set over the API, a session charged, DPR on stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.daemon import ADMIN_PASSWORD, NotifyListener, omnigw, write_config
from tests.support.gy import GyClient, ccr, mscc
from tests.support.ports import free_port

MB = 1024 * 1024


async def test_daemon_charges_a_gy_session_and_says_goodbye(tmp_path: Path) -> None:
    diameter_port = free_port()
    config, api_port, _ = write_config(
        tmp_path,
        f"diameter: {{port: {diameter_port}, peers: [{{host: pgw.test}}]}}\n"
        "ocs: {backend: embedded}\n",
    )
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    notify = NotifyListener(tmp_path)
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once, then only signalled)
        [sys.executable, "-m", "omnigw", "run", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.to_thread(notify.wait_for, "READY=1")
        base = f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=base) as http:
            credentials = {"email": "admin@example.com", "password": ADMIN_PASSWORD}
            login = await http.post("/crm/auth/login", json=credentials)
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            put = await http.put("/api/v1/ocs/accounts/4911", json={"octets": 50 * MB},
                                 headers=auth)  # fmt: skip
            assert put.status_code == 200, put.text

            client = await GyClient.connect(diameter_port)
            cca = await client.ask(ccr("pgw.test;1", 1, 0, mscc(10, rsu=10 * MB)))
            assert cca.result_code == 2001
            cca = await client.ask(ccr("pgw.test;1", 2, 1, mscc(10, rsu=10 * MB, used=4 * MB)))
            assert cca.multiple_services_credit_control[0].granted_service_unit.cc_total_octets
            cca = await client.ask(ccr("pgw.test;1", 3, 2, mscc(10, used=MB)))
            assert cca.result_code == 2001
            got = await http.get("/api/v1/ocs/accounts/4911", headers=auth)
            assert got.json()["balances"] == {"octets": 45 * MB}
            unauthenticated = await http.get("/api/v1/ocs/accounts/4911")
            assert unauthenticated.status_code == 401

        proc.send_signal(signal.SIGTERM)
        for _ in range(100):
            if any(r.header.command_code == 282 for r in client.requests):
                break
            await asyncio.sleep(0.05)
        assert [r.header.command_code for r in client.requests][-1] == 282  # DPR
        await client.close()
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
