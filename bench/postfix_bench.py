#!/usr/bin/env python3
"""Postfix with and without tamisd: the same N corpus messages from 8
concurrent SMTP clients through a private loopback Postfix, once with
smtpd_milters = tamisd (shipped rules and model) and once with no milter.
Reports messages/s for both and the end-of-DATA latency (time from sending
DATA to the final reply, which includes the milter's scan), p50 and p99, and
what tamisd adds. It reports numbers; it asserts nothing.

Usage (root, from the repository root): bench/postfix_bench.py [N] [CLIENTS]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from tamis_postfix import Lab, corpus_messages, send_many  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 8


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def run(milter, msgs, socket="unix"):
    # reject_action: tag, so both runs deliver the same messages.
    with Lab(REPO, milter=milter, tamis_yaml="reject_action: tag\n", socket=socket) as lab:
        send_many(lab, msgs[:50], CLIENTS)  # warm-up
        t0 = time.perf_counter()
        res = send_many(lab, msgs, CLIENTS)
        wall = time.perf_counter() - t0
        lat = [r["latency"] * 1000 for r in res if r["code"] == 250]
        codes = {}
        for r in res:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
        return {"rate": len(res) / wall, "p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "mean": statistics.mean(lat),
                "codes": codes}


def main():
    msgs = corpus_messages(os.path.join(REPO, "..", "shared", "corpora", "spamassassin-public"), N)
    base = run(False, msgs)
    unix = run(True, msgs, "unix")
    inet = run(True, msgs, "inet")
    print(f"Postfix benchmark: {N} messages, {CLIENTS} concurrent SMTP clients, loopback")
    print(f"{'':26s} {'msgs/s':>8s} {'DATA p50 ms':>12s} {'DATA p99 ms':>12s} {'mean ms':>8s}  replies")
    for name, r in (("postfix alone", base), ("postfix + tamisd (unix)", unix), ("postfix + tamisd (inet)", inet)):
        print(f"{name:26s} {r['rate']:8.1f} {r['p50']:12.2f} {r['p99']:12.2f} {r['mean']:8.2f}  {r['codes']}")
    for name, r in (("unix socket", unix), ("inet socket", inet)):
        print(f"tamisd on a {name} adds: p50 {r['p50'] - base['p50']:+.2f} ms, p99 {r['p99'] - base['p99']:+.2f} ms; "
              f"throughput kept: {100 * r['rate'] / base['rate']:.1f} %")


if __name__ == "__main__":
    main()
