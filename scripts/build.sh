#!/usr/bin/env bash
# Builds every module; afterwards bin/bollard runs the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export JAVA_HOME=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "build: mvn -DskipTests package" >&2
mvn -B -q -ntp -DskipTests package >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
# the daemon's AOT cache, trained by a representative run (pods, containers; needs root); failing soft: a failed
# training only warns and bin/bollard starts from its CDS archive
scripts/aot-train.sh
