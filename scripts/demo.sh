#!/usr/bin/env bash
# Bollard's main job on a fresh machine: install, build, start the daemon with its embedded defaults and show it
# answering CRI calls. The daemon keeps running afterwards; scripts/demo.sh stop ends it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pidfile=/run/bollard-demo.pid
log=/var/log/bollard-demo.log

stop() {
  if [[ -f $pidfile ]] && kill -0 "$(cat $pidfile)" 2>/dev/null; then
    kill -TERM "$(cat $pidfile)"
    for _ in $(seq 100); do kill -0 "$(cat $pidfile)" 2>/dev/null || break; sleep 0.1; done
    echo "demo: stopped the daemon (pid $(cat $pidfile))"
  fi
  rm -f $pidfile
}

if [[ "${1:-}" == stop ]]; then stop; exit 0; fi

scripts/install-deps.sh
scripts/build.sh
stop
# A bare `bollard daemon`: socket /run/bollard/bollard.sock, root /var/lib/bollard, state /run/bollard.
setsid bin/bollard daemon >"$log" 2>&1 < /dev/null &
echo $! > $pidfile
for _ in $(seq 300); do
  [[ -S /run/bollard/bollard.sock ]] && break
  kill -0 "$(cat $pidfile)" 2>/dev/null || { echo "demo: the daemon exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
echo "demo: bollard daemon running (pid $(cat $pidfile)), log in $log"
echo "\$ bin/bollard version"
bin/bollard version
echo "\$ bin/bollard info -o yaml   (status conditions)"
bin/bollard info -o yaml | sed -n '1,/^runtimeHandlers:/p' | sed '$d'
echo "demo: stop it with: scripts/demo.sh stop"
