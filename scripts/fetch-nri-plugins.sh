#!/usr/bin/env bash
# Builds two of containerd/nri's sample plugins (logger, device-injector) for the NRI interop test, from Debian
# sid's packages only, never installed: the sid source and its priority-1 pin that bench/fetch-containerd21.sh
# writes, `apt-get download` of golang-github-containerd-nri-dev, the golang-*-dev packages it needs (their
# sources under /usr/share/gocode) and sid's Go compiler, each unpacked with `dpkg -x` into .cache/nri/root.
# The binary package leaves the sample plugins out (it ships pkg/ only), so they come from the source package's
# upstream tarball (`apt-get source --download-only` through a deb-src list kept in .cache/nri, not /etc/apt).
# Go builds in GOPATH mode (GO111MODULE=off) from that tree, so no module is fetched from anywhere.
# Prints the directory holding the plugin binaries on stdout; exits non-zero with the reason on stderr.
#
#   scripts/fetch-nri-plugins.sh            # fetch and build once (a cached build is reused)
#   scripts/fetch-nri-plugins.sh --refresh  # again
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$here/.cache/nri"
bin="$cache/bin"
refresh=0
[[ "${1:-}" == --refresh ]] && refresh=1
if [[ $refresh == 0 && -x "$bin/logger" && -x "$bin/device-injector" ]]; then
  echo "$bin"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "fetch-nri-plugins: needs root (apt-get download through the sid source)" >&2
  exit 1
fi
# the sid source and pin: written by the benchmark's fetch script; its containerd check may fail, that is fine
if [[ ! -f /etc/apt/sources.list.d/bollard-sid.sources ]]; then
  "$here/bench/fetch-containerd21.sh" >/dev/null || true
fi
if ! apt-cache madison golang-github-containerd-nri-dev | grep -q 'sid\|unstable'; then
  echo "fetch-nri-plugins: no sid golang-github-containerd-nri-dev (is the sid source there?)" >&2
  exit 1
fi
sid=(-o APT::Default-Release=unstable)
# the Go sources nri needs, transitively: every golang-*-dev of the dependency closure
mapfile -t golibs < <(apt-cache "${sid[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances golang-github-containerd-nri-dev | grep -E '^golang-[^ ]*-dev$' | sort -u)
# sid's compiler: the version golang-go points at
goversion=$(apt-cache "${sid[@]}" depends golang-go | awk '/Depends: golang-1\.[0-9]+-go/ {print $2; exit}')
goversion=${goversion#golang-}; goversion=${goversion%-go}
[[ -n "$goversion" ]] || { echo "fetch-nri-plugins: cannot tell sid's Go version" >&2; exit 1; }
debs="$cache/debs"
mkdir -p "$debs"
chown _apt "$debs" 2>/dev/null || true
(cd "$debs" && apt-get "${sid[@]}" download -qq "${golibs[@]}" "golang-$goversion-go" "golang-$goversion-src" >&2)
root="$cache/root"
rm -rf "$root"
mkdir -p "$root"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
goroot="$root/usr/lib/go-$goversion"
[[ -x "$goroot/bin/go" ]] || { echo "fetch-nri-plugins: no $goroot/bin/go after unpacking" >&2; exit 1; }
# the sample plugins: from the source package's orig tarball (its .dsc may be gone from the mirror: not needed)
srcdir="$cache/src"
mkdir -p "$srcdir/lists/partial"
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/bollard-sid.sources)
printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "${mirror:-http://deb.debian.org/debian}" > "$srcdir/sid-src.sources"
srcapt=(-o Dir::State::Lists="$srcdir/lists" -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=-
        -o Dir::Etc::SourceList="$srcdir/sid-src.sources")
apt-get "${srcapt[@]}" update -qq >&2
chown _apt "$srcdir" 2>/dev/null || true
(cd "$srcdir" && apt-get "${srcapt[@]}" source --download-only -qq golang-github-containerd-nri >&2) || true
orig=$(ls "$srcdir"/golang-github-containerd-nri_*.orig.tar.* 2>/dev/null | head -1)
[[ -n "$orig" ]] || { echo "fetch-nri-plugins: no orig tarball of golang-github-containerd-nri" >&2; exit 1; }
nri="$root/usr/share/gocode/src/github.com/containerd/nri"
tar -xf "$orig" -C "$srcdir" --wildcards '*/plugins/*'
cp -r "$srcdir"/nri-*/plugins "$nri/"
mkdir -p "$bin" "$cache/gocache"
# Debian's packages link their GOPATH tree with absolute symlinks into /usr/share/gocode: resolve them in the unpack
find "$root/usr/share/gocode" -type l -lname '/usr/share/gocode/*' | while read -r link; do
  target=$(readlink "$link"); ln -sfn "$root$target" "$link"
done
export GOROOT="$goroot" GOPATH="$root/usr/share/gocode" GO111MODULE=off GOFLAGS= GOCACHE="$cache/gocache" \
  GOTOOLCHAIN=local CGO_ENABLED=0 GOPROXY=off
for plugin in logger device-injector; do
  "$goroot/bin/go" build -o "$bin/$plugin.new" "github.com/containerd/nri/plugins/$plugin" >&2
  mv "$bin/$plugin.new" "$bin/$plugin"
done
dpkg-deb -f "$(ls "$debs"/golang-github-containerd-nri-dev_*.deb | head -1)" Version > "$bin/VERSION"
echo "fetch-nri-plugins: logger and device-injector of nri $(cat "$bin/VERSION") built with Go $goversion in $bin" >&2
echo "$bin"
