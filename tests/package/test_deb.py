#!/usr/bin/env python3
"""The Debian package, installed and run as the systemd unit would run it.

  tests/package/test_deb.py DEB

Installs DEB with dpkg -i, runs the unit's ExecStartPre (tamis check-config)
and ExecStart (tamisd) command lines exactly as the installed unit file
writes them, as root like systemd would (tamisd drops to _tamis itself; these
containers have no systemd), points a private loopback Postfix at the
packaged socket /var/spool/postfix/tamis/tamis.sock, and checks:
  - the installed layout: binaries, conffile, _tamis user, socket directory
    and socket permissions, tamisd no longer root;
  - ham is delivered with X-Spam-Status: No and a message in the tag band is
    delivered tagged, with the shipped model and rules;
  - /metrics counters change after messages, and a failed reload is counted;
  - a conf.d override and a rules.d override (of a shipped rule, by id) each
    change behaviour after the unit's ExecReload; a broken conf.d or rules.d
    file is refused with file:line while tamisd keeps the old config;
  - dpkg --purge leaves no tamis file behind.
Needs root, Postfix and curl. Leaves the system as it found it (purges).
"""
import grp
import json
import os
import pwd
import re
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from tamis_postfix import RESULTS, Lab, check, free_port, header_values  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
UNIT = "/lib/systemd/system/tamis.service"
SOCK = "/var/spool/postfix/tamis/tamis.sock"


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def unit_commands():
    """ExecStartPre, ExecStart and ExecReload command lines of the installed unit."""
    out = {"ExecStartPre": [], "ExecStart": [], "ExecReload": []}
    with open(UNIT) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k in out:
                out[k].append(shlex.split(v))
    assert out["ExecStart"] and out["ExecStartPre"] and out["ExecReload"], out
    return out


def msg(subject, body="Hello Bob,\r\n\r\nsee you at lunch on Thursday as planned.\r\n\r\nAlice\r\n"):
    return (f"From: Alice <alice@example.org>\r\nTo: user@test.example\r\nSubject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}")


def find(lab, subject_part, n):
    for raw in lab.wait_delivered(n):
        for s in header_values(raw, "Subject"):
            if subject_part in s:
                return raw
    raise AssertionError(f"no delivered message with {subject_part!r} in its subject")


class Service:
    """tamisd started from the unit's ExecStart line; ExecReload on demand."""

    def __init__(self, cmds):
        self.cmds = cmds
        self.log_path = tempfile.mktemp(prefix="tamisd-pkg-", suffix=".log")
        self.proc = None

    def start(self):
        for pre in self.cmds["ExecStartPre"]:
            r = run(pre)
            assert r.returncode == 0, f"ExecStartPre {pre} failed: {r.stdout}{r.stderr}"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.cmds["ExecStart"][0], stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        Lab.wait_unix(SOCK, proc=self.proc)

    def reload(self):
        """The unit's ExecReload lines in order, as systemd runs them: stop at
        the first that fails. Returns (ok, output of the failing line)."""
        for cmd in self.cmds["ExecReload"]:
            cmd = [str(self.proc.pid) if a == "$MAINPID" else a for a in cmd]
            r = run(cmd)
            if r.returncode != 0:
                return False, r.stdout + r.stderr
        return True, ""

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.log_text())
            if m:
                return m
            time.sleep(0.1)
        raise AssertionError(f"log never matched {pattern!r}:\n{self.log_text()[-2000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def metrics(port):
    r = run(["curl", "-sf", f"http://127.0.0.1:{port}/metrics"])
    assert r.returncode == 0, f"curl failed: {r.returncode} {r.stderr}"
    out = {}
    for line in r.stdout.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    deb = os.path.abspath(sys.argv[1])
    if run(["dpkg", "-s", "tamis"]).returncode == 0:
        run(["dpkg", "--purge", "tamis"])
    r = run(["dpkg", "-i", deb])
    assert r.returncode == 0, r.stdout + r.stderr
    files = [l for l in run(["dpkg", "-L", "tamis"]).stdout.splitlines() if l.strip() and l != "/."]
    cmds = unit_commands()
    svc = Service(cmds)
    mport = free_port()

    def t_layout():
        for p in ("/usr/sbin/tamisd", "/usr/bin/tamis", "/usr/share/tamis/models/default.json",
                  "/usr/share/tamis/rules/10-headers.yaml", "/usr/share/man/man8/tamisd.8.gz",
                  "/usr/share/man/man1/tamis.1.gz", "/usr/share/man/man5/tamis.yaml.5.gz",
                  "/etc/tamis/conf.d", "/etc/tamis/rules.d"):
            assert os.path.exists(p), p
        conff = run(["dpkg-query", "-W", "-f=${Conffiles}", "tamis"]).stdout
        assert "/etc/tamis/tamis.yaml" in conff, conff
        pw = pwd.getpwnam("_tamis")
        st = os.stat(os.path.dirname(SOCK))
        assert st.st_uid == pw.pw_uid and st.st_gid == grp.getgrnam("postfix").gr_gid, st
        assert stat.S_IMODE(st.st_mode) == 0o750, oct(st.st_mode)
        assert cmds["ExecStart"][0][0] == "/usr/sbin/tamisd", cmds
        r = run(cmds["ExecStartPre"][0])
        assert r.returncode == 0 and "ok" in r.stdout.lower(), r.stdout + r.stderr

    check("dpkg -i installs binaries, shipped rules and model, man pages, the conffile, _tamis and the socket dir", t_layout)

    # Local settings the test needs: log to stderr (no syslog daemon here)
    # and the metrics endpoint. Both through conf.d, as an admin would.
    write("/etc/tamis/conf.d/00-test.yaml", f"milter:\n  log: stderr\n  metrics_port: {mport}\n")
    # A local rule scored so that the probe message lands mid tag band
    # (score = the message's own score + this rule's points; the model has no
    # feature for a local rule, so the rule adds exactly its points).
    probe = msg("Quarterly figures pkg-tag-probe")
    with tempfile.NamedTemporaryFile("wb", suffix=".eml", delete=False) as f:
        f.write(probe.encode())
        probe_path = f.name
    r = run(["/usr/bin/tamis", "scan", "--json", probe_path])
    assert r.returncode == 0, r.stderr
    base = json.loads(r.stdout.splitlines()[0])["score"]
    with open("/etc/tamis/tamis.yaml") as f:  # the shipped thresholds
        conf = f.read()
    tag = float(re.search(r"^\s+tag:\s*([0-9.]+)", conf, re.M).group(1))
    reject = float(re.search(r"^\s+reject:\s*([0-9.]+)", conf, re.M).group(1))
    write("/etc/tamis/rules.d/50-test.yaml",
          f"rules:\n  - id: LOCAL_PKG_PROBE\n    target: subject\n    pattern: 'pkg-tag-probe'\n"
          f"    score: {(tag + reject) / 2 - base:.3f}\n")

    try:
        svc.start()

        def t_privileges():
            with open(f"/proc/{svc.proc.pid}/status") as f:
                uids = [l for l in f if l.startswith(("Uid:", "Gid:"))]
            pw = pwd.getpwnam("_tamis")
            assert uids[0].split()[1:] == [str(pw.pw_uid)] * 4, uids
            st = os.stat(SOCK)
            assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
            assert st.st_gid == grp.getgrnam("postfix").gr_gid and st.st_uid == pw.pw_uid, st

        check("tamisd runs as _tamis (real, effective, saved) and its socket is _tamis:postfix 0660", t_privileges)

        with Lab(REPO, milter_socket=f"unix:{SOCK}") as lab:
            n = 0

            def t_ham_and_tag():
                nonlocal n
                m0 = metrics(mport)
                code, reply = lab.send(msg("lunch on thursday pkg-ham"))
                assert code == 250, (code, reply)
                n += 1
                raw = find(lab, "pkg-ham", n)
                st = header_values(raw, "X-Spam-Status")
                assert len(st) == 1 and st[0].startswith("No, score="), st
                code, reply = lab.send(probe)
                assert code == 250, (code, reply)
                n += 1
                raw = find(lab, "pkg-tag-probe", n)
                assert header_values(raw, "X-Spam-Flag") == ["YES"], header_values(raw, "X-Spam-Flag")
                assert header_values(raw, "Subject")[0].startswith("[SPAM] "), header_values(raw, "Subject")
                assert "LOCAL_PKG_PROBE" in header_values(raw, "X-Spam-Status")[0]
                m1 = metrics(mport)
                assert m1['tamis_messages_total{action="accept"}'] == m0['tamis_messages_total{action="accept"}'] + 1
                assert m1['tamis_messages_total{action="tag"}'] == m0['tamis_messages_total{action="tag"}'] + 1
                assert m1['tamis_rule_hits_total{rule="LOCAL_PKG_PROBE"}'] == 1, m1
                assert m1["tamis_scan_duration_seconds_count"] == m0["tamis_scan_duration_seconds_count"] + 2
                assert m1["tamis_snapshot_generation"] == 1

            check("installed service: ham delivered with X-Spam-Status: No, the probe delivered tagged; metrics count both",
                  t_ham_and_tag)

            def t_conf_d_override():
                nonlocal n
                write("/etc/tamis/conf.d/50-prefix.yaml", 'headers:\n  subject_prefix: "[pkg-local] "\n')
                ok, out = svc.reload()
                assert ok, out
                svc.wait_log(r"reload ok: generation 2")
                code, reply = lab.send(probe.replace("pkg-tag-probe", "pkg-tag-probe conf-d"))
                assert code == 250, (code, reply)
                n += 1
                raw = find(lab, "conf-d", n)
                assert header_values(raw, "Subject")[0].startswith("[pkg-local] "), header_values(raw, "Subject")
                m = metrics(mport)
                assert m["tamis_reloads_total"] == 1 and m["tamis_snapshot_generation"] == 2, m

            check("a conf.d override changes the subject prefix after the unit's ExecReload", t_conf_d_override)

            def t_rules_d_override():
                nonlocal n
                caps = msg("MAKE MONEY FAST FROM HOME NOW")
                code, reply = lab.send(caps)
                assert code == 250, ("before the override the shipped rule alone must not reject", code, reply)
                n += 1
                write("/etc/tamis/rules.d/60-caps.yaml", "rules:\n  - id: SUBJ_ALL_CAPS\n    score: 40\n")
                ok, out = svc.reload()
                assert ok, out
                svc.wait_log(r"reload ok: generation 3")
                code, reply = lab.send(caps)
                assert code == 550 and "5.7.1" in reply, (code, reply)
                assert metrics(mport)['tamis_rule_hits_total{rule="SUBJ_ALL_CAPS"}'] == 2

            check("a rules.d override of a shipped rule (by id) turns a delivered message into 550 5.7.1", t_rules_d_override)

            def t_broken_overrides():
                nonlocal n
                before = metrics(mport)
                write("/etc/tamis/conf.d/70-broken.yaml", "headers:\n  subject_prefx: oops\n")
                ok, out = svc.reload()
                assert not ok and "70-broken.yaml:2" in out, ("ExecReload must fail at check-config", out)
                # An admin who signals tamisd directly: tamisd refuses too.
                os.kill(svc.proc.pid, signal.SIGUSR1)
                svc.wait_log(r"reload failed, keeping generation 3: .*70-broken\.yaml:2")
                os.remove("/etc/tamis/conf.d/70-broken.yaml")
                write("/etc/tamis/rules.d/80-broken.yaml", "rules:\n  - id: BROKEN\n    target: subject\n    pattern: '(unclosed'\n    score: 1\n")
                os.kill(svc.proc.pid, signal.SIGUSR1)
                svc.wait_log(r"reload failed, keeping generation 3: .*80-broken\.yaml:\d+")
                os.remove("/etc/tamis/rules.d/80-broken.yaml")
                assert svc.proc.poll() is None, "tamisd died"
                m = metrics(mport)
                assert m["tamis_reload_failures_total"] == before["tamis_reload_failures_total"] + 2, m
                assert m["tamis_snapshot_generation"] == 3
                # Still the old config: the conf.d prefix and the rules.d score hold.
                code, reply = lab.send(probe.replace("pkg-tag-probe", "pkg-tag-probe still"))
                assert code == 250, (code, reply)
                n += 1
                raw = find(lab, "still", n)
                assert header_values(raw, "Subject")[0].startswith("[pkg-local] "), header_values(raw, "Subject")

            check("broken conf.d and rules.d files are refused with file:line; tamisd keeps running on the old config",
                  t_broken_overrides)
    finally:
        svc.stop()
        os.unlink(probe_path)

    def t_purge():
        r = run(["dpkg", "--purge", "tamis"])
        assert r.returncode == 0, r.stdout + r.stderr
        left = [p for p in files if os.path.exists(p) and not os.path.isdir(p)]
        left += [p for p in files if os.path.isdir(p) and ("tamis" in p)]
        left += [p for p in ("/etc/tamis", "/var/spool/postfix/tamis", UNIT) if os.path.exists(p)]
        assert not left, f"left behind: {sorted(set(left))}"

    check("dpkg --purge leaves no tamis file behind", t_purge)
    failed = [n for n, e in RESULTS if e]
    print(f"{len(RESULTS) - len(failed)}/{len(RESULTS)} package checks passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
