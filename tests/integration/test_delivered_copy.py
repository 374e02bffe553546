#!/usr/bin/env python3
"""The score tamisd gives a message during the SMTP session is the score
`tamis eval` gives the copy Postfix delivered, with the shipped config,
rules and model.

The two do not see the same bytes. tamisd gets the message before Postfix
adds its Received header, with CRLF line ends, and the client's address,
name, HELO and time from the session. The delivered copy (Maildir) has
Postfix's Received header, Return-Path, Delivered-To and tamisd's own
X-Spam-Status on top, and LF line ends. Mailboxes like that are what
`tamis train` learns from, so a feature that differs between the two is a
skew between training and serving (features/hops.hpp).

The client is set with Postfix's XCLIENT (allowed from loopback in this
lab only): one with a public address and a reverse name, one without a
name and with an address literal as HELO, one at an IPv6 address, and one
without a name that never says HELO (Postfix then writes "unknown" in the
HELO place). Thresholds are raised so every message is delivered as sent
(no subject tag, no reject).

Run as root: tests/integration/test_delivered_copy.py REPO TAMIS
"""
import glob
import os
import re
import smtplib
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tamis_postfix import Lab, check, header_values, summary  # noqa: E402

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
TAMIS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "build", "src", "tamis")
CONFIG = "thresholds:\n  tag: 100\n  reject: 200\n"
CLIENTS = {
    "named": "NAME=mail.sender.example ADDR=198.51.100.7 HELO=mail.sender.example",
    "no reverse name": "NAME=[UNAVAILABLE] ADDR=203.0.113.8 HELO=[203.0.113.8]",
    "at an IPv6 address": "NAME=mail6.sender.example ADDR=IPV6:2001:db8::7 HELO=mail6.sender.example",
    "without a name that says no HELO": "NAME=[UNAVAILABLE] ADDR=203.0.113.9 HELO=[UNAVAILABLE]",
}
# What Postfix's Received header says of each client
RECEIVED_FROM = {"named": "mail.sender.example [198.51.100.7]", "no reverse name": "unknown [203.0.113.8]",
                 "at an IPv6 address": "mail6.sender.example [IPv6:2001:db8::7]",
                 "without a name that says no HELO": "from unknown (unknown [203.0.113.9])"}


def fixtures():
    out = []
    for d in ("ham-today", "spam-today"):
        out += sorted(glob.glob(os.path.join(REPO, "tests", "data", d, "*.eml")))
    return out


def send_as(lab, raw, xclient):
    with smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=60) as s:
        s.ehlo("lab-client.example.org")
        code, resp = s.docmd("XCLIENT", xclient)
        assert code == 220, (code, resp)
        if "HELO=[UNAVAILABLE]" not in xclient:
            s.ehlo_resp = None
            s.ehlo("ignored.example.org")  # XCLIENT's HELO stands
        # else smtplib, having seen an EHLO reply, sends MAIL FROM without one
        s.sendmail("sender@sender.example", ["user@test.example"], raw)


def session_score(raw):
    st = header_values(raw, "X-Spam-Status")
    assert len(st) == 1, st
    m = re.search(r"score=(-?[0-9.]+)", st[0])
    assert m, st
    return m.group(1)


def eval_scores(lab, raws):
    """`tamis eval` of the delivered copies: their scores, at 6 digits."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "labels.tsv"), "w") as labels:
            for i, raw in enumerate(raws):
                with open(os.path.join(d, f"{i}.eml"), "wb") as f:
                    f.write(raw)
                labels.write(f"ham\t{i}.eml\n")
        subprocess.run([TAMIS, "-c", os.path.join(lab.tamis_dir, "tamis.yaml"), "eval", "--labels",
                        os.path.join(d, "labels.tsv"), "--scores", os.path.join(d, "scores.tsv")],
                       check=True, capture_output=True)
        with open(os.path.join(d, "scores.tsv")) as f:
            by_name = {os.path.basename(l.split("\t")[0]): float(l.split("\t")[2]) for l in f}
    return [by_name[f"{i}.eml"] for i in range(len(raws))]


def t_same_score(lab, client):
    files = fixtures()
    assert len(files) >= 30, files
    before = len(lab.delivered())
    for path in files:
        with open(path, "rb") as f:
            send_as(lab, f.read(), CLIENTS[client])
    delivered = lab.wait_delivered(before + len(files), timeout=120)[before:]
    for raw in delivered:
        received = header_values(raw, "Received")
        assert received and "lab.tamis.test" in received[0], received[:1]
        assert RECEIVED_FROM[client] in received[0], received[0]
        assert b"\r\n" not in raw, "the Maildir copy has CRLF line ends"
    # tamisd writes the score rounded to 0.01: the same score is within 0.005
    differ = [(header_values(raw, "Subject"), session_score(raw), e)
              for raw, e in zip(delivered, eval_scores(lab, delivered)) if abs(float(session_score(raw)) - e) > 0.0051]
    print(f"  {len(delivered)} messages, {len(delivered) - len(differ)} with the same score")
    assert not differ, differ


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def main():
    ipv6 = have_ipv6_loopback()
    if not ipv6:
        print("note: no ::1 on this machine, so no IPv6 client")
        del CLIENTS["at an IPv6 address"]
    with Lab(REPO, tamis_yaml=CONFIG, ipv6=ipv6) as lab:
        for client in CLIENTS:
            check(f"a client {client}: each fixture's delivered copy scans as tamisd scored it in the session",
                  t_same_score, lab, client)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
