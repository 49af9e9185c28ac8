#!/usr/bin/env bash
# Benchmarks Bollard beside containerd (its CRI plugin): Debian 12's 1.6 and Debian sid's 2.1 (fetched once by
# bench/fetch-containerd21.sh into bench/.cache, never installed; where that fails, 1.6 alone), through one CRI
# client, in one run.
#
#   bench/run.sh pull [--rounds N] [--layers N] [--layer-mib N] [--keep] ...   image pull (see: bench/run.sh pull --help)
#   bench/run.sh pods [--cycles N] [--pods N] [--only bollard|containerd] ...   pod lifecycle and density (pods --help)
#   bench/run.sh cri [--pods N] [--clients N] [--duration S] ...                 CRI call throughput/latency, stats cost
#   bench/run.sh daemon [--rounds N]                                              daemon start-up time and idle RSS
#   bench/run.sh cold [--pod-cycles N] [--container-cycles N]                     a fresh daemon's first calls
#   bench/run.sh soak [--cycles N] [--fault-rate F] [--seed S]                  lifecycles with faults, leak account (Bollard)
#   bench/run.sh vm [--cycles N]                                                  VM pods (handler vm) beside runc pods (Bollard)
#   bench/run.sh all [--smoke] [--skip pull,...] ...                               every workload, one table, PNG charts
#   bench/run.sh report bench/results/<file>.json ...                             the table and charts from saved results
#
# Everything it starts (docker-registry, the daemons) lives under one temporary directory; on exit — success,
# failure or Ctrl-C — the processes it started are ended by pid, mounts below the directory are unmounted and
# the directory is removed. Results: bench/results/<workload>-<UTC timestamp>.json.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
checkout=$(cd "$here/.." && pwd)
java_home=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}

usage() {
  echo "usage: bench/run.sh pull|pods|cri|daemon|all|report [options]   (bench/run.sh <workload> --help lists them)" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
workload=$1
shift
case "$workload" in
  pull|pods) ;;
  cri|daemon|cold|soak|vm|all) ;;
  report) ;;
  -h|--help) usage ;;
  *) echo "bench/run.sh: unknown workload '$workload' (known: pull, pods, cri, daemon, cold, soak, vm, all, report)" >&2; exit 2 ;;
esac
if [[ " $* " == *" --help "* || " $* " == *" -h "* ]]; then
  help_only=1
else
  help_only=0
fi

if [[ $help_only == 0 && $workload != report ]]; then
  if [[ $(id -u) != 0 ]]; then
    echo "bench/run.sh: needs root (containerd and Bollard run as root, overlayfs mounts)" >&2
    exit 1
  fi
  # Debian packages the benchmark needs; apt-get update is expected to have run.
  missing=()
  command -v docker-registry >/dev/null || [[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
  [[ -x /usr/bin/containerd ]] || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  if [[ $workload == pods || $workload == cri || $workload == cold || $workload == soak || $workload == vm || $workload == all ]]; then
    [[ -x /usr/lib/cni/bridge ]] || missing+=(containernetworking-plugins)
    [[ -x /usr/bin/catatonit ]] || missing+=(catatonit)
    [[ -x /bin/busybox ]] || missing+=(busybox-static)
    command -v iptables >/dev/null || missing+=(iptables)
    command -v ip >/dev/null || missing+=(iproute2)
  fi
  if [[ $workload == vm ]]; then
    [[ -x /usr/bin/qemu-system-x86_64 && -x /usr/lib/qemu/virtiofsd ]] || missing+=(qemu-system-x86)
    command -v crun >/dev/null || missing+=(crun)
  fi
  if ((${#missing[@]})); then
    echo "bench/run.sh: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
fi

if [[ ! -x "$java_home/bin/java" ]]; then
  echo "bench/run.sh: no Java 25 at $java_home (set BOLLARD_JAVA_HOME)" >&2
  exit 1
fi
if [[ ! -f "$here/target/bollard-bench.jar" || ! -f "$checkout/cli/target/bollard.jar" ]]; then
  echo "bench/run.sh: building (mvn -DskipTests package -pl bench -am)" >&2
  (cd "$checkout" && JAVA_HOME="$java_home" mvn -q -B -ntp -DskipTests package -pl bench -am)
fi

if [[ $workload == vm && $help_only == 0 ]]; then
  # the VM shim's jar and the guest (kernel, initramfs) the vm handler boots
  if [[ ! -f "$checkout/vm/target/bollard-vm.jar" ]]; then
    (cd "$checkout" && JAVA_HOME="$java_home" mvn -q -B -ntp -DskipTests package -pl vm -am)
  fi
  "$checkout/vm/guest/build.sh" >&2
fi

work=""
java_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e +o pipefail # clean up as much as possible, whatever fails
  if [[ -n "$java_pid" ]] && kill -0 "$java_pid" 2>/dev/null; then
    kill -TERM "$java_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$java_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$java_pid" 2>/dev/null || true
  fi
  if [[ -n "$work" && -d "$work" ]]; then
    # the processes the benchmark started, by the pids it recorded (normally already gone); `all` runs each
    # workload in a directory of its own below $work
    while read -r pids; do
      while read -r pid; do
        [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
      done < "$pids"
    done < <(find "$work" -maxdepth 2 -name pids -type f)
    if [[ " $* " != *" --keep "* ]]; then
      findmnt -rn -o TARGET | grep -F "$work/" | sort -r | while read -r m; do umount -l "$m"; done
      rm -rf --one-file-system "$work"
    fi
  fi
  exit "$rc"
}

if [[ $help_only == 1 ]]; then
  exec "$java_home/bin/java" -jar "$here/target/bollard-bench.jar" "$workload" --help \
    --checkout . --work-dir . --results-dir . --cache-dir .
fi

extra=()
if [[ $workload != report && $workload != vm ]]; then
  if c21=$("$here/fetch-containerd21.sh"); then
    extra+=(--containerd21-dir "$c21")
  else
    echo "bench/run.sh: containerd 2.1 could not be fetched (above); this run compares with containerd 1.6 alone" >&2
  fi
fi

work=$(mktemp -d /tmp/bollard-bench.XXXXXX)
trap 'cleanup "$@"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$here/results" "$here/.cache"
"$java_home/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseSerialGC \
  -jar "$here/target/bollard-bench.jar" "$workload" \
  --checkout "$checkout" --work-dir "$work" --results-dir "$here/results" --cache-dir "$here/.cache" \
  ${extra[@]+"${extra[@]}"} "$@" &
java_pid=$!
wait "$java_pid"
