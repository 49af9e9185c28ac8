#!/usr/bin/env bash
# Installs what building and running Bollard needs on a Debian machine. Idempotent: a second run is quick.
set -euo pipefail
packages=(
  runc                        # the default OCI runtime
  containerd                  # ships containerd-shim-runc-v2, the shim v2 binary Bollard drives
  busybox-static              # the demo and test images are built from it (no internet)
  docker-registry             # distribution v2, the real registry the tests pull from
  apache2-utils               # htpasswd, for the registry's basic-auth tests
  openssl                     # test CAs and certificates
  containernetworking-plugins # the CNI plugins (bridge, host-local, portmap, loopback) in /usr/lib/cni
  iproute2                    # ip: the network tests inspect links, addresses and routes
  iptables                    # portmap and bridge's ipMasq; the network tests clean their rules
  catatonit                   # the builtin pause image of every pod's infra container
  crun                        # the crun RuntimeClass handler
  runsc                       # gVisor: the runsc RuntimeClass handler (ptrace platform, through the runc shim)
  criu                        # CheckpointContainer: runc checkpoints through CRIU (3.17 fails on Linux >= 6.13)
  fontconfig                  # bench: fonts for the PNG charts (java.awt, headless)
  fonts-dejavu-core           # bench: the charts' sans-serif font
  qemu-system-x86             # the vm RuntimeClass handler's hypervisor (qemu microvm; /usr/lib/qemu/virtiofsd)
  gcc                         # vm/guest/build.sh compiles the guest agent (static)
  libc6-dev                   # ... against glibc's static libc
  cpio                        # vm/guest/build.sh packs the guest initramfs
  xz-utils                    # vm/guest/build.sh unpacks the guest kernel from Debian's vmlinuz
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kubectl drives the streaming server in the interop tests (Debian's kubernetes-client: kubectl 1.20, SPDY only).
# A kubectl already installed stays: another package owning /usr/bin/kubectl would conflict with this one.
command -v kubectl >/dev/null || { echo "install-deps: installing kubernetes-client" >&2; export DEBIAN_FRONTEND=noninteractive;
  apt-get update -qq; apt-get install -y -qq --no-install-recommends kubernetes-client >/dev/null; }
# Debian's containerd package starts its own daemon where systemd runs; Bollard needs only the shim binary.
command -v containerd-shim-runc-v2 >/dev/null || { echo "install-deps: containerd-shim-runc-v2 missing" >&2; exit 1; }
jdk=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
[[ -x "$jdk/bin/java" ]] || { echo "install-deps: Java 25 not found at $jdk (set BOLLARD_JAVA_HOME)" >&2; exit 1; }
command -v mvn >/dev/null || { echo "install-deps: installing maven" >&2; apt-get install -y -qq maven >/dev/null; }
