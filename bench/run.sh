#!/bin/sh
# Engine benchmark: Release build, one thread, the SpamAssassin public corpus.
# Usage: bench/run.sh [extra tamis_bench args]   (run from the repository root)
# This machine class is a shared VM: expect ±10-30 % between runs; the script
# runs the benchmark three times so the spread is visible.
set -eu
cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -DTAMIS_TESTS=OFF >/dev/null
cmake --build build-rel -j2 --target tamis_bench >/dev/null
corpus=${CORPUS:-../shared/corpora/spamassassin-public}
for i in 1 2 3; do
  echo "== run $i"
  ./build-rel/bench/tamis_bench -c config/tamis.yaml --passes 2 "$@" "$corpus"
done
