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
# suggested thresholds, recomputed from the written scores: with 40 ham, 0.1 %
# allows none above, so tag and reject are the first step of 0.1 above the top ham
import math
top = max(float(r[2]) for r in rows if r[1] == "ham")
want = math.floor(top * 10 + 1e-9) / 10 + 0.1
s = j["suggested_thresholds"]
assert s["ham"] == 40, s
for k in ("tag", "reject"):
    assert abs(s[k]["threshold"] - want) < 1e-9, (s, want)
    assert s[k]["fpr"] == 0, s
    missed = sum(1 for r in rows if r[1] == "spam" and float(r[2]) < want)
    assert abs(s[k]["fnr"] - missed / 40) < 1e-12, (s, missed)
print("ok: eval json, scores and plot; thresholds", want, "above the highest ham", round(top, 3))
PY
# --rules: each rule's ham and spam hits, counted again here from `tamis scan`
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --json --rules > "$d/rules.json"
cut -f2 "$d/labels.tsv" | xargs "$tamis" -c "$src/config/tamis.yaml" scan --json > "$d/scan.jsonl"
python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
label = {l.split("\t")[1]: l.split("\t")[0] for l in open(f"{d}/labels.tsv").read().splitlines()}
want = {}
for line in open(f"{d}/scan.jsonl"):
    r = json.loads(line)
    for rule in r["rules"]:
        c = want.setdefault(rule, [0, 0])
        c[label[r["path"]] == "spam"] += 1
got = json.load(open(f"{d}/rules.json"))["rules"]
assert any(r["ham"] + r["spam"] for r in got), "no rule hit anything"
for r in got:
    h, s = want.pop(r["id"], [0, 0])
    assert (r["ham"], r["spam"]) == (h, s), (r, h, s)
    assert abs(r["ham_rate"] - h / 40) < 1e-12 and abs(r["spam_rate"] - s / 40) < 1e-12, r
    assert r["s_o"] is None if h + s == 0 else abs(r["s_o"] - (s / 40) / (h / 40 + s / 40)) < 1e-12, r
assert not want, f"rules hit in scan but missing from eval --rules: {want}"
ham_hits = [r["ham"] for r in got]
assert ham_hits == sorted(ham_hits, reverse=True), "not sorted by ham hits"
print("ok: eval --rules matches scan's rule hits for", len(got), "rules")
PY
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --rules --worst 0 | grep -q "^rules (most ham hits first" || exit 1
# --against: the same mail through a second model; the changed actions must be
# those of two separate --scores runs
"$tamis" -c "$src/config/tamis.yaml" train --labels "$d/labels.tsv" --bags 1 --out "$d/small.json" 2> "$d/train.err"
# rules that hit none of the training messages are not model features (a
# constant column teaches nothing); stderr names them, the metadata lists them
python3 - "$d" <<'PY'
import json, re, sys
d = sys.argv[1]
hit = {rule for line in open(f"{d}/scan.jsonl") for rule in json.loads(line)["rules"]}
m = json.load(open(f"{d}/small.json"))
rf, unhit = set(m["rule_features"]), m["meta"]["rules_without_hits"]
assert rf and unhit, (rf, unhit)
assert rf <= hit, ("model features that hit nothing", rf - hit)
assert not set(unhit) & hit, ("left out but hit", set(unhit) & hit)
err = open(f"{d}/train.err").read()
n = re.search(r"(\d+) rules hit none of these messages and are not model features", err)
assert n and int(n.group(1)) == len(unhit), err
print("ok: train leaves out the", len(unhit), "rules that hit no training message;", len(rf), "rule features")
PY
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --model "$d/small.json" --scores "$d/small.tsv" > /dev/null
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --against "$d/small.json" --json > "$d/against.json"
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --against "$src/models/default.json" --json > "$d/self.json"
python3 - "$d" <<'PY'
import collections, json, sys
d = sys.argv[1]
act = lambda f: {r[0]: (r[1], r[3], float(r[2])) for r in (l.split("\t") for l in open(f).read().splitlines())}
after, before = act(f"{d}/scores.tsv"), act(f"{d}/small.tsv")
want = collections.Counter((after[p][0], before[p][1], after[p][1]) for p in after if after[p][1] != before[p][1])
assert want, "the two models agree on every message: the test shows nothing"
j = json.load(open(f"{d}/against.json"))["against"]
got = collections.Counter({(t["label"], t["before"], t["after"]): t["count"] for t in j["transitions"]})
assert got == want, (got, want)
assert j["changed"] == sum(want.values()) == len(j["messages"]), j["changed"]
for m in j["messages"]:
    assert (m["before"], m["after"]) == (before[m["path"]][1], after[m["path"]][1]), m
    assert abs(m["score_before"] - before[m["path"]][2]) < 1e-3 and abs(m["score_after"] - after[m["path"]][2]) < 1e-3, m
labels = [m["label"] for m in j["messages"]]
assert labels == sorted(labels), "ham are not listed first"
assert json.load(open(f"{d}/self.json"))["against"]["changed"] == 0, "a model differs from itself"
print("ok: eval --against:", j["changed"], "of 80 change action:", dict(want))
PY
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" --against "$d/small.json" --worst 0 | grep -q "^against .*small.json: [0-9]* of 80 messages change action" || exit 1
# the text report prints the same suggestion
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/labels.tsv" > "$d/out.txt"
grep -q "^thresholds for this mail (at most 0.1 % / 0.01 % of its ham at or above): tag " "$d/out.txt" || { cat "$d/out.txt"; exit 1; }
grep -q "(40 ham: fewer than 10,000" "$d/out.txt" || { cat "$d/out.txt"; exit 1; }
# A labelled file that cannot be read is left out and said so, never scored
# as an empty message; none readable is an error; train wants both classes.
{ cat "$d/labels.tsv"; printf 'ham\tgone/1.eml\nspam\tgone/2.eml\n'; } > "$d/missing.tsv"
"$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/missing.tsv" --json > "$d/missing.json" 2> "$d/missing.err"
python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['messages']; assert m == {'ham': 40, 'spam': 40}, m" "$d/missing.json"
grep -q "cannot read $d/gone/1.eml (left out)" "$d/missing.err" || { cat "$d/missing.err"; exit 1; }
grep -q "2 of 82 labelled messages cannot be read and are left out" "$d/missing.err" || { cat "$d/missing.err"; exit 1; }
printf 'ham\tgone/1.eml\nspam\tgone/2.eml\n' > "$d/none.tsv"
if err=$("$tamis" -c "$src/config/tamis.yaml" eval --labels "$d/none.tsv" 2>&1); then echo "eval of unreadable files succeeded: $err"; exit 1; fi
echo "$err" | grep -q "none.tsv: none of the 2 labelled messages can be read" || { echo "$err"; exit 1; }
grep -P '^ham\t' "$d/labels.tsv" > "$d/hamonly.tsv"
if err=$("$tamis" -c "$src/config/tamis.yaml" train --labels "$d/hamonly.tsv" --out "$d/h.json" 2>&1); then echo "train on ham alone succeeded"; exit 1; fi
echo "$err" | grep -q "40 ham and 0 spam readable; training needs at least 10 of each" || { echo "$err"; exit 1; }
test ! -e "$d/h.json"
echo "ok: unreadable files left out and counted; none readable and one class refused"
# scan's text line leaves out zero-point helpers (as X-Spam-Status does);
# --json and explain list every hit
ms="$src/tests/data/ham-today/ms-account.eml"
line=$("$tamis" -c "$src/config/tamis.yaml" scan "$ms")
echo "$line" | grep -q "rules=\[FROM_NAME_BRAND_TEAM\]" || { echo "$line"; exit 1; }
"$tamis" -c "$src/config/tamis.yaml" scan --json "$ms" | grep -q '"FROM_ADDR_BRAND_DOMAIN"' || exit 1
"$tamis" -c "$src/config/tamis.yaml" explain "$ms" | grep -q "FROM_ADDR_BRAND_DOMAIN" || exit 1
echo "ok: scan line without helpers, json and explain with them"
# the text line's model=[...] is name+points pairs, the same as --json's
# model reasons, in the same order
sp="$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml"
line=$("$tamis" -c "$src/config/tamis.yaml" scan "$sp")
"$tamis" -c "$src/config/tamis.yaml" scan --json "$sp" | python3 -c '
import json, re, sys
line = sys.argv[1]
j = json.loads(sys.stdin.read())
# json rounds to 0.001 and the line to 0.01: compare names, and points to 0.01
want = [(r["name"][6:], r["points"]) for r in j["reasons"] if r["name"].startswith("model:")]
got = [re.match(r"(\w+)([+-]\d+\.\d\d)$", g).groups() for g in re.search(r" model=\[([^]]*)\]", line).group(1).split(",")]
assert want and [n for n, _ in got] == [n for n, _ in want], (got, want)
assert all(abs(float(g) - w) <= 0.0051 for (_, g), (_, w) in zip(got, want)), (got, want)
' "$line" || { echo "$line"; exit 1; }
echo "ok: scan line model contributions as name+points"
"$tamis" -c "$src/config/tamis.yaml" explain "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" > "$d/explain.txt"
grep -q "^verdict: " "$d/explain.txt" && grep -q "rules that hit:" "$d/explain.txt" && grep -q "baseline" "$d/explain.txt"
# --features: 12 model features by default, as many as asked, 0 for all
features() { sed -n '/^strongest features/,/^$/p' | grep -c '^ *[+-][0-9]*\.[0-9][0-9]  [a-z]'; }
[ "$(features < "$d/explain.txt")" -eq 12 ] || exit 1
[ "$("$tamis" -c "$src/config/tamis.yaml" explain --features 3 "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" | features)" -eq 3 ] || exit 1
[ "$("$tamis" -c "$src/config/tamis.yaml" explain --features 0 "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" | features)" -gt 40 ] || exit 1
# the words behind the token statistics: spam-leaning ones in the left
# column, strongest first; "password" in a Subject leans spam in 2002 mail
"$tamis" -c "$src/config/tamis.yaml" explain "$src/tests/data/ham-today/reset.eml" | python3 -c '
import re, sys
text = sys.stdin.read()
head = re.search(r"token statistics: (\d+) distinct tokens, (\d+) in the model.s token table \((\d+) lean spam, (\d+) ham\)", text)
assert head, text
n, known, sp, hm = map(int, head.groups())
assert 0 < known <= n and sp + hm == known, head.group(0)
rows = text.split(head.group(0))[1].split("\n\n")[0].splitlines()[2:]
left = [re.match(r"  ([+-]\d+\.\d+)  (\S+)", r) for r in rows]
left = [(float(m.group(1)), m.group(2)) for m in left if m]
assert left and all(w > 0 for w, _ in left), rows
assert [w for w, _ in left] == sorted((w for w, _ in left), reverse=True), left
assert "s:password" in [t for _, t in left], left
like = re.search(r"likeness to a known spam \(near_spam\): (\d+) %.*?model.s (\d+) training spam; below 70 %, not counted", text, re.S)
assert like and int(like.group(1)) < 70 and int(like.group(2)) > 1000, like
' || exit 1
# a spam the shipped model was trained on is in its index: the same campaign
"$tamis" -c "$src/config/tamis.yaml" explain "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" |
  grep -q "near_spam): 100 % .*" || exit 1
"$tamis" -c "$src/config/tamis.yaml" explain "$corpus/spam/00001.7848dde101aa985090474a91ec93fcf0.eml" |
  grep -q "counted, as the same campaign" || exit 1
echo "ok: explain"
