"""The slow lane: SBc-AP, and M3UA through osmo-stp, over real kernel SCTP in a QEMU guest
(this kernel has none).

Builds a throw-away VM from a stock Debian kernel (scripts/sctp-vm/), boots it under QEMU's
software emulation with this checkout and its interpreter shared at their own paths, and
runs guest_sbcap.py and guest_m3ua.py (M3UA, then a prepaid call and an SMS through
osmo-stp) there with pytest. Without qemu, busybox, cpio or osmo-stp the test says so as
a peer that is unavailable (make test installs them as root)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VM = ROOT / ".cache" / "sctp-vm"


def test_sbcap_and_m3ua_over_kernel_sctp_in_a_vm() -> None:
    missing = [t for t in ("qemu-system-x86_64", "busybox", "cpio", "apt-get", "osmo-stp")
               if shutil.which(t) is None]  # fmt: skip
    if missing:
        pytest.skip(f"peer unavailable: the SCTP lane needs {', '.join(missing)}")
    build = subprocess.run([ROOT / "scripts/sctp-vm/build.sh", VM], capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    if build.returncode != 0:
        pytest.skip(f"peer unavailable: could not build the SCTP VM: {build.stderr[-500:]}")
    script = ROOT / ".cache" / "sctp-lane.sh"
    script.write_text(
        f"exec {sys.executable} -m pytest -q -p no:cacheprovider tests/sctp_vm/guest_sbcap.py "
        "tests/sctp_vm/guest_m3ua.py\n"
    )
    shared = [] if sys.base_prefix.startswith("/usr") else [sys.base_prefix]
    env = {"PATH": "/usr/bin:/bin", "VM_DIR": str(VM), "VM_SHARE_RO": " ".join(shared),
           "VM_SHARE_RW": str(ROOT)}  # fmt: skip
    began = time.monotonic()
    run = subprocess.run([ROOT / "scripts/sctp-vm/boot.sh", str(ROOT), str(script)], env=env,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    took = time.monotonic() - began
    console = run.stdout + run.stderr
    summary = [line for line in console.splitlines() if " passed" in line or " failed" in line]
    print(f"\nSCTP lane: {summary[-1] if summary else 'no pytest summary'}; {took:.0f} s in all")
    assert "GUEST-EXIT: 0" in console, console[-4000:]
