#!/usr/bin/env python3
"""End-to-end tests: a real Postfix (Debian package) on loopback, with its own
config and queue under a temporary directory, smtpd_milters pointing at a
tamisd this test starts, and real SMTP from Python's smtplib. Checked by
reading what Postfix delivered (Maildir) and what the SMTP client was told.

Run as root (Postfix's private instance needs it): tests/integration/test_postfix.py [REPO]
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tamis_postfix import MALFORMED_BODY, MALFORMED_HEADERS, Lab, check, header_values, summary  # noqa: E402

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))

# Deterministic scores: model off, thresholds 6/12, two test rules on the subject.
CONFIG = "model:\n  enabled: false\nthresholds:\n  tag: 6\n  reject: 12\n"
RULES = {"test.yaml": """rules:
  - id: TEST_TAG_BAND
    target: subject
    pattern: 'tamis-test-tag'
    score: 7
  - id: TEST_REJECT_BAND
    target: subject
    pattern: 'tamis-test-reject'
    score: 20
"""}


def msg(subject, body="Hello, this is a test message.\r\n", extra=""):
    return (f"From: Alice <alice@example.org>\r\nTo: user@test.example\r\nSubject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n{extra}\r\n{body}")


def find(delivered, subject_part):
    for raw in delivered:
        for s in header_values(raw, "Subject"):
            if subject_part in s:
                return raw
    return None




def t_ham(lab):
    code, reply = lab.send(msg("lunch on thursday ham-1", extra="X-Spam-Status: Yes, score=99 forged\r\nX-Spam-Flag: YES\r\n"))
    assert code == 250, (code, reply)
    raw = find(lab.wait_delivered(1), "ham-1")
    assert raw, "ham not delivered"
    st = header_values(raw, "X-Spam-Status")
    assert len(st) == 1 and st[0].startswith("No, score="), st
    assert header_values(raw, "X-Spam-Flag") == [], "forged X-Spam-Flag kept"


def t_tag(lab):
    n = len(lab.delivered())
    code, reply = lab.send(msg("offer tamis-test-tag"))
    assert code == 250, (code, reply)
    raw = find(lab.wait_delivered(n + 1), "tamis-test-tag")
    assert raw, "tagged message not delivered"
    assert header_values(raw, "X-Spam-Flag") == ["YES"], header_values(raw, "X-Spam-Flag")
    st = header_values(raw, "X-Spam-Status")
    assert len(st) == 1 and st[0].startswith("Yes, score=") and "TEST_TAG_BAND" in st[0], st
    assert header_values(raw, "Subject")[0].startswith("[SPAM] "), header_values(raw, "Subject")
    assert header_values(raw, "X-Spam-Score"), "no X-Spam-Score"
    assert any("TEST_TAG_BAND" in r for r in header_values(raw, "X-Tamis-Report")), header_values(raw, "X-Tamis-Report")


def t_reject(lab):
    n = len(lab.delivered())
    code, reply = lab.send(msg("buy now tamis-test-reject"))
    assert code == 550, (code, reply)
    assert "5.7.1" in reply and "ref " in reply, reply
    time.sleep(1.5)
    assert find(lab.delivered(), "tamis-test-reject") is None, "rejected message was delivered"
    assert len(lab.delivered()) == n
    ref = reply.split("ref ")[1].rstrip(")")
    assert f"ref={ref}" in lab.tamisd_log_text(), "the reference in the reply is not in the log"


def t_malformed(lab):
    n = len(lab.delivered())
    code, reply = lab.send(msg("broken mime malformed-1", body=MALFORMED_BODY, extra=MALFORMED_HEADERS))
    assert code == 250, (code, reply)
    raw = find(lab.wait_delivered(n + 1), "malformed-1")
    assert raw, "malformed message lost"
    assert header_values(raw, "X-Spam-Status"), "malformed message not scored"


def t_two_messages_one_connection(lab):
    import smtplib
    n = len(lab.delivered())
    with smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=30) as s:
        s.ehlo("client.example.org")
        s.sendmail("a@example.org", ["user@test.example"], msg("conn-a first").encode())
        try:
            s.sendmail("a@example.org", ["user@test.example"], msg("conn-b tamis-test-reject").encode())
            raise AssertionError("second message was not rejected")
        except smtplib.SMTPDataError as e:
            assert e.smtp_code == 550
        s.sendmail("a@example.org", ["user@test.example"], msg("conn-c third").encode())
    got = lab.wait_delivered(n + 2)
    assert find(got, "conn-a") and find(got, "conn-c") and not find(got, "conn-b")


def t_milter_down(lab):
    lab.stop_tamisd()
    code, reply = lab.send(msg("while tamisd is down"))
    assert code == 451 and "4.7.1" in reply, (code, reply)  # milter_default_action = tempfail
    lab.postconf("milter_default_action = accept")
    n = len(lab.delivered())
    code, reply = lab.send(msg("accepted-unfiltered while down"))
    assert code == 250, (code, reply)
    raw = find(lab.wait_delivered(n + 1), "accepted-unfiltered")
    assert raw and header_values(raw, "X-Spam-Status") == [], "mail passed a stopped tamisd with headers?"
    lab.postconf("milter_default_action = tempfail")
    lab.start_tamisd()


def t_reload_keeps_old_rules_on_error(lab):
    lab.write_rule("broken.yaml", "rules:\n  - id: BROKEN\n    target: subject\n    pattern: '(unclosed'\n    score: 1\n")
    log = lab.reload_and_wait()
    assert "reload failed" in log and "broken.yaml:2" in log, log[-600:]
    code, reply = lab.send(msg("still rejects tamis-test-reject"))
    assert code == 550, (code, reply)
    os.remove(os.path.join(lab.tamis_dir, "rules.d", "broken.yaml"))
    lab.write_rule("zz-raise.yaml", "rules:\n  - id: TEST_TAG_BAND\n    score: 30\n")
    log = lab.reload_and_wait()
    assert "reload ok: generation" in log, log[-600:]
    code, reply = lab.send(msg("now rejected tamis-test-tag"))
    assert code == 550, (code, reply)
    os.remove(os.path.join(lab.tamis_dir, "rules.d", "zz-raise.yaml"))
    # SIGHUP reloads too (the conventional signal); tamisd keeps running.
    log = lab.reload_and_wait(signal.SIGHUP)
    assert lab.tamisd.poll() is None, "tamisd exited on SIGHUP"
    assert "reload ok: generation" in log, log[-600:]
    code, reply = lab.send(msg("back to tagging tamis-test-tag"))
    assert code == 250, (code, reply)


def t_quarantine(lab):
    import json
    import subprocess
    conf_d = os.path.join(lab.tamis_dir, "conf.d")
    os.makedirs(conf_d, exist_ok=True)
    layer = os.path.join(conf_d, "60-quarantine.yaml")
    with open(layer, "w") as f:
        f.write("reject_action: quarantine\n")
    try:
        log = lab.reload_and_wait()
        assert "reload ok: generation" in log, log[-600:]
        n = len(lab.delivered())
        code, reply = lab.send(msg("held tamis-test-reject"))
        assert code == 250, (code, reply)
        # Postfix puts the message on its hold queue and does not deliver it
        end = time.time() + 20
        held = []
        while not held and time.time() < end:
            out = subprocess.run(["postqueue", "-c", lab.conf, "-j"], capture_output=True, text=True, check=True).stdout
            held = [m for m in map(json.loads, out.splitlines()) if m["queue_name"] == "hold"]
            time.sleep(0.2)
        assert len(held) == 1, out
        time.sleep(1.5)
        assert len(lab.delivered()) == n and find(lab.delivered(), "held tamis-test-reject") is None
        subprocess.run(["postsuper", "-c", lab.conf, "-d", held[0]["queue_id"], "hold"], check=True,
                       stderr=subprocess.DEVNULL)
    finally:
        os.remove(layer)
        assert "reload ok: generation" in lab.reload_and_wait()


def t_log_line(lab):
    log = lab.tamisd_log_text()
    lines = [l for l in log.splitlines() if "action=" in l]
    assert lines, log
    for l in lines:
        for key in ("queue_id=", "client=", "from=<", "rcpts=", "size=", "action=", "score=", "gen=", "reasons=", "us="):
            assert key in l, (key, l)


def main():
    with Lab(REPO, tamis_yaml=CONFIG, rules_d=RULES) as lab:
        check("a ham message is delivered with X-Spam-Status: No and forged X-Spam-* removed", t_ham, lab)
        check("a message in the tag band is delivered with spam headers and the subject prefix", t_tag, lab)
        check("a message above the reject threshold gets 550 5.7.1 at end of DATA and is not delivered", t_reject, lab)
        check("a malformed MIME message is delivered, not lost", t_malformed, lab)
        check("two messages on one connection are judged apart", t_two_messages_one_connection, lab)
        check("an invalid rule file on SIGUSR1 keeps the old rules; a valid one applies; SIGHUP reloads too", t_reload_keeps_old_rules_on_error, lab)
        check("with reject_action: quarantine, the message goes to Postfix's hold queue", t_quarantine, lab)
        check("with tamisd stopped, Postfix follows milter_default_action", t_milter_down, lab)
        check("one log line per message with queue id, client, sender, rcpts, size, action, score", t_log_line, lab)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
