#!/usr/bin/env bash
# Fetches Debian sid's containerd (2.1.x) as the benchmark's second reference, beside Debian 12's 1.6, without
# installing it: a sid apt source pinned at priority 1 (apt never picks it for an install or upgrade), then
# `apt-get download containerd/sid` and `dpkg -x` into bench/.cache/containerd21/. Prints that directory
# (usr/bin/containerd, usr/bin/containerd-shim-runc-v2 below it) on stdout; exits non-zero, with the reason on
# stderr, where it cannot be fetched (the bench then runs with containerd 1.6 alone and says so).
#
#   bench/fetch-containerd21.sh            # fetch once (a cached unpack is reused)
#   bench/fetch-containerd21.sh --refresh  # fetch again (a newer sid upload)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest="$here/.cache/containerd21"
refresh=0
[[ "${1:-}" == --refresh ]] && refresh=1

if [[ $refresh == 0 && -x "$dest/usr/bin/containerd" && -x "$dest/usr/bin/containerd-shim-runc-v2" ]]; then
  echo "$dest"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "fetch-containerd21: needs root (an apt source and pin under /etc/apt)" >&2
  exit 1
fi

# The machine's own Debian source, in the form it is written (deb822 .sources, or one-line .list), names the
# mirror host; sid comes from the same host.
mirror=""
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
  mirror=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' \
    /etc/apt/sources.list.d/*.sources)
fi
if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
  mirror=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) {print $i; exit}}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

source_file=/etc/apt/sources.list.d/bollard-sid.sources
pin_file=/etc/apt/preferences.d/bollard-sid
if [[ ! -f "$source_file" ]]; then
  cat > "$source_file" <<EOF
# Debian sid, for bench/fetch-containerd21.sh only: pinned at priority 1 in $pin_file, so apt never installs
# or upgrades from it; the benchmark downloads one package (containerd) from it and unpacks it in bench/.cache.
Types: deb
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
fi
if [[ ! -f "$pin_file" ]]; then
  cat > "$pin_file" <<'EOF'
# Debian sid for the benchmark's downloads only (bench/fetch-containerd21.sh): never installed from.
Package: *
Pin: release a=unstable
Pin-Priority: 1
EOF
fi
# only the sid source is refreshed: the machine's other lists stay as they are
if ! apt-get update -qq -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=- \
    -o Dir::Etc::SourceList="$source_file" -o APT::Get::List-Cleanup=0 >&2; then
  echo "fetch-containerd21: apt-get update of the sid source failed" >&2
  exit 1
fi
version=$(apt-cache madison containerd | awk -F'|' '$3 ~ /sid|unstable/ {gsub(/ /, "", $2); print $2; exit}')
if [[ -z "$version" ]]; then
  echo "fetch-containerd21: sid has no containerd package" >&2
  exit 1
fi
if [[ ${version%%.*} != 2 && ${version%%.*} != *:2 ]]; then
  echo "fetch-containerd21: sid's containerd is $version, not 2.x" >&2
  exit 1
fi
tmp=$(mktemp -d /tmp/bollard-containerd21.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chown _apt "$tmp" 2>/dev/null || true # apt-get download writes as _apt where it can
(cd "$tmp" && apt-get download -qq "containerd=$version" >&2)
deb=$(ls "$tmp"/containerd_*.deb)
rm -rf "$dest.new"
mkdir -p "$dest.new"
dpkg -x "$deb" "$dest.new"
echo "$version" > "$dest.new/VERSION"
if [[ ! -x "$dest.new/usr/bin/containerd" || ! -x "$dest.new/usr/bin/containerd-shim-runc-v2" ]]; then
  echo "fetch-containerd21: $(basename "$deb") holds no usr/bin/containerd and containerd-shim-runc-v2" >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "fetch-containerd21: containerd $version unpacked in $dest" >&2
echo "$dest"
