"""The `policy:` section end to end: score thresholds, tagging headers and the
subject prefix, per-recipient-domain overrides (the strictest outcome wins), allow
and deny lists at their SMTP stages (delay_reject), DMARC dispositions, and config
errors with file, line and key.

Every peer is real and on 127.0.0.1: mxgate (`serve`), the scripted aiosmtpd
downstream that records what reaches it, raw SMTP clients (some bound to 127.0.0.5,
to be a different client address), and for SPF/DMARC a DNS server started here
(tests/dns/fake_dns.py on a zone written by the test). Without that server DNS goes
nowhere (the harness default), so the system resolver is never asked.

Scores come from the content filter on a rule folder written here (GTUBE 1000, as in
the shipped rules; TEST_TAG 7.3, TEST_AA_EXTRA 0.4, TEST_MID 10, and eight long-named
TEST_FOLD_* rules of 0.1 that make X-Spam-Status fold). Not the builtin set: its
compile at every start takes over the harness's 10 s under AddressSanitizer.

Run: cd tests/integration && MXGATE_BIN=.../mxgate /usr/bin/python3 -m unittest -v test_policy
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import (LOOPBACK, MXGATE, DnsServer, Mxgate, ProxyTestCase, RawClient, Recorder,
                     ScriptedDownstream)

GTUBE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "content", "gtube.eml")
OTHER_IP = "127.0.0.5"   # a second client address on the loopback (Linux routes all of 127/8)

GTUBE_RULE = ("body GTUBE /XJS\\*C4JDBQADN1\\.NSBN3\\*2IDNEN\\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\\*C\\.34X/\n"
              "describe GTUBE Generic Test for Unsolicited Bulk Email\n"
              "score GTUBE 1000\n")
TEST_RULES = (GTUBE_RULE +
              "body TEST_TAG /tagme/\n"
              "describe TEST_TAG Asks to be tagged\n"
              "score TEST_TAG 7.3\n"
              "body TEST_AA_EXTRA /alsome/\n"
              "describe TEST_AA_EXTRA A little extra\n"
              "score TEST_AA_EXTRA 0.4\n"
              "body TEST_MID /midscore/\n"
              "describe TEST_MID Between example.org's reject threshold (8) and the global one (15)\n"
              "score TEST_MID 10\n"
              + "".join("body TEST_FOLD_A_RATHER_LONG_RULE_NAME_%d /foldme/\n"
                        "describe TEST_FOLD_A_RATHER_LONG_RULE_NAME_%d Makes tests= long\n"
                        "score TEST_FOLD_A_RATHER_LONG_RULE_NAME_%d 0.1\n" % (i, i, i) for i in range(1, 9)))
FOLD_RULES = ["TEST_FOLD_A_RATHER_LONG_RULE_NAME_%d" % i for i in range(1, 9)]

CONTENT = {"content": {"rules": ["rules"], "cache_dir": "cache"}}

SPAM_REPLY = "550 5.7.1 Message rejected as spam"   # policy.reject_reply's default
SPAM_HEADERS = ("x-spam-flag", "x-spam-status", "x-spam-level", "x-spam-score")

_counter = [0]


def message(body="Lunch at noon?", subject="policy test", from_addr="Sender <sender@example.net>",
            to="Rcpt <rcpt@example.net>", extra_headers=""):
    _counter[0] += 1
    return (extra_headers +
            "From: %s\r\n"
            "To: %s\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <policy-%d-%d@example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            "%s\r\n" % (from_addr, to, subject, os.getpid(), _counter[0], body)).encode()


def gtube():
    with open(GTUBE_FILE, "rb") as f:
        data = f.read()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header_fields(data):
    """[(lower-case name, unfolded value with runs of white space made one space)] of
    the header section."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b" " + line
        else:
            name, _, value = line.partition(b":")
            fields.append([name.strip().lower().decode(), value])
    return [(n, re.sub(r"\s+", " ", v.decode("utf-8", "replace")).strip()) for n, v in fields]


class Delivered:
    def __init__(self, rec_msg):
        self.data = rec_msg["data"]
        self.rcpts = rec_msg["rcpts"]
        self.fields = header_fields(self.data)

    def all(self, name):
        return [v for n, v in self.fields if n == name.lower()]

    def one(self, name):
        vals = self.all(name)
        if len(vals) != 1:
            raise AssertionError("expected exactly one %s, got %r in\n%s"
                                 % (name, vals, self.data.split(b"\r\n\r\n")[0].decode(errors="replace")))
        return vals[0]


STATUS_RE = re.compile(r"^(Yes|No), score=(-?\d+\.\d) required=(-?\d+\.\d)(?: tests=([^\s,]*(?:,\s*[^\s,]+)*))?")


def parse_status(value):
    """'Yes, score=7.7 required=5.0 tests=A,B' (tests possibly folded) ->
    (flag, score, required, [tests]). With no tests, "tests=none" (SpamAssassin's
    form), an empty "tests=" or no tests= at all are all read as []."""
    m = STATUS_RE.match(value)
    if not m:
        raise AssertionError("X-Spam-Status not as specified: %r" % value)
    tests = re.sub(r"\s", "", m.group(4) or "")
    return m.group(1), m.group(2), m.group(3), ([] if tests in ("", "none") else tests.split(","))


def symbols(txn):
    return {s["name"]: s for s in txn.get("symbols", [])}


def make_gate(down_port, overrides):
    """An mxgate (not started) whose config folder has the test rules in rules/."""
    m = Mxgate(down_port, overrides)
    os.makedirs(os.path.join(m.workdir, "rules"))
    with open(os.path.join(m.workdir, "rules", "50_policy_test.cf"), "w") as f:
        f.write(TEST_RULES)
    return m


class PolicyTestBase(ProxyTestCase):
    """SMTP helpers shared by every case here."""

    def session(self, port, mail_from, rcpts, data, source=None, helo="client.test", data_anyway=False):
        """One session with one transaction, then QUIT. Returns {"mail": (code, lines),
        "rcpt": [(code, lines)...], "data": ..., "end": ...} up to the first refusal of
        MAIL/DATA. DATA is sent only if a recipient was accepted (or data_anyway)."""
        c = RawClient(port, source=source)
        try:
            self.ehlo(c, helo)
            out = {"mail": c.cmd("MAIL FROM:<%s>" % mail_from), "rcpt": []}
            if out["mail"][0] == 250:
                for r in rcpts:
                    out["rcpt"].append(c.cmd("RCPT TO:<%s>" % r))
                if data_anyway or any(code == 250 for code, _ in out["rcpt"]):
                    out["data"] = c.cmd("DATA")
                    if out["data"][0] == 354:
                        lines = data.split(b"\r\n")
                        assert lines[-1] == b"", "message must end with CRLF"
                        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
                        c.send(wire + b".\r\n")
                        out["end"] = c.reply()
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        return out

    def txn(self, m, n):
        """The n-th transaction (1-based) in m's log, waiting for it."""
        t = m.wait_transactions(n)
        self.assertGreaterEqual(len(t), n, m.log())
        return t[n - 1]

    def assertSpamHeaders(self, d, flag, score, required, tests, stars):
        status = parse_status(d.one("X-Spam-Status"))
        self.assertEqual(status, (flag, score, required, tests), d.one("X-Spam-Status"))
        self.assertEqual(d.one("X-Spam-Level"), "*" * stars)
        self.assertEqual(d.one("X-Spam-Score"), score)
        if flag == "Yes":
            self.assertEqual(d.one("X-Spam-Flag"), "YES")
        else:
            self.assertEqual(d.all("X-Spam-Flag"), [])


# ---------------------------------------------------------------- one gate, many cases

class ScoresAndLists(PolicyTestBase):
    """One mxgate for the cases that share a config: defaults for thresholds (tag 5,
    reject 15), reply and headers; a subject prefix; example.org rejects from 8;
    allow and deny lists."""

    POLICY = {
        "tagging": {"subject_prefix": "***SPAM*** "},
        "allow": {"client_ip": ["192.0.2.0/24", "2001:db8::/32", OTHER_IP],
                  "sender": ["friend@partner.example", "partner.example"]},
        "deny": {"sender": ["spammer@bad.example", "evil.example", ".worse.example"],
                 "rcpt": ["blocked@example.net"]},
        "domains": {"example.org": {"thresholds": {"reject": 8}}},
    }

    @classmethod
    def setUpClass(cls):
        cls.down = ScriptedDownstream().start()
        cls.addClassCleanup(cls.down.stop)
        cls.gate = make_gate(cls.down.port, {"filters": ["mime", CONTENT], "policy": cls.POLICY})
        cls.addClassCleanup(shutil.rmtree, cls.gate.workdir, ignore_errors=True)
        cls.addClassCleanup(cls.gate.stop)
        cls.gate.start()

    def setUp(self):
        self.down.rec = Recorder()      # the handlers read outer.rec at each event
        self.base = len(self.gate.transactions())

    def send(self, mail_from, rcpts, data, **kw):
        return self.session(self.gate.port, mail_from, rcpts, data, **kw)

    def nth(self, n):
        return self.txn(self.gate, self.base + n)

    # ---- tagging

    def test_tagged_mail_gets_spam_headers_and_subject_prefix(self):
        r = self.send("sender@example.net", ["rcpt@example.net"],
                      message(body="Please tagme, and alsome.", subject="policy test"))
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        d = Delivered(self.down.rec.messages[0])
        # 7.3 + 0.4; tests sorted (not in hit order); one star per whole point.
        self.assertSpamHeaders(d, "Yes", "7.7", "5.0", ["TEST_AA_EXTRA", "TEST_TAG"], 7)
        self.assertEqual(d.one("Subject"), "***SPAM*** policy test")
        self.assertTrue(d.data.endswith(b"\r\n\r\nPlease tagme, and alsome.\r\n"), d.data)
        t = self.nth(1)
        self.assertEqual(t["verdict"], "tag", t)
        self.assertAlmostEqual(t["score"], 7.7)
        self.assertEqual(t.get("decided_by"), "policy.thresholds.tag", t)

        # A subject that already carries the prefix does not get it twice.
        r = self.send("sender@example.net", ["rcpt@example.net"],
                      message(body="tagme", subject="***SPAM*** already marked"))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[1])
        self.assertEqual(d.one("Subject"), "***SPAM*** already marked")
        self.assertSpamHeaders(d, "Yes", "7.3", "5.0", ["TEST_TAG"], 7)

        # Below the tag threshold (headers: all, the default): status No, no flag,
        # subject as it came.
        r = self.send("sender@example.net", ["rcpt@example.net"], message(subject="plain lunch"))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[2])
        self.assertEqual(d.one("Subject"), "plain lunch")
        self.assertSpamHeaders(d, "No", "0.0", "5.0", [], 0)
        self.assertEqual(self.nth(3)["verdict"], "accept", self.nth(3))

    def test_forged_spam_headers_and_our_auth_results_are_removed(self):
        forged = ("X-Spam-Flag: YES\r\n"
                  "X-Spam-Status: No, score=-100.0 required=5.0\r\n"
                  "\ttests=FORGED_BY_SENDER\r\n"
                  "x-spam-level: ****\r\n"
                  "X-SPAM-SCORE: -100.0\r\n"
                  "Authentication-Results: mxgate.test; spf=pass smtp.mailfrom=x@example.net\r\n"
                  "Authentication-Results: other.example; spf=none smtp.mailfrom=x@example.net\r\n")
        r = self.send("sender@example.net", ["rcpt@example.net"],
                      message(body="Nothing to see.", extra_headers=forged))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[0])
        self.assertNotIn(b"FORGED_BY_SENDER", d.data)
        self.assertNotIn(b"-100.0", d.data)
        self.assertNotIn(b"****", d.data)
        # Ours, and only ours: a clean message.
        self.assertSpamHeaders(d, "No", "0.0", "5.0", [], 0)
        ar = d.all("Authentication-Results")
        self.assertEqual(ar, ["other.example; spf=none smtp.mailfrom=x@example.net"], d.fields)
        self.assertNotIn(b"mxgate.test; spf=pass", d.data)
        self.assertEqual(self.nth(1)["verdict"], "accept", self.nth(1))

        # A tagged message with a forged "NO" flag: exactly one flag, ours.
        r = self.send("sender@example.net", ["rcpt@example.net"],
                      message(body="tagme", extra_headers="X-Spam-Flag: NO\r\nX-Spam-Score: 0.0\r\n"))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[1])
        self.assertSpamHeaders(d, "Yes", "7.3", "5.0", ["TEST_TAG"], 7)

    def test_broken_header_section_cannot_fold_into_ours(self):
        # A first line starting with white space would continue the last header we
        # prepend, and the fields after it would reach the MX unchecked (DMARC saw no
        # From). The empty line goes where our parse ended the header section.
        data = (b"\t; dmarc=pass header.from=bank.example\r\n"
                b"From: CEO <ceo@bank.example>\r\n"
                b"Authentication-Results: mxgate.test; dmarc=pass header.from=bank.example\r\n"
                b"X-Spam-Status: No, score=-100\r\n"
                b"\r\n"
                b"Pay the invoice.\r\n")
        r = self.send("sender@example.net", ["rcpt@example.net"], data)
        self.assertEqual(r["end"][0], 250, r)
        got = self.down.rec.messages[-1]["data"].replace(b"\r\n", b"\n")
        head, _, body = got.partition(b"\n\n")
        # The header section the MX sees is ours alone, unfolded by the sender's line...
        self.assertNotIn(b"dmarc=pass", head)
        self.assertNotIn(b"bank.example", head)
        self.assertIn(b"X-Spam-Status: No", head)
        # ...and what we read as body is body for it too.
        self.assertTrue(body.startswith(b"\t; dmarc=pass header.from=bank.example\nFrom: CEO"), body[:80])

    def test_long_tests_list_is_folded_and_complete(self):
        r = self.send("sender@example.net", ["rcpt@example.net"], message(body="tagme foldme"))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[0])
        self.assertSpamHeaders(d, "Yes", "8.1", "5.0", sorted(FOLD_RULES + ["TEST_TAG"]), 8)
        head = d.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        for line in head:   # RFC 5322 2.1.1: SHOULD be at most 78 characters
            self.assertLessEqual(len(line), 78, head)

    # ---- score reject

    def test_gtube_is_rejected_and_nothing_is_delivered(self):
        r = self.send("sender@example.net", ["rcpt@example.net"], gtube())
        self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
        # The downstream heard the envelope but never got a message.
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(self.down.rec.mail_count, 1)
        self.assertIn(("RCPT", "rcpt@example.net"), self.down.rec.commands)
        t = self.nth(1)
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t.get("decided_by"), "policy.thresholds.reject", t)
        self.assertGreaterEqual(t["score"], 1000)
        self.assertIn("GTUBE", symbols(t))
        self.assertEqual(t["reply"], SPAM_REPLY, t)

    def test_domain_threshold_applies_and_strictest_recipient_wins(self):
        body = message(body="a midscore message")
        # Elsewhere the global thresholds hold: 10 is tagged, delivered.
        r = self.send("sender@example.net", ["rcpt@example.net"], body)
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertSpamHeaders(Delivered(self.down.rec.messages[0]), "Yes", "10.0", "5.0", ["TEST_MID"], 10)
        self.assertEqual(self.nth(1)["verdict"], "tag", self.nth(1))
        # example.org rejects from 8.
        r = self.send("sender@example.net", ["rcpt@example.org"], body)
        self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
        t = self.nth(2)
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t.get("decided_by"), "policy.domains.example.org.thresholds.reject", t)
        # One verdict per message: with both recipients, in either order, the
        # strictest outcome (reject) applies to the whole message.
        for n, rcpts in ((3, ["rcpt@example.net", "rcpt@example.org"]),
                         (4, ["rcpt@example.org", "rcpt@example.net"])):
            with self.subTest(rcpts=rcpts):
                r = self.send("sender@example.net", rcpts, body)
                self.assertEqual([x[0] for x in r["rcpt"]], [250, 250], r)
                self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
                t = self.nth(n)
                self.assertEqual(t["verdict"], "reject", t)
                self.assertEqual(t.get("decided_by"), "policy.domains.example.org.thresholds.reject", t)
                self.assertEqual(sorted(t["rcpts"]), sorted(rcpts), t)
        self.assertEqual(len(self.down.rec.messages), 1)   # only the first one

    # ---- allow

    def test_allowed_client_ip_lets_gtube_through(self):
        r = self.send("sender@example.net", ["rcpt@example.net"], gtube(), source=OTHER_IP)
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertIn(b"GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL", self.down.rec.messages[0]["data"])
        t = self.nth(1)
        self.assertEqual(t["client_ip"], OTHER_IP, t)
        self.assertEqual(t["verdict"], "accept", t)
        self.assertEqual(t.get("decided_by"), "policy.allow.client_ip " + OTHER_IP, t)
        self.assertIn("GTUBE", symbols(t))
        # The same message from 127.0.0.1, not on the list, is refused.
        r = self.send("sender@example.net", ["rcpt@example.net"], gtube())
        self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
        self.assertEqual(len(self.down.rec.messages), 1)

    def test_allowed_sender_does_not_count_without_spf_pass(self):
        """No SPF filter runs here, so no sender can have SPF pass: allow.sender is
        ignored and GTUBE is rejected on its score."""
        for n, sender in enumerate(("friend@partner.example", "anyone@partner.example"), 1):
            with self.subTest(sender=sender):
                r = self.send(sender, ["rcpt@example.net"], gtube())
                self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
                t = self.nth(n)
                self.assertEqual(t["verdict"], "reject", t)
                self.assertEqual(t.get("decided_by"), "policy.thresholds.reject", t)
        self.assertEqual(self.down.rec.messages, [])

    # ---- deny

    def test_denied_sender_is_refused_at_rcpt(self):
        """delay_reject (the default): MAIL FROM gets 250, each RCPT 550 5.7.1, and no
        refused recipient reaches the downstream. Address entries match that address,
        domain entries that domain, ".domain" entries its subdomains."""
        cases = [("spammer@bad.example", True, "policy.deny.sender spammer@bad.example"),
                 ("friend@bad.example", False, None),
                 ("x@evil.example", True, "policy.deny.sender evil.example"),
                 ("x@mx.evil.example", False, None),
                 ("x@a.worse.example", True, "policy.deny.sender .worse.example"),
                 ("x@worse.example", False, None)]
        n = 0
        for sender, denied, rule in cases:
            with self.subTest(sender=sender):
                before = len(self.down.rec.messages)
                r = self.send(sender, ["rcpt@example.net", "other@example.net"],
                              message(from_addr="<%s>" % sender), data_anyway=True)
                n += 1
                self.assertEqual(r["mail"][0], 250, r)
                t = self.nth(n)
                if denied:
                    for code, lines in r["rcpt"]:
                        self.assertEqual(code, 550, r)
                        self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
                    self.assertNotEqual(r["data"][0], 354, r)
                    self.assertEqual(len(self.down.rec.messages), before)
                    self.assertEqual(t["rcpts"], [], t)
                    self.assertEqual([x["rcpt"] for x in t.get("refused_rcpts", [])],
                                     ["rcpt@example.net", "other@example.net"], t)
                    self.assertEqual(t.get("decided_by"), rule, t)
                else:
                    self.assertEqual([x[0] for x in r["rcpt"]], [250, 250], r)
                    self.assertEqual(r["end"][0], 250, r)
                    self.assertEqual(len(self.down.rec.messages), before + 1)
                    self.assertEqual(t["verdict"], "accept", t)
        rcpts_seen = [a for v, a in self.down.rec.commands if v == "RCPT"]
        self.assertEqual(len(rcpts_seen), 6, self.down.rec.commands)   # the 3 allowed senders' only

    def test_denied_rcpt_refuses_only_that_recipient(self):
        r = self.send("sender@example.net", ["ok@example.net", "blocked@example.net", "ok2@example.net"],
                      message())
        codes = [x[0] for x in r["rcpt"]]
        self.assertEqual(codes, [250, 550, 250], r)
        refusal = r["rcpt"][1][1][-1]
        self.assertTrue(refusal.startswith("550 5.7.1 "), refusal)
        self.assertIn("recipient address rejected: access denied", refusal.lower())
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["rcpts"], ["ok@example.net", "ok2@example.net"])
        self.assertNotIn(("RCPT", "blocked@example.net"), self.down.rec.commands)
        t = self.nth(1)
        self.assertEqual(t["verdict"], "accept", t)
        self.assertEqual(t["rcpts"], ["ok@example.net", "ok2@example.net"], t)
        self.assertEqual([(x["rcpt"], x["reply"]) for x in t.get("refused_rcpts", [])],
                         [("blocked@example.net", refusal)], t)


# ---------------------------------------------------------------- tagging options

class TaggingOptions(PolicyTestBase):
    def setUp(self):
        self.down = self.start_downstream()

    def start_gate(self, tagging):
        m = make_gate(self.down.port, {"filters": ["mime", CONTENT], "policy": {"tagging": tagging}})
        self.addCleanup(shutil.rmtree, m.workdir, ignore_errors=True)
        self.addCleanup(m.stop)
        return m.start()

    def test_headers_spam_with_own_names(self):
        names = {"flag_header": "X-Gate-Flag", "status_header": "X-Gate-Status",
                 "level_header": "X-Gate-Level", "score_header": "X-Gate-Score"}
        m = self.start_gate(dict(headers="spam", **names))
        forged = "X-Gate-Flag: YES\r\nX-Gate-Status: Yes, forged\r\nX-Gate-Level: ***\r\nx-gate-score: 99.0\r\n"
        # Clean: none of ours (headers: spam), and the forged ones are gone.
        r = self.session(m.port, "sender@example.net", ["rcpt@example.net"], message(extra_headers=forged))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[0])
        for name in names.values():
            self.assertEqual(d.all(name), [], d.fields)
        for name in SPAM_HEADERS:
            self.assertEqual(d.all(name), [], d.fields)
        # Tagged: ours, under the configured names only.
        r = self.session(m.port, "sender@example.net", ["rcpt@example.net"],
                         message(body="tagme", extra_headers=forged))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[1])
        self.assertEqual(d.one("X-Gate-Flag"), "YES")
        self.assertEqual(parse_status(d.one("X-Gate-Status")), ("Yes", "7.3", "5.0", ["TEST_TAG"]))
        self.assertEqual(d.one("X-Gate-Level"), "*******")
        self.assertEqual(d.one("X-Gate-Score"), "7.3")
        self.assertNotIn(b"forged", d.data)
        for name in SPAM_HEADERS:
            self.assertEqual(d.all(name), [], d.fields)
        self.assertEqual(self.txn(m, 2)["verdict"], "tag")

    def test_headers_off_still_strips_incoming(self):
        m = self.start_gate({"headers": "off"})
        forged = ("X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=99.0 required=5.0 tests=FORGED\r\n"
                  "X-Spam-Level: ***\r\nX-Spam-Score: 99.0\r\n")
        r = self.session(m.port, "sender@example.net", ["rcpt@example.net"], message(extra_headers=forged))
        self.assertEqual(r["end"][0], 250, r)
        d = Delivered(self.down.rec.messages[0])
        for name in SPAM_HEADERS:
            self.assertEqual(d.all(name), [], d.fields)
        self.assertEqual(d.one("Subject"), "policy test")
        self.assertTrue(d.data.endswith(b"\r\n\r\nLunch at noon?\r\n"), d.data)


# ---------------------------------------------------------------- deny.client_ip

class DenyClientIp(PolicyTestBase):
    def setUp(self):
        self.down = self.start_downstream()

    def test_denied_client_ip_refused_at_rcpt_with_delay_reject(self):
        m = self.start_mxgate(self.down.port, {"policy": {
            "deny": {"client_ip": ["127.0.0.0/8"]},
            "allow": {"client_ip": [OTHER_IP]}}})   # deny wins over allow
        for n, source in enumerate((LOOPBACK, OTHER_IP), 1):
            with self.subTest(source=source):
                r = self.session(m.port, "sender@example.net", ["rcpt@example.net", "other@example.net"],
                                 message(), source=source, data_anyway=True)
                self.assertEqual(r["mail"][0], 250, r)
                for code, lines in r["rcpt"]:
                    self.assertEqual(code, 550, r)
                    self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
                self.assertIn(r["data"][0], (503, 554), r)
                t = self.txn(m, n)
                self.assertEqual(t["client_ip"], source, t)
                self.assertEqual(t["rcpts"], [], t)
                self.assertEqual(len(t.get("refused_rcpts", [])), 2, t)
                self.assertEqual(t.get("decided_by"), "policy.deny.client_ip 127.0.0.0/8", t)
                # Every recipient refused by the policy: the transaction is a reject.
                self.assertEqual(t["verdict"], "reject", t)
                self.assertTrue(t["reply"].startswith("550 5.7.1 "), t)
        # The downstream was never even asked: MAIL FROM was answered by us.
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(self.down.rec.mail_count, 0)
        self.assertEqual([c for c in self.down.rec.commands if c[0] == "RCPT"], [])

    def test_denied_client_ip_refused_at_connect_without_delay_reject(self):
        m = self.start_mxgate(self.down.port, {"policy": {
            "delay_reject": False, "deny": {"client_ip": ["127.0.0.0/8"]}}})
        c = self.raw(m.port)
        code, lines = c.reply()
        self.assertEqual(code, 554, lines)
        self.assertTrue(lines[-1].startswith("554 5.7.1 "), lines)
        # No transaction can follow: either the connection is gone or every command
        # is refused.
        for cmd in ("EHLO client.test", "MAIL FROM:<sender@example.net>", "RCPT TO:<rcpt@example.net>"):
            try:
                code, lines = c.cmd(cmd)
            except (ConnectionError, OSError):
                break
            self.assertGreaterEqual(code, 500, (cmd, lines))
        self.assertEqual(self.down.rec.mail_count, 0)
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(m.transactions(), [])


    def test_without_delay_reject_helo_and_sender_are_refused_at_their_commands(self):
        m = self.start_mxgate(self.down.port, {"policy": {
            "delay_reject": False,
            "deny": {"helo": ["bad.helo.example"], "sender": ["spammer@bad.example"]}}})
        c = self.raw(m.port)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("EHLO bad.helo.example")
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
        code, lines = c.cmd("HELO bad.helo.example")
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        code, lines = c.cmd("MAIL FROM:<spammer@bad.example>")
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.7.1 "), lines)
        self.assertEqual(self.down.rec.mail_count, 0)
        # The session goes on; another sender is served.
        self.assertEqual(c.cmd("MAIL FROM:<friend@bad.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.net>")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual([x[1] for x in self.down.rec.commands if x[0] == "MAIL"], ["friend@bad.example"])
        t = self.txn(m, 1)
        self.assertEqual(t["mail_from"], "spammer@bad.example", t)
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t.get("decided_by"), "policy.deny.sender spammer@bad.example", t)


# ---------------------------------------------------------------- SPF and DMARC

ZONE = [
    "$TTL 300",
    "example. 300 IN SOA ns.example. admin.example. 1 3600 600 86400 60",
    "com. 300 IN SOA ns.com. admin.com. 1 3600 600 86400 60",
    # example.com: p=reject, and SPF fails for 127.0.0.1.
    'example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"',
    '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=reject"',
    # On allow.sender: partner.example's SPF passes for 127.0.0.1, liar.example's fails.
    'partner.example. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"',
    'liar.example. 300 IN TXT "v=spf1 -all"',
    # 127.0.0.1 is forward-confirmed as mail.partner.example; 127.0.0.5's PTR claims
    # the same name, but the name does not point back to it.
    "1.0.0.127.in-addr.arpa. 300 IN PTR mail.partner.example.",
    "5.0.0.127.in-addr.arpa. 300 IN PTR mail.partner.example.",
    "mail.partner.example. 300 IN A 127.0.0.1",
]


class Authentication(PolicyTestBase):
    def setUp(self):
        self.dns = DnsServer(ZONE).start()
        self.addCleanup(self.dns.stop)
        self.down = self.start_downstream()

    def start_gate(self, policy, content=False):
        filters = ["spf", "dkim", "dmarc"] + (["mime", CONTENT] if content else [])
        m = make_gate(self.down.port, {
            "filters": filters, "policy": policy,
            "dns": {"nameservers": [f"{LOOPBACK}:{self.dns.port}"], "timeout": "500ms", "attempts": 1}})
        self.addCleanup(shutil.rmtree, m.workdir, ignore_errors=True)
        self.addCleanup(m.stop)
        m.start()
        return m

    def forged(self):
        return message(from_addr="Someone <someone@example.com>", body="Please pay the invoice.")

    def test_dmarc_reject_refuses_forged_from(self):
        m = self.start_gate({})
        r = self.session(m.port, "someone@example.com", ["rcpt@example.net"], self.forged())
        self.assertEqual(r["end"], (550, ["550 5.7.1 Unauthenticated email from example.com is not accepted "
                                          "due to domain's DMARC policy"]), r)
        self.assertEqual(self.down.rec.messages, [])
        t = self.txn(m, 1)
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t.get("decided_by"), "policy.dmarc.reject example.com", t)
        self.assertIn("DMARC_POLICY_REJECT", symbols(t), t)
        self.assertIn(("_dmarc.example.com", "TXT"), self.dns.queries())

    def test_dmarc_reject_as_tag_delivers_tagged(self):
        m = self.start_gate({"dmarc": {"reject": "tag"}})
        r = self.session(m.port, "someone@example.com", ["rcpt@example.net"], self.forged())
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        d = Delivered(self.down.rec.messages[0])
        self.assertEqual(d.one("X-Spam-Flag"), "YES")
        self.assertEqual(parse_status(d.one("X-Spam-Status"))[0], "Yes", d.one("X-Spam-Status"))
        self.assertEqual(d.one("Subject"), "policy test")   # no subject_prefix configured
        t = self.txn(m, 1)
        self.assertEqual(t["verdict"], "tag", t)
        self.assertEqual(t.get("decided_by"), "policy.dmarc.reject example.com", t)

    def test_allowed_helo_counts_only_when_forward_confirmed(self):
        m = self.start_gate({"allow": {"helo": ["mail.partner.example"]}}, content=True)
        r = self.session(m.port, "a@other.example", ["rcpt@example.net"], gtube(), helo="mail.partner.example")
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        t = self.txn(m, 1)
        self.assertEqual(t["client_name"], "mail.partner.example", t)
        self.assertEqual(t["verdict"], "accept", t)
        self.assertEqual(t.get("decided_by"), "policy.allow.helo mail.partner.example", t)
        # The same HELO from an address whose name is not confirmed: no allow.
        r = self.session(m.port, "a@other.example", ["rcpt@example.net"], gtube(), helo="mail.partner.example",
                         source=OTHER_IP)
        self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
        t = self.txn(m, 2)
        self.assertEqual(t["client_name"], "unknown", t)
        self.assertEqual(t.get("decided_by"), "policy.thresholds.reject", t)
        self.assertEqual(len(self.down.rec.messages), 1)

    def test_allowed_sender_counts_only_with_spf_pass(self):
        m = self.start_gate({"allow": {"sender": ["partner.example", "liar.example"]}}, content=True)
        # SPF pass for partner.example: allowed, GTUBE goes through.
        r = self.session(m.port, "friend@partner.example", ["rcpt@example.net"], gtube())
        self.assertEqual(r["end"][0], 250, r)
        self.assertEqual(len(self.down.rec.messages), 1)
        t = self.txn(m, 1)
        self.assertIn("SPF_PASS", symbols(t), t)
        self.assertEqual(t["verdict"], "accept", t)
        self.assertEqual(t.get("decided_by"), "policy.allow.sender partner.example", t)
        # SPF fail for liar.example: the entry does not count, the score rejects.
        r = self.session(m.port, "x@liar.example", ["rcpt@example.net"], gtube())
        self.assertEqual(r["end"], (550, [SPAM_REPLY]), r)
        self.assertEqual(len(self.down.rec.messages), 1)
        t = self.txn(m, 2)
        self.assertIn("SPF_FAIL", symbols(t), t)
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t.get("decided_by"), "policy.thresholds.reject", t)


# ---------------------------------------------------------------- config errors

class ConfigErrors(unittest.TestCase):
    def run_mxgate(self, policy_lines, check=False):
        """`mxgate serve` (or `serve --check-config`) on a config ending in
        policy_lines; returns (path, lines, completed process)."""
        tmp = tempfile.mkdtemp(prefix="mxgate-policy-cfg-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        path = os.path.join(tmp, "mxgate.yaml")
        lines = ["listen:", f"  - {LOOPBACK}:0", "hostname: mxgate.test",
                 "dns:", f"  nameservers: [\"{LOOPBACK}:1\"]", "  timeout: 200ms", "  attempts: 1",
                 "log:", "  transactions: \"off\"",
                 "policy:"] + policy_lines
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        args = [MXGATE, "serve"] + (["--check-config"] if check else []) + ["--config", path]
        try:
            p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("mxgate kept running on a bad policy config")
        return path, lines, p

    def test_good_policy_loads(self):
        """The control for the cases below: the same skeleton with a valid policy."""
        path, _, p = self.run_mxgate(["  thresholds: {tag: 4, reject: 12}",
                                      "  delay_reject: false",
                                      "  dmarc: {reject: tag}",
                                      "  allow:",
                                      "    client_ip: [192.0.2.0/24, \"2001:db8::/32\", 127.0.0.5]",
                                      "  deny:",
                                      "    sender: [spammer@bad.example, .worse.example]",
                                      "  domains:", "    example.org:", "      thresholds: {reject: 8}"],
                                     check=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(path + ": ok", p.stdout)

    def test_bad_cidr_names_file_line_and_key(self):
        path, lines, p = self.run_mxgate(["  deny:", "    client_ip:",
                                          "      - 10.0.0.0/8",
                                          "      - 10.1.2.0/33",
                                          "    sender: [spammer@bad.example]"])
        self.assertEqual(p.returncode, 2, p.stderr)
        line = lines.index("      - 10.1.2.0/33") + 1
        self.assertRegex(p.stderr, r"(?m)^%s:%d: policy\.deny\.client_ip(\[1\])?: \S"
                         % (re.escape(path), line))
        self.assertNotRegex(p.stderr, r"(?m)^%s:%d:" % (re.escape(path), line - 1))   # the good entry

    def test_unknown_action_and_quarantine_threshold_are_errors(self):
        path, lines, p = self.run_mxgate(["  thresholds:", "    quarantine: 10",
                                          "  spf_fail: bounce"])
        self.assertEqual(p.returncode, 2, p.stderr)
        # Every error is reported, not just the first.
        self.assertRegex(p.stderr, r"(?m)^%s:%d: policy\.thresholds\.quarantine: \S"
                         % (re.escape(path), lines.index("    quarantine: 10") + 1))
        self.assertRegex(p.stderr, r"(?m)^%s:%d: policy\.spf_fail: \S"
                         % (re.escape(path), lines.index("  spf_fail: bounce") + 1))


if __name__ == "__main__":
    unittest.main()
