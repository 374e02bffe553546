"""A private, loopback-only Postfix instance with a tamisd in front of it.

Used by the end-to-end tests, the demo and the Postfix benchmark. Everything
lives under one temporary directory: Postfix's config, queue and data
directories, the delivered Maildir, tamisd's config, rules.d and log. Nothing
under /etc/postfix is touched; all traffic is on 127.0.0.1.

    with Lab(repo, milter=True) as lab:
        code, msg = lab.send(raw_bytes)
        lab.wait_delivered(1)
"""
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

MASTER_CF = """\
{smtp} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Lab:
    def __init__(self, repo, milter=True, tamis_yaml=None, rules_d=None, default_action="tempfail",
                 tamisd=None, keep=False, socket="unix", milter_socket=None, ipv6=False):
        self.repo = os.path.abspath(repo)
        self.milter = milter
        self.tamis_yaml = tamis_yaml
        self.rules_d = rules_d or {}
        self.default_action = default_action
        self.tamisd_bin = tamisd or os.environ.get("TAMISD") or os.path.join(self.repo, "build", "milter", "tamisd")
        self.keep = keep
        self.socket_kind = socket  # "unix" (as packaged) or "inet"
        self.tamisd = None
        # An already running milter (e.g. the installed package's): Postfix
        # points at it and the lab starts no tamisd of its own.
        self.milter_socket = milter_socket
        # Postfix with IPv6 too (inet_protocols = all: needs ::1), so that
        # XCLIENT accepts an IPv6 client address; smtpd listens on 127.0.0.1.
        self.ipv6 = ipv6

    # ---- setup ----
    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tamis-lab-")
        os.chmod(self.dir, 0o755)
        self.smtp_port = free_port()
        self.milter_port = free_port()
        self.conf = os.path.join(self.dir, "postfix")
        self.mail = os.path.join(self.dir, "mail")
        self.tamis_dir = os.path.join(self.dir, "tamis")
        for d in (self.conf, os.path.join(self.dir, "queue"), os.path.join(self.dir, "data"), self.mail,
                  os.path.join(self.dir, "log"), self.tamis_dir, os.path.join(self.tamis_dir, "rules.d")):
            os.makedirs(d, exist_ok=True)
        pf = pwd.getpwnam("postfix")
        nobody = pwd.getpwnam("nobody")
        os.chown(os.path.join(self.dir, "data"), pf.pw_uid, pf.pw_gid)
        os.chown(self.mail, nobody.pw_uid, nobody.pw_gid)
        # The unix socket's directory belongs to the postfix group, as in the
        # package: tamisd (started as root, running as nobody) hands the
        # socket to that group so smtpd, running as postfix, can connect.
        self.sock_dir = os.path.join(self.dir, "sock")
        os.makedirs(self.sock_dir, exist_ok=True)
        os.chown(self.sock_dir, 0, pf.pw_gid)
        os.chmod(self.sock_dir, 0o750)
        self.sock_path = os.path.join(self.sock_dir, "tamis.sock")
        self.write_tamis_config()
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(smtp=f"127.0.0.1:{self.smtp_port}"))
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "multi_instance_enable": "no",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "all" if self.ipv6 else "ipv4",
            "myhostname": "lab.tamis.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "virtual_mailbox_domains": "test.example",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": f"static:{nobody.pw_uid}",
            "virtual_gid_maps": f"static:{nobody.pw_gid}",
            "virtual_minimum_uid": "1",
            "default_transport": "error:no relay",
            "relay_transport": "error:no relay",
            "local_transport": "error:no local",
            "alias_maps": "",
            "alias_database": "",
            "maillog_file": os.path.join(self.dir, "log", "maillog"),
            "maillog_file_prefixes": self.dir,
            "local_header_rewrite_clients": "",
            "queue_run_delay": "10s",
            "minimal_backoff_time": "10s",
            "maximal_backoff_time": "20s",
            "smtputf8_enable": "no",
            "biff": "no",
            "smtpd_banner": "$myhostname ESMTP",
            "default_process_limit": "100",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "milter_protocol": "6",
            "milter_default_action": self.default_action,
            # Tests set the client's address, name and HELO with XCLIENT
            # (test_delivered_copy.py); loopback only, as the rest.
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
        }
        if self.milter_socket:
            main["smtpd_milters"] = self.milter_socket
        elif self.milter:
            main["smtpd_milters"] = (f"unix:{self.sock_path}" if self.socket_kind == "unix"
                                     else f"inet:127.0.0.1:{self.milter_port}")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write(f"{k} = {v}\n")
        if self.milter and not self.milter_socket:
            self.start_tamisd()
        self.postfix("start")
        self.wait_port(self.smtp_port)
        return self

    def write_tamis_config(self):
        yaml = self.tamis_yaml or ""
        sock = f"unix:{self.sock_path}" if self.socket_kind == "unix" else f"inet:{self.milter_port}@127.0.0.1"
        base = (f"rules:\n  paths: [{self.repo}/rules]\n  local_dir: rules.d\n"
                f"milter:\n  socket: \"{sock}\"\n  log: stderr\n  user: nobody\n"
                f"model:\n  path: {self.repo}/models/default.json\n")
        with open(os.path.join(self.tamis_dir, "tamis.yaml"), "w") as f:
            f.write(base)
        # The test's own settings are a conf.d layer, merged over the base as
        # a site's would be (maps merge, scalars and lists replace).
        if yaml:
            os.makedirs(os.path.join(self.tamis_dir, "conf.d"), exist_ok=True)
            with open(os.path.join(self.tamis_dir, "conf.d", "50-test.yaml"), "w") as f:
                f.write(yaml)
        for name, text in self.rules_d.items():
            self.write_rule(name, text)

    def write_rule(self, name, text):
        path = os.path.join(self.tamis_dir, "rules.d", name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def start_tamisd(self):
        self.tamisd_log = os.path.join(self.dir, "log", "tamisd.log")
        logf = open(self.tamisd_log, "a")
        self.tamisd = subprocess.Popen([self.tamisd_bin, "-c", os.path.join(self.tamis_dir, "tamis.yaml")],
                                       stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        if self.socket_kind == "unix":
            self.wait_unix(self.sock_path, proc=self.tamisd)
        else:
            self.wait_port(self.milter_port, proc=self.tamisd)

    def stop_tamisd(self):
        if self.tamisd and self.tamisd.poll() is None:
            self.tamisd.send_signal(signal.SIGTERM)
            try:
                self.tamisd.wait(10)
            except subprocess.TimeoutExpired:
                self.tamisd.kill()
                self.tamisd.wait()
        self.tamisd = None

    def reload_tamisd(self):
        self.tamisd.send_signal(signal.SIGUSR1)

    def reload_and_wait(self, sig=signal.SIGUSR1, timeout=60):
        """Signals a reload and waits for its log line (ok or failed); returns the
        log written since the signal. A reload compiles every rule: seconds
        under ASan on a busy machine."""
        start = len(self.tamisd_log_text())
        self.tamisd.send_signal(sig)
        end = time.time() + timeout
        while time.time() < end:
            new = self.tamisd_log_text()[start:]
            if "reload ok: generation" in new or "reload failed" in new:
                return new
            if self.tamisd.poll() is not None:
                raise AssertionError(f"tamisd exited on signal {sig}: " + self.tamisd_log_text()[-600:])
            time.sleep(0.1)
        raise AssertionError(f"no reload log line within {timeout} s: " + self.tamisd_log_text()[-600:])

    def postfix(self, *args):
        subprocess.run(["postfix", "-c", self.conf, *args], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def postconf(self, setting):
        subprocess.run(["postconf", "-c", self.conf, "-e", setting], check=True)
        self.postfix("reload")
        time.sleep(1.5)

    @staticmethod
    def _wait(connect, what, proc=None, timeout=20):
        """Polls until connect() succeeds, or the process dies, or time runs out."""
        end = time.time() + timeout
        while time.time() < end:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before listening on {what}")
            try:
                connect()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listening on {what} after {timeout}s")

    @classmethod
    def wait_port(cls, port, proc=None, timeout=20):
        cls._wait(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(), f"127.0.0.1:{port}", proc, timeout)

    @classmethod
    def wait_unix(cls, path, proc=None, timeout=20):
        def connect():
            with socket.socket(socket.AF_UNIX) as c:
                c.connect(path)
        cls._wait(connect, path, proc, timeout)

    def __exit__(self, *exc):
        try:
            self.postfix("stop")
        except Exception:
            pass
        self.stop_tamisd()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- mail ----
    def send(self, raw, mail_from="sender@example.org", rcpts=("user@test.example",), timeout=60):
        """Sends one message over SMTP; returns (code, reply) of the DATA phase."""
        if isinstance(raw, str):
            raw = raw.encode()
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=timeout) as s:
            s.ehlo("client.example.org")
            code, resp = s.mail(mail_from)
            if code != 250:
                return code, resp.decode(errors="replace")
            for r in rcpts:
                code, resp = s.rcpt(r)
                if code not in (250, 251):
                    return code, resp.decode(errors="replace")
            code, resp = s.data(raw)
            return code, resp.decode(errors="replace")

    def delivered(self):
        """Delivered messages as bytes, oldest first."""
        d = os.path.join(self.mail, "inbox", "new")
        if not os.path.isdir(d):
            return []
        files = sorted(os.listdir(d), key=lambda f: os.stat(os.path.join(d, f)).st_mtime_ns)
        out = []
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                out.append(fh.read())
        return out

    def wait_delivered(self, n, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            got = self.delivered()
            if len(got) >= n:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{len(self.delivered())} messages delivered, expected {n}")

    def tamisd_log_text(self):
        with open(self.tamisd_log, errors="replace") as f:
            return f.read()


def header_values(raw, name):
    """Values of a header in a delivered message (unfolded)."""
    head = raw.split(b"\n\n", 1)[0].decode(errors="replace")
    lines, cur = [], None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur += " " + line.strip()
            continue
        if cur is not None:
            lines.append(cur)
        cur = line
    if cur is not None:
        lines.append(cur)
    out = []
    for l in lines:
        k, _, v = l.partition(":")
        if k.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def corpus_messages(corpus, n):
    """The first n messages of a corpus (sorted paths, labels.tsv order by
    kind interleaved), without a leading mbox "From " line."""
    import random
    paths = []
    with open(os.path.join(corpus, "labels.tsv")) as f:
        for line in f:
            label, rel = line.rstrip("\n").split("\t")
            paths.append(os.path.join(corpus, rel))
    random.Random(42).shuffle(paths)
    out = []
    for p in paths[:n]:
        with open(p, "rb") as f:
            raw = f.read()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1]
        out.append((p, raw))
    return out


def smtp_connect(lab):
    """A client SMTP session to the lab's Postfix, greeted."""
    import smtplib
    s = smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=120)
    s.ehlo("load.example.org")
    return s


def smtp_transaction(s, raw, rcpt="user@test.example", mail_from="sender@example.org"):
    """MAIL, RCPT, DATA on an open session. Returns (code, reply text, seconds
    the DATA phase took); a refused MAIL or RCPT returns its code after RSET.
    Raises smtplib.SMTPException or OSError when the connection breaks."""
    code, resp = s.mail(mail_from)
    if code == 250:
        code, resp = s.rcpt(rcpt)
    lat = 0.0
    if code in (250, 251):
        t0 = time.perf_counter()
        code, resp = s.data(raw)
        lat = time.perf_counter() - t0
    else:
        s.rset()
    return code, resp.decode(errors="replace"), lat


def smtp_close(s, quit=False):
    """Closes a session (QUIT first if asked), ignoring errors; returns None."""
    if s is not None:
        try:
            s.quit() if quit else s.close()
        except Exception:
            pass
    return None


def send_many(lab, messages, clients=8, rcpt="user@test.example"):
    """Sends (name, raw) messages from `clients` threads, one SMTP connection
    each (reconnecting after errors). Returns a list of dicts with name, code,
    reply, queue id and the DATA-phase latency in seconds, in input order."""
    import queue
    import smtplib
    import threading
    work = queue.Queue()
    for i, m in enumerate(messages):
        work.put((i, m))
    results = [None] * len(messages)

    def worker():
        s = None
        while True:
            try:
                i, (name, raw) = work.get_nowait()
            except queue.Empty:
                break
            for attempt in range(3):
                try:
                    if s is None:
                        s = smtp_connect(lab)
                    code, resp, lat = smtp_transaction(s, raw, rcpt)
                    qid = resp.split("queued as ")[1].strip() if "queued as " in resp else ""
                    results[i] = {"name": name, "code": code, "reply": resp, "queue_id": qid, "latency": lat}
                    break
                except (smtplib.SMTPException, OSError) as e:
                    s = smtp_close(s)
                    results[i] = {"name": name, "code": -1, "reply": str(e), "queue_id": "", "latency": 0.0}
        smtp_close(s, quit=True)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


# A malformed MIME message's body and headers (broken base64, unknown
# charset, unterminated HTML, no closing boundary): the end-to-end tests
# check it is delivered and scored, not lost.
MALFORMED_BODY = ("--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8*!!gd29y\r\n"
                  "--b1\r\nContent-Type: text/html; charset=x-unknown\r\n\r\n<p>unterminated")
MALFORMED_HEADERS = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n"

RESULTS = []


def summary():
    """Prints how many checks passed and failed; returns the exit code."""
    failed = sum(1 for _, err in RESULTS if err)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    return 1 if failed else 0


def check(name, fn, *args):
    """Runs one named check of a test script: prints PASS or FAIL with the
    traceback, and records it in RESULTS (for the script's summary and exit code)."""
    import traceback
    try:
        fn(*args)
        RESULTS.append((name, None))
        print(f"PASS {name}", flush=True)
    except Exception:
        RESULTS.append((name, traceback.format_exc()))
        print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
