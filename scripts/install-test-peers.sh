#!/bin/sh
# Install the real peers the test suite talks to (TESTING.md), only those missing; QEMU,
# busybox and cpio build the VM of the kernel SCTP lane (tests/sctp_vm), where osmo-stp runs.
# Idempotent; as root it uses apt-get, otherwise it says what it could not install
# and the tests that need those peers report themselves as not run.
set -eu
# package:command pairs
peers="postgresql:/usr/lib/postgresql/15/bin/initdb tshark:tshark osmo-bsc:osmo-bsc freediameter:freeDiameterd systemd:systemd-analyze qemu-system-x86:qemu-system-x86_64 busybox-static:busybox cpio:cpio xz-utils:xz osmo-stp:osmo-stp"
missing=""
for pair in $peers; do
    pkg=${pair%%:*}
    cmd=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then
        missing="$missing $pkg"
    fi
done
if [ -z "$missing" ]; then
    echo "test peers: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "test peers: NOT installed (need root and apt-get):$missing" >&2
    echo "test peers: tests that need them will report 'peer unavailable'" >&2
    exit 0
fi
echo "test peers: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "test peers: installed$missing"
