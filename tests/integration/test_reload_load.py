#!/usr/bin/env python3
"""SIGUSR1 reload under load: 8 concurrent SMTP clients send 2,000 messages
(SpamAssassin corpus) through a real Postfix and tamisd with the shipped
rules and model, while a local rule file is rewritten and reloaded several
times, once with a broken file. Every message must be accounted for: 250 and
delivered, or 550 and not delivered; none lost, none tempfailed. The log must
name the snapshot generation that judged each message, and several must
appear; the broken file must leave the running rules in place.

Usage: test_reload_load.py REPO [N_MESSAGES]"""
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tamis_postfix import Lab, corpus_messages, send_many  # noqa: E402

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
CORPUS = os.path.join(REPO, "..", "shared", "corpora", "spamassassin-public")


def main():
    msgs = corpus_messages(CORPUS, N)
    failures = []
    with Lab(REPO, rules_d={"dyn.yaml": "rules:\n  - id: LOCAL_DYN\n    target: subject\n    pattern: zzqqxx\n    score: 1\n"}) as lab:
        stop = threading.Event()
        reloads = {"ok": 0, "broken": 0}

        def reloader():
            k = 0
            while not stop.wait(0.7):
                k += 1
                if k % 4 == 0:  # a broken file: the running rules must stay
                    lab.write_rule("dyn.yaml", "rules:\n  - id: LOCAL_DYN\n    target: subject\n    pattern: '(oops'\n    score: 1\n")
                    reloads["broken"] += 1
                else:
                    lab.write_rule("dyn.yaml", f"rules:\n  - id: LOCAL_DYN\n    target: subject\n    pattern: zzqq{k}\n    score: {k % 3}\n")
                    reloads["ok"] += 1
                # Wait for tamisd to act on this signal before the file
                # changes again: signals sent while a reload is still
                # building (slow under sanitizers) merge into one, and that
                # reload would read only the last file.
                done = len(re.findall(r"reload (?:ok|failed)", lab.tamisd_log_text()))
                lab.reload_tamisd()
                deadline = time.time() + 60
                while time.time() < deadline and len(re.findall(r"reload (?:ok|failed)", lab.tamisd_log_text())) <= done:
                    time.sleep(0.05)

        t = threading.Thread(target=reloader)
        t0 = time.time()
        t.start()
        results = send_many(lab, msgs, clients=8)
        stop.set()
        t.join()
        elapsed = time.time() - t0
        accepted = [r for r in results if r["code"] == 250]
        rejected = [r for r in results if r["code"] == 550]
        other = [r for r in results if r["code"] not in (250, 550)]
        delivered = lab.wait_delivered(len(accepted), timeout=120)
        time.sleep(2)
        delivered = lab.delivered()
        log = lab.tamisd_log_text()
        gens = {}
        for line in log.splitlines():
            m = re.search(r"queue_id=(\S+) .* gen=(\d+)", line)
            if m:
                gens[m.group(1)] = int(m.group(2))
        print(f"sent {len(results)} in {elapsed:.1f}s: 250={len(accepted)} 550={len(rejected)} other={len(other)} "
              f"delivered={len(delivered)}; reloads ok={reloads['ok']} broken={reloads['broken']}; "
              f"generations seen={sorted(set(gens.values()))}")
        if other:
            failures.append(f"{len(other)} messages neither accepted nor rejected, e.g. {other[:3]}")
        if len(delivered) != len(accepted):
            failures.append(f"{len(accepted)} accepted but {len(delivered)} delivered")
        missing = [r["queue_id"] for r in accepted if r["queue_id"] not in gens]
        if missing:
            failures.append(f"{len(missing)} accepted messages without a log line naming their snapshot, e.g. {missing[:3]}")
        if len(set(gens.values())) < 3:
            failures.append(f"only generations {sorted(set(gens.values()))} judged messages")
        if reloads["broken"] and "reload failed" not in log:
            failures.append("a broken rule file was not reported")
        if lab.tamisd.poll() is not None:
            failures.append("tamisd died")
    for f in failures:
        print("FAIL", f)
    print(f"{0 if failures else 1} passed, {1 if failures else 0} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
