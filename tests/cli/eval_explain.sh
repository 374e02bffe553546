#!/bin/sh
# tamis eval (--json, --scores, --plot) on a small labelled set, and tamis explain.
set -eu
tamis="$1"; src="$2"
corpus="$src/../shared/corpora/spamassassin-public"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
{ grep -P '^ham\t' "$corpus/labels.tsv" | head -40; grep -P '^spam\t' "$corpus/labels.tsv" | head -40; } |
  sed "s|\t|\t$corpus/|" > "$d/labels.tsv"
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --json --scores "$d/scores.tsv" --plot "$d/roc.png" > "$d/out.json"
python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
j = json.load(open(f"{d}/out.json"))
assert j["messages"] == {"ham": 40, "spam": 40}, j["messages"]
assert 0.5 < j["auc"] <= 1, j["auc"]
for k in ("at_tag", "at_reject", "fnr_at_fpr_0.1%", "actions", "worst"):
    assert k in j, k
assert sum(v["ham"] + v["spam"] for v in j["actions"].values()) == 80
rows = [l.split("\t") for l in open(f"{d}/scores.tsv").read().splitlines()]
assert len(rows) == 80 and all(r[1] in ("ham", "spam") and r[3] for r in rows), rows[:2]
assert open(f"{d}/roc.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n", "no PNG"
print("ok: eval json, scores and plot")
PY
"$tamis" -c "$src/config/tamis.yaml" explain "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" > "$d/explain.txt"
grep -q "^verdict: " "$d/explain.txt" && grep -q "rules that hit:" "$d/explain.txt" && grep -q "baseline" "$d/explain.txt"
echo "ok: explain"
