#!/usr/bin/env bash
# Restart recovery time (issue 7): N pods, the daemon SIGKILLed and started again; time to the first answered
# Version and the daemon's own "recovery done" figures. A benchmark, not a test.
#
#   bench/recovery.sh [--pods N]        (default 50)
#
# Everything lives under one temporary directory, removed on exit with whatever is mounted below it; the
# processes it started are ended by pid. Results: bench/results/recovery-<UTC timestamp>.json.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
checkout=$(cd "$here/.." && pwd)
java_home=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
[[ $(id -u) == 0 ]] || { echo "bench/recovery.sh: needs root (pods: netns, overlayfs, cgroups)" >&2; exit 1; }
if [[ ! -f "$here/target/bollard-bench.jar" || ! -f "$checkout/cli/target/bollard.jar" ]]; then
  echo "bench/recovery.sh: building (mvn -DskipTests package -pl bench -am)" >&2
  (cd "$checkout" && JAVA_HOME="$java_home" mvn -q -B -ntp -DskipTests package -pl bench -am)
fi
work=$(mktemp -d /tmp/bollard-recovery.XXXXXX)
java_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [[ -n "$java_pid" ]] && kill -TERM "$java_pid" 2>/dev/null && wait "$java_pid" 2>/dev/null
  if [[ -f "$work/pids" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done < "$work/pids"
  fi
  findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$here/results"
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC \
  -cp "$here/target/bollard-bench.jar" dev.bollard.bench.RecoveryBench \
  --checkout "$checkout" --work-dir "$work" --results-dir "$here/results" "$@" &
java_pid=$!
wait "$java_pid"
