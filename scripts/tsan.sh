#!/bin/sh
# ThreadSanitizer run (CI): builds the unit tests and tamisd with
# -fsanitize=thread, runs the concurrent scan/reload unit tests, then tamisd
# under a real Postfix with SIGUSR1 reloads under load (1,500 messages, 8
# clients). Any TSan report (tamisd writes them to files) fails the run.
#   scripts/tsan.sh [BUILD_DIR]
# XGBoost's OpenMP threads are off (OMP_NUM_THREADS=1): libgomp is not
# instrumented, so its barriers would show as races. tests/tsan.supp lists
# the few third-party reports suppressed, each with its reason.
set -eu
build=${1:-build-tsan}
repo=$(pwd)
cmake -S . -B "$build" -DTAMIS_SANITIZE_THREAD=ON -DTAMIS_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target tamis_tests tamisd
reports=$(mktemp -d)
export OMP_NUM_THREADS=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$repo/tests/tsan.supp log_path=$reports/tsan"
"$build/tests/tamis_tests" "[concurrency],[reload]"
TAMISD="$repo/$build/milter/tamisd" python3 tests/integration/test_reload_load.py "$repo" 1500
if ls "$reports"/tsan* >/dev/null 2>&1; then
  cat "$reports"/tsan*
  echo "ThreadSanitizer reported the above" >&2
  exit 1
fi
echo "TSan: no reports"
