#!/bin/sh
# Builds tamis and runs every test (unit, CLI, fixtures) with CTest.
# Usage: scripts/test.sh [BUILD_DIR] [extra cmake args...]
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
cmake -S . -B "$build" -DTAMIS_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j2
cd "$build"
ctest --output-on-failure -j2
