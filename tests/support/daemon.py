"""Run `omnigw` as a real subprocess with a NOTIFY_SOCKET we listen on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.ports import free_port

ADMIN_PASSWORD = "first-admin-password"


def omnigw(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnigw", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


def write_config(directory: Path, extra: str = "") -> tuple[Path, int, int]:
    api_port, metrics_port = free_port(), free_port()
    path = directory / "omnigw.yaml"
    if "diameter:" not in extra:
        extra = extra.rstrip("\n") + f"\ndiameter: {{port: {free_port()}}}\n"
    path.write_text(
        f"state_dir: {directory / 'state'}\n"
        f"api: {{port: {api_port}, drain_grace_seconds: 2}}\n"
        f"metrics: {{port: {metrics_port}}}\n" + extra
    )
    return path, api_port, metrics_port


class NotifyListener:
    """The service manager's side of sd_notify: collects every datagram."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []

    def wait_for(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            self.messages.append(message)
            if message.startswith(prefix):
                return message
        raise AssertionError(f"no {prefix!r} within {timeout}s; got {self.messages}")

    def close(self) -> None:
        self.sock.close()


async def wait_healthy(http: httpx.AsyncClient, seconds: float = 30.0) -> None:
    """Until the daemon's /healthz answers 200 (it is still starting before that)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the daemon did not become healthy within {seconds} s")
