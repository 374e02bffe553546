#!/bin/sh
# The same message gets the same score from `tamis scan`, `tamis eval` and
# tamisd (shipped config, rules and model). tamisd writes the score with two
# decimals, so the three are compared at that precision. Two messages: a
# corpus spam, and a Chinese message whose headers are raw Big5 bytes (read
# in the body's charset, which tamisd only knows once the body has come).
# tamisd gets each as an MTA passes it during the session: from a client at a
# public address, without the Received header the MTA adds afterwards. The
# CLI reads it as a mailbox stores it, with that header (dated now) and
# Return-Path on top; both count the hops from the relay's (features/hops.hpp).
# Usage: test_consistency.sh REPO TAMIS TAMISD
set -eu
repo=$(cd "$1" && pwd); tamis=$2; tamisd=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
pid=
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed "s|paths: \[../rules\]|paths: [$repo/rules]|; s|path: ../models/default.json|path: $repo/models/default.json|" \
  "$repo/config/tamis.yaml" | sed 's/^reject_action: reject/reject_action: tag  # so the score shows in a header/' > "$work/tamis.yaml"
"$tamisd" -c "$work/tamis.yaml" --log stderr --socket "inet:$port@127.0.0.1" 2> "$work/tamisd.log" &
pid=$!
# Wait until tamisd has loaded the model and listens (seconds under ASan on a
# busy machine: longer than miltertest's own 5 s of connection retries).
i=0
until grep -q " listening on " "$work/tamisd.log"; do
  kill -0 $pid 2>/dev/null || { echo "tamisd exited:"; cat "$work/tamisd.log"; exit 1; }
  i=$((i + 1)); [ $i -le 1200 ] || { echo "tamisd not listening after 120 s:"; cat "$work/tamisd.log"; exit 1; }
  sleep 0.1
done
failed=0
for name in message.eml legacy-charset.eml; do
  msg="$here/consistency/$name"
  stored="$work/stored-$name"
  printf 'Return-Path: <claims.office@example.net>\r\nReceived: from mx.example.org (mx.example.org [192.0.2.10])\r\n\tby relay.test.example (Postfix) with ESMTP id 4XtEsT0001\r\n\tfor <user@test.example>; %s\r\n' \
    "$(date -R)" > "$stored"
  cat "$msg" >> "$stored"
  scan=$("$tamis" -c "$repo/config/tamis.yaml" scan --json "$stored" | python3 -c 'import json,sys; print("%.2f" % json.load(sys.stdin)["score"])')
  printf 'spam\t%s\n' "$stored" > "$work/labels.tsv"
  "$tamis" -c "$repo/config/tamis.yaml" eval --labels "$work/labels.tsv" --scores "$work/scores.tsv" > /dev/null
  eval_score=$(python3 -c 'import sys; print("%.2f" % float(open(sys.argv[1]).read().split("\t")[2]))' "$work/scores.tsv")
  milter=$(TAMIS_MILTER="inet:$port@127.0.0.1" TAMIS_MESSAGE="$msg" miltertest -s "$here/consistency/score.lua" | sed -n 's/^score=//p')
  echo "$name: scan=$scan eval=$eval_score tamisd=$milter"
  if [ "$scan" != "$eval_score" ] || [ "$scan" != "$milter" ] || [ -z "$scan" ]; then failed=$((failed + 1)); fi
done
echo "$((2 - failed)) passed, $failed failed"
[ $failed -eq 0 ]
