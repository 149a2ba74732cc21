#!/bin/sh
# Installs every Debian package Cairn needs to build, test and benchmark, skipping what is
# already installed. Used by the README, .ci/run and the Dockerfile. Usage:
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --build    build dependencies only (the container's build stage)
#   scripts/install-deps.sh --runtime  shared libraries cairnd needs to run (the container's final stage)
set -eu

BUILD_PKGS="build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  liblmdb-dev libabsl-dev libboost-dev libssl-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev"
TEST_PKGS="etcd-client etcd-server python3 python3-etcd3 procps openssl"

RUNTIME_PKGS="libgrpc++1.51 libgrpc29 libprotobuf32 liblmdb0 libabsl20220623 libssl3 libjemalloc2 ca-certificates"

case "${1:-}" in
  --build) PKGS="$BUILD_PKGS" ;;
  --runtime) PKGS="$RUNTIME_PKGS" ;;
  *) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
esac

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# etcd-server's package starts a system etcd on 2379; keep it from starting (policy-rc.d),
# so it never takes Cairn's port.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -q --no-install-recommends $missing
