#!/bin/sh
# The main job: builds tamis, starts a private Postfix on 127.0.0.1 with
# tamisd as its milter, sends sample mail from the SpamAssassin corpus over
# SMTP, and prints what happened to each message. Needs root (Postfix).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null
cmake --build build -j2 --target tamis tamisd >/dev/null
exec python3 scripts/demo_postfix.py
