#!/bin/sh
# tamis train and eval read ham from a Maildir and spam from an mbox file;
# train --repeats pools the held-out scores of every repetition and suggests
# thresholds from them; the final fit does not depend on the cross-validation.
set -eu
tamis="$1"; src="$2"
corpus="$src/../shared/corpora/spamassassin-public"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir -p "$d/Maildir/cur" "$d/Maildir/new" "$d/Maildir/tmp"
i=0
for f in $(ls "$corpus/easy_ham" | head -60); do
  i=$((i + 1))
  # Maildir files have no mbox "From " line
  sed '1{/^From /d}' "$corpus/easy_ham/$f" > "$d/Maildir/$([ $((i % 2)) -eq 0 ] && echo cur || echo new)/$i.host:2,S"
done
for f in $(ls "$corpus/spam" | head -40); do
  head -1 "$corpus/spam/$f" | grep -q '^From ' || echo "From spammer@example.com Thu Jan  1 00:00:00 2002"
  cat "$corpus/spam/$f"; echo
done > "$d/spam.mbox"
n_mbox=$(grep -c '^From ' "$d/spam.mbox")
out=$("$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --folds 2 --out "$d/m.json" 2>&1)
echo "$out" | grep -q "tamis train: 100 messages" || { echo "$out"; echo "expected 60 ham + 40 spam (mbox has $n_mbox From lines)"; exit 1; }
echo "$out" | grep -q "^mean: AUC=" || { echo "$out"; exit 1; }
[ -s "$d/m.json" ]
# rules marked model_feature: false (helpers that only negate a meta rule,
# such as "the From address is at the brand's own domain") are not features
python3 - "$d/m.json" "$src/rules" <<'PY'
import json, re, sys, glob
m = json.load(open(sys.argv[1]))
rf = m["rule_features"]
unhit = set(m["meta"]["rules_without_hits"])  # model features that hit no training message
off = set()
for f in glob.glob(sys.argv[2] + "/*.yaml"):
    cur = None
    for line in open(f):
        m = re.match(r"\s*- id: (\S+)", line)
        if m: cur = m.group(1)
        if re.match(r"\s*model_feature: false", line): off.add(cur)
assert off >= {"FROM_ADDR_BRAND_DOMAIN", "URL_KNOWN_LINK_REWRITER"}, off
assert not off & (set(rf) | unhit), off & (set(rf) | unhit)
assert not set(rf) & unhit
assert {"BODY_DRUG_NAME_ANY_FORM", "FROM_NAME_BRAND_SECURITY"} <= set(rf) | unhit
print("ok:", len(rf), "rule features, not", sorted(off))
PY
# the columns the trainer leaves out (model::unread_features) are in no tree;
# with them, this model split three times on body_non_ascii_ratio
python3 - "$d/m.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
names = m["feature_names"]
trees = m["booster"]["learner"]["gradient_booster"]["model"]["trees"]
assert trees
for name in ("body_non_ascii_ratio", "subject_non_ascii_ratio"):
    col = names.index(name)
    splits = sum(1 for t in trees for c, l in zip(t["split_indices"], t["left_children"]) if c == col and l != -1)
    assert splits == 0, (name, splits)
print("ok: no tree reads the non-ASCII shares")
PY
"$tamis" -c "$src/config/tamis.yaml" eval --ham "$d/Maildir" --spam "$d/spam.mbox" --json --model "$d/m.json" |
  python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["messages"]=={"ham":60,"spam":40}, j["messages"]; print("ok:", j["messages"], "AUC", round(j["auc"],4))'

# --repeats 3: 3 x 2 folds named repeat.fold, thresholds from 3 x 60 ham scores
out=$("$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --folds 2 --repeats 3 \
      --cv-scores "$d/cv.tsv" --out "$d/r.json" 2>&1)
for f in 1.1 1.2 2.1 2.2 3.1 3.2; do
  echo "$out" | grep -q "^fold $f: " || { echo "$out"; echo "no fold $f"; exit 1; }
done
echo "$out" | grep -q "^mean of 6 folds: AUC=" || { echo "$out"; exit 1; }
line=$(echo "$out" | grep "^thresholds from 180 out-of-fold ham scores: ") || { echo "$out"; exit 1; }
# the suggestion, recomputed from the written scores: with 180 ham, 0.1 % allows
# none, so tag and reject are the first step of 0.1 above the highest ham
python3 - "$d/cv.tsv" "$line" <<'PY'
import math, re, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert len(rows) == 300, len(rows)
assert {r[2] for r in rows} == {"1.1", "1.2", "2.1", "2.2", "3.1", "3.2"}, {r[2] for r in rows}
top = max(float(r[3]) for r in rows if r[1] == "ham")
want = math.floor(top * 10 + 1e-9) / 10 + 0.1
m = re.search(r"tag (-?[0-9.]+) \(FPR ([0-9.]+)%.*reject (-?[0-9.]+)", sys.argv[2])
assert m, sys.argv[2]
assert abs(float(m.group(1)) - want) < 1e-9 and abs(float(m.group(3)) - want) < 1e-9, (m.groups(), want)
assert float(m.group(2)) == 0.0, m.group(2)
print("ok: thresholds", m.group(1), m.group(3), "above the highest held-out ham", round(top, 3))
PY
# --repeats without --folds is refused, not ignored
if err=$("$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --repeats 3 --out "$d/x.json" 2>&1); then
  echo "train --repeats without --folds succeeded: $err"; exit 1
fi
echo "$err" | grep -q -- "--repeats repeats the cross-validation: give --folds K" || { echo "$err"; exit 1; }
[ ! -e "$d/x.json" ] || { echo "a model was written anyway"; exit 1; }
# same seed, no cross-validation: the same booster
"$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --out "$d/plain.json" 2>/dev/null
python3 -c 'import json,sys; a,b=(json.load(open(p))["booster"] for p in sys.argv[1:]); assert a==b, "final fit depends on --folds/--repeats"; print("ok: same final model")' "$d/r.json" "$d/plain.json"
# --bags 3: three boosters (seeds 42, 43, 44) averaged; the first is the --bags 1
# booster with every leaf divided by 3
"$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --bags 1 --out "$d/b1.json" 2>/dev/null
"$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --bags 3 --out "$d/b3.json" 2>/dev/null
python3 - "$d/b1.json" "$d/b3.json" <<'PY'
import json, sys
one, three = (json.load(open(p)) for p in sys.argv[1:])
assert one["meta"]["params"]["bags"] == 1 and three["meta"]["params"]["bags"] == 3
t1 = one["booster"]["learner"]["gradient_booster"]["model"]["trees"]
t3 = three["booster"]["learner"]["gradient_booster"]["model"]["trees"]
assert len(t3) > len(t1), (len(t1), len(t3))
for a, b in zip(t1, t3[:len(t1)]):
    assert a["split_indices"] == b["split_indices"] and a["left_children"] == b["left_children"]
    for i, left in enumerate(a["left_children"]):
        if left < 0:
            assert abs(b["split_conditions"][i] - a["split_conditions"][i] / 3) < 1e-6, (a["split_conditions"][i], b["split_conditions"][i])
print("ok: --bags 3 starts with the --bags 1 booster, leaves / 3;", len(t1), "and", len(t3), "trees")
PY
# --token-splits: three rows per message by default, one with 1; the rows
# differ, so the boosters do; 0 is refused
"$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --bags 1 --token-splits 1 --out "$d/s1.json" 2>/dev/null
python3 - "$d/s1.json" "$d/b1.json" <<'PY'
import json, sys
one, three = (json.load(open(p)) for p in sys.argv[1:])
assert one["meta"]["params"]["token_splits"] == 1 and three["meta"]["params"]["token_splits"] == 3
assert one["booster"] != three["booster"]
print("ok: --token-splits recorded in the metadata and changes the fit")
PY
if "$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --token-splits 0 --out "$d/s0.json" 2>/dev/null; then
  echo "--token-splits 0 accepted"; exit 1
fi
[ ! -e "$d/s0.json" ]
# --xgb-param KEY=VALUE: set after tamis's own parameters, recorded in the
# metadata, and it changes the fit (4 histogram bins instead of 256)
"$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --bags 1 --xgb-param max_bin=4 \
  --out "$d/x4.json" 2>/dev/null
python3 - "$d/x4.json" "$d/b1.json" <<'PY'
import json, sys
four, dflt = (json.load(open(p)) for p in sys.argv[1:])
assert four["meta"]["params"]["xgb"] == {"max_bin": "4"}, four["meta"]["params"]
assert dflt["meta"]["params"]["xgb"] == {}, dflt["meta"]["params"]
assert four["booster"] != dflt["booster"]
print("ok: --xgb-param recorded in the metadata and changes the fit")
PY
# refused before the mail is read, with the reason, and no model written:
# a key tamis owns, a value XGBoost refuses, no "=", the same key twice
for bad in "objective=reg:squarederror|not a parameter tamis train lets you set" \
           "max_bin=abc|XGBoost refuses it: .*max_bin" "max_bin|expected KEY=VALUE" \
           "max_bin=8 --xgb-param max_bin=16|given twice"; do
  arg=${bad%%|*}; want=${bad#*|}
  # shellcheck disable=SC2086  # $arg may hold a second --xgb-param
  if err=$("$tamis" -c "$src/config/tamis.yaml" train --ham "$d/Maildir" --spam "$d/spam.mbox" --xgb-param $arg \
           --out "$d/xbad.json" 2>&1); then
    echo "--xgb-param $arg accepted"; exit 1
  fi
  echo "$err" | grep -q -- "$want" || { echo "--xgb-param $arg: $err"; exit 1; }
  echo "$err" | grep -q "tamis train: 100 messages" && { echo "--xgb-param $arg: the mail was read first"; exit 1; }
  [ ! -e "$d/xbad.json" ] || { echo "--xgb-param $arg: a model was written"; exit 1; }
done
echo "ok: bad --xgb-param values refused"
