#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan+UBSan) and runs each for
# SECONDS seconds (default 600):
#   fuzz_parse    MIME parse + features + shipped rules, seeded from tests/data/mime
#   fuzz_session  random milter callback sequences through tamisd's session seam
#   fuzz_wire     arbitrary bytes on the milter socket (protocol.cpp), seeded from fuzz/seeds/wire
#   fuzz_config   arbitrary tamis.yaml, seeded from config/ and fuzz/seeds/config
#   fuzz_rules    arbitrary rule packs (shipped and rules.d override), seeded from rules/ and fuzz/seeds/rules
# What runs find is kept in fuzz/corpus-work (not checked in). Crashes land in
# fuzz/artifacts/; turn each into a regression test or fixture.
# Usage: fuzz/run.sh [SECONDS] [HARNESS...]   (from the repository root)
set -eu
secs=${1:-600}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTAMIS_FUZZ=ON -DTAMIS_TESTS=OFF -DTAMIS_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
[ $# -gt 0 ] && shift
harnesses=${*:-parse session wire config rules}
cmake --build build-fuzz -j2 --target fuzz_parse fuzz_session fuzz_wire fuzz_config fuzz_rules >/dev/null
mkdir -p fuzz/artifacts
for h in $harnesses; do
  mkdir -p "fuzz/corpus-work/$h"
  case $h in
    parse) seeds=tests/data/mime ;;
    config) seeds="config fuzz/seeds/config" ;;
    rules) seeds="rules fuzz/seeds/rules" ;;
    *) seeds="fuzz/seeds/$h" ;;
  esac
  echo "== fuzz_$h for ${secs}s"
  TAMIS_RULES=rules "./build-fuzz/fuzz/fuzz_$h" "fuzz/corpus-work/$h" $seeds \
    -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 2>&1 | grep -E "^stat::|Done|ERROR|SUMMARY|crash|leak" | tail -8
done
