#!/usr/bin/env bash
# Bollard's main job on a fresh machine: install, build, start the daemon with its embedded defaults and show it
# answering CRI calls. The daemon keeps running afterwards; scripts/demo.sh stop ends it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
pidfile=/run/bollard-demo.pid
log=/var/log/bollard-demo.log

stop() {
  if [[ -f $pidfile ]] && kill -0 "$(cat $pidfile)" 2>/dev/null; then
    # Pods outlive the daemon (as with containerd): remove the demo's pods first, then stop the daemon.
    bin/bollard rmp -f -a >/dev/null 2>&1 || true
  fi
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

# An image built here from Debian's static busybox, imported without any registry.
work=$(mktemp -d /tmp/bollard-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ -e "$work/rootfs/bin/$applet" ]] || ln -s busybox "$work/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
echo "root:x:0:" > "$work/rootfs/etc/group"
echo "\$ bin/bollard image build ... --name bollard.local/busybox:demo"
bin/bollard image build "$work/rootfs" --name bollard.local/busybox:demo --cmd /bin/sh -o "$work/busybox.tar"
echo "\$ bin/bollard image import busybox.tar"
bin/bollard image import "$work/busybox.tar"
echo "\$ bin/bollard images"
bin/bollard images

# A web server pod from that image: busybox httpd on port 80, published on a free host port through CNI's portmap.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 8080)
rm -rf /tmp/bollard-demo-logs && mkdir -p /tmp/bollard-demo-logs   # the log of an earlier demo run would show again
sed "s/\"host_port\": 8080/\"host_port\": $port/" scripts/demo/pod-httpd.json > "$work/pod-httpd.json"
echo "\$ bin/bollard run scripts/demo/container-httpd.json pod-httpd.json   (host port $port)"
cid=$(bin/bollard run scripts/demo/container-httpd.json "$work/pod-httpd.json")
echo "$cid"
echo "\$ bin/bollard pods"
bin/bollard pods
echo "\$ bin/bollard ps"
bin/bollard ps
echo "\$ wget -qO- http://127.0.0.1:$port/"
for _ in $(seq 50); do
  if page=$(/bin/busybox wget -qO- "http://127.0.0.1:$port/" 2>/dev/null); then break; fi
  sleep 0.2
done
[[ -n "${page:-}" ]] || { echo "demo: the pod did not answer on port $port" >&2; bin/bollard logs "$cid" >&2 || true; exit 1; }
echo "$page"
echo "\$ bin/bollard logs $cid"
bin/bollard logs "$cid"
echo "demo: stop it with: scripts/demo.sh stop   (removes the demo pod, then stops the daemon)"
