"""The content filter in a running server: rule hits in the transaction log with
their description and where they matched, large messages scanned on the pool, the
rule set swapped by SIGHUP (sessions in flight keep theirs; a broken rule file keeps
the running set and is reported with file, line and rule), and the compiled-rules
cache read by a restart."""
import os
import signal
import smtplib
import time
import unittest

from harness import LOOPBACK, ProxyTestCase, wait_port


def message(body, subject="hello"):
    return ("From: Sender <sender@example.net>\r\n"
            "To: Rcpt <rcpt@example.org>\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: <c-1@example.net>\r\n"
            "\r\n%s" % (subject, body)).encode()


class ContentCase(ProxyTestCase):
    def setUp(self):
        self.down = self.start_downstream()

    def start_gate(self, rules, **content):
        """mxgate with one content filter over a rule folder written from `rules`."""
        self.rules_text = rules
        gate = {"content": {"rules": ["rules"], "cache_dir": "cache", "inline_scan_bytes": "64k"}}
        gate["content"].update(content)
        m = self.start_mxgate(self.down.port, {"filters": [gate]}, wait=False)
        os.makedirs(os.path.join(m.workdir, "rules"), exist_ok=True)
        self.write_rules(m, rules)
        m.stop()
        m.start()
        return m

    def write_rules(self, m, text, name="50_test.cf"):
        path = os.path.join(m.workdir, "rules", name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def send(self, m, data):
        with smtplib.SMTP(LOOPBACK, m.port, timeout=30) as s:
            s.ehlo("client.test")
            s.sendmail("sender@example.net", ["rcpt@example.org"], data)

    def symbols(self, m, n):
        t = m.wait_transactions(n)
        self.assertEqual(len(t), n, m.log())
        return {s["name"]: s for s in t[n - 1]["symbols"]}

    def hup_and_wait(self, m, what):
        before = m.log().count(what)
        m.signal(signal.SIGHUP)
        self.wait_for(lambda: m.log().count(what) > before, timeout=30, msg="%r in the log" % what)


RULES_A = ("body CHEAP_PILLS /cheap\\s+pills/i\n"
           "describe CHEAP_PILLS Sells cheap pills\n"
           "score CHEAP_PILLS 2.5\n"
           "header SUBJ_WIN Subject =~ /^you won/i\n"
           "score SUBJ_WIN 1.0\n"
           "describe SUBJ_WIN Subject says you won\n"
           "uri URI_BAD_HOST /\\/\\/bad\\.example\\//\n"
           "score URI_BAD_HOST 1.5\n"
           "describe URI_BAD_HOST Links to bad.example\n"
           "meta PILLS_AND_LINK CHEAP_PILLS && URI_BAD_HOST\n"
           "score PILLS_AND_LINK 1.0\n"
           "describe PILLS_AND_LINK Pills and a bad link\n")


def slow_rules(n=450):
    """A rule file whose cold compile takes several seconds (bounded repeats and
    alternations in every pattern; ~8 s for 150 under load here), far more than
    start-up waits (3 s), so a first start serves with the builtin rules."""
    words = ["money", "offer", "free", "click", "winner", "prize", "account", "verify", "urgent", "bank"]
    lines = []
    for i in range(n):
        a, b, c = words[i % 10], words[(i * 3 + 1) % 10], words[(i * 7 + 2) % 10]
        lines.append("body SLOW_%d /\\b%s\\W{1,20}(?:[a-z]+\\s+){0,%d}%s%d\\b.{0,60}%s/i\nscore SLOW_%d 0.5\n"
                     % (i, a, 3 + i % 7, b, i, c, i))
    return "".join(lines)


GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


class StartUp(ContentCase):
    """A rule set that takes long to compile never delays start-up: mxgate serves at
    once with the builtin rules (rules/default/) and installs the full set when it is
    compiled, for new sessions, as a reload does."""

    def start_slow(self):
        # GTUBE (builtin, 1000 points) only tags here: the messages must get through.
        m = self.start_mxgate(self.down.port, {"filters": [{"content": {"rules": ["builtin", "rules"],
                                                                          "cache_dir": "cache"}}],
                                               "policy": {"thresholds": {"tag": 5, "reject": 100000}}}, wait=False)
        os.makedirs(os.path.join(m.workdir, "rules"), exist_ok=True)
        self.write_rules(m, slow_rules())
        m.stop()  # the first start had no rules folder yet
        with open(m.stderr_path, "w"):
            pass
        return m

    def test_serves_with_builtin_rules_then_installs_the_full_set(self):
        m = self.start_slow()
        m.start(wait=False)
        wait_port(m.port, timeout=120)
        # Serving began before the configured rules were compiled (an order, not a
        # time: the machine may be loaded).
        self.assertIn("serving with the builtin rules while", m.log())
        self.assertNotIn("content rules compiled", m.log())
        # SLOW_7 is /\bverify\W{1,20}(?:[a-z]+\s+){0,3}free7\b.{0,60}offer/i.
        body = "Please verify: free7 and an offer %s\r\n" % GTUBE
        # Before the full set: the builtin GTUBE rule runs, the new rules do not yet.
        self.send(m, message(body))
        syms = self.symbols(m, 1)
        self.assertIn("GTUBE", syms)
        self.assertFalse([s for s in syms if s.startswith("SLOW_")], syms)
        self.wait_for(lambda: "content rules compiled" in m.log(), timeout=240, msg="the full rule set")
        # After: new sessions get every rule.
        self.send(m, message(body))
        syms = self.symbols(m, 2)
        self.assertIn("GTUBE", syms)
        self.assertIn("SLOW_7", syms)
        # A restart finds the compiled set in the cache: no provisional start.
        m.stop()
        m.start()
        self.wait_for(lambda: m.log().count("reloaded") >= 0 and "loaded from cache" in m.log(), timeout=30,
                      msg="the cached rules")
        self.assertEqual(m.log().count("serving with the builtin rules while"), 1)

    def test_stops_promptly_while_compiling(self):
        m = self.start_slow()
        m.start(wait=False)
        wait_port(m.port, timeout=120)
        self.assertIn("serving with the builtin rules while", m.log())
        if "content rules compiled" in m.log():
            self.skipTest("this machine compiled the rules before the stop could be sent")
        m.stop(timeout=60)
        self.assertEqual(m.proc.returncode, 0, m.log())  # not killed: it exited by itself
        # It did not wait for the compile to finish.
        self.assertIn("stopped while the content rules were still compiling", m.log())
        self.assertNotIn("content rules compiled", m.log())

    def test_a_rule_error_still_stops_the_start(self):
        m = self.start_slow()
        self.write_rules(m, "body BROKEN /unclosed\n", name="60_broken.cf")
        m.start(wait=False)
        m.proc.wait(60)
        self.assertEqual(m.proc.returncode, 2)
        self.assertIn("60_broken.cf:1: rule BROKEN", m.log())


class Scanning(ContentCase):
    def test_hits_reach_the_transaction_log_with_what_and_where(self):
        m = self.start_gate(RULES_A)
        self.send(m, message("Buy CHEAP  pills at http://bad.example/shop today.\r\n", subject="You won"))
        syms = self.symbols(m, 1)
        self.assertEqual(set(syms), {"CHEAP_PILLS", "SUBJ_WIN", "URI_BAD_HOST", "PILLS_AND_LINK"})
        self.assertEqual(syms["CHEAP_PILLS"]["score"], 2.5)
        self.assertEqual(syms["CHEAP_PILLS"]["detail"], "Sells cheap pills")
        self.assertEqual(syms["CHEAP_PILLS"]["where"], 'body part 1 text/plain at 15: "Buy CHEAP pills"')
        self.assertEqual(syms["SUBJ_WIN"]["where"], 'header Subject: "You won"')
        self.assertEqual(syms["URI_BAD_HOST"]["where"], 'uri "http://bad.example/shop"')
        self.assertEqual(syms["PILLS_AND_LINK"]["where"], "meta: CHEAP_PILLS URI_BAD_HOST")
        t = m.transactions()[0]
        self.assertAlmostEqual(t["score"], 6.0)
        # The message went on, whole.
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertIn(b"CHEAP  pills", self.down.rec.messages[0]["data"])

    def test_large_message_is_scanned_off_the_session_thread(self):
        m = self.start_gate(RULES_A + "rawbody RAW_PILLS /cheap pills/\nscore RAW_PILLS 0.5\n"
                            "describe RAW_PILLS Pills in the raw text\n", inline_scan_bytes="1k")
        filler = "".join("line %d of filler text\r\n" % i for i in range(10000))  # ~260 KB
        self.send(m, message("cheap pills first\r\n" + filler + "\r\nand cheap pills at the end\r\n"))
        syms = self.symbols(m, 1)
        self.assertEqual(set(syms), {"CHEAP_PILLS", "RAW_PILLS"})
        self.assertIn("on the work pool", m.log())
        self.assertEqual(len(self.down.rec.messages), 1)
        # As SpamAssassin's body_part_scan_size: body rules read the first 50,000
        # bytes of a part, rawbody rules 500,000: past those, nothing is seen.
        self.send(m, message(filler + "\r\nand cheap pills at the end\r\n"))
        self.assertEqual(set(self.symbols(m, 2)), {"RAW_PILLS"})
        self.send(m, message(filler * 3 + "\r\nand cheap pills at the end\r\n"))
        self.assertEqual(set(self.symbols(m, 3)), set())

    def test_clean_mail_has_no_content_symbols(self):
        m = self.start_gate(RULES_A)
        self.send(m, message("Lunch at noon?\r\n"))
        self.assertEqual(self.symbols(m, 1), {})


class Reload(ContentCase):
    def test_sighup_swaps_rules_and_keeps_them_on_error(self):
        m = self.start_gate(RULES_A)
        self.send(m, message("cheap pills\r\n"))
        self.assertEqual(set(self.symbols(m, 1)), {"CHEAP_PILLS"})

        # A session that started before the reload keeps the set it started with.
        early = self.raw(m.port)
        self.ehlo(early)

        self.write_rules(m, "body FRESH_RULE /cheap pills/\nscore FRESH_RULE 0.7\ndescribe FRESH_RULE New\n")
        self.hup_and_wait(m, "reloaded ")
        self.send(m, message("cheap pills\r\n"))
        self.assertEqual(set(self.symbols(m, 2)), {"FRESH_RULE"})

        self.assertEqual(early.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(early.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(early.cmd("DATA")[0], 354)
        early.send(message("cheap pills\r\n") + b".\r\n")
        self.assertEqual(early.reply()[0], 250)
        self.assertEqual(set(self.symbols(m, 3)), {"CHEAP_PILLS"})

        # A broken rule file: the reload fails with file, line and rule; the running
        # set stays.
        bad = self.write_rules(m, "body FRESH_RULE /cheap pills/\n\nbody BROKEN /unclosed\n")
        self.hup_and_wait(m, "reload of ")
        self.assertIn("%s:3: rule BROKEN: " % bad, m.log())
        self.assertIn("keeping the running configuration", m.log())
        self.send(m, message("cheap pills\r\n"))
        self.assertEqual(set(self.symbols(m, 4)), {"FRESH_RULE"})
        self.assertIsNone(m.proc.poll())

    def test_a_restart_reads_the_compiled_rules_from_the_cache(self):
        m = self.start_gate(RULES_A)
        self.wait_for(lambda: "compiled in" in m.log(), msg="compile line")
        self.assertTrue(any(f.endswith(".hsc") for f in os.listdir(os.path.join(m.workdir, "cache"))))
        m.stop()
        m.start()
        self.wait_for(lambda: "loaded from cache in" in m.log(), msg="cache line")
        self.send(m, message("cheap pills\r\n"))
        self.assertEqual(set(self.symbols(m, 1)), {"CHEAP_PILLS"})


if __name__ == "__main__":
    unittest.main()
