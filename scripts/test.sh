#!/bin/sh
# Installs what is missing, builds, and runs the whole test suite (unit, integration, compatibility
# with etcdctl and python3-etcd3, crash and raft simulation). Slow soaks run only with CAIRN_SOAK=1.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
# The whole suite is bounded: a hung test fails on its own TIMEOUT, and the run as a whole here.
timeout 2400 ctest --output-on-failure -j "${CAIRN_TEST_JOBS:-2}" --timeout 600
