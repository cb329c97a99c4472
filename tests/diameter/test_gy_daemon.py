"""The daemon as a Gy server: embedded balances set over the API, a session charged, DPR on stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.daemon import (
    ADMIN_PASSWORD,
    NotifyListener,
    omnigw,
    wait_healthy,
    write_config,
)
from tests.support.gy import GyClient, ccr, mscc
from tests.support.ports import free_port

MB = 1024 * 1024


def _gy_config(directory: Path) -> tuple[Path, int, int]:
    """A migrated store and a config with the embedded OCS and pgw.test allowed in."""
    diameter_port = free_port()
    config, api_port, _ = write_config(
        directory,
        f"diameter: {{port: {diameter_port}, peers: [{{host: pgw.test}}]}}\n"
        "ocs: {backend: embedded}\n",
    )
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    return config, api_port, diameter_port


async def test_daemon_charges_a_gy_session_and_says_goodbye(tmp_path: Path) -> None:
    config, api_port, diameter_port = _gy_config(tmp_path)
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


async def test_kill_9_under_gy_load_loses_no_acknowledged_debit(tmp_path: Path) -> None:
    """Every debit answered 2001 is there after kill -9 (journaled before the answer)."""
    config, api_port, diameter_port = _gy_config(tmp_path)
    start = 10**12
    acknowledged = 0
    async with _daemon(config, api_port) as http:
        too_big = await http.put("/api/v1/ocs/accounts/4911", json={"octets": 2**63})
        assert too_big.status_code == 400 and "octets" in too_big.json()["reason"]
        put = await http.put("/api/v1/ocs/accounts/4911", json={"octets": start})
        assert put.status_code == 200, put.text

        client = await GyClient.connect(diameter_port)
        stop = asyncio.Event()

        async def session(n: int) -> None:
            nonlocal acknowledged
            number = 0
            while not stop.is_set():
                sid = f"pgw.test;{n};{number}"
                cca = await client.ask(ccr(sid, 1, 0, mscc(10, rsu=MB)))
                if cca.result_code != 2001:
                    return
                for request, kind in ((1, 2), (2, 3)):
                    used = 1000 + n
                    cca = await client.ask(ccr(sid, kind, request, mscc(10, rsu=MB, used=used)))
                    if cca.result_code == 2001:
                        acknowledged += used
                number += 1

        workers = [asyncio.create_task(session(n)) for n in range(20)]
        await asyncio.sleep(1.5)
        http.daemon.kill()  # in the middle of the load
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
        await client.close()
    assert acknowledged > 0
    async with _daemon(config, api_port) as http:  # the next start reads the journal back
        balance = (await http.get("/api/v1/ocs/accounts/4911")).json()["balances"]["octets"]
    # Requests in flight at the kill may be kept unanswered: at least every acknowledged
    # debit is there, never less.
    assert start - balance >= acknowledged
    db = sqlite3.connect(tmp_path / "state" / "omnigw.db")
    try:
        [(stored,)] = db.execute("SELECT amount FROM ocs_balances WHERE account = '4911'")
    finally:
        db.close()
    assert stored == balance  # and in the store


class _Http(httpx.AsyncClient):
    daemon: subprocess.Popen[bytes]


@contextlib.asynccontextmanager
async def _daemon(config: Path, api_port: int) -> AsyncIterator[_Http]:
    """The daemon running on `config`, and an API client logged in as the admin."""
    env = {**os.environ, "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once, then only signalled)
        [sys.executable, "-m", "omnigw", "run", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with _Http(base_url=f"http://127.0.0.1:{api_port}") as http:
            http.daemon = proc
            await wait_healthy(http)
            credentials = {"email": "admin@example.com", "password": ADMIN_PASSWORD}
            login = await http.post("/crm/auth/login", json=credentials)
            http.headers["Authorization"] = f"Bearer {login.json()['token']}"
            yield http
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
