#!/usr/bin/env python3
"""The main job, end to end: a private Postfix on 127.0.0.1 with tamisd as its
milter (shipped config, rules and model), sample mail from the SpamAssassin
corpus sent over SMTP, and for each message what happened to it: the SMTP
reply, whether Postfix delivered it, the X-Spam-* headers it carries, and
tamisd's log line."""
import os
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from tamis_postfix import Lab, header_values  # noqa: E402

corpus = os.environ.get("CORPUS", os.path.join(REPO, "..", "shared", "corpora", "spamassassin-public"))
picks = []
for kind, n in (("easy_ham", 4), ("hard_ham", 3), ("spam", 5)):
    d = os.path.join(corpus, kind)
    picks += [os.path.join(d, f) for f in sorted(os.listdir(d))[:n]]

malformed = (b"From: someone@example.net\r\nTo: user@test.example\r\nSubject: broken MIME on purpose\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
             b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64!!\r\n")

with Lab(REPO) as lab:
    print(f"Postfix on 127.0.0.1:{lab.smtp_port}, tamisd on {lab.sock_path}, work dir {lab.dir}\n")
    items = [(p, open(p, "rb").read()) for p in picks] + [("(synthetic) malformed MIME", malformed)]
    for name, raw in items:
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        before = len(lab.delivered())
        subject = (header_values(raw, "Subject") or [""])[0][:60]
        code, reply = lab.send(raw)
        outcome = "rejected at end of DATA" if code == 550 else "tempfailed" if 400 <= code < 500 else "?"
        status = ""
        if code == 250:
            got = lab.wait_delivered(before + 1)
            delivered = got[-1]
            outcome = "delivered"
            flag = header_values(delivered, "X-Spam-Flag")
            status = (header_values(delivered, "X-Spam-Status") or header_values(delivered, "X-Tamis-Status") or ["-"])[0]
            if flag:
                outcome = "delivered, tagged: " + (header_values(delivered, "Subject") or [""])[0][:50]
        time.sleep(0.05)
        print(f"{os.path.relpath(name, corpus) if name.startswith('/') else name}\n  subject: {subject}\n"
              f"  smtp:    {code} {reply[:90]}\n  outcome: {outcome}")
        if status:
            print(f"  header:  X-Spam-Status: {status[:110]}")
    print("\ntamisd log:")
    for line in lab.tamisd_log_text().splitlines():
        print("  " + line[:220])
