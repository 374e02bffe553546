#!/usr/bin/env python3
"""Load with faults: N messages (default 20,000) from C concurrent SMTP
clients (default 50) through a loopback Postfix with tamisd (shipped rules
and model, reject_action reject), with a SIGUSR1 reload every 2 s and one
SIGKILL of tamisd in the middle, restarted a second later.

Postfix's milter_default_action is tempfail, so while tamisd is down senders
get 451: each client does what a sending MTA does, reconnects and retries the
message later. Every message is accounted for at the end: delivered (found in
the Maildir by its X-Load-Id), refused with a 5xx the client saw, or lost.
The run fails if any message is lost, delivered twice, or if tamisd's RSS
grows by 10 % or more over a run segment after warm-up (segment 1: warm-up to
the kill; segment 2: warm-up after the restart to the end). Warm-up ends when
tamisd has answered N/10 messages in the segment and has as many milter
connections open as there are clients (read from its own
tamis_milter_connections gauge): while Postfix is still starting smtpd
processes, each new connection's thread and read buffer is growth of the
load, not of tamisd. RSS is sampled every 0.25 s; growth compares the median
of the last tenth of a segment's samples with the median of its first tenth,
because while a reload builds the next snapshot both are in memory for a
moment (the highest sample is printed too, and the live heap from
tamis_heap_in_use_bytes at the same two points).

Usage (root): tests/load/load_faults.py [N] [CLIENTS] [--no-rss-check]
Prints a report; exit 1 on a failed check.
"""
import os
import queue
import re
import signal
import smtplib
import statistics
import sys
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from tamis_postfix import Lab, free_port, smtp_close, smtp_connect, smtp_transaction  # noqa: E402

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
N = int(ARGS[0]) if len(ARGS) > 0 else 20000
CLIENTS = int(ARGS[1]) if len(ARGS) > 1 else 50
# --no-rss-check: report RSS but do not fail on it (CI: memory targets are
# for measured runs, not for pass/fail on a shared machine).
RSS_CHECK = "--no-rss-check" not in sys.argv
WARMUP = max(500, N // 10)      # answers per segment before the RSS baseline (threads, arenas, caches settle)
# Diagnostics only (the defaults are the test): TAMIS_LOAD_RELOAD_S=0 turns
# reloads off, TAMIS_LOAD_KILL=0 the kill, TAMIS_LOAD_CHANGE_RULES=1 changes
# a local rule's score before every reload so that each reload recompiles
# the rules (by default a reload finds them unchanged and keeps them).
RELOAD_EVERY_S = float(os.environ.get("TAMIS_LOAD_RELOAD_S", "2"))
KILL = os.environ.get("TAMIS_LOAD_KILL", "1") != "0"
CHANGE_RULES = os.environ.get("TAMIS_LOAD_CHANGE_RULES", "0") == "1"
LOCAL_RULE = ("rules:\n  - id: LOAD_LOCAL\n    target: subject\n    pattern: 'zzload'\n    score: {}\n"
              "    examples: {{hit: [zzload], miss: [notes]}}\n")
MAX_ATTEMPTS = 60               # per message; a sending MTA would keep trying for days


def corpus():
    """Every message of both corpora (SpamAssassin and CSDMC), as bytes."""
    out = []
    for name in ("spamassassin-public", "csdmc2010"):
        root = os.path.join(REPO, "..", "shared", "corpora", name)
        with open(os.path.join(root, "labels.tsv")) as f:
            for line in f:
                _, rel = line.rstrip("\n").split("\t")
                with open(os.path.join(root, rel), "rb") as m:
                    raw = m.read()
                if raw.startswith(b"From "):
                    raw = raw.split(b"\n", 1)[1]
                out.append(raw)
    import random
    random.Random(42).shuffle(out)  # labels.tsv lists ham first; mix ham and spam
    return out


def gauges(port):
    """tamisd's open milter connections and live heap (bytes), from /metrics."""
    import urllib.request
    try:
        t = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        conns = int(float(re.search(r"^tamis_milter_connections (\S+)", t, re.M).group(1)))
        heap = float(re.search(r"^tamis_heap_in_use_bytes (\S+)", t, re.M).group(1))
        return conns, heap
    except (OSError, AttributeError, ValueError):
        return None, None


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))] if v else float("nan")


def main():
    msgs = corpus()
    work = queue.Queue()
    for i in range(N):
        # A unique id first, so every copy of a corpus message is traceable.
        work.put((i, b"X-Load-Id: %d\r\n" % i + msgs[i % len(msgs)]))
    outcome = [None] * N          # "accepted" | "rejected" | "gave_up"
    tempfailed = [0] * N          # 4xx seen before the final answer
    lock = threading.Lock()
    judged = [0]                  # final answers so far

    mport = free_port()
    with Lab(REPO, tamis_yaml=f"reject_action: reject\nmilter: {{metrics_port: {mport}}}\n",
             default_action="tempfail") as lab:
        # ---- clients ----
        def client():
            s = None
            while True:
                try:
                    i, raw = work.get_nowait()
                except queue.Empty:
                    break
                for attempt in range(MAX_ATTEMPTS):
                    try:
                        if s is None:
                            s = smtp_connect(lab)
                        code, _, _ = smtp_transaction(s, raw)
                    except (smtplib.SMTPException, OSError):
                        code = -1
                    if code == 250:
                        outcome[i] = "accepted"
                        break
                    if 500 <= code < 600:
                        outcome[i] = "rejected"
                        break
                    # 4xx or a broken connection: reconnect, retry later.
                    tempfailed[i] += 1
                    s = smtp_close(s)
                    time.sleep(min(0.2 * (attempt + 1), 2.0))
                else:
                    outcome[i] = "gave_up"
                with lock:
                    judged[0] += 1
            smtp_close(s, quit=True)

        # ---- faults and measurements ----
        stop = threading.Event()
        events = {"reloads": 0, "killed_at": None, "restarted_at": None}
        rss = {"seg1": [], "seg2": []}   # (judged, kB, live heap bytes) after warm-up

        def conductor():
            last_reload = time.monotonic()
            segment = "seg1"
            seg_start = 0
            while not stop.wait(0.25):
                done = judged[0]
                if KILL and events["killed_at"] is None and done >= N // 2:
                    lab.tamisd.send_signal(signal.SIGKILL)
                    lab.tamisd.wait()
                    events["killed_at"] = done
                    time.sleep(1.0)
                    lab.start_tamisd()
                    events["restarted_at"] = judged[0]
                    segment, seg_start = "seg2", judged[0]
                    last_reload = time.monotonic()
                    continue
                if RELOAD_EVERY_S > 0 and time.monotonic() - last_reload >= RELOAD_EVERY_S:
                    if CHANGE_RULES:
                        lab.write_rule("90-load.yaml", LOCAL_RULE.format(1 + events["reloads"] % 2))
                    lab.reload_tamisd()
                    events["reloads"] += 1
                    last_reload = time.monotonic()
                if done - seg_start >= WARMUP:
                    conns, heap = gauges(mport)
                    warm = rss[segment] or (conns is not None and conns >= CLIENTS) or done - seg_start >= N // 4
                    r = rss_kb(lab.tamisd.pid)
                    if r and warm:
                        rss[segment].append((done, r, heap))

        t0 = time.monotonic()
        cond = threading.Thread(target=conductor)
        cond.start()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        stop.set()
        cond.join()

        # ---- accounting ----
        accepted = sum(1 for o in outcome if o == "accepted")
        rejected = sum(1 for o in outcome if o == "rejected")
        gave_up = sum(1 for o in outcome if o == "gave_up")
        maildir = os.path.join(lab.mail, "inbox", "new")
        seen = {}
        end = time.time() + 300
        while True:
            seen.clear()
            for f in os.listdir(maildir) if os.path.isdir(maildir) else []:
                with open(os.path.join(maildir, f), "rb") as fh:
                    m = re.search(rb"^X-Load-Id: (\d+)", fh.read(4096), re.M)
                if m:
                    k = int(m.group(1))
                    seen[k] = seen.get(k, 0) + 1
            if len(seen) >= accepted or time.time() > end:
                break
            time.sleep(1)
        delivered = len(seen)
        duplicates = sum(1 for v in seen.values() if v > 1)
        lost = [i for i in range(N) if outcome[i] == "accepted" and i not in seen]
        lost += [i for i in range(N) if outcome[i] in (None, "gave_up")]
        wrongly_delivered = [i for i in range(N) if outcome[i] == "rejected" and i in seen]
        tf_then_delivered = sum(1 for i in range(N) if tempfailed[i] and i in seen)
        tf_then_rejected = sum(1 for i in range(N) if tempfailed[i] and outcome[i] == "rejected")

        log = lab.tamisd_log_text()
        us = [int(x) for x in re.findall(r" us=(\d+)", log)]
        gens = sorted({int(x) for x in re.findall(r" gen=(\d+)", log)})
        reload_ok = len(re.findall(r"reload ok", log))

    def growth(seg):
        """RSS growth over a segment: the median of the last tenth of the
        samples against the median of the first tenth (after warm-up), so a
        sample taken while a reload holds two snapshots does not pass for
        growth; the peak is reported beside it."""
        pts = [p[1] for p in rss[seg]]
        if len(pts) < 20:
            return None, None, None, None, None
        k = max(1, len(pts) // 10)
        base = statistics.median(pts[:k])
        last = statistics.median(pts[-k:])
        heap = [p[2] for p in rss[seg] if p[2] is not None]
        kh = max(1, len(heap) // 10)
        live = (statistics.median(heap[:kh]) / 2**20, statistics.median(heap[-kh:]) / 2**20) if len(heap) >= 20 else None
        return base, last, 100.0 * (last - base) / base, 100.0 * (max(pts) - base) / base, live

    print(f"load with faults: {N} messages, {CLIENTS} concurrent SMTP clients, SIGUSR1 every {RELOAD_EVERY_S:.0f} s, "
          f"tamisd SIGKILLed after {events['killed_at']} answers and restarted"
          + ("; a rule changed before every reload" if CHANGE_RULES else ""))
    print(f"  wall time               {wall:8.1f} s  ({N / wall:.1f} msg/s)")
    print(f"  sent                    {N:8d}")
    print(f"  delivered               {delivered:8d}  (250 answers: {accepted})")
    print(f"  rejected (5xx seen)     {rejected:8d}")
    print(f"  tempfailed, then delivered {tf_then_delivered:5d}  (then rejected: {tf_then_rejected})")
    print(f"  lost                    {len(lost):8d}")
    print(f"  delivered twice         {duplicates:8d}")
    print(f"  5xx but delivered       {len(wrongly_delivered):8d}")
    print(f"  reloads sent / ok       {events['reloads']:8d} / {reload_ok}; generations in log: {gens[:3]}..{gens[-3:]}")
    print(f"  scan time (tamisd log)  p50 {pct(us, 0.5) / 1000:.2f} ms, p99 {pct(us, 0.99) / 1000:.2f} ms, "
          f"max {max(us) / 1000 if us else float('nan'):.2f} ms over {len(us)} scans")
    failures = []
    for seg, name in (("seg1", "before the kill"), ("seg2", "after the restart")):
        base, last, g, peak, live = growth(seg)
        if base is None:
            print(f"  RSS {name}: too few samples")
            if RSS_CHECK:
                failures.append(f"no RSS samples {name}")
            continue
        print(f"  RSS {name:18s} after warm-up {base / 1024:.1f} MB, at end {last / 1024:.1f} MB: growth {g:+.1f} % "
              f"(highest sample {peak:+.1f} %, {len(rss[seg])} samples from answer {rss[seg][0][0]})")
        if live:
            print(f"      live heap {name:14s} after warm-up {live[0]:.1f} MB, at end {live[1]:.1f} MB")
        if g >= 10.0 and RSS_CHECK:
            failures.append(f"RSS grew {g:.1f} % {name}")
    if lost:
        failures.append(f"{len(lost)} lost (first ids: {lost[:10]})")
    if duplicates:
        failures.append(f"{duplicates} delivered twice")
    if wrongly_delivered:
        failures.append(f"{len(wrongly_delivered)} refused with 5xx but delivered")
    if KILL and events["killed_at"] is None:
        failures.append("tamisd was never killed")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
