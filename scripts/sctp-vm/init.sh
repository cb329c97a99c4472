#!/bin/busybox sh
# /init of the SCTP lane's VM: load the 9p and SCTP modules, mount the host's shares at
# the same paths (SHARES="tag=path ..." on the kernel command line; tags rw... are mounted
# read-write), chroot, run GUEST_SCRIPT in GUEST_DIR, print its exit
# status, power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache \
         9pnet 9pnet_virtio 9p crc32c_generic libcrc32c udp_tunnel ip6_udp_tunnel sctp; do
    [ -f /m/$m.ko ] && insmod /m/$m.ko 2>/dev/null
done
R=/newroot
mount -t tmpfs tmpfs $R
mkdir -p $R/usr $R/etc $R/proc $R/sys $R/dev $R/tmp $R/run
ln -s usr/bin $R/bin; ln -s usr/lib $R/lib; ln -s usr/lib64 $R/lib64; ln -s usr/sbin $R/sbin
mount -t tmpfs tmpfs $R/tmp  # before the shares: one of them may live under /tmp
for share in $SHARES; do
    tag=${share%%=*}; path=${share#*=}
    mkdir -p "$R$path"
    case $tag in
        rw*) mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "$tag" "$R$path" ;;
        *) mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 "$tag" "$R$path" ;;
    esac
done
mount -t proc proc $R/proc; mount -t sysfs sys $R/sys; mount -t devtmpfs dev $R/dev
ip link set lo up
echo "GUEST: up after $(cut -d' ' -f1 /proc/uptime) s"
chroot $R /bin/sh -c "cd $GUEST_DIR && /bin/sh $GUEST_SCRIPT"
echo "GUEST-EXIT: $?"
poweroff -f
