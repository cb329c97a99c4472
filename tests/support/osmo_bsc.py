"""Debian's osmo-bsc as a real CBSP peer.

Its configuration is tests/interop/peers/osmo-bsc-cbsp.cfg, a copy of the team's
shared/peers/osmo-bsc-cbsp.cfg kept in the repository so a clone alone runs the test.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / "interop" / "peers" / "osmo-bsc-cbsp.cfg"
CELL = "901-70-23-0"  # the one BTS of that config


def available() -> bool:
    return shutil.which("osmo-bsc") is not None and SHARED.exists()


def _config(mode: str, port: int) -> str:
    text = SHARED.read_text()
    head, _, _ = text.partition("cbc\n")
    tail = text.split("line vty", 1)[1]
    if mode == "server":  # osmo-bsc listens, omnigw connects
        cbc = f"cbc\n mode server\n server\n  local-ip 127.0.0.1\n  local-port {port}\n"
    else:  # osmo-bsc connects to omnigw
        cbc = f"cbc\n mode client\n client\n  remote-ip 127.0.0.1\n  remote-port {port}\n"
    return head + cbc + "line vty" + tail


class OsmoBsc:
    def __init__(self, directory: Path, mode: str, port: int) -> None:
        self.directory = directory
        self.mode, self.port = mode, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.directory / f"osmo-bsc-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        cfg = self.directory / "osmo-bsc.cfg"
        cfg.write_text(_config(self.mode, self.port))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["osmo-bsc", "-c", str(cfg)], cwd=self.directory, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 15
        vty_ready = False
        while time.monotonic() < deadline and not vty_ready:
            with socket.socket() as probe:
                vty_ready = probe.connect_ex(("127.0.0.1", 4242)) == 0
            time.sleep(0.1)
        if not vty_ready:
            raise RuntimeError(f"osmo-bsc did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # the VTY port must be free before the next start
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", 4242)) != 0:
                    return
            time.sleep(0.1)

    def count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)
