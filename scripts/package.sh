#!/usr/bin/env bash
# Builds the Debian package bollard_<version>_amd64.deb with Debian's dpkg-deb and the JDK's jlink, nothing else:
#   /usr/lib/bollard/      bollard.jar (with its libraries), runtime/ (a Java runtime of only the modules Bollard uses),
#                          bollard-daemon.jsa and bollard-client.jsa (class archives made here, by that runtime)
#   /usr/bin/bollard       the launcher
#   /lib/systemd/system/bollard.service, /etc/bollard/bollard.toml (conffile, every default commented)
# Usage: scripts/package.sh [--no-build | --jar-only] [-o OUTDIR]   (default OUTDIR: target/; prints the .deb's path)
#   --jar-only: jar what is compiled already, compiling nothing (for a test inside a running Maven build, whose
#               classes must not be rewritten under it)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$here/target"
build=1
while (($#)); do
  case "$1" in
    --no-build) build=0 ;;
    --jar-only) build=2 ;;
    -o) out=$2; shift ;;
    *) echo "usage: scripts/package.sh [--no-build | --jar-only] [-o OUTDIR]" >&2; exit 2 ;;
  esac
  shift
done
export JAVA_HOME=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
jdk=$JAVA_HOME
command -v dpkg-deb >/dev/null || { echo "package: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }
[[ -x "$jdk/bin/jlink" ]] || { echo "package: no jlink in $jdk (set BOLLARD_JAVA_HOME)" >&2; exit 1; }

work=$(mktemp -d /tmp/bollard-package.XXXXXX)
trainer=""
cleanup() {
  if [[ -n "$trainer" ]] && kill -0 "$trainer" 2>/dev/null; then
    kill "$trainer" 2>/dev/null || true
    wait "$trainer" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if ((build == 1)); then
  "$here/scripts/build.sh"
elif ((build == 2)); then
  # no main compilation, and the classic staleness check for the tests (up to date: nothing compiled), where the
  # incremental one would recompile them all for the jars this makes
  (cd "$here" && mvn -B -q -ntp -DskipTests -Dmaven.main.skip=true -Dmaven.compiler.useIncrementalCompilation=false \
    package) >"$work/jar.log" 2>&1 \
    || { cat "$work/jar.log" >&2; echo "package: jarring the compiled classes failed" >&2; exit 1; }
fi
target="$here/cli/target"
[[ -f "$target/bollard.jar" ]] || { echo "package: $target/bollard.jar is missing: build first" >&2; exit 1; }
# the project's version, Debian style: 0.1.0-SNAPSHOT -> 0.1.0~SNAPSHOT (a snapshot sorts before its release)
version=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$here/pom.xml" | head -n 1)
version=${version//-/\~}

stage="$work/root"
lib="$stage/usr/lib/bollard"
mkdir -p "$lib" "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/bollard" "$stage/usr/share/doc/bollard" \
  "$stage/DEBIAN"

cp "$target/bollard.jar" "$lib/"  # the CLI and daemon with every library they use, one jar
install -m 0755 "$here/scripts/debian/launcher" "$stage/usr/bin/bollard"

# The runtime: the modules jdeps finds in the jars, plus jdk.net (Netty probes its socket options reflectively),
# less java.desktop (15 MB): only commons-lang3's circuit breakers (java.beans) and commons-compress's module
# descriptor name it, and Bollard uses neither (it runs on the class path). The JDK's default CDS archive of the
# runtime's own classes is generated with it.
modules=$("$jdk/bin/jdeps" --multi-release 25 --ignore-missing-deps --print-module-deps "$target/bollard.jar" \
  2>/dev/null | tail -n 1)
[[ $modules == java.base* ]] || { echo "package: jdeps found no module list (got: $modules)" >&2; exit 1; }
modules=$(tr , '\n' <<<"$modules,jdk.net" | grep -vx java.desktop | paste -sd , -)
echo "package: runtime modules $modules" >&2
"$jdk/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=zip-6 \
  --generate-cds-archive --output "$lib/runtime" >/dev/null

# The class archives, made by running the packaged launcher on the packaged runtime (an archive is only taken by
# the runtime and jars that made it; the JVM accepts them moved to /usr/lib/bollard as a whole).
"$stage/usr/bin/bollard" config default >"$work/bollard.toml.defaults"
train="$work/train"
mkdir -p "$train/cni" "$train/certs.d"
cat >"$train/bollard.toml" <<EOF
[cni]
conf_dir = "$train/cni"
write_default_config = false
[registry]
config_path = "$train/certs.d"
EOF
endpoint="unix://$train/bollard.sock"
BOLLARD_ARCHIVE_DUMP=1 "$stage/usr/bin/bollard" daemon --config "$train/bollard.toml" --socket "$train/bollard.sock" \
  --root "$train/root" --state "$train/state" >"$train/daemon.log" 2>&1 &
trainer=$!
for _ in $(seq 1 600); do
  [[ -S "$train/bollard.sock" ]] && break
  kill -0 "$trainer" 2>/dev/null || { cat "$train/daemon.log" >&2; echo "package: the training daemon died" >&2; exit 1; }
  sleep 0.1
done
# the client's archive from its most common path (a CRI call); then what kubelet asks first and often, so that
# those classes are in the daemon's archive too
BOLLARD_ARCHIVE_DUMP=1 "$stage/usr/bin/bollard" -r "$endpoint" version >/dev/null
for cmd in info pods ps images imagefsinfo stats statsp; do
  "$stage/usr/bin/bollard" -r "$endpoint" "$cmd" >/dev/null 2>&1 || true
done
kill -TERM "$trainer"
wait "$trainer" || true
trainer=""
[[ -s "$lib/bollard-daemon.jsa" && -s "$lib/bollard-client.jsa" ]] \
  || { cat "$train/daemon.log" >&2; echo "package: the class archives were not written" >&2; exit 1; }

# every default, commented: the daemon's embedded defaults stay in force until a line is uncommented
{
  echo "# Bollard's configuration. Every key is shown with its default, commented out; uncomment to change one."
  echo "# Check a change with: bollard config check /etc/bollard/bollard.toml"
  echo
  sed -E 's/^([^#].*)$/# \1/' "$work/bollard.toml.defaults"
} >"$stage/etc/bollard/bollard.toml"
install -m 0644 "$here/scripts/debian/bollard.service" "$stage/lib/systemd/system/bollard.service"
cp "$here/README.md" "$stage/usr/share/doc/bollard/README.md"

# Maintainer scripts: /etc/crictl.yaml's text is in both postinst (writes it) and postrm (removes it only if it
# is still exactly that text), since the package's own files are gone when postrm runs.
crictl_function=$(cat <<'EOF'
crictl_yaml() {
  cat <<'YAML'
# Written by the bollard package; removed when the package is purged, unless edited.
runtime-endpoint: unix:///run/bollard/bollard.sock
image-endpoint: unix:///run/bollard/bollard.sock
YAML
}
EOF
)
for script in postinst prerm postrm; do
  awk -v fn="$crictl_function" '{ if ($0 == "@CRICTL_YAML_FUNCTION@") print fn; else print }' \
    "$here/scripts/debian/$script" >"$stage/DEBIAN/$script"
  chmod 0755 "$stage/DEBIAN/$script"
done
echo /etc/bollard/bollard.toml >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: bollard
Version: $version
Architecture: amd64
Maintainer: Bollard developers <bollard@localhost>
Installed-Size: $size
Depends: libc6, runc, containerd, containernetworking-plugins, catatonit, iptables
Recommends: crun, runsc, criu, qemu-system-x86
Section: admin
Priority: optional
Description: Kubernetes container runtime (CRI) written in Java
 Bollard serves kubelet's CRI (runtime.v1 RuntimeService and ImageService) on
 /run/bollard/bollard.sock and runs pods through containerd's shim v2
 (containerd-shim-runc-v2, with runc, crun or gVisor), with CNI networking,
 OCI image pulls, exec/attach/port-forward streaming and CDI devices.
 It brings its own Java runtime: the node needs no JDK.
EOF

mkdir -p "$out"
deb="$out/bollard_${version}_amd64.deb"
# root-owned files whoever builds; gzip for the dpkg of any Debian release, at a low level: the runtime's modules
# file is compressed already
dpkg-deb --root-owner-group -Zgzip -z3 --build "$stage" "$deb" >/dev/null
echo "$deb"
