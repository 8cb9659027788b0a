"""Mail authentication end to end: SPF, DKIM and DMARC in live sessions.

Every peer is real and on 127.0.0.1: a DNS server started by each test
(tests/dns/fake_dns.py serving a zone generated here, with its query log), mxgate
(every config points dns.nameservers at that server: the system resolver is never
asked), raw SMTP clients, and the scripted aiosmtpd downstream that records the
message as delivered. Messages are DKIM-signed at test time by an independent signer
(Debian's python3-dkim) with keys generated at test time by openssl.

Run: cd tests/integration && MXGATE_BIN=.../mxgate /usr/bin/python3 -m unittest -v test_auth
"""
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import dkim

from harness import LOOPBACK, MXGATE, DnsServer, ProxyTestCase

PYTHON = "/usr/bin/python3"
AUTHSERV = "mx.test"
RCPT = "rcpt@example.org"

KEYS = {}        # filled by setUpModule: rsa_pem, rsa_pub, ed_priv, ed_pub (base64 text)
ZONE_TXT = {}    # name (no trailing dot, lower case) -> TXT value as one string, for dkim.verify
KEYDIR = None


# ---------------------------------------------------------------- keys and zone

def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def setUpModule():
    global KEYDIR
    KEYDIR = tempfile.mkdtemp(prefix="mxgate-auth-keys-")
    rsa_path = os.path.join(KEYDIR, "rsa.key")
    # PKCS#1 ("BEGIN RSA PRIVATE KEY"): the form python3-dkim's signer reads.
    openssl("genrsa", "-traditional", "-out", rsa_path, "2048")
    with open(rsa_path, "rb") as f:
        KEYS["rsa_pem"] = f.read()
    KEYS["rsa_pub"] = base64.b64encode(openssl("rsa", "-in", rsa_path, "-pubout", "-outform", "DER")).decode()
    ed_path = os.path.join(KEYDIR, "ed25519.key")
    openssl("genpkey", "-algorithm", "ed25519", "-out", ed_path)
    priv_der = openssl("pkey", "-in", ed_path, "-outform", "DER")
    pub_der = openssl("pkey", "-in", ed_path, "-pubout", "-outform", "DER")
    # RFC 8463: the raw 32-byte key; python3-dkim signs with the raw 32-byte seed.
    KEYS["ed_priv"] = base64.b64encode(priv_der[-32:])
    KEYS["ed_pub"] = base64.b64encode(pub_der[-32:]).decode()
    build_zone()


def tearDownModule():
    shutil.rmtree(KEYDIR, ignore_errors=True)


def txt(name, value, ttl=300):
    """A zone line for a TXT record, split into <=255-byte character-strings."""
    ZONE_TXT[name.lower()] = value
    parts = [value[i:i + 255] for i in range(0, len(value), 255)] or [""]
    return f"{name}. {ttl} IN TXT " + " ".join('"%s"' % p for p in parts)


ZONE_LINES = []


def build_zone():
    rsa_key = "v=DKIM1; k=rsa; p=" + KEYS["rsa_pub"]
    ed_key = "v=DKIM1; k=ed25519; p=" + KEYS["ed_pub"]
    ZONE_LINES[:] = [
        "$TTL 300",
        "test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60",
        # Case 1, DKIM and DMARC: the aligned domain.
        txt("example.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.example.test", "v=DMARC1; p=reject"),
        # XCLIENT: only the address a trusted front presents may send.
        txt("xclient.test", "v=spf1 ip4:192.0.2.7 -all"),
        # Client names: 127.0.0.1 is forward-confirmed, 127.0.0.3's PTR lies.
        "1.0.0.127.in-addr.arpa. 300 IN PTR client.example.test.",
        "client.example.test. 300 IN A 127.0.0.1",
        "3.0.0.127.in-addr.arpa. 300 IN PTR liar.example.test.",
        "liar.example.test. 300 IN A 192.0.2.99",
        txt("rsa2048._domainkey.example.test", rsa_key),
        txt("ed1._domainkey.example.test", ed_key),
        # Case 2: SPF fail with an explanation (RFC 7208 6.2).
        txt("fail.test", "v=spf1 ip4:192.0.2.0/24 -all exp=explain.fail.test"),
        txt("explain.fail.test", "%{i} is not one of %{d}'s designated mail servers"),
        # Case 3: HELO identities.
        txt("relay.example.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt("badhelo.test", "v=spf1 -all"),
        # Case 6: p=reject, SPF fails, a key exists (the signature is broken in the test).
        txt("strict.test", "v=spf1 -all"),
        txt("_dmarc.strict.test", "v=DMARC1; p=reject"),
        txt("rsa2048._domainkey.strict.test", rsa_key),
        # Case 9: an SPF record that takes several lookups.
        txt("repeat.test", "v=spf1 a:mail.repeat.test include:_spf.repeat.test -all"),
        "mail.repeat.test. 300 IN A 192.0.2.5",
        txt("_spf.repeat.test", "v=spf1 ip4:127.0.0.1 -all"),
        # Several authors: coauthor.test passes SPF for 127.0.0.1 and has a key;
        # strict.test (above) says p=reject and fails SPF.
        txt("coauthor.test", "v=spf1 ip4:127.0.0.1 -all"),
        txt("_dmarc.coauthor.test", "v=DMARC1; p=none"),
        txt("rsa2048._domainkey.coauthor.test", rsa_key),
        # other.test: no records at all (NXDOMAIN, spf=none).
    ]


def dnsfunc(name, timeout=5):
    """python3-dkim's TXT lookup, answered from the generated zone (no DNS at all)."""
    if isinstance(name, bytes):
        name = name.decode()
    v = ZONE_TXT.get(name.rstrip(".").lower())
    return v.encode() if v is not None else None




# ---------------------------------------------------------------- messages

_counter = [0]


def message(from_addr="Alice <alice@example.test>", subject="auth test", body=b"Hello.\r\n",
            extra_headers=b""):
    _counter[0] += 1
    head = ("From: %s\r\n"
            "To: Rcpt <rcpt@example.org>\r\n"
            "Subject: %s\r\n"
            "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <auth-%d-%d@example.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "\r\n" % (from_addr, subject, os.getpid(), _counter[0]))
    return extra_headers + head.encode() + body


def dkim_tags(data):
    """The tags of the topmost DKIM-Signature of a message, whitespace removed."""
    sig = [f for f in header_fields(data) if f[0] == "dkim-signature"][0]
    value = sig[1].split(b":", 1)[1].decode()
    return {k.strip(): re.sub(r"\s", "", v) for k, _, v in
            (t.partition("=") for t in value.split(";") if t.strip())}


SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version"]


def sign_rsa(msg, domain=b"example.test", canon=(b"relaxed", b"relaxed"), headers=SIGNED_HEADERS):
    return dkim.sign(msg, b"rsa2048", domain, KEYS["rsa_pem"], canonicalize=canon,
                     include_headers=headers) + msg


def sign_ed25519(msg, domain=b"example.test"):
    return dkim.sign(msg, b"ed1", domain, KEYS["ed_priv"], canonicalize=(b"relaxed", b"relaxed"),
                     signature_algorithm=b"ed25519-sha256", include_headers=SIGNED_HEADERS) + msg


def header_fields(data):
    """[(lower-case name, raw bytes incl. CRLFs, unfolded value str)] of a message."""
    head = data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    fields = []
    for line in head.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += line + b"\r\n"
        else:
            fields.append([line.split(b":", 1)[0].strip().lower().decode(), line + b"\r\n"])
    out = []
    for name, raw in fields:
        value = raw.split(b":", 1)[1].decode("utf-8", "replace").replace("\r\n", "")
        out.append((name, raw, re.sub(r"[ \t]+", " ", value).strip()))
    return out


def split_outside(value, sep=";"):
    """Splits on sep outside comments and quoted strings."""
    parts, cur, depth, quoted, esc = [], "", 0, False, False
    for ch in value:
        if esc:
            cur += ch
            esc = False
            continue
        if ch == "\\":
            esc = True
            cur += ch
            continue
        if quoted:
            quoted = ch != '"'
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    parts.append(cur.strip())
    return [p for p in parts if p]


def unquote(v):
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return v


class Resinfo:
    """One method clause of Authentication-Results: method=result (comment) props."""

    def __init__(self, text):
        self.text = text
        m = re.match(r"([a-z0-9-]+)=([a-z]+)\s*(.*)$", text, re.I | re.S)
        if not m:
            raise AssertionError("unparsable resinfo %r" % text)
        self.method, self.result, rest = m.group(1).lower(), m.group(2).lower(), m.group(3)
        self.comment = ""
        if rest.startswith("("):
            depth, i = 0, 0
            while i < len(rest):
                if rest[i] == "\\":
                    i += 2
                    continue
                depth += rest[i] == "("
                depth -= rest[i] == ")"
                i += 1
                if depth == 0:
                    break
            self.comment, rest = rest[1:i - 1], rest[i:]
        # A value is a token or an RFC 2045 quoted-string (a b= prefix with "/", "+"
        # or "=" must be quoted); keep it as the value it stands for.
        self.props = {k: unquote(v) for k, v in
                      re.findall(r"([a-z]+\.[a-z-]+)=(\"(?:[^\"\\]|\\.)*\"|\S+)", rest, re.I)}

    def __repr__(self):
        return "Resinfo(%r)" % self.text


class Delivered:
    """A message as the downstream got it."""

    def __init__(self, data):
        self.data = data
        self.fields = header_fields(data)

    def all(self, name):
        return [f for f in self.fields if f[0] == name.lower()]

    def ours(self):
        """Authentication-Results fields with our authserv-id (first token)."""
        return [f for f in self.all("authentication-results")
                if split_outside(f[2])[0].split()[0].lower() == AUTHSERV]

    def results(self):
        """Our single Authentication-Results: (authserv-id, [Resinfo])."""
        ours = self.ours()
        if len(ours) != 1:
            raise AssertionError("expected exactly one Authentication-Results: %s, got %r\n%r"
                                 % (AUTHSERV, ours, self.data[:2000]))
        parts = split_outside(ours[0][2])
        return parts[0], [Resinfo(p) for p in parts[1:]]

    def method(self, name):
        return [r for r in self.results()[1] if r.method == name]


def symbols(txn):
    return {s["name"]: s for s in txn.get("symbols", [])}


# ---------------------------------------------------------------- base case

class AuthCase(ProxyTestCase):
    def setUp(self):
        self.dns = DnsServer(ZONE_LINES).start()
        self.addCleanup(self.dns.stop)
        self.down = self.start_downstream()

    def start_gate(self, filters, **extra):
        """mxgate with the filters, authserv_id mx.test, and the test's DNS server only."""
        cfg = {"authserv_id": AUTHSERV,
               "filters": filters,
               "dns": {"nameservers": [f"{LOOPBACK}:{self.dns.port}"],
                       "timeout": "500ms", "attempts": 1}}
        cfg.update(extra)
        m = self.start_mxgate(self.down.port, cfg)
        self.assertEqual(m.config["dns"]["nameservers"], [f"{LOOPBACK}:{self.dns.port}"])
        return m

    def open(self, m, helo="client.test"):
        c = self.raw(m.port)
        self.ehlo(c, helo)
        return c

    def transaction(self, c, mail_from, data, rcpt=RCPT):
        """MAIL, RCPT, DATA, message. Returns {stage: (code, lines)} up to the first
        refusal."""
        out = {}
        out["mail"] = c.cmd(f"MAIL FROM:<{mail_from}>")
        if out["mail"][0] != 250:
            return out
        out["rcpt"] = c.cmd(f"RCPT TO:<{rcpt}>")
        if out["rcpt"][0] != 250:
            return out
        out["data"] = c.cmd("DATA")
        if out["data"][0] != 354:
            return out
        lines = data.split(b"\r\n")
        assert lines[-1] == b"", "message must end with CRLF"
        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
        c.send(wire + b".\r\n")
        out["end"] = c.reply()
        return out

    def deliver(self, m, mail_from, data, helo="client.test"):
        """One accepted transaction; returns (Delivered, transaction log entry)."""
        n = len(self.down.rec.messages)
        n_txn = len(m.transactions())
        c = self.open(m, helo)
        r = self.transaction(c, mail_from, data)
        self.assertIn("end", r, r)
        self.assertEqual(r["end"][0], 250, r)
        c.cmd("QUIT")
        self.assertEqual(len(self.down.rec.messages), n + 1)
        txns = m.wait_transactions(n_txn + 1)
        self.assertEqual(len(txns), n_txn + 1, m.log())
        return Delivered(self.down.rec.messages[-1]["data"]), txns[-1]

    def last_txn(self, m, n=1):
        txns = m.wait_transactions(n)
        self.assertGreaterEqual(len(txns), n, m.log())
        return txns[-1]

    def assertSingleSpf(self, d, result, **props):
        spf = d.method("spf")
        self.assertEqual(len(spf), 1, d.results())
        self.assertEqual(spf[0].result, result, spf[0])
        for k, v in props.items():
            self.assertEqual(spf[0].props.get(k.replace("_", ".")), v, spf[0])
        return spf[0]


# ---------------------------------------------------------------- SPF

class TestSpf(AuthCase):
    def test_pass(self):
        """Case 1: MAIL FROM a@example.test from 127.0.0.1, record ip4:127.0.0.1 -all."""
        m = self.start_gate(["spf"])
        d, txn = self.deliver(m, "a@example.test", message())
        rspf = d.all("received-spf")
        self.assertEqual(len(rspf), 1, d.fields)
        v = rspf[0][2]
        self.assertTrue(v.startswith("pass "), v)
        for frag in ("client-ip=127.0.0.1;", "identity=mailfrom;", "envelope-from=a@example.test;",
                     "helo=client.test;"):
            self.assertIn(frag, v)
        self.assertEqual(len(d.ours()), 1)
        self.assertEqual(d.ours()[0][2], "mx.test; spf=pass smtp.mailfrom=a@example.test")
        # Ours goes on top (RFC 8601), before the message's own fields.
        self.assertEqual(d.fields[0][0], "authentication-results", d.fields[:3])
        self.assertIn("SPF_PASS", symbols(txn), txn)
        self.assertIn("example.test", symbols(txn)["SPF_PASS"]["detail"])
        self.assertEqual(txn["verdict"], "accept", txn)
        self.assertIn(("example.test", "TXT"), self.dns.queries())

    def test_fail_rejected_with_explanation(self):
        """Case 2a: -all with exp=, reject_on_fail -> 550 5.7.23 with the explanation."""
        m = self.start_gate([{"spf": {"reject_on_fail": True}}])
        c = self.open(m)
        r = self.transaction(c, "a@fail.test", message(from_addr="<a@fail.test>"))
        self.assertEqual(list(r), ["mail"], r)
        code, lines = r["mail"]
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.7.23 "), lines)
        self.assertTrue(lines[-1].endswith(" 127.0.0.1 is not one of fail.test's designated mail servers"),
                        lines)
        # The session goes on: a good sender is still served.
        r2 = self.transaction(c, "a@example.test", message())
        self.assertEqual(r2["end"][0], 250, r2)
        self.assertEqual(self.down.rec.mail_count, 1)          # only the second sender
        self.assertEqual([x for x in self.down.rec.commands if x[0] == "MAIL"], [("MAIL", "a@example.test")])
        self.assertEqual(len(self.down.rec.messages), 1)
        txns = m.wait_transactions(2)
        self.assertEqual(txns[0]["verdict"], "reject", txns[0])
        self.assertIn("SPF_FAIL", symbols(txns[0]))
        self.assertTrue(txns[0]["reply"].startswith("550 5.7.23"), txns[0])
        self.assertIn(("explain.fail.test", "TXT"), self.dns.queries())

    def test_fail_reply_text_exact(self):
        """Case 2a: the exact 550 line, with the exp= text and with our default text."""
        m = self.start_gate([{"spf": {"reject_on_fail": True}}])
        c = self.open(m)
        r = self.transaction(c, "a@fail.test", message(from_addr="<a@fail.test>"))
        self.assertEqual(r["mail"][1],
                         ["550 5.7.23 SPF: 127.0.0.1 is not one of fail.test's designated mail servers"])
        r = self.transaction(c, "a@badhelo.test", message(from_addr="<a@badhelo.test>"))
        self.assertEqual(r["mail"][1],
                         ["550 5.7.23 SPF: badhelo.test does not designate 127.0.0.1 as permitted sender"])

    def test_fail_delivered_without_reject(self):
        """Case 2b: same fail, no reject_on_fail -> delivered, spf=fail, SPF_FAIL."""
        m = self.start_gate(["spf"])
        d, txn = self.deliver(m, "a@fail.test", message(from_addr="<a@fail.test>"))
        self.assertSingleSpf(d, "fail", smtp_mailfrom="a@fail.test")
        rspf = d.all("received-spf")
        self.assertEqual(len(rspf), 1)
        self.assertTrue(rspf[0][2].startswith("fail "), rspf)
        self.assertIn("SPF_FAIL", symbols(txn), txn)
        self.assertEqual(txn["verdict"], "accept", txn)

    def test_null_sender_checks_helo(self):
        """Case 3: MAIL FROM:<> -> the HELO identity is checked (RFC 7208 2.4)."""
        m = self.start_gate(["spf"])
        for helo, result in (("relay.example.test", "pass"), ("badhelo.test", "fail")):
            with self.subTest(helo=helo):
                d, txn = self.deliver(m, "", message(), helo=helo)
                spf = self.assertSingleSpf(d, result, smtp_helo=helo)
                self.assertNotIn("smtp.mailfrom", spf.props)
                rspf = d.all("received-spf")
                self.assertEqual(len(rspf), 1)
                self.assertIn("identity=helo;", rspf[0][2])
                self.assertIn("helo=%s;" % helo, rspf[0][2])
                self.assertIn("SPF_" + result.upper(), symbols(txn), txn)
                self.assertIn((helo, "TXT"), self.dns.queries())

    def test_dns_timeout_is_temperror(self):
        """Case 4: the sender domain's TXT never gets an answer -> temperror, delivered."""
        m = self.start_gate(["spf"])
        t0 = time.time()
        d, txn = self.deliver(m, "a@timeout.example.test", message())
        self.assertLess(time.time() - t0, 10)
        self.assertSingleSpf(d, "temperror", smtp_mailfrom="a@timeout.example.test")
        self.assertTrue(d.all("received-spf")[0][2].startswith("temperror "), d.all("received-spf"))
        self.assertIn("SPF_TEMPERROR", symbols(txn), txn)
        self.assertIn(("timeout.example.test", "TXT"), self.dns.queries())

    def test_dns_timeout_tempfail_when_configured(self):
        """Case 4b: tempfail_on_temperror -> 451 4.7.24 at MAIL FROM, nothing downstream."""
        m = self.start_gate([{"spf": {"tempfail_on_temperror": True}}])
        c = self.open(m)
        r = self.transaction(c, "a@timeout.example.test", message())
        self.assertEqual(list(r), ["mail"], r)
        self.assertEqual(r["mail"][1][-1], "451 4.7.24 SPF check failed temporarily, try again later")
        self.assertEqual(self.down.rec.mail_count, 0)
        txn = self.last_txn(m)
        self.assertEqual(txn["verdict"], "tempfail", txn)
        self.assertIn("SPF_TEMPERROR", symbols(txn), txn)


# ---------------------------------------------------------------- DKIM

class TestDkim(AuthCase):
    def test_rsa_relaxed_pass(self):
        """Case 5a: RSA-SHA256 relaxed/relaxed signature with a published key."""
        m = self.start_gate(["spf", "dkim"])
        signed = sign_rsa(message())
        d, txn = self.deliver(m, "a@example.test", signed)
        dk = d.method("dkim")
        self.assertEqual(len(dk), 1, d.results())
        self.assertEqual(dk[0].result, "pass", dk[0])
        self.assertEqual(dk[0].props.get("header.d"), "example.test", dk[0])
        self.assertEqual(dk[0].props.get("header.s"), "rsa2048", dk[0])
        self.assertEqual(dk[0].props.get("header.a"), "rsa-sha256", dk[0])
        bval = dkim_tags(signed)["b"]
        hb = dk[0].props.get("header.b", "")
        self.assertGreaterEqual(len(hb), 8, dk[0])   # RFC 6008: at least 8 characters
        self.assertTrue(bval.startswith(hb), (hb, bval))
        self.assertIn("DKIM_VALID", symbols(txn), txn)
        self.assertIn("DKIM_VALID_AU", symbols(txn), txn)
        self.assertIn(("rsa2048._domainkey.example.test", "TXT"), self.dns.queries())
        # The signature still verifies for an independent verifier downstream.
        self.assertTrue(dkim.verify(d.data, dnsfunc=dnsfunc))

    def test_body_altered_after_signing_fails(self):
        """Case 5b: body changed after signing -> dkim=fail."""
        m = self.start_gate(["spf", "dkim"])
        signed = sign_rsa(message(body=b"Pay 10 EUR.\r\n")).replace(b"Pay 10 EUR.", b"Pay 99 EUR.")
        self.assertFalse(dkim.verify(signed, dnsfunc=dnsfunc))
        d, txn = self.deliver(m, "a@example.test", signed)
        dk = d.method("dkim")
        self.assertEqual(len(dk), 1, d.results())
        self.assertEqual(dk[0].result, "fail", dk[0])
        self.assertEqual(dk[0].props.get("header.d"), "example.test", dk[0])
        self.assertIn("DKIM_INVALID", symbols(txn), txn)
        self.assertNotIn("DKIM_VALID", symbols(txn), txn)

    def test_ed25519_pass(self):
        """Case 5c: Ed25519-SHA256 (RFC 8463), alone and dual-signed with RSA."""
        m = self.start_gate(["spf", "dkim"])
        d, txn = self.deliver(m, "a@example.test", sign_ed25519(message()))
        dk = d.method("dkim")
        self.assertEqual([(r.result, r.props.get("header.d"), r.props.get("header.s"),
                           r.props.get("header.a")) for r in dk],
                         [("pass", "example.test", "ed1", "ed25519-sha256")], dk)
        self.assertIn("DKIM_VALID", symbols(txn), txn)
        # Dual-signed: both pass, reported in header order (ed25519 on top).
        msg = message()
        rsa_sig = dkim.sign(msg, b"rsa2048", b"example.test", KEYS["rsa_pem"],
                            canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED_HEADERS)
        ed_sig = dkim.sign(msg, b"ed1", b"example.test", KEYS["ed_priv"],
                           canonicalize=(b"relaxed", b"relaxed"),
                           signature_algorithm=b"ed25519-sha256", include_headers=SIGNED_HEADERS)
        d, _ = self.deliver(m, "a@example.test", ed_sig + rsa_sig + msg)
        self.assertEqual([(r.result, r.props.get("header.a")) for r in d.method("dkim")],
                         [("pass", "ed25519-sha256"), ("pass", "rsa-sha256")], d.results())


# ---------------------------------------------------------------- DMARC

class TestDmarc(AuthCase):
    FILTERS = ["spf", "dkim"]

    def test_aligned_dkim_pass(self):
        """Case 6a: p=reject domain, SPF not aligned (other.test: none), DKIM d= aligned."""
        m = self.start_gate(self.FILTERS + ["dmarc"])
        d, txn = self.deliver(m, "bounce@other.test", sign_rsa(message()))
        self.assertSingleSpf(d, "none", smtp_mailfrom="bounce@other.test")
        self.assertEqual([r.result for r in d.method("dkim")], ["pass"])
        dm = d.method("dmarc")
        self.assertEqual(len(dm), 1, d.results())
        self.assertEqual(dm[0].result, "pass", dm[0])
        self.assertEqual(dm[0].props.get("header.from"), "example.test", dm[0])
        self.assertIn("DMARC_PASS", symbols(txn), txn)
        self.assertIn(("_dmarc.example.test", "TXT"), self.dns.queries())

    def broken_strict(self):
        """From strict.test (p=reject), MAIL FROM strict.test (SPF -all: fail), a
        strict.test DKIM signature broken by a body change."""
        msg = sign_rsa(message(from_addr="Bob <bob@strict.test>", body=b"Original.\r\n"),
                       domain=b"strict.test")
        return msg.replace(b"Original.", b"Tampered.")

    def test_reject_on_policy(self):
        """Case 6b: DMARC fail with p=reject and reject_on_policy -> 550 5.7.1 at end of data."""
        m = self.start_gate(self.FILTERS + [{"dmarc": {"reject_on_policy": True}}])
        c = self.open(m)
        r = self.transaction(c, "bob@strict.test", self.broken_strict())
        self.assertIn("end", r, r)
        code, lines = r["end"]
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
        self.assertIn("strict.test", lines[-1])
        self.assertEqual(lines[-1], "550 5.7.1 Message rejected: DMARC policy of strict.test says reject")
        self.assertEqual(self.down.rec.messages, [])
        txn = self.last_txn(m)
        self.assertEqual(txn["verdict"], "reject", txn)
        s = symbols(txn)
        for name in ("SPF_FAIL", "DKIM_INVALID", "DMARC_FAIL", "DMARC_POLICY_REJECT"):
            self.assertIn(name, s, txn)

    def test_policy_reject_only_symbol(self):
        """Case 6c: same message without reject_on_policy and with the policy's DMARC
        rule off (policy.dmarc.reject: none) -> delivered, dmarc=fail. (By default the
        policy refuses it: test_policy.Authentication.)"""
        m = self.start_gate(self.FILTERS + ["dmarc"], policy={"dmarc": {"reject": "none"}})
        d, txn = self.deliver(m, "bob@strict.test", self.broken_strict())
        self.assertSingleSpf(d, "fail", smtp_mailfrom="bob@strict.test")
        self.assertEqual([r.result for r in d.method("dkim")], ["fail"])
        dm = d.method("dmarc")
        self.assertEqual(len(dm), 1, d.results())
        self.assertEqual(dm[0].result, "fail", dm[0])
        self.assertEqual(dm[0].props.get("header.from"), "strict.test", dm[0])
        self.assertIn("p=reject", dm[0].comment, dm[0])
        s = symbols(txn)
        self.assertIn("DMARC_FAIL", s, txn)
        self.assertIn("DMARC_POLICY_REJECT", s, txn)
        # Delivered, tagged on its score (8: SPF_FAIL 2 + DKIM_INVALID 1 + DMARC_FAIL 1
        # + DMARC_POLICY_REJECT 4) by the default tag threshold.
        self.assertEqual(txn["verdict"], "tag", txn)
        self.assertEqual(txn["decided_by"], "policy.thresholds.tag", txn)


# ---------------------------------------------------------------- several authors

def multi_message(froms, subject="two authors"):
    """A message with the given From field values, one field each."""
    _counter[0] += 1
    head = "".join("From: %s\r\n" % f for f in froms)
    head += ("To: Rcpt <rcpt@example.org>\r\n"
             "Subject: %s\r\n"
             "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
             "Message-ID: <multi-%d-%d@coauthor.test>\r\n"
             "MIME-Version: 1.0\r\n"
             "\r\n" % (subject, os.getpid(), _counter[0]))
    return head.encode() + b"Please pay the attached invoice today.\r\n"


class TestDmarcSeveralAuthors(AuthCase):
    """RFC 7489 6.6.1: every author domain is evaluated and the strictest result
    decides, so neither a co-author with its own valid DKIM signature nor a second From
    field takes strict.test (p=reject) out from under its policy. Every message goes
    through a live session and through `mxgate check` with the same config, envelope
    and DNS, and both must agree."""
    FILTERS = ["spf", "dkim", "dmarc"]
    VICTIM = "Billing <billing@strict.test>"
    OTHER = "Ann <ann@coauthor.test>"
    REJECT = "550 5.7.1 Unauthenticated email from strict.test is not accepted due to domain's DMARC policy"

    def gate(self, **policy):
        return self.start_gate(self.FILTERS, policy=policy) if policy else self.start_gate(self.FILTERS)

    def check(self, m, data):
        path = os.path.join(m.workdir, "check-%d.eml" % _counter[0])
        with open(path, "wb") as f:
            f.write(data)
        p = subprocess.run([MXGATE, "check", path, "--json", "--config", m.config_path,
                            "--ip", LOOPBACK, "--helo", "client.test", "--from", "bounce@coauthor.test",
                            "--rcpt", RCPT], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def send(self, m, data):
        """One live transaction; returns (end-of-data reply, transaction log entry,
        mxgate check's report) after asserting that check agrees with the server."""
        n = len(m.transactions())
        c = self.open(m)
        r = self.transaction(c, "bounce@coauthor.test", data)
        c.cmd("QUIT")
        self.assertIn("end", r, r)
        txn = m.wait_transactions(n + 1)[-1]
        j = self.check(m, data)
        self.assertEqual(j["verdict"], txn["verdict"], (j, txn))
        self.assertEqual(j.get("decided_by"), txn.get("decided_by"), (j, txn))
        self.assertAlmostEqual(j["score"], txn["score"], msg=(j, txn))
        self.assertEqual([(s["name"], s["score"], s.get("detail")) for s in j["symbols"]],
                         [(s["name"], s["score"], s.get("detail")) for s in txn["symbols"]])
        if txn["verdict"] == "reject":
            self.assertEqual(j["reply"], txn["reply"])
        return r["end"], txn, j

    def assert_refused_for_strict(self, end, txn, j):
        code, lines = end
        self.assertEqual((code, lines[-1]), (550, self.REJECT), txn)
        self.assertEqual(txn["verdict"], "reject", txn)
        self.assertEqual(txn["decided_by"], "policy.dmarc.reject strict.test", txn)
        s = symbols(txn)
        self.assertIn("DMARC_FAIL", s, txn)
        self.assertIn("DMARC_POLICY_REJECT", s, txn)
        self.assertIn("DMARC_MULTI_FROM", s, txn)
        self.assertIn("coauthor.test=", s["DMARC_FAIL"]["detail"], txn)
        self.assertEqual(j["auth"]["dmarc"]["from_domain"], "strict.test", j)
        self.assertEqual(sorted(a["domain"] for a in j["auth"]["dmarc"]["authors"]),
                         ["coauthor.test", "strict.test"], j)
        self.assertIn("dmarc=fail", txn["authentication_results"], txn)
        self.assertIn("header.from=strict.test", txn["authentication_results"], txn)

    def test_victim_first_or_second_in_one_field(self):
        m = self.gate()
        for froms in ([self.VICTIM + ", " + self.OTHER], [self.OTHER + ", " + self.VICTIM]):
            plain = multi_message(froms)
            for data in (plain, sign_rsa(plain, domain=b"coauthor.test")):
                with self.subTest(froms=froms, signed=data is not plain):
                    end, txn, j = self.send(m, data)
                    self.assert_refused_for_strict(end, txn, j)
                    dkim_results = [r["result"] for r in j["auth"].get("dkim", [])]
                    self.assertEqual(dkim_results, ["pass"] if data is not plain else [], j)
        self.assertEqual(self.down.rec.messages, [])

    def test_victim_in_a_second_from_field(self):
        m = self.gate()
        for froms in ([self.OTHER, self.VICTIM], [self.VICTIM, self.OTHER]):
            plain = multi_message(froms)
            for data in (plain, sign_rsa(plain, domain=b"coauthor.test")):
                with self.subTest(froms=froms, signed=data is not plain):
                    end, txn, j = self.send(m, data)
                    self.assert_refused_for_strict(end, txn, j)
                    self.assertEqual(symbols(txn)["DMARC_MULTI_FROM"]["detail"], "2 authors in 2 From fields")
        self.assertEqual(self.down.rec.messages, [])

    def test_every_author_authenticated_is_delivered(self):
        """Signed by both authors' domains: dmarc=pass and delivered; with
        policy.dmarc.multiple_from: reject the same message is refused outright."""
        data = multi_message([self.OTHER + ", " + self.VICTIM])
        signed = sign_rsa(sign_rsa(data, domain=b"coauthor.test"), domain=b"strict.test")
        m = self.gate()
        end, txn, j = self.send(m, signed)
        self.assertEqual(end[0], 250, end)
        self.assertEqual(txn["verdict"], "accept", txn)
        self.assertEqual(j["auth"]["dmarc"]["result"], "pass", j)
        self.assertIn("DMARC_PASS", symbols(txn))
        self.assertIn("DMARC_MULTI_FROM", symbols(txn))
        d = Delivered(self.down.rec.messages[-1]["data"])
        self.assertEqual([r.result for r in d.method("dmarc")], ["pass"], d.results())

        strict = self.gate(dmarc={"multiple_from": "reject"})
        end, txn, j = self.send(strict, signed)
        self.assertEqual(end[0], 550, end)
        self.assertEqual(end[1][-1],
                         "550 5.7.1 Message rejected: mail with more than one author in From is not accepted")
        self.assertEqual(txn["decided_by"], "policy.dmarc.multiple_from", txn)
        self.assertEqual(len(self.down.rec.messages), 1)

    def test_from_without_a_usable_domain_is_refused(self):
        """No usable author domain: permerror and DMARC_BAD_FROM, refused by default
        (policy.dmarc.bad_from); a malformed From still has its domains evaluated."""
        m = self.gate()
        for froms, decided in ((["undisclosed-recipients:;"], "policy.dmarc.bad_from"),
                               (["Team: ann@coauthor.test;"], "policy.dmarc.bad_from"),
                               (["billing@strict.test <ann@coauthor.test>"], "policy.dmarc.reject strict.test")):
            data = sign_rsa(multi_message(froms), domain=b"coauthor.test")
            with self.subTest(froms=froms):
                end, txn, j = self.send(m, data)
                self.assertEqual(end[0], 550, end)
                self.assertEqual(txn["decided_by"], decided, txn)
                self.assertIn("DMARC_BAD_FROM", symbols(txn), txn)
        # No From at all.
        data = b"To: rcpt@example.org\r\nSubject: nobody\r\n\r\nbody\r\n"
        end, txn, j = self.send(m, data)
        self.assertEqual(end[1][-1],
                         "550 5.7.1 Message rejected: the From header is not a valid list of author addresses")
        self.assertEqual(symbols(txn)["DMARC_BAD_FROM"]["detail"], "no From field", txn)
        # The option turns it into a score only.
        lenient = self.gate(dmarc={"bad_from": "none"})
        end, txn, j = self.send(lenient, data)
        self.assertEqual(end[0], 250, end)
        self.assertEqual(txn["verdict"], "accept", txn)
        self.assertEqual(self.down.rec.messages[-1]["data"].count(b"dmarc=permerror"), 1)


# ---------------------------------------------------------------- forged results

class TestForgedResults(AuthCase):
    def test_our_authserv_id_removed_others_kept(self):
        """Case 7: fields claiming mx.test are dropped; everything else byte for byte."""
        m = self.start_gate(["spf", "dkim", "dmarc"])
        forged = (b"Authentication-Results: mx.test; spf=pass; dkim=pass\r\n"
                  b"authentication-results:  MX.Test (forged);\r\n"
                  b"\tdkim=pass header.d=example.test\r\n")
        other = (b"Authentication-Results: other.example;\r\n"
                 b"    spf=pass  smtp.mailfrom=x@other.example (kept  as  is);\r\n"
                 b"\tdkim=none\r\n")
        body = message(extra_headers=other)
        # simple/simple: any byte changed in a signed field or the body breaks it. One
        # "authentication-results" in h= signs the bottom-most instance: other.example's.
        signed = dkim.sign(body, b"rsa2048", b"example.test", KEYS["rsa_pem"],
                           canonicalize=(b"simple", b"simple"),
                           include_headers=SIGNED_HEADERS + [b"authentication-results"])
        sent = forged + signed + body
        self.assertTrue(dkim.verify(sent, dnsfunc=dnsfunc))
        d, txn = self.deliver(m, "a@example.test", sent)
        # Exactly one field with our authserv-id: ours, with the real verdicts.
        ours = d.ours()
        self.assertEqual(len(ours), 1, d.fields)
        self.assertEqual(d.fields[0][1], ours[0][1], d.fields[:3])
        self.assertEqual([r.result for r in d.method("dkim")], ["pass"])
        self.assertEqual([r.result for r in d.method("dmarc")], ["pass"])
        # What follows our added fields is the message minus the forged fields, unchanged.
        expected_rest = signed + body
        self.assertTrue(d.data.endswith(expected_rest), d.data)
        added = header_fields(d.data[:-len(expected_rest)] + b"\r\n")
        self.assertEqual(sorted(f[0] for f in added),
                         ["authentication-results", "received-spf",
                          "x-spam-level", "x-spam-score", "x-spam-status"], added)
        self.assertIn(other, d.data)
        self.assertEqual([f[1] for f in d.all("authentication-results") if f[1].startswith(b"Authentication-Results: other")],
                         [other])
        # An independent verifier still accepts the signature downstream.
        self.assertTrue(dkim.verify(d.data, dnsfunc=dnsfunc))
        self.assertIn("FORGED_AUTH_RESULTS_REMOVED", symbols(txn), txn)

    def test_no_forgery_nothing_removed(self):
        """A message with only someone else's results is passed on as it came."""
        m = self.start_gate(["spf"])
        other = b"Authentication-Results: other.example; spf=fail smtp.mailfrom=x@mx.test\r\n"
        body = message(extra_headers=other)
        d, txn = self.deliver(m, "a@example.test", body)
        self.assertTrue(d.data.endswith(body), d.data)
        self.assertNotIn("FORGED_AUTH_RESULTS_REMOVED", symbols(txn), txn)


# ---------------------------------------------------------------- config errors

class TestConfigErrors(unittest.TestCase):
    def check(self, filters):
        tmp = tempfile.mkdtemp(prefix="mxgate-auth-cfg-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        path = os.path.join(tmp, "mxgate.yaml")
        lines = ["listen:", f"  - {LOOPBACK}:0", "hostname: mxgate.test", "authserv_id: mx.test",
                 "dns:", f"  nameservers: [\"{LOOPBACK}:53535\"]", "  timeout: 500ms", "  attempts: 1",
                 "log:", "  transactions: \"off\"",
                 "filters:"] + [f"  - {f}" for f in filters]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([MXGATE, "serve", "--check-config", "--config", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        return path, lines, p

    def test_dmarc_before_spf_and_dkim(self):
        """Case 8: filters [dmarc, spf, dkim] -> non-zero, filters[0] needs spf before it."""
        path, lines, p = self.check(["dmarc", "spf", "dkim"])
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.returncode, 2, p.stderr)
        line = lines.index("  - dmarc") + 1
        self.assertRegex(p.stderr, r"(?m)^%s:%d: filters\[0\]: .*needs spf before it"
                         % (re.escape(path), line))
        self.assertRegex(p.stderr, r"(?m)^%s:%d: filters\[0\]: .*needs dkim before it"
                         % (re.escape(path), line))

    def test_dmarc_without_dkim(self):
        path, lines, p = self.check(["spf", "dmarc"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:\d+: filters\[1\]: .*needs dkim before it" % re.escape(path))
        self.assertNotIn("needs spf", p.stderr)

    def test_right_order_ok(self):
        path, lines, p = self.check(["spf", "dkim", "dmarc"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(path + ": ok", p.stdout)


# ---------------------------------------------------------------- DNS cache

class TestRepeatSender(AuthCase):
    def test_second_transaction_costs_no_spf_lookup(self):
        """Case 9: two transactions from the same sender in one session; the second
        one's SPF lookups are answered from the cache."""
        m = self.start_gate(["spf", "dkim", "dmarc"])
        spf_queries = [("repeat.test", "TXT"), ("mail.repeat.test", "A"), ("_spf.repeat.test", "TXT")]
        c = self.open(m)
        r1 = self.transaction(c, "a@repeat.test", message(from_addr="<a@repeat.test>"))
        self.assertEqual(r1["end"][0], 250, r1)
        first = self.dns.queries()
        for q in spf_queries:
            self.assertEqual(first.count(q), 1, first)
        r2 = self.transaction(c, "a@repeat.test", message(from_addr="<a@repeat.test>"))
        self.assertEqual(r2["end"][0], 250, r2)
        c.cmd("QUIT")
        second = self.dns.queries()[len(first):]
        for q in spf_queries:
            self.assertNotIn(q, second, second)
        # The cached answers still give the same verdict, in the header and the log.
        self.assertEqual(len(self.down.rec.messages), 2)
        for data in (x["data"] for x in self.down.rec.messages):
            self.assertSingleSpf(Delivered(data), "pass", smtp_mailfrom="a@repeat.test")
        txns = m.wait_transactions(2)
        self.assertEqual(len(txns), 2, txns)
        for t in txns:
            self.assertIn("SPF_PASS", symbols(t), t)
        # Nothing else was asked again either (DMARC's record is cached too).
        self.assertEqual(second, [], second)


class TestDkimKeyPrefetch(AuthCase):
    def test_key_is_looked_up_while_the_body_is_still_coming(self):
        """DKIM keys are asked for as soon as the header section is in, not at end of
        data; the answer is used at end of data without a second query."""
        m = self.start_gate(["spf", "dkim"])
        signed = sign_rsa(message(body=b"first part\r\n" * 20))
        head, sep, body = signed.partition(b"\r\n\r\n")
        c = self.open(m)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
        self.assertEqual(c.cmd(f"RCPT TO:<{RCPT}>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(head + sep + body[:20])
        key = ("rsa2048._domainkey.example.test", "TXT")
        self.wait_for(lambda: key in self.dns.queries(), timeout=5, msg="key lookup before end of data")
        c.send(body[20:] + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.cmd("QUIT")
        self.assertEqual(self.dns.queries().count(key), 1, self.dns.queries())
        d = Delivered(self.down.rec.messages[-1]["data"])
        self.assertEqual([r.result for r in d.method("dkim")], ["pass"], d.results())


class TestSpfBehindXclient(AuthCase):
    def test_spf_checks_the_address_a_trusted_xclient_presents(self):
        m = self.start_gate(["spf"], smtp={"xclient_trusted": ["127.0.0.2/32"]})
        # Without XCLIENT the TCP peer (127.0.0.2) is checked: fail.
        c = self.raw(m.port, source="127.0.0.2")
        self.ehlo(c, "front.test")
        r = self.transaction(c, "a@xclient.test", message(from_addr="<a@xclient.test>"))
        self.assertEqual(r["end"][0], 250, r)
        c.cmd("QUIT")
        self.assertSingleSpf(Delivered(self.down.rec.messages[-1]["data"]), "fail",
                             smtp_mailfrom="a@xclient.test")
        # With XCLIENT ADDR=192.0.2.7 the presented address is checked: pass.
        c = self.raw(m.port, source="127.0.0.2")
        self.ehlo(c, "front.test")
        self.assertEqual(c.cmd("XCLIENT ADDR=192.0.2.7 HELO=mail.xclient.test")[0], 220)
        self.assertEqual(c.cmd("EHLO mail.xclient.test")[0], 250)
        r = self.transaction(c, "a@xclient.test", message(from_addr="<a@xclient.test>"))
        self.assertEqual(r["end"][0], 250, r)
        c.cmd("QUIT")
        d = Delivered(self.down.rec.messages[-1]["data"])
        self.assertSingleSpf(d, "pass", smtp_mailfrom="a@xclient.test")
        self.assertIn("client-ip=192.0.2.7;", d.all("Received-SPF")[0][2])


class TestClientName(AuthCase):
    """smtp.peername_lookup: the client's forward-confirmed reverse name, as Postfix
    finds it, in the log and in XFORWARD NAME."""

    def deliver_from(self, m, source):
        c = self.raw(m.port, source=source)
        self.ehlo(c, "client.test")
        r = self.transaction(c, "a@example.test", message())
        self.assertEqual(r["end"][0], 250, r)
        c.cmd("QUIT")
        return self.down.rec.messages[-1]["xforward"]

    def test_forward_confirmed_name_reaches_the_mx(self):
        m = self.start_gate(["headers"])
        xf = self.deliver_from(m, "127.0.0.1")
        self.assertEqual(xf.get("NAME"), "client.example.test", xf)
        self.assertIn(("1.0.0.127.in-addr.arpa", "PTR"), self.dns.queries())
        self.assertIn("connect from client.example.test[127.0.0.1]", m.log())
        self.assertEqual(m.wait_transactions(1)[0]["client_name"], "client.example.test")

    def test_unconfirmed_ptr_is_unknown(self):
        m = self.start_gate(["headers"])
        xf = self.deliver_from(m, "127.0.0.3")
        self.assertEqual(xf.get("NAME"), "[UNAVAILABLE]", xf)
        self.assertIn(("liar.example.test", "A"), self.dns.queries())
        self.assertIn("connect from unknown[127.0.0.3]", m.log())

    def test_lookup_can_be_turned_off(self):
        m = self.start_gate(["headers"], smtp={"peername_lookup": False})
        xf = self.deliver_from(m, "127.0.0.1")
        self.assertEqual(xf.get("NAME"), "[UNAVAILABLE]", xf)
        self.assertNotIn(("1.0.0.127.in-addr.arpa", "PTR"), self.dns.queries())


if __name__ == "__main__":
    unittest.main()
