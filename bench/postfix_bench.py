#!/usr/bin/env python3
"""Postfix with and without tamisd: the same N corpus messages from CLIENTS
concurrent SMTP clients through a private loopback Postfix, in four setups:

  alone        no milter
  null milter  bench/null_milter: negotiates like tamisd, judges nothing
               (what any milter costs Postfix: its side of the protocol)
  tamisd unix  smtpd_milters = tamisd on a unix socket (shipped rules and model)
  tamisd inet  the same over TCP on 127.0.0.1

Each setup runs ROUNDS times, interleaved (alone, null, unix, inet, alone, ...)
so that a noisy machine hits all setups alike; the report gives the median
of the rounds. Per setup: messages/s, end-of-DATA latency (from sending DATA
to the final reply, which includes the milter's scan) p50 and p99, CPU per
message of the whole machine and of the milter process, and tamisd's own
scan time from its log. It reports numbers; it asserts nothing.

Usage (root, from the repository root, after a build):
  bench/postfix_bench.py [N=2000] [CLIENTS=8] [ROUNDS=3]
TAMISD and NULL_MILTER name the binaries (default build/milter/tamisd and
build/bench/null_milter)."""
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from tamis_postfix import Lab, corpus_messages, send_many  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HZ = os.sysconf("SC_CLK_TCK")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def busy_seconds():
    """CPU time the whole machine spent not idle, in seconds."""
    f = list(map(int, open("/proc/stat").readline().split()[1:]))
    return (sum(f) - f[3] - f[4]) / HZ


def proc_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / HZ


def run(setup, msgs, clients):
    null = None
    kw = {"tamis_yaml": "reject_action: tag\n"}  # both with and without tamisd, every message is delivered
    if setup == "alone":
        kw["milter"] = False
    elif setup == "null milter":
        sock = f"/tmp/tamis-null-{os.getpid()}.sock"
        null = subprocess.Popen([os.environ.get("NULL_MILTER", os.path.join(REPO, "build", "bench", "null_milter")), sock])
        Lab.wait_unix(sock, proc=null)
        kw["milter_socket"] = f"unix:{sock}"
    else:
        kw["socket"] = setup.split()[1]
    try:
        with Lab(REPO, **kw) as lab:
            send_many(lab, msgs[:50], clients)  # warm-up
            pid = null.pid if null else (lab.tamisd.pid if lab.tamisd else None)
            log_lines = len(lab.tamisd_log_text().splitlines()) if lab.tamisd else 0
            b0, p0, t0 = busy_seconds(), proc_seconds(pid) if pid else 0.0, time.perf_counter()
            res = send_many(lab, msgs, clients)
            wall = time.perf_counter() - t0
            b1, p1 = busy_seconds(), proc_seconds(pid) if pid else 0.0
            scans = []
            if lab.tamisd:
                new = "\n".join(lab.tamisd_log_text().splitlines()[log_lines:])
                scans = [int(x) for x in re.findall(r" us=(\d+)", new)]
    finally:
        if null:
            null.kill()
            null.wait()
    n = len(res)
    lat = [r["latency"] * 1000 for r in res if r["code"] == 250]
    codes = {}
    for r in res:
        codes[r["code"]] = codes.get(r["code"], 0) + 1
    return {"rate": n / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "cpu": 1000 * (b1 - b0) / n,
            "milter_cpu": 1000 * (p1 - p0) / n if pid else None,
            "scan_p50": pct(scans, 0.5) if scans else None, "scan_p99": pct(scans, 0.99) if scans else None,
            "codes": codes}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    msgs = corpus_messages(os.path.join(REPO, "..", "shared", "corpora", "spamassassin-public"), n)
    setups = ["alone", "null milter", "tamisd unix", "tamisd inet"]
    runs = {s: [] for s in setups}
    for r in range(rounds):
        for s in setups:
            res = run(s, msgs, clients)
            runs[s].append(res)
            print(f"round {r + 1} {s:12s} {res['rate']:7.1f} msgs/s  DATA p50 {res['p50']:6.2f} p99 {res['p99']:6.2f} ms"
                  f"  CPU {res['cpu']:5.2f} ms/msg  {res['codes']}", flush=True)

    def med(s, k):
        v = [x[k] for x in runs[s] if x[k] is not None]
        return statistics.median(v) if v else None

    print(f"\nPostfix benchmark: {n} messages, {clients} concurrent SMTP clients, loopback, median of {rounds} interleaved rounds")
    print(f"{'':13s} {'msgs/s':>7s} {'DATA p50':>9s} {'DATA p99':>9s} {'CPU/msg':>8s} {'milter CPU/msg':>15s} {'scan p50/p99':>13s}")
    for s in setups:
        mc, sp, sq = med(s, "milter_cpu"), med(s, "scan_p50"), med(s, "scan_p99")
        print(f"{s:13s} {med(s, 'rate'):7.1f} {med(s, 'p50'):6.2f} ms {med(s, 'p99'):6.2f} ms {med(s, 'cpu'):5.2f} ms"
              f" {(f'{mc:.3f} ms' if mc is not None else '-'):>15s}"
              f" {(f'{sp:.0f}/{sq:.0f} us' if sp is not None else '-'):>13s}")
    base = "alone"
    for s in setups[1:]:
        print(f"{s} adds: DATA p50 {med(s, 'p50') - med(base, 'p50'):+.2f} ms, p99 {med(s, 'p99') - med(base, 'p99'):+.2f} ms;"
              f" throughput kept {100 * med(s, 'rate') / med(base, 'rate'):.1f} %")


if __name__ == "__main__":
    main()
