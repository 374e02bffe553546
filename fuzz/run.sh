#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan+UBSan) and runs each for
# SECONDS seconds (default 600). Seeds: tests/data/mime (checked in) plus what
# earlier runs found (fuzz/corpus-work, not checked in). Crashes land in
# fuzz/artifacts/; turn each into a regression fixture in tests/data/mime.
# Usage: fuzz/run.sh [SECONDS]   (from the repository root)
set -eu
secs=${1:-600}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTAMIS_FUZZ=ON -DTAMIS_TESTS=OFF -DTAMIS_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j2 --target fuzz_parse >/dev/null
mkdir -p fuzz/corpus-work/parse fuzz/artifacts
TAMIS_RULES=rules ./build-fuzz/fuzz/fuzz_parse fuzz/corpus-work/parse tests/data/mime \
  -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 2>&1 | tail -25
