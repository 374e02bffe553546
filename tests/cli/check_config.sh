#!/bin/sh
# tamis check-config: exit 0 on the shipped config; exit 1 with file:line on a broken rule.
set -eu
tamis="$1"; src="$2"
"$tamis" -c "$src/config/tamis.yaml" check-config
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkdir "$d/rules.d"
cp "$src/config/tamis.yaml" "$d/tamis.yaml"
sed -i "s|paths: \[../rules\]|paths: [$src/rules]|; s|path: ../models/default.json|path: $src/models/default.json|" "$d/tamis.yaml"
printf 'rules:\n  - id: LOCAL_OK\n    target: body\n    pattern: fine\n    score: 1\n  - id: LOCAL_BAD\n    target: body\n    pattern: "(unclosed"\n    score: 1\n' > "$d/rules.d/local.yaml"
if "$tamis" -c "$d/tamis.yaml" check-config 2> "$d/err"; then echo "accepted a broken rule"; exit 1; fi
grep -q "rules.d/local.yaml:6: rule LOCAL_BAD: bad pattern" "$d/err" || { cat "$d/err"; exit 1; }
echo "ok: $(cat "$d/err")"
