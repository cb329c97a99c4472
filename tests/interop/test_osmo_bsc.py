"""omnigw (the real daemon) against Debian's osmo-bsc over CBSP, in both link directions.

Submit through the API, see osmo-bsc's cell installed; cancel and see it killed;
restart osmo-bsc and see the active alert written to it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import osmo_bsc
from tests.support.daemon import ADMIN_PASSWORD, NotifyListener, omnigw
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(
    not osmo_bsc.available(), reason="peer unavailable: osmo-bsc not installed"
)


def wait_for(check: Callable[[], Any], what: str, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    def __init__(self, directory: Path, cbc_yaml: str) -> None:
        self.api_port = free_port()
        self.config = directory / "omnigw.yaml"
        self.config.write_text(
            f"state_dir: {directory / 'state'}\n"
            f"api: {{port: {self.api_port}}}\n"
            f"metrics: {{port: {free_port()}}}\n" + cbc_yaml
        )
        assert omnigw("db", "upgrade", "--config", str(self.config)).returncode == 0
        self.notify = NotifyListener(directory)
        env = {**os.environ, "NOTIFY_SOCKET": self.notify.path,
               "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD}  # fmt: skip
        self.log = (directory / "omnigw.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "omnigw", "run", "--config", str(self.config)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.notify.wait_for("READY=1")
        base = f"http://127.0.0.1:{self.api_port}"
        token = httpx.post(
            f"{base}/crm/auth/login",
            json={"email": "admin@example.com", "password": ADMIN_PASSWORD},
        ).json()["token"]
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.notify.close()
        self.log.close()


@pytest.fixture(params=["omnigw-connects", "bsc-connects"])
def setup(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Daemon, osmo_bsc.OsmoBsc]]:
    if request.param == "omnigw-connects":
        bsc_port = free_port()
        bsc = osmo_bsc.OsmoBsc(tmp_path, "server", bsc_port)
        cbc = (
            f"cbc:\n  cbsp: {{port: {free_port()}, reconnect_max_seconds: 1}}\n"
            f"  peers: [{{name: osmo-bsc, mode: client, address: 127.0.0.1, port: {bsc_port}}}]\n"
        )
        bsc.start()
        daemon = Daemon(tmp_path, cbc)
    else:
        cbsp_port = free_port()
        bsc = osmo_bsc.OsmoBsc(tmp_path, "client", cbsp_port)
        cbc = (
            f"cbc:\n  cbsp: {{port: {cbsp_port}}}\n"
            "  peers: [{name: osmo-bsc, mode: server, address: 127.0.0.1}]\n"
        )
        daemon = Daemon(tmp_path, cbc)
        bsc.start()
    try:
        yield daemon, bsc
    finally:
        daemon.stop()
        bsc.stop()


def _cells(daemon: Daemon, alert_id: str) -> dict[str, str]:
    alert = daemon.http.get(f"/api/v1/alerts/{alert_id}").json()
    peer = alert["messages"][0]["peers"][0]
    return {c["cell"]: c["state"] for c in peer["cells"]}


def test_alert_installed_killed_and_resent_after_bsc_restart(
    setup: tuple[Daemon, osmo_bsc.OsmoBsc],
) -> None:
    daemon, bsc = setup
    created = daemon.http.post(
        "/api/v1/alerts",
        json={"class": "presidential", "texts": [{"language": "en", "text": "Test alert"}],
              "target": {"plmn": True}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    alert_id = created.json()["id"]
    wait_for(lambda: _cells(daemon, alert_id).get(osmo_bsc.CELL) == "installed", "installed")
    assert bsc.count("CBSP Rx WRITE_REPLACE") >= 1

    # osmo-bsc restarts: it says RESTART (data lost) and gets the active alert again.
    bsc.stop()
    bsc.start()
    wait_for(lambda: bsc.count("CBSP Rx WRITE_REPLACE") >= 1, "re-sent WRITE-REPLACE", 30)
    wait_for(lambda: _cells(daemon, alert_id).get(osmo_bsc.CELL) == "installed", "installed again")

    assert daemon.http.delete(f"/api/v1/alerts/{alert_id}").status_code == 200
    wait_for(lambda: _cells(daemon, alert_id).get(osmo_bsc.CELL) == "killed", "killed")
    assert bsc.count("CBSP Rx KILL") == 1
    alert = daemon.http.get(f"/api/v1/alerts/{alert_id}").json()
    assert alert["state"] == "cancelled"
    assert alert["messages"][0]["peers"][0]["state"] == "killed"
