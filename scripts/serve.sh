#!/bin/sh
# Installs what is missing, builds, and runs a single-node cairnd on 127.0.0.1:2379 with its data
# in ./default.cairn (so plain `etcdctl put foo bar` works). Extra arguments go to cairnd.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/bin/cairnd "$@"
