"""The daemon as systemd runs it: READY after binding, watchdog, SIGHUP reload, SIGTERM drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.daemon import ADMIN_PASSWORD, NotifyListener, omnigw, write_config


def test_lifecycle_with_notify_socket(tmp_path: Path) -> None:
    config, api_port, metrics_port = write_config(tmp_path)
    assert omnigw("db", "upgrade", "--config", str(config)).returncode == 0
    notify = NotifyListener(tmp_path)
    log_path = tmp_path / "stdout.log"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": notify.path,
        "WATCHDOG_USEC": "1000000",
        "OMNIGW_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "omnigw", "run", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        notify.wait_for("READY=1")
        # READY means bound: both listeners answer at once.
        base = f"http://127.0.0.1:{api_port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert "omnigw_build_info" in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        notify.wait_for("WATCHDOG=1", timeout=3)
        login = httpx.post(
            f"{base}/crm/auth/login",
            json={"email": "admin@example.com", "password": ADMIN_PASSWORD},
        )
        assert login.status_code == 200

        # A good change applies live.
        config.write_text(config.read_text() + "log: {level: DEBUG}\n")
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")

        # A broken file is rejected and the daemon keeps serving on the old config.
        good = config.read_text()
        config.write_text(good + "api: {port: not-a-port}\n")
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        assert httpx.get(f"{base}/healthz").status_code == 200

        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    states = [m.split("\n")[0] for m in notify.messages if not m.startswith("WATCHDOG")]
    assert states == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1", "STOPPING=1"]
    log = log_path.read_text()
    assert "config reloaded" in log
    assert "reload rejected" in log and "api.port" in log
    assert ADMIN_PASSWORD not in log


def test_refuses_to_start_on_an_unmigrated_store(tmp_path: Path) -> None:
    config, _, _ = write_config(tmp_path)
    result = omnigw("run", "--config", str(config))
    assert result.returncode == 1
    assert "omnigw db upgrade" in result.stdout + result.stderr


def test_first_start_shows_a_generated_admin_password_once(tmp_path: Path) -> None:
    config, api_port, _ = write_config(tmp_path)
    omnigw("db", "upgrade", "--config", str(config))
    env = {
        k: v for k, v in os.environ.items() if k not in ("OMNIGW_ADMIN_PASSWORD", "JOURNAL_STREAM")
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnigw", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        password = (tmp_path / "state" / "initial-admin-password").read_text().strip()
        login = httpx.post(
            f"http://127.0.0.1:{api_port}/crm/auth/login",
            json={"email": "admin@example.com", "password": password},
        )
        assert login.status_code == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Not a terminal: the password goes to a private file, and the log names the file only.
    secret_file = tmp_path / "state" / "initial-admin-password"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert password and password not in output
    assert "initial-admin-password" in output
