"""XCLIENT from a trusted front end (Postfix's XCLIENT_README): the client's attributes
replace what mxgate saw on the socket, the session starts over with a 220, and the
downstream is told the real client via XFORWARD."""
import unittest

from harness import ProxyTestCase

TRUSTED = "127.0.0.2"     # smtp.xclient_trusted: [127.0.0.2/32]
UNTRUSTED = "127.0.0.1"
MSG = b"Subject: xclient\r\n\r\nbody\r\n.\r\n"


class XclientTest(ProxyTestCase):
    def setUp(self):
        self.down = self.start_downstream()
        self.m = self.start_mxgate(self.down.port, {"smtp": {"xclient_trusted": ["127.0.0.2/32"]}})

    def client(self, source):
        return self.raw(self.m.port, source=source)

    def assert_reply(self, got, code, enhanced):
        c, lines = got
        self.assertEqual(c, code, lines)
        self.assertTrue(lines[-1].startswith(f"{code} {enhanced} "), lines)

    @staticmethod
    def keywords(ehlo_lines):
        return [l[4:].split()[0].upper() for l in ehlo_lines[1:] if len(l) > 4]

    def deliver(self, c):
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(MSG)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        return self.down.rec.messages[-1]

    def test_trusted_client_xclient(self):
        c = self.client(TRUSTED)
        lines = self.ehlo(c, "proxy.example")
        self.assertIn("XCLIENT", self.keywords(lines))
        xc = [l[4:] for l in lines if l[4:].upper().startswith("XCLIENT")][0].split()
        for attr in ("NAME", "ADDR", "PORT", "PROTO", "HELO"):
            self.assertIn(attr, xc)
        code, lines = c.cmd("XCLIENT ADDR=192.0.2.7 NAME=mail.example.net HELO=mail.example.net")
        self.assertEqual(code, 220, lines)
        # The session starts over: MAIL before a new EHLO is refused.
        self.assert_reply(c.cmd("MAIL FROM:<sender@example.net>"), 503, "5.5.1")
        self.assertEqual(self.down.rec.mail_count, 0)
        self.ehlo_again(c, "mail.example.net")
        msg = self.deliver(c)
        xf = msg["xforward"]
        self.assertEqual(xf.get("ADDR"), "192.0.2.7", xf)
        self.assertEqual(xf.get("NAME"), "mail.example.net", xf)
        self.assertEqual(xf.get("HELO"), "mail.example.net", xf)
        t = self.m.wait_transactions(1)
        self.assertEqual(len(t), 1, t)
        self.assertEqual(t[0]["client_ip"], "192.0.2.7", t[0])
        self.assertEqual(t[0]["peer_ip"], TRUSTED, t[0])
        self.assertEqual(t[0]["client_name"], "mail.example.net", t[0])
        self.assertEqual(t[0]["helo"], "mail.example.net", t[0])

    def ehlo_again(self, c, name):
        code, lines = c.cmd("EHLO " + name)
        self.assertEqual(code, 250, lines)
        return lines

    def test_untrusted_client_refused(self):
        c = self.client(UNTRUSTED)
        lines = self.ehlo(c)
        self.assertNotIn("XCLIENT", self.keywords(lines))
        self.assert_reply(c.cmd("XCLIENT ADDR=192.0.2.7 NAME=mail.example.net"), 550, "5.7.0")
        # Nothing changed: the session is still greeted and the real address is used.
        msg = self.deliver(c)
        self.assertEqual(msg["xforward"].get("ADDR"), UNTRUSTED, msg["xforward"])
        self.assertNotEqual(msg["xforward"].get("NAME"), "mail.example.net")
        t = self.m.wait_transactions(1)
        self.assertEqual(t[0]["client_ip"], UNTRUSTED, t[0])
        self.assertNotIn("peer_ip", t[0])

    def test_xclient_in_transaction(self):
        c = self.client(TRUSTED)
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assert_reply(c.cmd("XCLIENT ADDR=192.0.2.7"), 503, "5.5.1")
        # The transaction is intact and still uses the connection's own address.
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(MSG)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(self.down.rec.messages[-1]["xforward"].get("ADDR"), TRUSTED)

    def test_bad_xclient_arguments(self):
        c = self.client(TRUSTED)
        self.ehlo(c)
        for bad in ("XCLIENT",
                    "XCLIENT ADDR",                # no '='
                    "XCLIENT FOO=bar",
                    "XCLIENT ADDR=192.0.2.7 BOGUS=1",
                    "XCLIENT ADDR=192.0.2.300",
                    "XCLIENT ADDR=not-an-address",
                    "XCLIENT ADDR=IPV6:2001:db8::zz",
                    "XCLIENT PORT=70000",
                    "XCLIENT HELO=a+2",           # truncated xtext escape
                    "XCLIENT NAME=a+ZZb"):        # not hex
            self.assert_reply(c.cmd(bad), 501, "5.5.4")
        # None of them took effect: the session is still greeted, with the real address.
        msg = self.deliver(c)
        self.assertEqual(msg["xforward"].get("ADDR"), TRUSTED, msg["xforward"])
        t = self.m.wait_transactions(1)
        self.assertEqual(t[0]["client_ip"], TRUSTED, t[0])

    def test_xclient_before_ehlo(self):
        # XCLIENT_README: allowed at any time except in a mail transaction.
        c = self.client(TRUSTED)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("XCLIENT ADDR=192.0.2.12 NAME=early.example.net PROTO=ESMTP")
        self.assertEqual(code, 220, lines)
        self.ehlo_again(c, "early.example.net")
        msg = self.deliver(c)
        self.assertEqual(msg["xforward"].get("ADDR"), "192.0.2.12", msg["xforward"])
        self.assertEqual(msg["xforward"].get("PROTO"), "ESMTP", msg["xforward"])

    def test_ipv6_address(self):
        c = self.client(TRUSTED)
        self.ehlo(c)
        code, lines = c.cmd("XCLIENT ADDR=IPV6:2001:db8::1 NAME=v6.example.net")
        self.assertEqual(code, 220, lines)
        self.ehlo_again(c, "v6.example.net")
        msg = self.deliver(c)
        self.assertEqual(msg["xforward"].get("ADDR"), "IPV6:2001:db8::1", msg["xforward"])
        t = self.m.wait_transactions(1)
        self.assertEqual(t[0]["client_ip"], "2001:db8::1", t[0])
        self.assertEqual(t[0]["peer_ip"], TRUSTED, t[0])

    def test_xtext_values_are_decoded(self):
        c = self.client(TRUSTED)
        self.ehlo(c)
        code, lines = c.cmd("XCLIENT ADDR=192.0.2.9 NAME=x+2By.example.net HELO=a+2Bb")
        self.assertEqual(code, 220, lines)
        self.ehlo_again(c, "a+b")
        msg = self.deliver(c)
        t = self.m.wait_transactions(1)
        self.assertEqual(t[0]["client_name"], "x+y.example.net", t[0])
        self.assertEqual(t[0]["helo"], "a+b", t[0])
        # ...and encoded again (a '+' must be +2B) on the way to the downstream.
        self.assertEqual(msg["xforward"].get("NAME"), "x+2By.example.net", msg["xforward"])
        self.assertEqual(msg["xforward"].get("HELO"), "a+2Bb", msg["xforward"])

    def test_unavailable_values(self):
        # XCLIENT_README: [UNAVAILABLE] means the proxy does not know the value.
        c = self.client(TRUSTED)
        self.ehlo(c)
        code, lines = c.cmd("XCLIENT ADDR=192.0.2.10 NAME=[UNAVAILABLE]")
        self.assertEqual(code, 220, lines)
        self.ehlo_again(c, "client.example")
        msg = self.deliver(c)
        self.assertEqual(msg["xforward"].get("ADDR"), "192.0.2.10", msg["xforward"])
        self.assertEqual(msg["xforward"].get("NAME"), "[UNAVAILABLE]", msg["xforward"])

    def test_second_transaction_keeps_xclient_identity(self):
        c = self.client(TRUSTED)
        self.ehlo(c)
        self.assertEqual(c.cmd("XCLIENT ADDR=192.0.2.11 NAME=mail.example.net")[0], 220)
        self.ehlo_again(c, "mail.example.net")
        self.deliver(c)
        self.deliver(c)
        self.assertEqual([m["xforward"].get("ADDR") for m in self.down.rec.messages],
                         ["192.0.2.11", "192.0.2.11"])
        t = self.m.wait_transactions(2)
        self.assertEqual([x["client_ip"] for x in t], ["192.0.2.11", "192.0.2.11"])


if __name__ == "__main__":
    unittest.main()
