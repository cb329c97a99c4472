#!/bin/sh
# Build a throw-away VM for the kernel SCTP lane into $1 (default .cache/sctp-vm): a stock
# Debian kernel (downloaded, not installed), the modules for 9p shares and SCTP, busybox
# as /init. Needs qemu-system-x86_64, busybox (static), cpio, xz and apt-get download.
# The kernel and its modules are kept; the initramfs is rebuilt whenever init.sh changes.
set -eu
out=${1:-.cache/sctp-vm}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ ! -f "$out/vmlinuz" ] || [ ! -d "$out/m" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    image=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
    [ -n "$image" ] || { echo "sctp-vm: no linux-image package known to apt" >&2; exit 1; }
    (cd "$work" && apt-get download -qq "$image" >/dev/null 2>&1)
    dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
    mkdir -p "$work/m"
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs \
             fscache 9pnet 9pnet_virtio 9p crc32c_generic libcrc32c udp_tunnel ip6_udp_tunnel sctp; do
        found=$(find "$work"/k/lib/modules -name "$m.ko*" | head -1)
        [ -n "$found" ] || continue  # built into this kernel
        case "$found" in
            *.xz) xz -dc "$found" > "$work/m/$m.ko" ;;
            *) cp "$found" "$work/m/$m.ko" ;;
        esac
    done
    rm -rf "$out/m"
    mv "$work/m" "$out/m"
    cp "$work"/k/boot/vmlinuz-* "$out/vmlinuz"
    echo "sctp-vm: took $image"
fi
if [ -f "$out/initrd.gz" ] && cmp -s "$here/init.sh" "$out/init.sh"; then
    exit 0
fi
root=$(mktemp -d)
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/newroot"
cp -r "$out/m" "$root/m"
cp "$(command -v busybox)" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
chmod +x "$root/init" "$root/bin/busybox"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.gz"
rm -rf "$root"
cp "$here/init.sh" "$out/init.sh"
echo "sctp-vm: initramfs built into $out"
