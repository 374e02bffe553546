#!/bin/sh
# Drives tamisd with miltertest (Debian's, from OpenDKIM) through the Lua
# scripts in miltertest/: close-only connection, abort mid-body, NULL
# hostaddr, body past the scan cap, headers without body, 1,000 recipients,
# two messages on one connection.
# Usage: test_miltertest.sh REPO [TAMISD]
set -u
repo=$(cd "$1" && pwd)
tamisd=${2:-${TAMISD:-$repo/build/milter/tamisd}}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$work/rules.d"
cat > "$work/tamis.yaml" <<YAML
limits: {max_scan_bytes: 65536}
model: {enabled: false}
rules: {paths: [$repo/rules], local_dir: rules.d}
milter: {socket: "inet:$port@127.0.0.1", log: stderr}
YAML
printf 'rules:\n  - id: TEST_REJECT_BAND\n    target: subject\n    pattern: tamis-test-reject\n    score: 20\n' > "$work/rules.d/t.yaml"
"$tamisd" -c "$work/tamis.yaml" 2> "$work/tamisd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
export TAMIS_MILTER="inet:$port@127.0.0.1" TAMIS_MT_LIB="$here/miltertest/lib.lua"
pass=0; fail=0
for s in "$here"/miltertest/*.lua; do
  name=$(basename "$s" .lua)
  [ "$name" = lib ] && continue
  if out=$(miltertest -s "$s" 2>&1); then
    echo "PASS $name"; pass=$((pass + 1))
  else
    echo "FAIL $name"; echo "$out" | sed 's/^/    /'; fail=$((fail + 1))
  fi
done
if ! kill -0 $pid 2>/dev/null; then echo "FAIL tamisd died"; fail=$((fail + 1)); fi
grep -q "action=reject" "$work/tamisd.log" || { echo "FAIL no reject logged"; fail=$((fail + 1)); }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
