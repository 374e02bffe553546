#!/usr/bin/env python3
"""Hostile inputs at full size, each through the whole engine (`tamis scan
--json`, shipped config, rules and model) in its own process, with a bound on
time and on memory for each.

  tests/hostile/test_hostile.py TAMIS_BINARY

Per case: the process must exit 0 within its time bound (it is killed at the
bound), print one valid JSON verdict, show the anomaly flags that say which
limit held (or scan_timeout, when a slow sanitizer build reaches the scan
deadline first), and peak RSS (ru_maxrss of the child, from wait4) must stay
under the case's memory bound. The bounds are ceilings, not speed targets;
measured figures are printed (and are what bench/hostile.sh reports from a
Release build).

The RE2 case adds local rules in the shape that makes backtracking engines
explode, `^(a+)+$` (multi-line), `(x+x+)+y` and `(a|aa)+b`, to the rules and scans bodies of 0.25, 0.5,
1 and 2 MB of 'a': the time printed per size grows linearly.
"""
import base64
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

TAMIS = os.path.abspath(sys.argv[1]) if sys.argv[1] != "--gen" else None
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MB = 1024 * 1024
TIME_BOUND_S = 60        # per process, killed beyond (sanitizer builds are ~10x slower)
MEM_BOUND_MB = 1024      # peak RSS per process; the 50 MB input itself is read whole by `tamis scan`
MEM_BOUND_ASAN_MB = 3072 # ASan's shadow memory and quarantine


def head(subject, ctype="text/plain; charset=utf-8", extra=""):
    return (f"From: Mallory <m@example.org>\r\nTo: victim@example.net\r\nSubject: {subject}\r\n"
            f"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <hostile-{time.time_ns()}@example.org>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\n{extra}\r\n").encode()


def msg_50mb():
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. Visit http://spam.example/x\r\n"
    return head("fifty megabytes") + line * (50 * MB // len(line))


def header_million():
    return b"".join([b"Subject: header flood\r\n"] + [b"X-Flood-%d: v\r\n" % i for i in range(1_000_000)]) + b"\r\nbody\r\n"


def nested_10k():
    out = [head("nested", "multipart/mixed; boundary=b0")]
    for i in range(1, 10_000):
        out.append(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i))
    out.append(b"--b9999\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b9999--\r\n")
    return b"".join(out)


def parts_100k():
    out = [head("parts", "multipart/mixed; boundary=p")]
    out += [b"--p\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i for i in range(100_000)]
    out.append(b"--p--\r\n")
    return b"".join(out)


def line_20mb():
    return head("one line") + b"z" * (20 * MB) + b"\r\n"


def zip_bomb():
    # A zip inside a zip: the inner one holds 1 GiB of zeros deflated to about
    # 1 MB; the outer one also holds 5,000 tiny members. tamis reads member
    # names from the central directory (at most 100) and never inflates.
    buf = io.BytesIO()
    chunk = b"\0" * MB
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("zeros.bin", "w", force_zip64=True) as f:
            for _ in range(1024):
                f.write(chunk)
    inner = buf.getvalue()
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("layer.zip", inner)
        for i in range(5000):
            z.writestr(f"f{i}.txt", b"")
    data = base64.encodebytes(outer.getvalue())
    return (head("invoice", "multipart/mixed; boundary=z") + b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--z\r\nContent-Type: application/zip; name=bomb.zip\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=bomb.zip\r\n\r\n" + data + b"--z--\r\n")


def garbage_utf8():
    rnd = random.Random(7)
    junk = bytes(rnd.choice([0, 0xFF, 0xC3, 0x80, 0xED, 0xA0, 0xF4, 0x90, 0x00, 0x41, 0x0A, 0xE2, 0x82]) for _ in range(200_000))
    hdr = (b"From: \xff\xfe<\x00m@ex\xc3.org>\r\nTo: v@example.net\r\nSubject: =?utf-8?B?" + base64.b64encode(junk[:300]) +
           b"?= \x00\xff\xc3\r\nX-Bin: " + junk[:500].replace(b"\n", b"").replace(b"\r", b"") + b"\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"\xff\x00\"\r\n\r\n")
    body = (b"--\xff\x00\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + junk + b"\r\n"
            b"--\xff\x00\r\nContent-Type: text/html; charset=\xff\x00bogus\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"<a href=\"http://\xff\x00.example/\">=FF=00=ZZ</a>" + junk[:5000] + b"\r\n--\xff\x00--\r\n")
    return hdr + body


def urls_100k():
    text = b" ".join(b"http://host%d.example%d.com/p?%d" % (i, i % 97, i) for i in range(100_000))
    html = b"".join(b"<a href=\"https://h%d.example.net/\">x</a>" % i for i in range(100_000))
    return (head("links", "multipart/alternative; boundary=u") + b"--u\r\nContent-Type: text/plain\r\n\r\n" + text +
            b"\r\n--u\r\nContent-Type: text/html\r\n\r\n" + html + b"\r\n--u--\r\n")


# name, generator, anomaly flags of which at least one must be raised ("" = none required)
CASES = [
    ("message of 50 MB", msg_50mb, {"truncated"}),
    ("1,000,000 header lines", header_million, {"header_flood"}),
    ("MIME nested 10,000 deep", nested_10k, {"depth_limit"}),
    ("100,000 MIME parts", parts_100k, {"part_limit"}),
    ("one 20 MB line", line_20mb, {"truncated"}),
    ("zip bomb (zip in zip, 1 GiB of zeros, 5,000 members)", zip_bomb, set()),
    ("invalid UTF-8 and NULs everywhere", garbage_utf8, {"nul_bytes", "invalid_utf8_header", "bad_charset_data"}),
    ("100,000 URLs (text and HTML)", urls_100k, {"url_limit"}),
]


def run_scan(path, config=None):
    cmd = [TAMIS] + (["-c", config] if config else ["-c", os.path.join(REPO, "config", "tamis.yaml")]) + ["scan", "--json", path]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer_killed = False
    deadline = t0 + TIME_BOUND_S
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.send_signal(signal.SIGKILL)
            timer_killed = True
        time.sleep(0.01)
    wall = time.monotonic() - t0
    out, err = p.stdout.read(), p.stderr.read()
    rc = os.waitstatus_to_exitcode(status)
    return rc, out, err, wall, ru.ru_maxrss / 1024.0, timer_killed


def asan():
    r = subprocess.run(["ldd", TAMIS], capture_output=True, text=True)
    return "libasan" in r.stdout or "libclang_rt.asan" in r.stdout


def main():
    if sys.argv[1] == "--gen":
        with open(sys.argv[3], "wb") as f:
            f.write(globals()[sys.argv[2]]())
        return
    mem_bound = MEM_BOUND_ASAN_MB if asan() else MEM_BOUND_MB
    failures = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="tamis-hostile-") as d:
        for name, gen, expect in CASES:
            path = os.path.join(d, "m.eml")
            # Generated in a child process: Linux carries a parent's peak RSS
            # into a forked child's ru_maxrss, so this process stays small.
            subprocess.run([sys.executable, os.path.abspath(__file__), "--gen", gen.__name__, path], check=True)
            rc, out, err, wall, rss, killed = run_scan(path)
            problems = []
            if killed:
                problems.append(f"killed at the {TIME_BOUND_S} s bound")
            if rc != 0:
                problems.append(f"exit {rc}: {err.decode(errors='replace')[-500:]}")
            verdict = {}
            try:
                verdict = json.loads(out.decode("utf-8").splitlines()[0])
            except Exception as e:  # noqa: BLE001
                problems.append(f"no valid JSON verdict ({e}): {out[:200]!r}")
            flags = set(verdict.get("anomalies", []))
            if expect and not (flags & (expect | {"scan_timeout"})):
                problems.append(f"expected one of {sorted(expect)}, got {sorted(flags)}")
            if rss > mem_bound:
                problems.append(f"peak RSS {rss:.0f} MB over the {mem_bound} MB bound")
            size = os.path.getsize(path) / MB
            rows.append((name, size, wall, rss, verdict.get("action", "?"), sorted(flags)))
            print(f"{'FAIL' if problems else 'PASS'} {name}: {size:.1f} MB in, {wall:.2f} s, peak RSS {rss:.0f} MB, "
                  f"action {verdict.get('action', '?')}, anomalies {sorted(flags)}", flush=True)
            for pr in problems:
                print(f"    {pr}", flush=True)
            if problems:
                failures.append(name)

        # RE2 stays linear on a pattern that makes backtracking engines explode.
        cfgdir = os.path.join(d, "cfg")
        os.makedirs(os.path.join(cfgdir, "rules.d"))
        with open(os.path.join(cfgdir, "tamis.yaml"), "w") as f:
            f.write(f"rules:\n  paths: [{REPO}/rules]\nmodel:\n  path: {REPO}/models/default.json\n"
                    "limits:\n  max_scan_bytes: 4194304\n  max_text_bytes: 4194304\n  max_field_bytes: 4194304\n")
        with open(os.path.join(cfgdir, "rules.d", "evil.yaml"), "w") as f:
            f.write("rules:\n  - id: EVIL_NESTED_PLUS\n    target: body\n    pattern: '^(a+)+$'\n    flags: m\n    score: 0.1\n"
                    "  - id: EVIL_XX_Y\n    target: body\n    pattern: '(x+x+)+y'\n    score: 0.1\n"
                    "  - id: EVIL_ALT\n    target: body\n    pattern: '(a|aa)+b'\n    score: 0.1\n")
        times = []
        for size in (MB // 4, MB // 2, MB, 2 * MB):
            path = os.path.join(d, "re2.eml")
            with open(path, "wb") as f:
                f.write(head("regex") + b"a" * size + b"\r\n")
            rc, out, err, wall, rss, killed = run_scan(path, os.path.join(cfgdir, "tamis.yaml"))
            ok = rc == 0 and not killed
            v = json.loads(out.decode().splitlines()[0]) if ok and out else {}
            us = v.get("us", {})
            rules_us = us.get("rules") if isinstance(us, dict) else None
            times.append((size, wall, rules_us))
            hit = "EVIL_NESTED_PLUS" in [r.get("id", r) if isinstance(r, dict) else r for r in v.get("rules", [])]
            print(f"{'PASS' if ok else 'FAIL'} RE2 '^(a+)+$', '(x+x+)+y', '(a|aa)+b' on {size / MB:.2f} MB of 'a': "
                  f"{wall:.2f} s wall, rules stage {rules_us} us, peak RSS {rss:.0f} MB, ^(a+)+$ hit: {hit}", flush=True)
            if not ok:
                failures.append(f"re2 {size}")
            elif not hit and "scan_timeout" not in v.get("anomalies", []):
                print("    the nested-plus pattern should match a body of only 'a'", flush=True)
                failures.append(f"re2 {size} no hit")
    print(f"{len(CASES) + 4 - len(failures)}/{len(CASES) + 4} hostile-input checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
