#!/usr/bin/env bash
# Trains the daemon's AOT cache (JDK 25, JEP 483 + 515) from this checkout's build: cli/target/bollard-daemon.aot,
# which bin/bollard daemon starts from while it is newer than the jars and libjvm (bin/bollard, BOLLARD_ARCHIVE).
# The training run (dev.bollard.cli.AotTraining) starts the daemon on a temporary socket, root, state and CNI
# network of its own, makes the calls a node makes after a boot (images, pods, containers, status, lists, exec)
# with real runc, removes everything it made and stops the daemon, whose JVM then writes the cache.
# Needs root (runc, CNI, mounts). Failing soft: a training that fails only warns, and bin/bollard falls back to
# its CDS archive. scripts/build.sh runs it after packaging; set BOLLARD_AOT_TRAIN=0 to skip it.
#   scripts/aot-train.sh [CHECKOUT]      (default: the checkout holding this script)
set -uo pipefail
checkout=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}" && pwd)
java_home=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
target="$checkout/cli/target"
out="$target/bollard-daemon.aot"
warn() { echo "aot-train: $*; bin/bollard daemon starts from its CDS archive instead" >&2; }

if [[ "${BOLLARD_AOT_TRAIN:-1}" == 0 ]]; then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  warn "not root (the training runs pods with runc and CNI)"
  exit 0
fi
if [[ ! -f "$target/bollard.jar" || ! -x "$java_home/bin/java" ]]; then
  warn "no build in $target or no Java at $java_home"
  exit 0
fi
for tool in runc ip /bin/busybox /usr/lib/cni/bridge; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x $tool ]] || { warn "$tool is missing"; exit 0; }
done

# the JVM writes the cache at exit; a cache only replaces the old one once it is complete
tmp="$target/.bollard-daemon.aot.$$"
rm -f "$out" "$tmp"
start=$(date +%s)
if BOLLARD_JAVA_HOME="$java_home" BOLLARD_ARCHIVE=train BOLLARD_AOT_OUTPUT="$tmp" \
    "$java_home/bin/java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 --enable-native-access=ALL-UNNAMED \
    --sun-misc-unsafe-memory-access=allow -cp "$target/bollard.jar" dev.bollard.cli.AotTraining \
    "$checkout/bin/bollard" >&2 && [[ -s "$tmp" ]]; then
  mv -f "$tmp" "$out"
  echo "aot-train: $out ($(du -m "$out" | cut -f1) MB) in $(($(date +%s) - start)) s" >&2
else
  rm -f "$tmp"
  warn "the training run failed (above)"
fi
exit 0
