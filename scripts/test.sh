#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite (unit, integration, compatibility
# with etcdctl and python3-etcd3, crash and raft simulation). Slow soaks run only with CAIRN_SOAK=1.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
# The whole suite is bounded: a hung test fails on its own TIMEOUT, and the run as a whole here.
if [ "${CAIRN_SOAK:-0}" = 1 ]; then
  # The soaks (label `soak`, tests/soak) run after the rest, one at a time, bounded by their own TIMEOUTs.
  timeout 2400 ctest --output-on-failure -j "${CAIRN_TEST_JOBS:-2}" --timeout 600 -LE soak
  exec ctest --output-on-failure -L soak
fi
timeout 2400 ctest --output-on-failure -j "${CAIRN_TEST_JOBS:-2}" --timeout 600 -LE soak
