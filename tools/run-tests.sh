#!/bin/sh
# Installs what is missing, builds diffsamp and runs the whole test suite.
# Usage: tools/run-tests.sh [build-dir] [extra cmake options...]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
tools/setup.sh
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD" -j "$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j "$(nproc)"
