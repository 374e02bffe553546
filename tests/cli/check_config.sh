#!/bin/sh
# tamis check-config: exit 0 on the shipped config; exit 1 with file:line on a broken rule.
set -eu
tamis="$1"; src="$2"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$tamis" -c "$src/config/tamis.yaml" check-config 2> "$d/err" > "$d/out"
# the shipped config has the limits the shipped model was trained with: no warning
[ ! -s "$d/err" ] || { cat "$d/err"; exit 1; }
# the summary names the model's schema and tokenizer (the shipped model: this build's)
grep -q "^ok: .*model .*default.json (.* trees, .* features), schema [0-9a-f]\{16\}, tokenizer [0-9]" "$d/out" || { cat "$d/out"; exit 1; }
mkdir "$d/rules.d"
cp "$src/config/tamis.yaml" "$d/tamis.yaml"
sed -i "s|paths: \[../rules\]|paths: [$src/rules]|; s|path: ../models/default.json|path: $src/models/default.json|" "$d/tamis.yaml"
printf 'rules:\n  - id: LOCAL_OK\n    target: body\n    pattern: fine\n    score: 1\n  - id: LOCAL_BAD\n    target: body\n    pattern: "(unclosed"\n    score: 1\n' > "$d/rules.d/local.yaml"
if "$tamis" -c "$d/tamis.yaml" check-config 2> "$d/err"; then echo "accepted a broken rule"; exit 1; fi
grep -q "rules.d/local.yaml:6: rule LOCAL_BAD: bad pattern" "$d/err" || { cat "$d/err"; exit 1; }
echo "ok: $(cat "$d/err")"
# a limit other than the model's: a warning naming it, and still exit 0
rm "$d/rules.d/local.yaml"
sed -i "s|max_tokens: 12000 |max_tokens: 4000 |" "$d/tamis.yaml"
"$tamis" -c "$d/tamis.yaml" check-config 2> "$d/err" > /dev/null || { cat "$d/err"; exit 1; }
grep -q "^warning: limits.max_tokens is 4000 but the model .* was trained with 12000" "$d/err" || { cat "$d/err"; exit 1; }
echo "ok: $(cat "$d/err")"
