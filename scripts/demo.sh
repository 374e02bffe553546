#!/bin/sh
# Builds tamis and scans a sample of the SpamAssassin public corpus (ham,
# hard ham, spam), printing one line per message: path, action, score, rule
# hits, top model contributions, anomalies, µs per stage.
set -eu
cmake -S . -B build >/dev/null
cmake --build build -j2 --target tamis >/dev/null
corpus=${CORPUS:-../shared/corpora/spamassassin-public}
for d in easy_ham hard_ham spam; do
  ls "$corpus/$d" | head -n 4 | while read -r f; do echo "$corpus/$d/$f"; done
done | xargs ./build/src/tamis -c config/tamis.yaml scan
