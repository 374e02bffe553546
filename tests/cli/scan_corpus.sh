#!/bin/sh
# tamis scan --json over every message of the SpamAssassin public corpus:
# exactly one valid JSON object per message, exit status 0.
set -eu
tamis="$1"; src="$2"
corpus="$src/../shared/corpora/spamassassin-public"
[ -d "$corpus" ] || { echo "corpus not found at $corpus"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$tamis" -c "$src/config/tamis.yaml" scan --json "$corpus" > "$out"
python3 - "$out" "$corpus" <<'PY'
import json, os, sys
out, corpus = sys.argv[1], sys.argv[2]
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(corpus) for f in fs if f != "labels.tsv")
lines = open(out, encoding="utf-8").read().splitlines()
assert len(lines) == len(files), f"{len(lines)} lines for {len(files)} messages"
seen = set()
for line in lines:
    j = json.loads(line)
    assert j["action"] in ("accept", "tag", "reject", "quarantine", "discard", "tempfail"), j
    assert isinstance(j["score"], (int, float)), j
    seen.add(os.path.normpath(j["path"]))
assert seen == {os.path.normpath(f) for f in files}, "paths differ"
print(f"ok: {len(lines)} messages, {len(lines)} valid JSON lines")
PY
