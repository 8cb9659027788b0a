"""`mxgate check`: the filter chain run offline on the sample messages.

The sample config (samples/mxgate.yaml, embedded in mxgate) runs `headers`, `spf`,
`dkim`, `dmarc`, `mime` and `content`; here with the builtin rules of rules/default/
only (the sample adds SpamAssassin's, tested in test_corpus and test_content); their symbols and
scores are in the filters' headers and the rule files. The score is the sum of the
symbol scores, and the sample config's policy (thresholds tag 6.5, reject 15) turns it
into the verdict: "tag" from 6.5 on, else "accept". DNS comes
from samples/dns/demo.zone, served on 127.0.0.1 for this module (`--dns`).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import MXGATE, SOURCE_DIR, DnsServer

SAMPLES = os.path.join(SOURCE_DIR, "samples", "messages")
DEMO_ZONE = os.path.join(SOURCE_DIR, "samples", "dns", "demo.zone")
CHAIN = ["headers", "spf", "dkim", "arc", "dmarc", "mime", "bayes", "content"]
CONTENT = os.path.join(SOURCE_DIR, "tests", "data", "content")

# file -> (symbols in order as (name, score, detail), total score), checked from
# 127.0.0.1 (which example.net's SPF record allows). SPF runs at MAIL FROM, so its
# symbol comes before those of the end-of-data filters.
EXPECTED = {
    # SPF pass, DKIM-signed by example.net (aligned), so DMARC passes.
    "ham.eml": ([("SPF_PASS", -0.1, "example.net ip=127.0.0.1 mechanism=ip4:127.0.0.0/8"),
                 ("DKIM_VALID", -0.1, "d=example.net s=demo"),
                 ("DKIM_VALID_AU", -0.1, "d=example.net s=demo"),
                 ("DMARC_PASS", -0.5, "example.net (aligned: spf=example.net, dkim=example.net)")], -0.8),
    # shop.example.com soft-fails 127.0.0.1 and publishes p=none.
    "missing-date-mid.eml": ([("SPF_SOFTFAIL", 0.8, "shop.example.com ip=127.0.0.1 mechanism=~all (matched ~all)"),
                              ("MISSING_DATE", 1.0, ""), ("MISSING_MID", 0.5, ""),
                              ("DKIM_NONE", 0.0, ""),
                              ("DMARC_FAIL", 1.0, "shop.example.com p=none dis=none (no aligned SPF or DKIM pass; p=none)"),
                              ("DMARC_POLICY_NONE", 0.1, "shop.example.com")], 3.4),
    # Two From fields: both authors' domains are evaluated (RFC 7489 6.6.1). bank.example
    # (p=reject) fails: SPF fails 127.0.0.1 and nothing is signed; bank.example.net
    # falls under example.net's p=reject and fails too. The first, equally strict, decides.
    "two-from.eml": ([("SPF_FAIL", 2.0, "bank.example ip=127.0.0.1 mechanism=-all (matched -all)"),
                      ("MULTIPLE_FROM", 2.0, "2 From fields"),
                      ("DKIM_NONE", 0.0, ""),
                      ("DMARC_FAIL", 1.0, "bank.example p=reject dis=reject (no aligned SPF or DKIM pass; p=reject); "
                                          "other authors: bank.example.net=fail dis=reject"),
                      ("DMARC_POLICY_REJECT", 4.0, "bank.example"),
                      ("DMARC_MULTI_FROM", 0.0, "2 authors in 2 From fields"),
                      ("MIME_BAD_HEADER", 0.5, None),
                      # A content rule (rules/default/20_body.cf): the Subject is body text.
                      ("VERIFY_ACCOUNT", 0.6, "Asks to verify or update an account, identity or payment details")], 10.1),
    # Unsigned, but SPF passes for the From domain: DMARC passes on SPF alone.
    "malformed-header.eml": ([("SPF_PASS", -0.1, "example.net ip=127.0.0.1 mechanism=ip4:127.0.0.0/8"),
                              ("HEADER_MALFORMED", 1.5, "line without a field name in the header section"),
                              ("DKIM_NONE", 0.0, ""),
                              ("DMARC_PASS", -0.5, "example.net (aligned: spf=example.net)"),
                              ("MIME_BAD_HEADER", 0.5, None)], 1.4),
}

DNS = None
SAMPLE = None  # the sample config with `rules: [builtin]` and a Bayes database of its own
BAYES_DIR = None


def setUpModule():
    global DNS, SAMPLE, BAYES_DIR
    with open(DEMO_ZONE) as f:
        DNS = DnsServer(f.read().splitlines()).start()
    with open(os.path.join(SOURCE_DIR, "samples", "mxgate.yaml")) as f:
        text = f.read()
    assert "rules: [spamassassin, builtin]" in text
    assert "path: /var/lib/mxgate/bayes.db" in text
    BAYES_DIR = tempfile.mkdtemp(prefix="mxgate-check-bayes-")
    fd, SAMPLE = tempfile.mkstemp(prefix="mxgate-check-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(text.replace("rules: [spamassassin, builtin]", "rules: [builtin]")
                .replace("path: /var/lib/mxgate/bayes.db", "path: " + os.path.join(BAYES_DIR, "bayes.db")))


def tearDownModule():
    DNS.stop()
    os.unlink(SAMPLE)
    shutil.rmtree(BAYES_DIR, ignore_errors=True)


def same_symbols(test, got, want):
    """(name, score, detail) lists; a None detail in `want` matches any detail."""
    test.assertEqual([(n, s) for n, s, _ in got], [(n, s) for n, s, _ in want])
    for (n, _, d), (_, _, w) in zip(got, want):
        if w is not None:
            test.assertEqual(d, w, n)


# The envelope `check` derives from the headers when no --from/--rcpt is given.
HEADER_ENVELOPE = {
    "ham.eml": ("alice@example.net", ["bob@example.org"]),
    "missing-date-mid.eml": ("news@shop.example.com", ["customer@example.org"]),
    "two-from.eml": ("support@bank.example", ["victim@example.org"]),
    "malformed-header.eml": ("carol@example.net", ["dave@example.org"]),
}

SYMBOL_LINE = re.compile(r"^  (\S+)\s+(-?\d+\.\d\d)  ?(.*)$")
WHERE_LINE = re.compile(r"^\s+matched in (.*)$")


def run(*args, stdin=None):
    return subprocess.run([MXGATE, *args], capture_output=True, text=True, timeout=30, input=stdin)


def check(*args, stdin=None):
    """`mxgate check` on the sample config (builtin rules), its DNS from the demo zone."""
    if "--config" not in args and "-c" not in args:
        args = (*args, "--config", SAMPLE)
    return run("check", *args, "--dns", "127.0.0.1:%d" % DNS.port, stdin=stdin)


def parse_text(out):
    """The text report as a dict: file, envelope, filters, verdict, score, stage, symbols."""
    r = {"symbols": []}
    in_symbols = False
    for line in out.splitlines():
        if in_symbols and WHERE_LINE.match(line):
            r.setdefault("where", {})[r["symbols"][-1][0]] = WHERE_LINE.match(line).group(1)
            continue
        if in_symbols and line.startswith("  "):
            m = SYMBOL_LINE.match(line)
            assert m, "bad symbol line %r" % line
            r["symbols"].append((m.group(1), float(m.group(2)), m.group(3).rstrip()))
            continue
        in_symbols = False
        key, _, val = line.partition(":")
        val = val.strip()
        if key == "symbols":
            if val == "(none)":
                r["symbols_none"] = True
            else:
                in_symbols = True
        elif key == "verdict":
            m = re.match(r"^(\w+) \(score (-?\d+\.\d\d)(?:, required (-?\d+\.\d\d))?\) at (\w+)"
                         r"(?:, decided by (.+))?$", val)
            assert m, "bad verdict line %r" % line
            r["verdict"], r["score"], r["stage"] = m.group(1), float(m.group(2)), m.group(4)
            r["required"] = float(m.group(3)) if m.group(3) else None
            r["decided_by"] = m.group(5)
        else:
            r[key] = val
    return r


def verdict_for(score):
    """The sample config's policy: tag from 6.5, reject from 15."""
    return "reject" if score >= 15 else "tag" if score >= 6.5 else "accept"


# Decided by an explicit rule, not by the score: (verdict, decided_by, reply).
RULE_DECIDED = {
    "two-from.eml": ("reject", "policy.dmarc.reject bank.example",
                     "550 5.7.1 Unauthenticated email from bank.example is not accepted due to domain's DMARC policy"),
}


def expected_verdict(name, score):
    """(verdict, decided_by, reply or None) for a sample under the sample config."""
    if name in RULE_DECIDED:
        return RULE_DECIDED[name]
    v = verdict_for(score)
    return v, "policy.thresholds.tag" if v == "tag" else "policy.thresholds", None


class CheckSamples(unittest.TestCase):
    def write_config(self, name, text):
        """A config file in a folder of its own, removed after the test; its path."""
        d = tempfile.mkdtemp(prefix="mxgate-check-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_samples_present(self):
        for name in EXPECTED:
            self.assertTrue(os.path.isfile(os.path.join(SAMPLES, name)), name)

    def test_text_output(self):
        for name, (symbols, score) in EXPECTED.items():
            with self.subTest(name=name):
                path = os.path.join(SAMPLES, name)
                p = check(path)
                self.assertEqual(p.returncode, 0, p.stderr)
                r = parse_text(p.stdout)
                self.assertEqual(r["file"], path)
                self.assertEqual(r["filters"].split(), CHAIN)
                verdict, decided_by, reply = expected_verdict(name, score)
                self.assertEqual(r["verdict"], verdict)
                self.assertEqual(r["required"], 6.5)
                # Below every threshold is a decision of the thresholds too.
                self.assertEqual(r["decided_by"], decided_by)
                self.assertEqual(r["stage"], "data")
                self.assertAlmostEqual(r["score"], score, places=2)
                same_symbols(self, r["symbols"], symbols)
                if reply:
                    self.assertEqual(r["reply"], reply)
                else:
                    self.assertNotIn("reply:", p.stdout)  # accepted: no reply of our own
                frm, rcpts = HEADER_ENVELOPE[name]
                self.assertEqual(r["envelope"], "client 127.0.0.1 helo localhost from <%s> to %s"
                                 % (frm, " ".join("<%s>" % x for x in rcpts)))

    def test_json_output(self):
        for name, (symbols, score) in EXPECTED.items():
            with self.subTest(name=name):
                path = os.path.join(SAMPLES, name)
                p = check(path, "--json")
                self.assertEqual(p.returncode, 0, p.stderr)
                lines = [l for l in p.stdout.splitlines() if l.strip()]
                self.assertEqual(len(lines), 1, p.stdout)
                j = json.loads(lines[0])
                self.assertEqual(j["file"], path)
                verdict, decided_by, reply = expected_verdict(name, score)
                self.assertEqual(j["verdict"], verdict)
                self.assertEqual(j["decided_by"], decided_by)
                self.assertEqual(j["required"], 6.5)
                self.assertEqual(j["stage"], "data")
                self.assertAlmostEqual(j["score"], score, places=3)
                self.assertEqual(j["filters"], CHAIN)
                got = [(s["name"], s["score"], s.get("detail", "")) for s in j["symbols"]]
                same_symbols(self, got, symbols)
                if reply:
                    self.assertEqual(j["reply"], reply)
                else:
                    self.assertNotIn("reply", j)
                frm, rcpts = HEADER_ENVELOPE[name]
                self.assertEqual(j["envelope"], {"client_ip": "127.0.0.1", "helo": "localhost",
                                                 "mail_from": frm, "rcpts": rcpts})

    def test_envelope_options_text(self):
        path = os.path.join(SAMPLES, "ham.eml")
        p = check(path, "--from", "bounce@sender.example", "--rcpt", "one@rcpt.example",
                "--rcpt", "two@rcpt.example", "--ip", "192.0.2.45", "--helo", "mail.sender.example")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = parse_text(p.stdout)
        self.assertEqual(r["envelope"], "client 192.0.2.45 helo mail.sender.example from "
                         "<bounce@sender.example> to <one@rcpt.example> <two@rcpt.example>")
        self.assertEqual(r["verdict"], "accept")
        # sender.example has no SPF record; ham.eml's DKIM signature still passes.
        self.assertEqual([x[0] for x in r["symbols"]], ["SPF_NONE", "DKIM_VALID", "DKIM_VALID_AU", "DMARC_PASS"])

    def test_envelope_options_json(self):
        path = os.path.join(SAMPLES, "two-from.eml")
        p = check(path, "--json", "--from", "bounce@sender.example", "--rcpt",
                "one@rcpt.example", "--ip", "2001:db8::25", "--helo", "mail.sender.example")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["envelope"], {"client_ip": "2001:db8::25", "helo": "mail.sender.example",
                                         "mail_from": "bounce@sender.example",
                                         "rcpts": ["one@rcpt.example"]})
        self.assertEqual([s["name"] for s in j["symbols"]],
                         ["SPF_NONE", "MULTIPLE_FROM", "DKIM_NONE", "DMARC_FAIL", "DMARC_POLICY_REJECT",
                          "DMARC_MULTI_FROM", "MIME_BAD_HEADER", "VERIFY_ACCOUNT"])

    def test_stdin(self):
        with open(os.path.join(SAMPLES, "missing-date-mid.eml")) as f:
            text = f.read()
        p = check("-", "--json", stdin=text)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual([s["name"] for s in j["symbols"]], [s[0] for s in EXPECTED["missing-date-mid.eml"][0]])
        self.assertAlmostEqual(j["score"], EXPECTED["missing-date-mid.eml"][1])

    def test_mbox_separator_line_is_skipped(self):
        """A file that starts with an mbox "From " line (the public corpus, mbox
        exports) is checked as the message after it, as SpamAssassin reads it."""
        d = tempfile.mkdtemp(prefix="mxgate-check-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(SAMPLES, "missing-date-mid.eml"), "rb") as f:
            data = f.read()
        path = os.path.join(d, "mbox.eml")
        with open(path, "wb") as f:
            f.write(b"From news@shop.example.com  Sat Nov 21 10:00:00 2026\n" + data)
        j = json.loads(check(path, "--json").stdout)
        self.assertEqual([(s["name"], s["score"]) for s in j["symbols"]],
                         [(n, sc) for n, sc, _ in EXPECTED["missing-date-mid.eml"][0]])
        self.assertEqual(j["envelope"]["mail_from"], HEADER_ENVELOPE["missing-date-mid.eml"][0])

    def test_crlf_file_same_result(self):
        # A file with CRLF line ends gives the same symbols as the LF one.
        d = tempfile.mkdtemp(prefix="mxgate-check-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(SAMPLES, "malformed-header.eml"), "rb") as f:
            data = f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        path = os.path.join(d, "crlf.eml")
        with open(path, "wb") as f:
            f.write(data)
        j = json.loads(check(path, "--json").stdout)
        self.assertEqual([(s["name"], s["score"]) for s in j["symbols"]],
                         [(n, sc) for n, sc, _ in EXPECTED["malformed-header.eml"][0]])

    def test_content_hits_say_what_and_where(self):
        # Each content rule hit: score, its describe text, and where it matched.
        path = os.path.join(CONTENT, "phish_html.eml")
        p = check(path)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = parse_text(p.stdout)
        syms = {n: (sc, d) for n, sc, d in r["symbols"]}
        self.assertEqual(syms["HTML_PASSWORD_FIELD"],
                         (1.8, "HTML password input field inside the mail"))
        self.assertRegex(r["where"]["HTML_PASSWORD_FIELD"],
                         r'^rawbody part 2 text/html at \d+: ".*type=\\"password"$')
        self.assertRegex(r["where"]["URI_USERINFO_DECEPTIVE"],
                         r'^uri "http://www\.microsoft\.com@203\.0\.113\.45/')
        self.assertTrue(r["where"]["PHISH_WORDING_AND_LINK"].startswith("meta: "), r["where"])
        total = sum(sc for sc, _ in syms.values())
        self.assertAlmostEqual(r["score"], total, places=2)
        # The same in JSON: detail is the description, where the place.
        j = json.loads(check(path, "--json").stdout)
        by = {s["name"]: s for s in j["symbols"]}
        self.assertEqual(by["HTML_PASSWORD_FIELD"]["detail"], "HTML password input field inside the mail")
        self.assertEqual(by["HTML_PASSWORD_FIELD"]["where"], r["where"]["HTML_PASSWORD_FIELD"])

    def test_gtube(self):
        j = json.loads(check(os.path.join(CONTENT, "gtube.eml"), "--json").stdout)
        gtube = [s for s in j["symbols"] if s["name"] == "GTUBE"]
        self.assertEqual(len(gtube), 1, j["symbols"])
        self.assertEqual(gtube[0]["score"], 1000)
        self.assertTrue(gtube[0]["where"].startswith("body part 1 text/plain at "), gtube[0])
        self.assertGreaterEqual(j["score"], 1000)
        # The policy turns the score into the verdict, names the rule and our reply.
        self.assertEqual(j["verdict"], "reject")
        self.assertEqual(j["decided_by"], "policy.thresholds.reject")
        self.assertEqual(j["reply"], "550 5.7.1 Message rejected as spam")

    def test_missing_file_exits_1(self):
        for extra in ([], ["--json"]):
            with self.subTest(extra=extra):
                p = check("/nonexistent/dir/no-such-message.eml", *extra)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("no-such-message.eml", p.stderr)
                self.assertEqual(p.stdout, "")

    def test_bad_config_exits_2(self):
        cfg = self.write_config("bad.yaml", "hostname: mx.test\nsmtp:\n  max_recipients: 0\nfilters:\n  - headers\n")
        d = os.path.dirname(cfg)
        p = check(os.path.join(SAMPLES, "ham.eml"), "--config", cfg)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(cfg + ":3: smtp.max_recipients: ", p.stderr)
        self.assertEqual(p.stdout, "")
        # A config file that does not exist is a config error too.
        p = check(os.path.join(SAMPLES, "ham.eml"), "--config", os.path.join(d, "none.yaml"))
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)

    def test_denied_recipient_refused_alone(self):
        # As the server: a deny-listed recipient is refused by itself, the message goes
        # on for the others; with no recipient left the whole message is refused.
        cfg = self.write_config("deny.yaml",
                                "hostname: mx.test\nfilters: [headers]\npolicy:\n  deny:\n    rcpt: [closed@example.org]\n")
        path = os.path.join(SAMPLES, "ham.eml")
        p = check(path, "--config", cfg, "--json", "--rcpt", "closed@example.org", "--rcpt", "open@example.org")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertNotEqual(j["verdict"], "reject", j)
        self.assertEqual(j["envelope"]["rcpts"], ["open@example.org"])
        self.assertEqual(j["refused_rcpts"], [{"rcpt": "closed@example.org",
                                               "reply": "550 5.7.1 Recipient address rejected: Access denied",
                                               "decided_by": "policy.deny.rcpt closed@example.org"}])
        p = check(path, "--config", cfg, "--rcpt", "closed@example.org")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = parse_text(p.stdout)
        self.assertEqual(r["verdict"], "reject")
        self.assertEqual(r["decided_by"], "policy.deny.rcpt closed@example.org")
        self.assertIn("refused:   <closed@example.org> 550 5.7.1 Recipient address rejected: Access denied", p.stdout)

    def test_config_without_filters(self):
        # The symbols come from the configured chain: with no filters there are none.
        cfg = self.write_config("nofilters.yaml", "hostname: mx.test\nfilters: []\n")
        p = check(os.path.join(SAMPLES, "two-from.eml"), "--config", cfg, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["symbols"], [])
        self.assertEqual(j["filters"], [])
        self.assertEqual(j["verdict"], "accept")


class CheckAuthTest(unittest.TestCase):
    """`check --dns`: SPF, DKIM and DMARC results with reasons, against a DNS server
    the test starts on 127.0.0.1 (never the system resolver)."""

    ZONE = [
        "$TTL 300",
        "test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60",
        'example.test. IN TXT "v=spf1 ip4:192.0.2.0/24 -all exp=why.example.test"',
        'why.example.test. IN TXT "%{i} may not send for %{d}"',
        '_dmarc.example.test. IN TXT "v=DMARC1; p=reject"',
    ]
    MESSAGE = ("From: A <a@example.test>\nTo: b@example.org\nSubject: hi\n"
               "Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <1@example.test>\n\nbody\n")

    def setUp(self):
        self.dns = DnsServer(self.ZONE).start()
        self.addCleanup(self.dns.stop)
        d = tempfile.mkdtemp(prefix="mxgate-check-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        self.cfg = os.path.join(d, "auth.yaml")
        with open(self.cfg, "w") as f:
            f.write("hostname: mx.test\nauthserv_id: auth.test\nfilters: [spf, dkim, dmarc]\n")

    def check(self, ip, *extra, dns_port=None):
        p = run("check", "-", "--config", self.cfg, "--dns", "127.0.0.1:%d" % (dns_port or self.dns.port),
                "--ip", ip, *extra, stdin=self.MESSAGE)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def test_fail_shows_each_result_with_its_reason(self):
        out = self.check("198.51.100.1").stdout
        self.assertIn("spf:       fail for mailfrom a@example.test (matched -all)", out)
        self.assertIn("dkim:      none (no signature)", out)
        self.assertRegex(out, r"dmarc:     fail header.from=example.test policy=reject disposition=reject")
        self.assertIn("header:    Authentication-Results: auth.test;", out)
        self.assertIn("spf=fail (matched -all) smtp.mailfrom=a@example.test;", out)
        symbols = [m.group(1) for m in map(SYMBOL_LINE.match, out.splitlines()) if m]
        self.assertEqual(symbols, ["SPF_FAIL", "DKIM_NONE", "DMARC_FAIL", "DMARC_POLICY_REJECT"])
        # Every lookup went to the test server.
        names = [n for n, _ in self.dns.queries()]
        self.assertIn("example.test", names)
        self.assertIn("_dmarc.example.test", names)

    def test_a_name_reported_by_a_filter_and_a_rule_counts_once(self):
        # SpamAssassin's stock SPF_FAIL is an eval test read from the spf filter's
        # result: both report SPF_FAIL; it counts once, with the filter's score.
        d = os.path.dirname(self.cfg)
        os.mkdir(os.path.join(d, "rules"))
        with open(os.path.join(d, "rules", "spf.cf"), "w") as f:
            f.write("ifplugin Mail::SpamAssassin::Plugin::SPF\n"
                    "header SPF_FAIL eval:check_for_spf_fail()\nscore SPF_FAIL 0.919\nendif\n")
        with open(self.cfg, "w") as f:
            f.write("hostname: mx.test\nauthserv_id: auth.test\n"
                    "filters: [spf, dkim, dmarc, {content: {rules: [rules], cache_dir: ''}}]\n")
        j = json.loads(self.check("198.51.100.1", "--json").stdout)
        spf = [s for s in j["symbols"] if s["name"] == "SPF_FAIL"]
        self.assertEqual(len(spf), 1, j["symbols"])
        self.assertEqual(spf[0]["score"], 2.0)  # the spf filter's
        self.assertIn("counted once", spf[0]["where"])
        self.assertAlmostEqual(j["score"], sum(s["score"] for s in j["symbols"]))

    def test_json_has_auth_and_the_header(self):
        j = json.loads(self.check("192.0.2.7", "--json").stdout)
        self.assertEqual(j["auth"]["spf"], {"result": "pass", "identity": "mailfrom", "domain": "example.test",
                                            "mechanism": "ip4:192.0.2.0/24", "reason": "matched ip4:192.0.2.0/24"})
        self.assertEqual(j["auth"]["dkim"], [])
        self.assertEqual(j["auth"]["dmarc"]["result"], "pass")
        self.assertEqual(j["auth"]["dmarc"]["policy"], "reject")
        self.assertEqual(j["auth"]["dmarc"]["disposition"], "none")
        self.assertEqual(j["authentication_results"],
                         "auth.test;\r\n\tspf=pass smtp.mailfrom=a@example.test;\r\n\tdkim=none;\r\n"
                         "\tdmarc=pass (p=reject dis=none) header.from=example.test")

    def test_explanation_of_a_fail_is_in_the_json(self):
        j = json.loads(self.check("198.51.100.1", "--json").stdout)
        self.assertEqual(j["auth"]["spf"]["explanation"], "198.51.100.1 may not send for example.test")

    def test_unreachable_dns_is_temperror_not_none(self):
        # A DNS server that never answers: a port held here (UDP and TCP), never read
        # or accepted from. (Stopping the test's server instead freed its port for
        # another test's server to take, which then answered NXDOMAIN: "none".)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        self.addCleanup(u.close)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", u.getsockname()[1]))
            t.listen(1)
        except OSError:
            pass  # UDP alone still never answers; TCP is only asked after truncation
        self.addCleanup(t.close)
        j = json.loads(self.check("192.0.2.7", "--json", dns_port=u.getsockname()[1]).stdout)
        self.assertEqual(j["auth"]["spf"]["result"], "temperror")
        self.assertEqual(j["auth"]["dmarc"]["result"], "temperror")


if __name__ == "__main__":
    unittest.main()
