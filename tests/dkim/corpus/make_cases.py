#!/usr/bin/python3
"""An independent DKIM verification corpus for mxgate (RFC 6376, RFC 8301, RFC 8463,
results named as RFC 8601 2.7.1 allows).

    /usr/bin/python3 make_cases.py OUTDIR      (tests/dkim/corpus/run.sh makes a fresh one per run)

Writes OUTDIR/keys/ (openssl keys, reused when present), OUTDIR/cases/*.eml (CRLF),
OUTDIR/cases.json and OUTDIR/zone.txt (every key record, for fake_dns.py or
`python3 -m dnslib.zoneresolver`). Signing is done with dkimpy (Debian's python3-dkim);
tags are changed, where a case needs it, *before* the signature is computed, so every
signature is cryptographically consistent with what its tags say and only the defect
under test is present.

Each case: file, note, rfc (the text relied on), and sigs: one entry per
DKIM-Signature from the top of the message down, with d=, s=, and for each profile
("strict": allow_sha1 false, min_rsa_bits 1024; "lenient": allow_sha1 true,
min_rsa_bits 512) the expected result and the set of results the RFCs also allow
("ok_strict", "ok_lenient"; always contains the expected one). `dkimpy` is what
dkimpy's own verifier says about the same signature with the corpus's keys (a
reference point, not the expectation).
"""
import base64
import json
import os
import re
import subprocess
import sys
import time

import dkim
import dkim.crypto

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(OUT, "keys")
CASES = os.path.join(OUT, "cases")
DOMAIN = b"example.com"
NOW = int(time.time())


# --------------------------------------------------------------------------- keys

def openssl(*args, inp=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=inp).stdout


def make_key(name, kind):
    path = os.path.join(KEYS, name + ".pem")  # PKCS#8 PEM
    if not os.path.exists(path):
        if kind == "ed25519":
            openssl("genpkey", "-algorithm", "ED25519", "-out", path)
        else:
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % kind, "-out", path)
    if kind == "ed25519":
        der = openssl("pkey", "-in", path, "-outform", "DER")
        priv = base64.b64encode(der[-32:])  # PKCS#8 ends in the 32-byte seed dkimpy takes
        pub = openssl("pkey", "-in", path, "-pubout", "-outform", "DER")[-32:]  # raw key (RFC 8463 4)
        return {"kind": "ed25519", "priv": priv, "p": base64.b64encode(pub).decode()}
    priv = openssl("rsa", "-in", path, "-traditional")  # dkimpy parses PKCS#1 RSAPrivateKey PEM
    spki = openssl("rsa", "-in", path, "-pubout", "-outform", "DER")
    return {"kind": "rsa", "bits": kind, "priv": priv, "p": base64.b64encode(spki).decode()}


# --------------------------------------------------------------------------- signing

class Hooked(dkim.DKIM):
    """dkimpy's signer, with a hook that edits the tag list (and the header fields
    hashed) just before the signature is computed."""
    hook = None

    def gen_header(self, fields, include_headers, *rest, **kw):
        if self.hook:
            fields, include_headers = self.hook(list(fields), include_headers)
        return super().gen_header(fields, include_headers, *rest, **kw)


def set_tag(fields, tag, value):
    for i, (k, _) in enumerate(fields):
        if k == tag:
            if value is None:
                del fields[i]
            else:
                fields[i] = (k, value)
            return fields
    if value is not None:
        idx = [i for i, f in enumerate(fields) if f[0] == b"b"][0]
        fields.insert(idx, (tag, value))
    return fields


def crlf(text):
    if isinstance(text, str):
        text = text.encode("utf-8")
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def sign(message, key, selector, alg=None, canon="relaxed/relaxed", headers=None, length=False,
         identity=None, domain=DOMAIN, tags=None, hashed_headers=None):
    """Returns the DKIM-Signature field (CRLF-terminated) for `message` (bytes, CRLF).
    tags: {b"x": b"123", b"i": None (remove), ...} applied before signing.
    hashed_headers: the h= list to put in the signature and hash (bypasses dkimpy's
    'From must be signed' check for the negative case)."""
    if alg is None:
        alg = "ed25519-sha256" if key["kind"] == "ed25519" else "rsa-sha256"
    d = Hooked(message, signature_algorithm=alg.encode(), minkey=0)
    tags = dict(tags or {})

    def hook(fields, include):
        for k, v in tags.items():
            set_tag(fields, k, v)
        if hashed_headers is not None:
            include = tuple(h.lower().encode() for h in hashed_headers)
            set_tag(fields, b"h", b" : ".join(include))
        return fields, include
    d.hook = hook
    hdrs = headers or ["from", "to", "subject", "date", "message-id", "mime-version", "content-type"]
    if hashed_headers is not None and "from" not in hdrs:
        hdrs = ["from"] + hdrs
    # only sign fields dkimpy would not refuse; a field listed but absent is allowed
    return d.sign(selector.encode(), domain, key["priv"], identity=identity,
                  canonicalize=tuple(c.encode() for c in canon.split("/")),
                  include_headers=[h.encode() for h in hdrs], length=length)


# --------------------------------------------------------------------------- messages

def message(n, body="Hello,\n\nthis is a test message of the DKIM corpus.\n\nAlice\n",
            extra_headers="", subject=None, content_type="text/plain; charset=us-ascii", cte=None,
            blank_line=True):
    h = ("From: Alice Example <alice@example.com>\n"
         "To: Bob <bob@example.org>\n"
         "Subject: %s\n"
         "Date: Mon, 07 Dec 2026 10:00:00 +0000\n"
         "Message-ID: <case-%s@example.com>\n"
         "MIME-Version: 1.0\n"
         "Content-Type: %s\n" % (subject or "DKIM corpus case %s" % n, n, content_type))
    if cte:
        h += "Content-Transfer-Encoding: %s\n" % cte
    h += extra_headers
    if body is None:
        return crlf(h + ("\n" if blank_line else ""))
    return crlf(h + "\n" + body)


# --------------------------------------------------------------------------- corpus

def main():
    os.makedirs(KEYS, exist_ok=True)
    os.makedirs(CASES, exist_ok=True)
    for f in os.listdir(CASES):
        os.remove(os.path.join(CASES, f))
    k2048 = make_key("rsa2048", 2048)
    k1024 = make_key("rsa1024", 1024)
    k512 = make_key("rsa512", 512)
    ked = make_key("ed25519", "ed25519")
    kother = make_key("rsa2048-other", 2048)  # a key whose public half is published nowhere

    def rec(key, extra="", k=True):
        kt = ("k=%s; " % key["kind"]) if k else ""
        return "v=DKIM1; %s%sp=%s" % (kt, extra, key["p"])

    # selector -> TXT record text (None: not published; ("A", ip): only an A record)
    zone = {
        "r2048": rec(k2048),
        "r1024": rec(k1024),
        "r512": rec(k512),
        "ed": rec(ked),
        "hsha256": rec(k2048, "h=sha256; "),
        "hsha1": rec(k2048, "h=sha1; "),
        "semail": rec(k2048, "s=email; "),
        "sstar": rec(k2048, "s=*; "),
        "stlsrpt": rec(k2048, "s=tlsrpt; "),
        "ts": rec(k2048, "t=s; "),
        "ty": rec(k2048, "t=y; "),
        "kmismatch": "v=DKIM1; k=ed25519; p=%s" % ked["p"],
        "edasrsa": "v=DKIM1; p=%s" % ked["p"],
        "revoked": "v=DKIM1; k=rsa; p=",
        "badb64": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC!!not*base64!!",
        "badder": "v=DKIM1; k=rsa; p=" + base64.b64encode(b"this is not a DER SubjectPublicKeyInfo" * 3).decode(),
        "unknowntags": "v=DKIM1; k=rsa; n=notes here; foo=bar; zz=1; p=%s" % k2048["p"],
        "vnotfirst": "k=rsa; v=DKIM1; p=%s" % k2048["p"],
        "vdkim2": "v=DKIM2; k=rsa; p=%s" % k2048["p"],
        "nodata": ("A", "192.0.2.1"),
    }

    cases = []

    def add(name, data, sigs, note, rfc=""):
        """sigs: list of dicts with d, s, strict, lenient, optional ok_strict/ok_lenient."""
        fn = name + ".eml"
        with open(os.path.join(CASES, fn), "wb") as f:
            f.write(data)
        out = []
        for s in sigs:
            e = {"d": s["d"], "s": s["s"], "strict": s["strict"], "lenient": s.get("lenient", s["strict"])}
            e["ok_strict"] = sorted(set(s.get("ok_strict", s.get("ok", [])) + [e["strict"]]))
            e["ok_lenient"] = sorted(set(s.get("ok_lenient", s.get("ok", [])) + [e["lenient"]]))
            out.append(e)
        cases.append({"name": name, "file": "cases/" + fn, "domain": sigs[0]["d"] if sigs else None,
                      "expected": {"strict": [e["strict"] for e in out], "lenient": [e["lenient"] for e in out]},
                      "sigs": out, "note": note, "rfc": rfc})

    def S(sel, strict, lenient=None, d="example.com", **kw):
        r = {"d": d, "s": sel, "strict": strict, "lenient": lenient or strict}
        r.update(kw)
        return r

    # ---- canonicalization and algorithms
    for canon in ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"]:
        tag = canon.replace("/", "-")
        m = message("canon-" + tag)
        add("canon-%s-rsa2048" % tag, sign(m, k2048, "r2048", canon=canon) + m, [S("r2048", "pass")],
            "rsa-sha256 2048-bit key, c=%s" % canon)
        add("canon-%s-ed25519" % tag, sign(m, ked, "ed", canon=canon) + m, [S("ed", "pass")],
            "ed25519-sha256, c=%s" % canon, "RFC 8463 3")
    m = message("dual")
    s1 = sign(m, k2048, "r2048")
    s2 = sign(s1 + m, ked, "ed")
    add("dual-ed25519-rsa", s2 + s1 + m, [S("ed", "pass"), S("r2048", "pass")],
        "two signatures by one domain, Ed25519 on top of RSA (RFC 8463 appendix A style)", "RFC 8463 A.3")

    # canonicalization sensitivity (changes made after signing)
    m = message("refold", subject="A subject with  some words")
    sr = sign(m, k2048, "r2048", canon="relaxed/relaxed")
    ss = sign(m, k2048, "r2048", canon="simple/simple")
    m2 = m.replace(b"Subject: A subject with  some words", b"subject:   A subject with some\r\n \t words  ")
    add("hdr-refolded-relaxed", sr + m2, [S("r2048", "pass")],
        "Subject field name case, whitespace and folding changed in transit; relaxed header canon absorbs it",
        "RFC 6376 3.4.2")
    add("hdr-refolded-simple", ss + m2, [S("r2048", "fail")],
        "same change under simple header canon: header hash differs", "RFC 6376 3.4.1")
    mb = message("bodyws", body="line one\nline two\n")
    sr = sign(mb, k2048, "r2048", canon="relaxed/relaxed")
    ss = sign(mb, k2048, "r2048", canon="simple/simple")
    mb2 = mb.replace(b"line one\r\n", b"line   one \t\r\n") + b"\r\n\r\n"
    add("body-ws-changed-relaxed", sr + mb2, [S("r2048", "pass")],
        "inner whitespace runs, trailing whitespace and trailing empty lines added; relaxed body canon absorbs it",
        "RFC 6376 3.4.4")
    add("body-ws-changed-simple", ss + mb + b"\r\n\r\n", [S("r2048", "pass")],
        "trailing empty lines added under simple body canon: still ignored", "RFC 6376 3.4.3")
    add("body-ws-changed-simple-fail", ss + mb2, [S("r2048", "fail")],
        "whitespace inside a line changed under simple body canon: body hash mismatch", "RFC 6376 3.4.3")

    # ---- bodies (each under relaxed/relaxed and simple/simple)
    qp = ("Caf=C3=A9 au lait costs 3=3D three euros. This is a long quoted-printable line th=\n"
          "at continues after a soft line break, and another=\n"
          " one with a leading space.\n=3D=3D=3D end =3D=3D=3D\n")
    b64 = base64.encodebytes(bytes(range(256)) * 12).decode()
    multipart = ("This is a multi-part message in MIME format.\n\n--XYZ-boundary\n"
                 "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                 "See the attachment.\n\n--XYZ-boundary\n"
                 "Content-Type: application/octet-stream; name=\"data.bin\"\n"
                 "Content-Disposition: attachment; filename=\"data.bin\"\nContent-Transfer-Encoding: base64\n\n"
                 + b64 + "\n--XYZ-boundary--\n")
    bodies = [
        ("empty-with-blank", dict(body=None, blank_line=True), "header only, then the empty line, no body"),
        ("empty-no-blank", dict(body=None, blank_line=False), "header only, no empty line after it (no body at all)"),
        ("only-blank-lines", dict(body="\n\n\n\n"), "body of only empty lines (canonicalizes to CRLF / nothing)"),
        ("qp-soft-breaks", dict(body=qp, cte="quoted-printable", content_type="text/plain; charset=utf-8"),
         "quoted-printable with soft line breaks and =3D (hashed as sent, not decoded)"),
        ("multipart-base64", dict(body=multipart, content_type="multipart/mixed; boundary=\"XYZ-boundary\""),
         "multipart/mixed with a base64 attachment"),
        ("utf8-8bit", dict(body="Grüße aus Köln — 日本語のテキスト — emoji 🎉\nŁódź, Ελληνικά\n", cte="8bit",
                           content_type="text/plain; charset=utf-8"), "8-bit UTF-8 body"),
        ("long-lines", dict(body=("x" * 5000) + "\n" + ("word " * 2000) + "\nend\n"),
         "lines of 5000 and 10000 octets (over RFC 5322's 998; DKIM hashes them as they are)"),
        ("trailing-ws-lines", dict(body="text \nmore\t\n   \n\t\nlast line  \n"),
         "lines with trailing spaces/tabs and whitespace-only lines"),
        ("lone-dot-lines", dict(body="before\n.\n..\n.hidden\nafter\n.\n"),
         "lines that are a lone '.', '..' and start with '.' (the DATA terminator / dot-stuffing edge)"),
        ("no-final-crlf", dict(body="last line without a line end"),
         "body whose last line has no CRLF (simple canon adds one, relaxed too)"),
    ]
    for name, kw, note in bodies:
        m = message("body-" + name, **kw)
        for canon in ["relaxed/relaxed", "simple/simple"]:
            add("body-%s-%s" % (name, canon.split("/")[0]), sign(m, k2048, "r2048", canon=canon) + m,
                [S("r2048", "pass")], note + ", c=" + canon, "RFC 6376 3.4.3, 3.4.4")
    m = message("body-ed-multipart", body=multipart, content_type="multipart/mixed; boundary=\"XYZ-boundary\"")
    add("body-multipart-base64-ed25519", sign(m, ked, "ed") + m, [S("ed", "pass")], "multipart body, ed25519")

    # ---- l=
    m = message("len", body="The signed part.\n")
    s = sign(m, k2048, "r2048", length=True)
    add("len-exact", s + m, [S("r2048", "pass")], "l= equal to the canonical body length")
    add("len-appended", s + m + b"-- \r\nAppended by a mailing list, not signed.\r\n", [S("r2048", "pass")],
        "l= covers the original body; text appended after signing is outside l=: still verifies "
        "(RFC 6376 8.2 warns about it, but the signature is valid)", "RFC 6376 3.4.5, 8.2")
    body_len = len(dkim.canonicalization.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
                   .canonicalize_body(m.split(b"\r\n\r\n", 1)[1]))
    s = sign(m, k2048, "r2048", tags={b"l": str(body_len + 100).encode()})
    add("len-beyond-body", s + m, [S("r2048", "permerror", ok=["fail"])],
        "signer declared l= 100 octets more than the canonical body (bh= is over the whole body). "
        "RFC 6376 3.5 says the value MUST NOT be larger than the body; no verifier result is named. "
        "permerror (tag value violates the spec; unrecoverable) or fail are both defensible; "
        "a pass (hash min(l, body)) is not. dkimpy passes it.", "RFC 6376 3.5 l=, 8.2")
    m = message("lentrunc", body="First line of the signed body.\nSecond line of the signed body.\n")
    s = sign(m, k2048, "r2048", length=True)
    add("len-body-truncated", s + m[:-len(b"Second line of the signed body.\r\n")], [S("r2048", "fail", ok=["permerror"])],
        "signed with l= = whole body, body truncated in transit (shorter than l=): the signed octets are "
        "not there, so the body hash cannot match", "RFC 6376 3.5 l=, 6.1.3")

    # ---- h=
    m = message("hdrs")
    add("h-oversigned-from", sign(m, k2048, "r2048", headers=["from", "from", "to", "subject", "date"]) + m,
        [S("r2048", "pass")], "h=from:from:... (From listed twice: the second instance is the null string)",
        "RFC 6376 5.4.2")
    add("h-absent-field", sign(m, k2048, "r2048", headers=["from", "to", "subject", "reply-to", "cc"]) + m,
        [S("r2048", "pass")], "h= lists Reply-To and Cc, which the message does not have (hashed as null)",
        "RFC 6376 5.4")
    add("h-no-from", sign(m, k2048, "r2048", hashed_headers=["to", "subject", "date", "message-id"]) + m,
        [S("r2048", "permerror")],
        "From not in h= (signature otherwise valid over what h= says)",
        "RFC 6376 5.4 (From MUST be signed), 6.1.1 (MUST ignore, PERMFAIL (From field not signed))")
    s = sign(m, k2048, "r2048")
    add("h-tampered-subject", s + m.replace(b"Subject: DKIM corpus case hdrs", b"Subject: DKIM corpus case hdrs!"),
        [S("r2048", "fail")], "signed Subject changed after signing", "RFC 6376 6.1.3")
    add("body-tampered", s + m.replace(b"this is a test message", b"this is a TEST message"),
        [S("r2048", "fail")], "body changed after signing: body hash mismatch",
        "RFC 6376 6.1.3 (PERMFAIL (body hash did not verify))")
    add("h-added-unsigned-field", s + m.replace(b"MIME-Version: 1.0\r\n", b"MIME-Version: 1.0\r\nX-Mailing-List: added later\r\nReply-To: <list@example.net>\r\n"),
        [S("r2048", "pass")], "fields not in h= added after signing")
    add("h-added-from-not-oversigned", s + m.replace(b"To: Bob", b"From: Mallory <m@evil.example>\r\nTo: Bob"),
        [S("r2048", "pass", ok=["fail", "policy", "permerror"])],
        "a second From added above the signed one; h= lists from once, so the bottom-most From is the one "
        "signed and the signature is cryptographically valid. RFC 6376 8.15 lets verifiers treat such "
        "messages as suspect; pass is the computed result (dkimpy would fail it: it always adds one more from)",
        "RFC 6376 5.4.2, 8.15")

    # ---- key records
    m = message("keys")
    add("key-h-sha256-sig-sha1", sign(m, k2048, "hsha256", alg="rsa-sha1") + m,
        [S("hsha256", "policy", "permerror", ok_strict=["permerror", "fail"], ok_lenient=["fail"])],
        "key h=sha256, signature rsa-sha1. RFC 6376 6.1.2: key h= does not list the signature's hash -> "
        "MUST ignore the key, PERMFAIL (inappropriate hash algorithm) = permerror. In strict, rsa-sha1 is "
        "refused first under RFC 8301 (policy); either reason is correct",
        "RFC 6376 3.6.1 h=, 6.1.2; RFC 8301 3.1")
    add("key-h-sha1-sig-sha256", sign(m, k2048, "hsha1") + m, [S("hsha1", "permerror", ok=["fail"])],
        "key h=sha1 only, signature rsa-sha256: key does not allow the hash", "RFC 6376 6.1.2")
    add("key-s-email", sign(m, k2048, "semail") + m, [S("semail", "pass")], "key s=email", "RFC 6376 3.6.1 s=")
    add("key-s-star", sign(m, k2048, "sstar") + m, [S("sstar", "pass")], "key s=*", "RFC 6376 3.6.1 s=")
    add("key-s-tlsrpt", sign(m, k2048, "stlsrpt") + m, [S("stlsrpt", "permerror")],
        "key s=tlsrpt only: a verifier for email MUST ignore the record, so there is no key "
        "(PERMFAIL (no key for signature))", "RFC 6376 3.6.1 s=, 6.1.2; RFC 8460 3")
    add("key-t-s-i-subdomain", sign(m, k2048, "ts", identity=b"alice@mail.example.com") + m,
        [S("ts", "permerror", ok=["fail"])],
        "key t=s and i= in a subdomain of d=: with t=s the i= domain MUST equal d=. RFC 6376 names no "
        "PERMFAIL reason for it; the signature is not acceptable under its own key's terms: permerror "
        "(fail also defensible)", "RFC 6376 3.6.1 t=s, 3.10")
    add("key-t-s-i-same", sign(m, k2048, "ts", identity=b"alice@example.com") + m, [S("ts", "pass")],
        "control: key t=s and i= domain equal to d=", "RFC 6376 3.10")
    add("i-subdomain-no-t-s", sign(m, k2048, "r2048", identity=b"alice@mail.example.com") + m,
        [S("r2048", "pass")], "control: i= in a subdomain of d=, key without t=s (allowed by default)",
        "RFC 6376 3.5 i=, 3.10")
    s = sign(m, k2048, "ty")
    add("key-t-y", s + m, [S("ty", "pass")],
        "key t=y (testing): the result is still computed; 'treat as unsigned' is about local policy, "
        "not the result", "RFC 6376 3.6.1 t=y")
    add("key-t-y-tampered", s + m.replace(b"this is a test", b"this is a tested"), [S("ty", "fail")],
        "key t=y, body changed: fail as computed", "RFC 6376 3.6.1 t=y")
    add("key-k-ed25519-sig-rsa", sign(m, k2048, "kmismatch") + m, [S("kmismatch", "permerror")],
        "record k=ed25519, signature rsa-sha256: PERMFAIL (inappropriate key algorithm)", "RFC 6376 6.1.2")
    add("key-k-default-rsa-sig-ed25519", sign(m, ked, "edasrsa") + m, [S("edasrsa", "permerror")],
        "record without k= (so k=rsa) holding an Ed25519 key, signature ed25519-sha256", "RFC 6376 3.6.1 k=, 6.1.2")
    add("key-revoked", sign(m, k2048, "revoked") + m, [S("revoked", "permerror", ok=["fail"])],
        "empty p= (revoked): RFC 6376 says PERMFAIL (key revoked). RFC 8601 does not map PERMFAIL reasons; "
        "reading: key problems -> permerror, signature/hash mismatches -> fail. fail is defensible too "
        "(dkimpy and opendkim say fail)", "RFC 6376 3.6.1 p=, 6.1.2")
    add("key-missing-nxdomain", sign(m, k2048, "missing") + m, [S("missing", "permerror")],
        "no key record (NXDOMAIN): PERMFAIL (no key for signature)", "RFC 6376 6.1.2 step 3")
    add("key-missing-nodata", sign(m, k2048, "nodata") + m, [S("nodata", "permerror")],
        "selector name exists with an A record only (NODATA for TXT): no key", "RFC 6376 6.1.2")
    add("key-servfail", sign(m, k2048, "servfail") + m, [S("servfail", "temperror")],
        "key lookup answered SERVFAIL: TEMPFAIL (key unavailable)", "RFC 6376 6.1.2 step 2; RFC 8601 2.7.1")
    add("key-p-not-base64", sign(m, k2048, "badb64") + m, [S("badb64", "permerror")],
        "p= is not base64: PERMFAIL (key syntax error)", "RFC 6376 6.1.2")
    add("key-p-not-a-key", sign(m, k2048, "badder") + m, [S("badder", "permerror")],
        "p= is base64 of bytes that are not a key", "RFC 6376 6.1.2")
    add("key-unknown-tags", sign(m, k2048, "unknowntags") + m, [S("unknowntags", "pass")],
        "key record with unknown tags (n=, foo=, zz=): ignored", "RFC 6376 3.2 (unrecognized tags MUST be ignored)")
    add("key-v-not-first", sign(m, k2048, "vnotfirst") + m, [S("vnotfirst", "permerror")],
        "v=DKIM1 present but not the first tag: 3.6.1 says it MUST be first; 6.1.2 says a record that does "
        "not adhere to the format MUST be ignored -> PERMFAIL (key syntax error). Many verifiers (dkimpy) "
        "accept it anyway; the RFC leaves no choice", "RFC 6376 3.6.1 v=, 6.1.2")
    add("key-v-dkim2", sign(m, k2048, "vdkim2") + m, [S("vdkim2", "permerror")],
        "key record v=DKIM2: records beginning with another v= MUST be discarded", "RFC 6376 3.6.1 v=")

    # ---- RFC 8301: algorithms and key sizes
    m = message("algs")
    add("rsa-sha1-2048", sign(m, k2048, "r2048", alg="rsa-sha1") + m,
        [S("r2048", "policy", "pass", ok_strict=["permerror", "fail"])],
        "rsa-sha1 with a 2048-bit key: RFC 8301 says verifiers MUST NOT use rsa-sha1 and such signatures "
        "'have permanently failed evaluation'. Result name: policy (the ADMD refuses the algorithm; "
        "permerror/fail also defensible). Lenient (allow_sha1) deliberately departs: pass",
        "RFC 8301 3.1")
    add("rsa-1024", sign(m, k1024, "r1024") + m, [S("r1024", "pass")],
        "1024-bit RSA key: RFC 8301 3.2 requires verifiers to accept 1024..4096", "RFC 8301 3.2")
    add("rsa-512", sign(m, k512, "r512") + m,
        [S("r512", "policy", "pass", ok_strict=["permerror", "fail"])],
        "512-bit RSA key: verifiers MUST NOT consider signatures with keys under 1024 bits valid; "
        "lenient (min_rsa_bits 512) deliberately departs: pass", "RFC 8301 3.2")

    # ---- time tags
    m = message("times")
    add("x-expired", sign(m, k2048, "r2048", tags={b"t": str(NOW - 30 * 86400).encode(),
                                                       b"x": str(NOW - 20 * 86400).encode()}) + m,
        [S("r2048", "policy", ok=["permerror", "fail", "pass", "neutral"])],
        "x= 20 days in the past. RFC 6376 3.5: signatures MAY be considered invalid past x=; 6.1.1: verifiers "
        "MAY ignore it and return PERMFAIL (signature expired). The signature itself verifies, so RFC 8601's "
        "'policy' (some aspect not acceptable to the ADMD) fits best; permerror/fail follow 6.1.1's "
        "PERMFAIL; pass (not enforcing x=) is allowed by the MAY", "RFC 6376 3.5 x=, 6.1.1; RFC 8601 2.7.1")
    add("x-future", sign(m, k2048, "r2048", tags={b"x": str(NOW + 10 * 365 * 86400).encode()}) + m,
        [S("r2048", "pass")], "control: x= ten years ahead", "RFC 6376 3.5 x=")
    add("t-future", sign(m, k2048, "r2048", tags={b"t": str(NOW + 365 * 86400).encode()}) + m,
        [S("r2048", "policy", ok=["permerror", "fail", "pass", "neutral"])],
        "t= one year in the future (well beyond clock drift). RFC 6376 3.5: implementations MAY ignore "
        "signatures with a timestamp in the future; no result named. policy, as for x=; pass allowed",
        "RFC 6376 3.5 t=")

    # ---- several signatures
    m = message("multi")
    good = sign(m, k2048, "r2048")
    bad = sign(m, kother, "r1024")  # signed with a key that is not the one published at r1024
    add("multi-good-bad", bad + good + m, [S("r1024", "fail"), S("r2048", "pass")],
        "two signatures: the top one made with a different private key than the one published (fail), "
        "the lower one good (pass); each is reported on its own", "RFC 6376 6.1; RFC 8601 2.7.1")
    add("multi-good-missingkey", good + sign(m, k2048, "missing") + m, [S("r2048", "pass"), S("missing", "permerror")],
        "good signature on top, one with no key record below")

    # ---- signature tag defects
    m = message("tags")
    add("sig-i-outside-d", sign(m, k2048, "r2048", tags={b"i": b"alice@other.example"}) + m,
        [S("r2048", "permerror")], "i= not within d=: PERMFAIL (domain mismatch)",
        "RFC 6376 3.5 i=, 6.1.1")
    add("sig-d-invalid-chars", sign(m, k2048, "r2048", domain=b"example.com(.evil.example",
                                    tags={b"i": None}) + m,
        [S("r2048", "permerror", ok=["neutral"], d="example.com(.evil.example")],
        "d=example.com(.evil.example: not a domain name (a verifier that treats '(' as a comment start "
        "would find example.com's key and pass it)", "RFC 6376 3.5 d= (domain-name ABNF), 6.1.1")
    add("sig-d-underscore", sign(m, k2048, "r2048", domain=b"ex_ample.com", tags={b"i": None}) + m,
        [S("r2048", "permerror", ok=["neutral"], d="ex_ample.com")],
        "d= with '_' (not in the sub-domain ABNF; key not published either)", "RFC 6376 3.5 d=; RFC 5321 4.1.2")
    add("sig-no-bh", sign(m, k2048, "r2048", tags={b"bh": None}) + m,
        [S("r2048", "permerror", ok=["neutral"])], "required tag bh= missing: PERMFAIL (signature missing required tag)",
        "RFC 6376 3.5, 6.1.1")
    add("sig-no-h", sign(m, k2048, "r2048", tags={b"h": None}) + m,
        [S("r2048", "permerror", ok=["neutral"])], "required tag h= missing", "RFC 6376 3.5, 6.1.1")
    add("sig-unknown-a", sign(m, k2048, "r2048", tags={b"a": b"rsa-sha512"}) + m,
        [S("r2048", "permerror", ok=["neutral"])],
        "a=rsa-sha512 (not a registered algorithm): cannot be processed; permerror, or neutral (RFC 8601 "
        "2.7.1: signature 'not otherwise able to be processed')", "RFC 6376 3.5 a=, 6.1.1; RFC 8601 2.7.1")
    add("sig-v2", sign(m, k2048, "r2048", tags={b"v": b"2"}) + m,
        [S("r2048", "permerror", ok=["neutral"])], "v=2: PERMFAIL (incompatible version)", "RFC 6376 3.5 v=, 6.1.1")
    add("sig-unknown-tag", sign(m, k2048, "r2048", tags={b"zz": b"something"}) + m, [S("r2048", "pass")],
        "signature with an unknown tag zz= (signed): ignored", "RFC 6376 3.2, 3.5")
    add("sig-c-unknown", sign(m, k2048, "r2048", tags={b"c": b"relaxed/fancy"}) + m,
        [S("r2048", "permerror", ok=["neutral"])], "c=relaxed/fancy: unknown body canonicalization",
        "RFC 6376 3.5 c=, 6.1.1")

    # ---- zone
    lines = ["example.com. 300 IN SOA ns.example.com. admin.example.com. 1 3600 600 86400 60",
             "example.com. 300 IN NS ns.example.com."]
    for sel, r in zone.items():
        name = "%s._domainkey.example.com." % sel
        if isinstance(r, tuple):
            lines.append("%s 300 IN %s %s" % (name, r[0], r[1]))
            continue
        chunks = [r[i:i + 250] for i in range(0, len(r), 250)] or [""]  # TXT strings are at most 255 octets
        lines.append("%s 300 IN TXT %s" % (name, " ".join('"%s"' % c for c in chunks)))
    with open(os.path.join(OUT, "zone.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")

    # ---- dkimpy's own opinion, for reference
    def txt(name, timeout=5):
        sel = name.decode().split("._domainkey.")[0]
        if not name.decode().endswith("._domainkey.example.com.") or sel not in zone or isinstance(zone[sel], tuple):
            return None
        return zone[sel].encode()
    for c in cases:
        data = open(os.path.join(OUT, c["file"]), "rb").read()
        for i, s in enumerate(c["sigs"]):
            try:
                d = dkim.DKIM(data, minkey=512)
                s["dkimpy"] = "pass" if d.verify(idx=i, dnsfunc=txt) else "fail"
            except Exception as e:
                s["dkimpy"] = "error: %s" % str(e)[:80]
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"generated": NOW, "profiles": {"strict": {"allow_sha1": False, "min_rsa_bits": 1024},
                                                    "lenient": {"allow_sha1": True, "min_rsa_bits": 512}},
                   "cases": cases}, f, indent=1, ensure_ascii=False)
    print("%d cases, %d signatures -> %s" % (len(cases), sum(len(c["sigs"]) for c in cases), OUT))


if __name__ == "__main__":
    main()
