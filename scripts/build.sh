#!/bin/sh
# Configures and builds Cairn into build/ (binaries in build/bin). Extra args go to cmake.
set -eu
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
JOBS="${CAIRN_JOBS:-$(nproc)}"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
cmake --build build -j "$JOBS"
