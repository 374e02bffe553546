#!/usr/bin/env python3
"""End-to-end tests with a real Sendmail (Debian 12's 8.17) on loopback.

Debian's sendmail packages conflict with Postfix, so scripts/install-deps.sh
unpacks them (sendmail-bin, sendmail-cf) under
/var/cache/tamis-tests/sendmail instead of installing them. This test builds
a private sendmail.cf with m4 (queue, pid file and everything else in a
temporary directory, daemon on 127.0.0.1 at a free port, one
INPUT_MAIL_FILTER pointing at a tamisd the test starts), runs Sendmail in
the foreground, and sends real SMTP with smtplib. Sendmail only queues
(DeliveryMode=queue, no queue runner): what tamisd did is read from the
queued message's qf (headers) and df (body) files.

Sendmail refuses to start while the host's own name is unqualified, and
looks for it in DNS. So the test runs itself in namespaces of its own
(unshare -n -u -m): a host name relay.test.example, a network with only a
loopback interface, on which the client sends from a public address
(198.51.100.7), and a private /etc/hosts that gives that address its
reverse name (and none to a second one, 198.51.100.8). Sendmail has no
XCLIENT; this is how tamisd sees a client at a public address, and the hop
it adds from the envelope is checked against the Received header Sendmail
writes. Nothing of the host changes. Where
namespaces are not permitted the client is 127.0.0.1 and Sendmail gets a
UTS namespace alone, or, if even that fails, runs under the host's name if
it is qualified.

Run as root: tests/integration/test_sendmail.py REPO TAMIS  (TAMISD in the environment)
"""
import glob
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tamis_postfix import MALFORMED_BODY, MALFORMED_HEADERS, Lab, check, free_port, header_values, summary  # noqa: E402

REPO = os.path.abspath(sys.argv[1])
TAMIS = sys.argv[2]
TAMISD = os.environ.get("TAMISD") or os.path.join(REPO, "build", "milter", "tamisd")
SENDMAIL_ROOT = os.environ.get("TAMIS_SENDMAIL_ROOT", "/var/cache/tamis-tests/sendmail/root")
HOSTNAME = "relay.test.example"
PUBLIC_CLIENT = ("198.51.100.7", "client.example.org")  # inside the test's network namespace only
NO_RDNS_CLIENT = "198.51.100.8"  # there too, without a reverse name (not in the private /etc/hosts)
IN_NAMESPACES = os.environ.get("TAMIS_SENDMAIL_NS") == "1"
CLIENT_ADDR = PUBLIC_CLIENT[0] if IN_NAMESPACES else "127.0.0.1"

# The shipped model scores every message; the two test rules put a message
# far into the tag band or past the reject threshold whatever the model says.
TAMIS_YAML = """\
rules: {{paths: [{repo}/rules], local_dir: rules.d}}
model: {{path: {repo}/models/default.json}}
thresholds: {{tag: 6, reject: 100}}
milter: {{socket: "inet:{port}@127.0.0.1", log: stderr}}
"""
RULES = """\
rules:
  - id: TEST_TAG_BAND
    target: subject
    pattern: 'tamis-test-tag'
    score: 30
  - id: TEST_REJECT_BAND
    target: subject
    pattern: 'tamis-test-reject'
    score: 200
"""

SENDMAIL_MC = """\
divert(-1)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
OSTYPE(`linux')dnl
define(`confCF_VERSION', `tamis-test')dnl
define(`confSERVICE_SWITCH_FILE', `{dir}/service.switch')dnl
define(`QUEUE_DIR', `{dir}/queue')dnl
define(`STATUS_FILE', `{dir}/statistics')dnl
define(`confPID_FILE', `{dir}/sendmail.pid')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`ALIAS_FILE', `')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDELIVERY_MODE', `queue')dnl
define(`confMILTER_LOG_LEVEL', `9')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
DAEMON_OPTIONS(`Port={smtp_port}, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(`tamis', `S=inet:{milter_port}@127.0.0.1, F=T, T=C:10s;S:30s;R:30s;E:1m')dnl
MAILER(`local')dnl
MAILER(`smtp')dnl
"""


class SendmailLab:
    def __enter__(self):
        binary = os.path.join(SENDMAIL_ROOT, "usr/libexec/sendmail/sendmail")
        cf = os.path.join(SENDMAIL_ROOT, "usr/share/sendmail/cf")
        if not os.access(binary, os.X_OK) or not os.path.isdir(cf):
            raise SystemExit(f"no unpacked Sendmail under {SENDMAIL_ROOT}: run scripts/install-deps.sh")
        self.dir = tempfile.mkdtemp(prefix="tamis-sendmail-")
        self.queue = os.path.join(self.dir, "queue")
        os.makedirs(os.path.join(self.dir, "rules.d"))
        os.makedirs(self.queue, mode=0o700)
        self.smtp_port, self.milter_port = free_port(), free_port()
        # tamisd, as the tests' Postfix lab starts it
        with open(os.path.join(self.dir, "tamis.yaml"), "w") as f:
            f.write(TAMIS_YAML.format(repo=REPO, port=self.milter_port))
        with open(os.path.join(self.dir, "rules.d", "test.yaml"), "w") as f:
            f.write(RULES)
        self.tamisd_log = os.path.join(self.dir, "tamisd.log")
        logf = open(self.tamisd_log, "a")
        self.tamisd = subprocess.Popen([TAMISD, "-c", os.path.join(self.dir, "tamis.yaml")], stdout=logf, stderr=logf,
                                       stdin=subprocess.DEVNULL)
        Lab.wait_port(self.milter_port, proc=self.tamisd, timeout=120)
        # Sendmail: a sendmail.cf of our own, the host table as the only name service
        with open(os.path.join(self.dir, "service.switch"), "w") as f:
            f.write("hosts files\naliases files\n")
        mc = SENDMAIL_MC.format(cf=cf, dir=self.dir, smtp_port=self.smtp_port, milter_port=self.milter_port)
        with open(os.path.join(self.dir, "sendmail.cf"), "w") as f:
            subprocess.run(["m4"], input=mc, text=True, stdout=f, check=True)
        self.sendmail_log = open(os.path.join(self.dir, "sendmail.log"), "a")
        cmd = f"exec {binary} -C {self.dir}/sendmail.cf -bD -d0.1"
        if IN_NAMESPACES:
            argv = ["sh", "-c", cmd]  # already named HOSTNAME
        elif subprocess.run(["unshare", "-u", "true"], stderr=subprocess.DEVNULL).returncode == 0:
            argv = ["unshare", "-u", "sh", "-c", f"hostname {HOSTNAME} && {cmd}"]
        elif "." in socket.gethostname():
            argv = ["sh", "-c", cmd]  # no namespaces here, but the host's name is qualified
        else:
            raise RuntimeError(f"cannot run Sendmail: host name {socket.gethostname()!r} is unqualified and "
                               "unshare -u (a UTS namespace to name it) is not permitted here")
        self.mta = subprocess.Popen(argv, stdout=self.sendmail_log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            Lab.wait_port(self.smtp_port, proc=self.mta, timeout=30)
        except Exception:
            raise RuntimeError("Sendmail did not start: " + open(os.path.join(self.dir, "sendmail.log")).read()[-1500:])
        return self

    def __exit__(self, *exc):
        for p in (self.mta, self.tamisd):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("TAMIS_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def send(self, raw, sender="alice@example.org", source=CLIENT_ADDR, helo=True):
        """Sends one message from address `source` (without EHLO if not
        `helo`); returns (code, reply text, queue id or None)."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, local_hostname=PUBLIC_CLIENT[1], timeout=60,
                          source_address=(source, 0)) as s:
            if helo:
                s.ehlo()
            for step in (lambda: s.mail(sender), lambda: s.rcpt("user@" + HOSTNAME),
                         lambda: s.data(raw if isinstance(raw, bytes) else raw.encode())):
                try:
                    code, reply = step()
                except smtplib.SMTPDataError as e:
                    code, reply = e.smtp_code, e.smtp_error
                reply = reply.decode(errors="replace")
                if code >= 400:
                    break
        qid = reply.split()[1] if code == 250 else None
        return code, reply, qid

    def queued(self, qid):
        """The queued message as a mailbox would store it: the qf file's
        headers and the df file's body, LF line ends. The qf file keeps
        Return-Path as a macro for delivery to fill in; here it is the
        envelope sender (the qf file's S line), as local delivery writes it."""
        heads = []
        with open(os.path.join(self.queue, "qf" + qid), "rb") as f:
            for line in f.read().split(b"\n"):
                if line.startswith(b"S"):
                    sender = line[1:]
                elif line.startswith(b"H"):
                    heads.append(line[1:].split(b"?", 2)[2] if line.startswith(b"H?") else line[1:])
                elif line[:1] == b"\t" and heads:
                    heads[-1] += b"\n" + line
        heads = [b"Return-Path: " + sender if h.lower().startswith(b"return-path:") else h for h in heads]
        with open(os.path.join(self.queue, "df" + qid), "rb") as f:
            body = f.read()
        return b"\n".join(heads) + b"\n\n" + body

    def log(self):
        with open(self.tamisd_log, errors="replace") as f:
            return f.read()


def msg(subject, body="Hello, this is a test message.\r\n", extra=""):
    return (f"From: Alice <alice@example.org>\r\nTo: user@{HOSTNAME}\r\nSubject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n{extra}\r\n{body}")


def fixture(name):
    with open(os.path.join(REPO, "tests", "data", name), "rb") as f:
        return f.read()


def score_of(status):
    return float(status.split("score=")[1].split()[0])


def eval_score(lab, raw):
    path = os.path.join(lab.dir, "stored.eml")
    with open(path, "wb") as f:
        f.write(raw)
    with open(os.path.join(lab.dir, "labels.tsv"), "w") as f:
        f.write("ham\tstored.eml\n")
    scores = os.path.join(lab.dir, "scores.tsv")
    subprocess.run([TAMIS, "-c", os.path.join(lab.dir, "tamis.yaml"), "eval", "--labels",
                    os.path.join(lab.dir, "labels.tsv"), "--scores", scores], check=True, stdout=subprocess.DEVNULL)
    with open(scores) as f:
        return float(f.read().split("\t")[2])


def log_line(lab, qid):
    """tamisd's log line of the message Sendmail queued as `qid`."""
    line = [ln for ln in lab.log().splitlines() if f"queue_id={qid} " in ln]
    assert line, "Sendmail's queue id (macro i) is not in tamisd's log line"
    return line[0]


def assert_scored_as_stored(lab, stored):
    """`tamis eval` of the stored copy gives the score tamisd wrote into it (to its 0.01)."""
    st = header_values(stored, "X-Spam-Status")
    assert abs(eval_score(lab, stored) - score_of(st[0])) <= 0.0051, (eval_score(lab, stored), st[0])


def crlf(raw):
    return raw.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")


def t_ham(lab):
    raw = crlf(fixture("ham-today/dev-list.eml"))
    head, body = raw.split(b"\r\n\r\n", 1)
    raw = head + b"\r\nX-Spam-Status: Yes, score=99 forged\r\nX-Spam-Flag: YES\r\n\r\n" + body
    code, reply, qid = lab.send(raw)
    assert code == 250, (code, reply)
    stored = lab.queued(qid)
    st = header_values(stored, "X-Spam-Status")
    assert len(st) == 1 and st[0].startswith("No, score="), st
    assert header_values(stored, "X-Spam-Flag") == [], "forged X-Spam-Flag kept"
    line = log_line(lab, qid)
    # Sendmail adds its own Received header after the milter has seen the
    # message, as Postfix does: tamisd got no more bytes than the client sent
    # (folded lines arrive with LF, so a byte or two fewer), and the stored
    # copy, with that header on top, scores as tamisd scored it
    assert f" client={CLIENT_ADDR} " in line, line
    received = header_values(stored, "Received")
    assert received and f"by {HOSTNAME}" in received[0], received
    if IN_NAMESPACES:  # the relay's hop: from a public address with a reverse name
        assert f"({PUBLIC_CLIENT[1]} [{PUBLIC_CLIENT[0]}])" in received[0], received[0]
    assert len(received[0]) > 100
    size = int(line.split(" size=")[1].split()[0])
    assert len(raw) - 10 <= size <= len(raw), (size, len(raw))
    assert_scored_as_stored(lab, stored)


def t_no_rdns(lab):
    # Sendmail writes a client without a reverse name as "from HELO ([ip])",
    # where Postfix writes "unknown"; the stored copy must still count that
    # hop as tamisd counted the envelope's
    raw = crlf(fixture("ham-today/dev-list.eml"))
    code, reply, qid = lab.send(raw, source=NO_RDNS_CLIENT)
    assert code == 250, (code, reply)
    stored = lab.queued(qid)
    received = header_values(stored, "Received")
    assert f"{PUBLIC_CLIENT[1]} ([{NO_RDNS_CLIENT}])" in received[0] and "unknown" not in received[0], received[0]
    assert f" client={NO_RDNS_CLIENT} " in log_line(lab, qid)
    assert_scored_as_stored(lab, stored)


def t_no_helo(lab):
    # A client that never says HELO, with and without a reverse name. Sendmail
    # writes its name (or "[addr]") in the HELO place and adds an
    # X-Authentication-Warning below its Received header, which the milter
    # never sees; the stored copy must still score as tamisd scored it
    for source, name in ((PUBLIC_CLIENT[0], PUBLIC_CLIENT[1]), (NO_RDNS_CLIENT, f"[{NO_RDNS_CLIENT}]")):
        code, reply, qid = lab.send(crlf(fixture("ham-today/dev-list.eml")), source=source, helo=False)
        assert code == 250, (code, reply)
        stored = lab.queued(qid)
        received = header_values(stored, "Received")[0]
        assert received.startswith(f"from {name} ("), received
        warning = header_values(stored, "X-Authentication-Warning")
        assert warning and warning[0].startswith(f"{HOSTNAME}: ") and "didn't use HELO protocol" in warning[0], warning
        assert f" client={source} " in log_line(lab, qid)
        assert_scored_as_stored(lab, stored)


def t_tag(lab):
    code, reply, qid = lab.send(msg("offer tamis-test-tag"))
    assert code == 250, (code, reply)
    stored = lab.queued(qid)
    assert header_values(stored, "X-Spam-Flag") == ["YES"], header_values(stored, "X-Spam-Flag")
    st = header_values(stored, "X-Spam-Status")
    assert len(st) == 1 and st[0].startswith("Yes, score=") and "TEST_TAG_BAND" in st[0], st
    assert header_values(stored, "Subject")[0].startswith("[SPAM] "), header_values(stored, "Subject")
    assert any("TEST_TAG_BAND" in r for r in header_values(stored, "X-Tamis-Report"))


def t_reject(lab):
    before = set(glob.glob(os.path.join(lab.queue, "qf*")))
    code, reply, _ = lab.send(msg("buy now tamis-test-reject"))
    assert code == 550 and "5.7.1" in reply and "ref " in reply, (code, reply)
    assert set(glob.glob(os.path.join(lab.queue, "qf*"))) == before, "a rejected message was queued"
    ref = reply.split("ref ")[1].rstrip(")")
    assert f"ref={ref}" in lab.log(), "the reference in the reply is not in the log"


def t_malformed(lab):
    code, reply, qid = lab.send(msg("broken mime", body=MALFORMED_BODY, extra=MALFORMED_HEADERS))
    assert code == 250, (code, reply)
    assert header_values(lab.queued(qid), "X-Spam-Status"), "malformed message not scored"


def t_quarantine(lab):
    with open(os.path.join(lab.dir, "tamis.yaml"), "a") as f:
        f.write("reject_action: quarantine\n")
    start = len(lab.log())
    lab.tamisd.send_signal(signal.SIGUSR1)
    end = time.time() + 60
    while "reload ok: generation" not in lab.log()[start:]:
        assert time.time() < end and "reload failed" not in lab.log()[start:], lab.log()[start:]
        time.sleep(0.1)
    code, reply, qid = lab.send(msg("held tamis-test-reject"))
    assert code == 250, (code, reply)
    # Sendmail keeps a quarantined message as an hf file (not qf: no queue
    # run delivers it), with the reason on its q line
    held = os.path.join(lab.queue, "hf" + qid)
    assert os.path.exists(held) and not os.path.exists(os.path.join(lab.queue, "qf" + qid)), os.listdir(lab.queue)
    with open(held, "rb") as f:
        assert any(line.startswith(b"q") for line in f.read().split(b"\n")), "no quarantine reason"


def t_milter_down(lab):
    lab.tamisd.send_signal(signal.SIGTERM)
    lab.tamisd.wait(10)
    code, reply, _ = lab.send(msg("while tamisd is down"))
    assert code == 451, (code, reply)  # F=T: Sendmail tempfails while its filter is unavailable


def enter_namespaces():
    """Runs this script again in namespaces of its own (see the docstring), or
    returns if they are not permitted here."""
    if subprocess.run(["unshare", "-n", "-u", "-m", "true"], stderr=subprocess.DEVNULL).returncode != 0:
        print("note: no namespaces here: the client is 127.0.0.1", flush=True)
        return
    os.execvpe("unshare", ["unshare", "-n", "-u", "-m", sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
               dict(os.environ, TAMIS_SENDMAIL_NS="1"))


def set_up_namespaces():
    hosts = tempfile.NamedTemporaryFile("w", prefix="tamis-hosts-", delete=False)
    hosts.write(f"127.0.0.1 localhost\n{PUBLIC_CLIENT[0]} {PUBLIC_CLIENT[1]}\n")
    hosts.close()
    for cmd in (["mount", "--bind", hosts.name, "/etc/hosts"], ["ip", "link", "set", "lo", "up"],
                ["ip", "addr", "add", PUBLIC_CLIENT[0] + "/32", "dev", "lo"],
                ["ip", "addr", "add", NO_RDNS_CLIENT + "/32", "dev", "lo"], ["hostname", HOSTNAME]):
        subprocess.run(cmd, check=True)
    os.unlink(hosts.name)  # the bind mount keeps it


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (Sendmail's daemon needs it)")
    if IN_NAMESPACES:
        set_up_namespaces()
    else:
        enter_namespaces()
    with SendmailLab() as lab:
        check("ham is queued with X-Spam-Status: No, forged verdicts removed, scored as its stored copy", t_ham, lab)
        if IN_NAMESPACES:
            check("a client without a reverse name: its stored copy scores as tamisd scored it", t_no_rdns, lab)
            check("a client that never says HELO: its stored copy scores as tamisd scored it", t_no_helo, lab)
        else:
            print("note: no namespaces here: the client without a reverse name is not checked", flush=True)
        check("a message in the tag band gets the spam headers and the subject prefix", t_tag, lab)
        check("a message above the reject threshold gets 550 5.7.1 and is not queued", t_reject, lab)
        check("malformed MIME is queued and scored", t_malformed, lab)
        check("with reject_action: quarantine, Sendmail holds the message", t_quarantine, lab)
        check("with tamisd stopped, Sendmail follows the filter's F=T (tempfail)", t_milter_down, lab)
    sys.exit(summary())


if __name__ == "__main__":
    main()
