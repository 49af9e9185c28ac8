#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every module's tests (unit and real-process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh
export JAVA_HOME=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
mvn -B -ntp test "$@"
