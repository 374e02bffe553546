#!/bin/sh
# tamis train and eval read ham from a Maildir and spam from an mbox file.
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
"$tamis" -c "$src/config/tamis.yaml" eval --ham "$d/Maildir" --spam "$d/spam.mbox" --json --model "$d/m.json" |
  python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["messages"]=={"ham":60,"spam":40}, j["messages"]; print("ok:", j["messages"], "AUC", round(j["auc"],4))'
