#!/usr/bin/env python3
"""Writes the synthetic MIME fixtures in tests/data/mime/ (small, hand-made,
no third-party mail). Each NAME.eml has NAME.expect: the anomaly flags the
parser must raise on it, one per line. Re-run after changing a fixture."""
import base64, os

out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "mime")
os.makedirs(out, exist_ok=True)
H = b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: fixture\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <f@example.com>\r\nMIME-Version: 1.0\r\n"
fx = {}
fx["plain"] = (H + b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello Bob, see you at 10.\r\n", [])
fx["unterminated_multipart"] = (H + b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart one\r\n--b1\r\nContent-Type: text/plain\r\n\r\npart two, no closing boundary\r\n", ["unterminated_multipart"])
fx["missing_boundary"] = (H + b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all\r\n", ["missing_boundary"])
fx["boundary_never_used"] = (H + b"Content-Type: multipart/alternative; boundary=\"zz\"\r\n\r\n--other\r\n\r\ntext\r\n", ["missing_boundary"])
fx["bad_base64"] = (H + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8*!gd29y#bGQ=\r\n", ["bad_base64"])
fx["bad_qp"] = (H + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nbroken =ZZ escape\r\n", ["bad_quoted_printable"])
fx["unknown_charset"] = (H + b"Content-Type: text/plain; charset=x-klingon-7\r\nContent-Transfer-Encoding: 8bit\r\n\r\nqapla\xff\xfe\r\n", ["unknown_charset"])
fx["bad_utf8_body"] = (H + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nok \xc3( bad\r\n", ["bad_charset_data"])
fx["undeclared_8bit"] = (b"From: a@example.com\r\nSubject: x\r\n\r\ncaf\xc3\xa9\r\n", ["undeclared_8bit"])
fx["invalid_utf8_header"] = (b"From: a@example.com\r\nSubject: caf\xe9 \xff\xfe\r\n\r\nbody\r\n", ["invalid_utf8_header"])
fx["nul_bytes"] = (H + b"Content-Type: text/plain\r\n\r\nbefore\x00after\r\n", ["nul_bytes"])
fx["bad_header_line"] = (b"From: a@example.com\r\nthis line has no colon\r\nSubject: x\r\n\r\nbody\r\n", ["bad_header_syntax"])
fx["duplicate_from"] = (b"From: a@example.com\r\nFrom: b@example.com\r\nSubject: x\r\n\r\nbody\r\n", ["duplicate_header"])
fx["bad_encoded_word"] = (b"From: a@example.com\r\nSubject: =?utf-8?B?!!!notbase64?=\r\n\r\nbody\r\n", ["bad_encoded_word"])
fx["mbox_from_line"] = (b"From alice@example.com Thu Nov 26 10:00:00 2026\n" + H.replace(b"\r\n", b"\n") + b"\nbody\n", [])
# 100-deep nesting
deep = H + b"Content-Type: multipart/mixed; boundary=\"d0\"\r\n\r\n"
tail = b""
for i in range(1, 101):
    deep += b"--d%d\r\nContent-Type: multipart/mixed; boundary=\"d%d\"\r\n\r\n" % (i - 1, i)
    tail = b"--d%d--\r\n" % (i - 1) + tail
deep += b"--d100\r\nContent-Type: text/plain\r\n\r\ninnermost\r\n--d100--\r\n" + tail
fx["nested_100"] = (deep, ["depth_limit"])
# 10,000 parts
many = H + b"Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
many += b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\n%d\r\n" % i for i in range(10000)) + b"--p--\r\n"
fx["parts_10000"] = (many, ["part_limit"])
# html with hidden text, a deceptive link and a form
html = b"<html><body><p>Dear customer</p><div style='display:none'>zqx words</div><a href='http://192.0.2.7/login'>https://www.paypal.com/</a><form action='http://192.0.2.7/p'><input name=pw></form></body></html>"
fx["html_phish"] = (H + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n", [])
# attachment: zip with an exe inside, base64
def zip_of(names):
    import io, zipfile
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for n in names: z.writestr(n, "x")
    return b.getvalue()
att = base64.encodebytes(zip_of(["invoice.exe"])).replace(b"\n", b"\r\n")
fx["zip_with_exe"] = (H + b"Content-Type: multipart/mixed; boundary=\"a\"\r\n\r\n--a\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--a\r\nContent-Type: application/zip; name=\"docs.zip\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"docs.zip\"\r\n\r\n" + att + b"--a--\r\n", [])
for name, (data, expect) in fx.items():
    with open(os.path.join(out, name + ".eml"), "wb") as f: f.write(data)
    with open(os.path.join(out, name + ".expect"), "w") as f: f.write("".join(e + "\n" for e in expect))
print(f"wrote {len(fx)} fixtures to {os.path.normpath(out)}")
