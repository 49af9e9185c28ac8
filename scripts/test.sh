#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every module's tests in two named phases:
#   unit          every test not named *IntegrationTest (fast; the lifecycle against a fake TaskService)
#   real-process  the *IntegrationTest classes (real daemons, shims, runc, CNI, registries; they need root)
# Each phase is one Maven run with Surefire's usual output and reports; the script fails if either fails, and runs
# the second even when the first failed. Arguments go to both runs (e.g. -pl daemon -am).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-deps.sh || exit 1
export JAVA_HOME=${BOLLARD_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
status=0
echo "==== test phase: unit ===="
mvn -B -ntp test -Punit-tests "$@" || status=1
echo "==== test phase: real-process ===="
mvn -B -ntp test -Preal-process-tests "$@" || status=1
echo "==== test phases done: $([ "$status" = 0 ] && echo passed || echo FAILED) ===="
exit "$status"
