#!/usr/bin/env bash
# Builds the VM runtime's guest from Debian packages only: the kernel (vmlinux, unpacked from the linux-image package
# that linux-image-amd64 depends on, never installed on the host) and an initramfs with busybox, crun and the
# libraries it links, the virtio modules, /init and the agent (compiled here, static).
#
# Usage: vm/guest/build.sh [OUT_DIR]   (default vm/guest/out, git-ignored). Prints the output directory.
# Rebuilds only what its inputs changed: the kernel when the package version differs, the initramfs when this
# script, init, agent.c or the host's crun/busybox differ.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(mkdir -p "${1:-$here/out}" && cd "${1:-$here/out}" && pwd)
log() { echo "guest-build: $*" >&2; }

for tool in gcc cpio gzip xz busybox crun apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { log "$tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
[[ -x /bin/busybox ]] && file_busybox=/bin/busybox || file_busybox=$(command -v busybox)
if ldd "$file_busybox" >/dev/null 2>&1; then
  log "$file_busybox is dynamically linked; install busybox-static"; exit 1
fi

# The virtio drivers Debian builds as modules, in load order (microvm finds virtio-mmio devices through ACPI;
# the PCI ones serve q35).
modules=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci
         drivers/char/virtio_console net/core/failover drivers/net/net_failover drivers/net/virtio_net
         fs/fuse/fuse fs/fuse/virtiofs fs/overlayfs/overlay)

# --- kernel --------------------------------------------------------------------------------------------------
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[[ -n "$kpkg" ]] || { log "cannot tell which linux-image linux-image-amd64 depends on (apt-get update?)"; exit 1; }
kver=${kpkg#linux-image-}
have_kernel=1
[[ -f "$out/kernel/$kver/vmlinux" ]] || have_kernel=0
for m in "${modules[@]}"; do [[ -f "$out/kernel/$kver/modules/${m##*/}.ko" ]] || have_kernel=0; done
if ((!have_kernel)); then
  log "unpacking $kpkg"
  rm -rf "$out/kernel" "$out/deb" && mkdir -p "$out/deb" "$out/kernel/$kver"
  (cd "$out/deb" && apt-get download "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
  deb=$(ls "$out/deb/${kpkg}"_*.deb)
  dpkg-deb -x "$deb" "$out/kernel/$kver/pkg"
  vmlinuz=$out/kernel/$kver/pkg/boot/vmlinuz-$kver
  # The bzImage holds an XZ-compressed ELF; qemu boots that ELF directly through PVH, which skips the
  # decompression (~4 s under TCG). xz exits 1 on the trailing bytes after the stream; the ELF is whole.
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((off + 1)) "$vmlinuz" | xz -dc >"$out/kernel/$kver/vmlinux.tmp" 2>/dev/null || true
  head -c 4 "$out/kernel/$kver/vmlinux.tmp" | grep -q ELF || { log "no ELF kernel inside $vmlinuz"; exit 1; }
  mv "$out/kernel/$kver/vmlinux.tmp" "$out/kernel/$kver/vmlinux"
  mkdir -p "$out/kernel/$kver/modules"
  for m in "${modules[@]}"; do
    src=$out/kernel/$kver/pkg/lib/modules/$kver/kernel/$m.ko
    [[ -f "$src" ]] || { log "module $m missing from $kpkg"; exit 1; }
    cp "$src" "$out/kernel/$kver/modules/"
  done
  rm -rf "$out/deb" "$out/kernel/$kver/pkg"
fi
ln -sfn "kernel/$kver/vmlinux" "$out/vmlinux"
echo "$kver" >"$out/kernel-release"

# --- initramfs -----------------------------------------------------------------------------------------------
crun_bin=$(command -v crun)
inputs=$( { cat "$here/build.sh" "$here/init" "$here/agent.c"; echo "$kver"; sha256sum "$crun_bin" "$file_busybox"; } \
  | sha256sum | cut -c1-16)
if [[ -f "$out/initrd.img" && "$(cat "$out/initrd.stamp" 2>/dev/null)" == "$inputs" ]]; then
  echo "$out"; exit 0
fi
log "building the initramfs"
root=$out/root
rm -rf "$root" && mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,run,tmp,etc,var,root}
gcc -static -Os -Wall -Wextra -Werror -Wno-format-truncation -o "$root/sbin/bollard-agent" "$here/agent.c"
strip "$root/sbin/bollard-agent"
cp "$file_busybox" "$root/bin/busybox"
for applet in $("$file_busybox" --list); do
  [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/init" "$root/init"
# crun and what it links, at the same paths (the loader and libraries come from the host's Debian packages).
cp "$crun_bin" "$root/usr/bin/crun"
for lib in $(ldd "$crun_bin" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[[ -e "$root/lib64/ld-linux-x86-64.so.2" ]] || { mkdir -p "$root/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"; }
: >"$root/lib/modules/load-order"
for m in "${modules[@]}"; do
  name=${m##*/}
  cp "$out/kernel/$kver/modules/$name.ko" "$root/lib/modules/"
  echo "$name" >>"$root/lib/modules/load-order"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -6 >"$out/initrd.img.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "$inputs" >"$out/initrd.stamp"
log "initramfs $(du -h "$out/initrd.img" | cut -f1), kernel $kver"
echo "$out"
