"""DNS lists (the dnsbl filter) against a real DNS server on 127.0.0.1.

tests/dns/fake_dns.py (dnslib) serves list zones made here: a client list that
refuses at connect, one that scores, one that refuses at RCPT, and a domain list;
with an error code ("query refused") and an IPv6 entry. mxgate is asked through its
one resolver (dns.nameservers points at that server, never the system resolver);
clients present their addresses with XCLIENT from 127.0.0.1, which is trusted here;
the downstream is aiosmtpd; the client is the byte-exact RawClient and smtplib.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

from harness import LOOPBACK, MXGATE, SOURCE_DIR, DnsServer, ProxyTestCase, RawClient

NIBBLES_2001_DB8__7 = ".".join(reversed("20010db8000000000000000000000007"))

ZONE = [
    "$TTL 300",
    "test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60",
    # zen.test: refuses at connect.
    "7.2.0.192.zen.test. IN A 127.0.0.2",
    "9.2.0.192.zen.test. IN A 127.255.255.254",  # "refused": an error, never a listing
    # score.test: only scores.
    "8.2.0.192.score.test. IN A 127.0.0.3",
    "7.2.0.192.score.test. IN A 127.0.0.3",
    NIBBLES_2001_DB8__7 + ".score.test. IN A 127.0.0.3",
    # late.test: refuses at RCPT.
    "10.2.0.192.late.test. IN A 127.0.0.2",
    # dbl.test: a domain list.
    "bad-links.example.dbl.test. IN A 127.0.1.2",
    "bad-links.com.dbl.test. IN A 127.0.1.2",
    "spammy-sender.example.dbl.test. IN A 127.0.1.2",
    # bad-links.com's name server and its web host, both listed on zen.test (uridnssub).
    "bad-links.com. IN NS ns1.dns-host.com.",
    "ns1.dns-host.com. IN A 192.0.2.60",
    "www.bad-links.com. IN A 192.0.2.61",
    "60.2.0.192.zen.test. IN A 127.0.0.2",
    "61.2.0.192.zen.test. IN A 127.0.0.3",
]

DNSBL = {"dnsbl": {"lists": [
    {"name": "ZEN", "zone": "zen.test", "action": "reject",
     "codes": [{"code": "127.0.0.2-127.0.0.11", "symbol": "RBL_ZEN", "score": 5}]},
    {"name": "RBL_SCORE", "zone": "score.test", "score": 2.5},
    {"name": "LATE", "zone": "late.test", "action": "reject", "reject_at": "rcpt",
     "reply": "550 5.7.1 Mail from {ip} refused, see https://{zone}/lookup"},
    {"name": "DBL", "zone": "dbl.test", "type": "domains",
     "codes": [{"code": "127.0.1.2-127.0.1.99", "symbol": "URIBL_DBL_SPAM", "score": 3}]},
]}}


def message(from_addr="Sender <news@ok-sender.example>", link="https://www.ok-links.example/x"):
    return ("From: %s\r\nTo: user@example.org\r\nSubject: hello\r\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <dnsbl-%s@example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
            "<p>See <a href=\"%s\">this</a></p>\r\n" % (from_addr, os.urandom(4).hex(), link)).encode()


class DnsblTest(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def gate(self, down, dns_port=None):
        return self.start_mxgate(down.port, {
            "dns": {"nameservers": ["%s:%d" % (LOOPBACK, dns_port or self.dns.port)], "timeout": "300ms",
                    "attempts": 1},
            "smtp": {"xclient_trusted": ["127.0.0.1/32"]},
            "filters": ["mime", DNSBL],
        })

    def client(self, m, addr):
        c = RawClient(m.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO front.test")[0], 250)
        return c, c.cmd("XCLIENT ADDR=%s HELO=client.test" % addr)

    def send(self, c, data, mail_from="bounce@ok-sender.example"):
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % mail_from)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<user@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(data + b".\r\n")
        return c.reply()

    def symbols(self, m, n=1):
        t = m.wait_transactions(n)
        self.assertGreaterEqual(len(t), n, m.log()[-2000:])
        return {s["name"]: s for s in t[n - 1]["symbols"]}

    def test_listed_client_is_refused_before_it_greets(self):
        down = self.start_downstream()
        m = self.gate(down)
        c, r = self.client(m, "192.0.2.7")
        self.assertEqual(r[0], 554, r)
        self.assertIn("5.7.1", r[1][0])
        self.assertIn("client [192.0.2.7] blocked using zen.test", r[1][0])
        self.assertIn("refused at connect from 192.0.2.7", m.log())
        self.assertEqual(down.rec.messages, [])

    def test_scored_listings_count_for_the_message(self):
        down = self.start_downstream()
        m = self.gate(down)
        c, r = self.client(m, "192.0.2.8")
        self.assertEqual(r[0], 220, r)
        end = self.send(c, message(from_addr="Shop <a@mail.spammy-sender.example>",
                                   link="http://www.bad-links.example/offer"))
        self.assertEqual(end[0], 250, end)
        syms = self.symbols(m)
        self.assertEqual(syms["RBL_SCORE"]["score"], 2.5, syms)
        self.assertIn("192.0.2.8 listed on score.test (127.0.0.3)", syms["RBL_SCORE"]["detail"])
        # The domain list: asked about registrable domains; one symbol per message.
        self.assertEqual(syms["URIBL_DBL_SPAM"]["score"], 3, syms)
        self.assertIn("listed on dbl.test (127.0.1.2)", syms["URIBL_DBL_SPAM"]["detail"])
        asked = {n for n, _ in self.dns.queries()}
        self.assertIn("bad-links.example.dbl.test", asked)
        self.assertIn("spammy-sender.example.dbl.test", asked)
        self.assertNotIn("www.bad-links.example.dbl.test", asked)      # hosts: their registrable domain
        self.assertNotIn("mail.spammy-sender.example.dbl.test", asked)

    def test_an_error_code_is_not_a_listing(self):
        down = self.start_downstream()
        m = self.gate(down)
        c, r = self.client(m, "192.0.2.9")  # zen.test answers 127.255.255.254 for it
        self.assertEqual(r[0], 220, r)
        self.assertEqual(self.send(c, message())[0], 250)
        self.assertFalse([n for n in self.symbols(m) if n.startswith("RBL_")])
        self.assertIn("an error code, not a listing", m.log())

    def test_ipv6_clients_are_asked_in_nibbles(self):
        down = self.start_downstream()
        m = self.gate(down)
        c, r = self.client(m, "IPV6:2001:db8::7")
        self.assertEqual(r[0], 220, r)
        self.assertEqual(self.send(c, message())[0], 250)
        self.assertIn("RBL_SCORE", self.symbols(m))

    def test_refused_at_rcpt_names_the_list(self):
        down = self.start_downstream()
        m = self.gate(down)
        c, r = self.client(m, "192.0.2.10")
        self.assertEqual(r[0], 220, r)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@ok-sender.example>")[0], 250)
        code, lines = c.cmd("RCPT TO:<user@example.org>")
        self.assertEqual(code, 550, lines)
        self.assertEqual(lines[-1], "550 5.7.1 Mail from 192.0.2.10 refused, see https://late.test/lookup")

    def test_lists_that_do_not_answer_cost_nothing_and_lose_nothing(self):
        # A DNS server that never answers (nothing listens): the resolver's timeout,
        # then the message goes on unscored.
        down = self.start_downstream()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))  # bound, never read: queries time out
        self.addCleanup(s.close)
        m = self.gate(down, dns_port=s.getsockname()[1])
        c, r = self.client(m, "192.0.2.7")  # listed on zen.test, but the server is silent
        self.assertEqual(r[0], 220, r)
        self.assertEqual(self.send(c, message(link="http://www.bad-links.example/"))[0], 250)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertFalse([n for n in self.symbols(m) if n.startswith(("RBL_", "URIBL_"))])

    def test_check_shows_the_refusal(self):
        d = tempfile.mkdtemp(prefix="mxgate-dnsbl-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        cfg = os.path.join(d, "c.yaml")
        with open(cfg, "w") as f:
            f.write(json.dumps({"filters": ["mime", DNSBL]}))  # JSON is YAML
        msg = os.path.join(d, "m.eml")
        with open(msg, "wb") as f:
            f.write(message())
        p = subprocess.run([MXGATE, "check", "-c", cfg, "--dns", "%s:%d" % (LOOPBACK, self.dns.port),
                            "--ip", "192.0.2.7", "--json", msg], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        j = json.loads(p.stdout)
        self.assertEqual(j["verdict"], "reject", j)
        self.assertIn("blocked using zen.test", j["reply"])


    def test_spamassassins_check_rbl_rules_with_network_tests(self):
        # content.network_tests: SpamAssassin's own DNSEval rules, asked through the
        # same resolver, scored with the network score set (the second value).
        down = self.start_downstream()
        d = tempfile.mkdtemp(prefix="mxgate-dnsbl-rules-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(d, "net.cf"), "w") as f:
            f.write("header __RCVD_IN_SCORE eval:check_rbl('score', 'score.test.')\n"
                    "header RCVD_IN_SCORE_3 eval:check_rbl_sub('score', '127.0.0.3')\n"
                    "score RCVD_IN_SCORE_3 0 1.25 0 1.5\n"
                    "header RCVD_IN_ZEN_LAST eval:check_rbl('zen-lastexternal', 'zen.test.', '^127\\.0\\.0\\.2$')\n"
                    "score RCVD_IN_ZEN_LAST 0 2 0 2\n"
                    "urirhssub URIBL_TEST_DBL dbl.test. A 127.0.1.2\n"
                    "body URIBL_TEST_DBL eval:check_uridnsbl('URIBL_TEST_DBL')\n"
                    "score URIBL_TEST_DBL 0 3 0 3\n"
                    "uridnssub URIBL_TEST_NS zen.test. A 127.0.0.2\n"
                    "body URIBL_TEST_NS eval:check_uridnsbl('URIBL_TEST_NS')\n"
                    "tflags URIBL_TEST_NS net\n"
                    "score URIBL_TEST_NS 0 1.5 0 1.5\n"
                    "uridnssub URIBL_TEST_A zen.test. A 127.0.0.3\n"
                    "body URIBL_TEST_A eval:check_uridnsbl('URIBL_TEST_A')\n"
                    "tflags URIBL_TEST_A net a\n"
                    "score URIBL_TEST_A 0 0.5 0 0.5\n"
                    "header NO_DNS_FOR_FROM eval:check_dns_sender()\n"
                    "score NO_DNS_FOR_FROM 0 0.8 0 0.8\n"
                    "header RBL_TEST_ENVFROM eval:check_rbl_envfrom('envf', 'dbl.test.', '127.0.1.2')\n"
                    "score RBL_TEST_ENVFROM 0 2 0 2\n"
                    "util_rb_tld com example\n")  # SpamAssassin's rules list every TLD; these only .com
        m = self.start_mxgate(down.port, {
            "dns": {"nameservers": ["%s:%d" % (LOOPBACK, self.dns.port)]},
            "smtp": {"xclient_trusted": ["127.0.0.1/32"]},
            "filters": ["mime", {"content": {"rules": [d], "cache_dir": "", "network_tests": True}}],
        })
        c, r = self.client(m, "192.0.2.8")  # listed on score.test (127.0.0.3), not on zen.test
        self.assertEqual(r[0], 220, r)
        # (The URI list knows the TLDs of util_rb_tld only: .com here; the question
        # still goes to the test server only.)
        self.assertEqual(self.send(c, message(link="http://www.bad-links.com/offer"))[0], 250)
        syms = self.symbols(m)
        self.assertEqual(syms["URIBL_TEST_DBL"]["score"], 3, syms)
        self.assertIn("bad-links.com listed in dbl.test (127.0.1.2)", syms["URIBL_TEST_DBL"]["where"])
        self.assertEqual(syms["RCVD_IN_SCORE_3"]["score"], 1.25, syms)  # set 1: network, no Bayes
        self.assertIn("192.0.2.8 listed in score.test (127.0.0.3)", syms["RCVD_IN_SCORE_3"]["where"])
        self.assertNotIn("RCVD_IN_ZEN_LAST", syms)
        self.assertIn(("8.2.0.192.score.test", "A"), self.dns.queries())
        # uridnssub: the link domain's name server's address (tflags ns) and the link
        # host's address (tflags a), each in the list, in three rounds of questions.
        self.assertEqual(syms["URIBL_TEST_NS"]["score"], 1.5, syms)
        self.assertIn("192.0.2.60 (name server ns1.dns-host.com of bad-links.com) listed in zen.test (127.0.0.2)",
                      syms["URIBL_TEST_NS"]["where"])
        self.assertEqual(syms["URIBL_TEST_A"]["score"], 0.5, syms)
        self.assertIn("192.0.2.61 (address of www.bad-links.com) listed in zen.test (127.0.0.3)",
                      syms["URIBL_TEST_A"]["where"])
        for q in [("bad-links.com", "NS"), ("ns1.dns-host.com", "A"), ("www.bad-links.com", "A"),
                  ("60.2.0.192.zen.test", "A"), ("61.2.0.192.zen.test", "A")]:
            self.assertIn(q, self.dns.queries())
        # The envelope sender's domain exists nowhere (NXDOMAIN for A and MX), and is
        # not on the name list.
        self.assertEqual(syms["NO_DNS_FOR_FROM"]["score"], 0.8, syms)
        self.assertIn("ok-sender.example has no A and no MX record", syms["NO_DNS_FOR_FROM"]["where"])
        self.assertNotIn("RBL_TEST_ENVFROM", syms)
        # A listed envelope sender: on the name list (check_rbl_envfrom).
        self.assertEqual(self.send(c, message(link="http://www.ok-links.com/"),
                                   mail_from="news@spammy-sender.example")[0], 250)
        syms = self.symbols(m, 2)
        self.assertEqual(syms["RBL_TEST_ENVFROM"]["score"], 2, syms)
        self.assertIn("spammy-sender.example listed in dbl.test (127.0.1.2)", syms["RBL_TEST_ENVFROM"]["where"])

    def test_the_sample_configs_lists_load_when_uncommented(self):
        with open(os.path.join(SOURCE_DIR, "samples", "mxgate.yaml")) as f:
            lines = f.read().split("\n")
        start = lines.index("  # - dnsbl:")
        out, i = lines[:start], start
        while i < len(lines) and lines[i].startswith("  # "):
            out.append("  " + lines[i][4:])
            i += 1
        out += lines[i:]
        text = "\n".join(out).replace("rules: [spamassassin, builtin]", "rules: [builtin]")
        self.assertIn("zone: zen.spamhaus.org", text)
        d = tempfile.mkdtemp(prefix="mxgate-dnsbl-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        cfg = os.path.join(d, "sample.yaml")
        with open(cfg, "w") as f:
            f.write(text.replace("/var/lib/mxgate/bayes.db", os.path.join(d, "bayes.db")))
        p = subprocess.run([MXGATE, "serve", "--check-config", "--config", cfg], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
