"""The README's lab, as a newcomer runs it: config/lab.yaml, `omnigw sim bsc`,
`omnigw sim mme` and `omnigw sim ssf`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from omnigw.config import load_config
from tests.support.daemon import ADMIN_PASSWORD, omnigw, wait_healthy
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_lab_config_is_valid() -> None:
    cfg = load_config(ROOT / "config" / "lab.yaml")
    assert [(p.name, str(p.address)) for p in cfg.cbc.peers] == [
        ("bsc1", "127.0.1.1"), ("bsc2", "127.0.1.2"), ("bsc3", "127.0.1.3"),
        ("mme1", "127.0.0.1"),
    ]  # fmt: skip
    assert cfg.cbc.peers[3].port == 29168 and cfg.cbc.peers[3].mode == "client"


def test_the_simulator_says_what_is_missing_instead_of_a_traceback() -> None:
    result = omnigw("sim", "bsc", "--connect", f"127.0.0.1:{free_port()}", "--count", "2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot connect" in result.stderr and "address: 127.0.1.2" in result.stderr


async def test_the_lab_from_the_readme_delivers_an_alert_and_charges_prepaid_calls(
    tmp_path: Path,
) -> None:
    lab = yaml.safe_load((ROOT / "config" / "lab.yaml").read_text())
    api_port, cbsp_port, mme_port, stp_port = free_port(), free_port(), free_port(), free_port()
    lab["cbc"]["peers"][3]["port"] = mme_port
    lab["camel"]["links"][0]["port"] = stp_port
    lab["state_dir"] = str(tmp_path / "state")
    lab["api"]["port"], lab["metrics"]["port"] = api_port, free_port()
    lab["cbc"]["cbsp"]["port"], lab["diameter"]["port"] = cbsp_port, free_port()
    config = tmp_path / "lab.yaml"
    config.write_text(yaml.safe_dump(lab))
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    env = {**os.environ, "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD}
    daemon = subprocess.Popen(  # noqa: ASYNC220  (started once, then only signalled)
        [sys.executable, "-m", "omnigw", "run", "--config", str(config)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sim = mme = None
    try:
        mme = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "omnigw", "sim", "mme", "--listen", f"127.0.0.1:{mme_port}",
             "--transport", "tcp", "--cells", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert mme.stdout is not None
        line = await asyncio.to_thread(mme.stdout.readline)
        assert line.startswith("1 simulated MMEs listening"), line
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:
            await wait_healthy(http)
            sim = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "omnigw", "sim", "bsc", "--connect",
                 f"127.0.0.1:{cbsp_port}", "--count", "3", "--cells", "10"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert sim.stdout is not None
            line = await asyncio.to_thread(sim.stdout.readline)
            assert line.startswith("3 simulated BSCs connected"), line
            admin = {"email": "admin@example.com", "password": ADMIN_PASSWORD}
            login = await http.post("/crm/auth/login", json=admin)
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            alert = {"class": "extreme", "texts": [{"language": "en", "text": "Lab alert"}],
                     "target": {"plmn": True}, "duration_seconds": 600}  # fmt: skip
            resp = await http.post("/api/v1/alerts", json=alert, headers=auth)
            assert resp.status_code == 201, resp.text
            alert_id = resp.json()["id"]
            for _ in range(100):
                view = (await http.get(f"/api/v1/alerts/{alert_id}", headers=auth)).json()
                if view["delivered_at"]:
                    break
                await asyncio.sleep(0.1)
            peers = {p["peer"]: p["state"] for p in view["messages"][0]["peers"]}
            assert peers == {"bsc1": "active", "bsc2": "active", "bsc3": "active",
                             "mme1": "active"}  # fmt: skip
            for _ in range(100):
                view = (await http.get(f"/api/v1/alerts/{alert_id}", headers=auth)).json()
                if view["cells"].get("scheduled") == 10:
                    break
                await asyncio.sleep(0.1)
            assert view["cells"]["scheduled"] == 10  # the MME's indications, cell by cell
            # CAMEL: the subscriber's balance, then three prepaid calls of 95 s and an SMS
            account = "/api/v1/ocs/accounts/34600000001"
            resp = await http.put(account, json={"seconds": 3600, "units": 10}, headers=auth)
            assert resp.status_code == 200, resp.text
            listen = ["--listen", f"127.0.0.1:{stp_port}", "--transport", "tcp"]
            calls = await asyncio.to_thread(
                omnigw, "sim", "ssf", *listen, "--calls", "3", "--talk", "95"
            )
            assert "3 calls in" in calls.stdout and "{'scf': 3}" in calls.stdout, calls.stdout
            sms = await asyncio.to_thread(omnigw, "sim", "ssf", *listen, "--sms")
            assert "{'scf': 1}" in sms.stdout, sms.stdout
            for _ in range(100):
                balances = (await http.get(account, headers=auth)).json()["balances"]
                if balances == {"seconds": 3600 - 3 * 95, "units": 9}:
                    break
                await asyncio.sleep(0.1)
            assert balances == {"seconds": 3600 - 3 * 95, "units": 9}
    finally:
        for proc in (sim, mme, daemon):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
