#!/bin/sh
# Boot the SCTP lane's VM (built by build.sh into $VM_DIR) under QEMU's software emulation
# and run a shell script in it: boot.sh DIR SCRIPT (kernel command lines do not quote well). /usr, /etc and the paths in
# VM_SHARE_RO (space separated) are shared read-only, those in VM_SHARE_RW read-write, each
# at the same path (SCRIPT must be under one of them); it runs in DIR. Prints the guest's
# console; the script's exit status is the line "GUEST-EXIT: n".
set -eu
dir=$1
script=$2
vm=${VM_DIR:-.cache/sctp-vm}
shares="usr=/usr etc=/etc"
args=""
i=0
for p in ${VM_SHARE_RO:-}; do
    i=$((i + 1)); shares="$shares ro$i=$p"
done
i=0
for p in ${VM_SHARE_RW:-}; do
    i=$((i + 1)); shares="$shares rw$i=$p"
done
for s in $shares; do
    tag=${s%%=*}; path=${s#*=}
    case $tag in rw*) ro="" ;; *) ro=",readonly=on" ;; esac
    args="$args -virtfs local,path=$path,mount_tag=$tag,security_model=none$ro"
done
# shellcheck disable=SC2086
exec qemu-system-x86_64 -accel tcg -cpu max -m 1536 -smp 2 -nographic -no-reboot \
    -kernel "$vm/vmlinuz" -initrd "$vm/initrd.gz" \
    -append "console=ttyS0 loglevel=3 panic=-1 SHARES=\"$shares\" GUEST_DIR=$dir GUEST_SCRIPT=$script" \
    $args -nic none
