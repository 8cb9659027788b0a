"""Every smtp.* limit (proxy/limits.hpp): set it low, run into it, check the exact
reply, that the session goes on or ends as it should, and what the downstream got."""
import shutil
import smtplib
import subprocess
import threading
import time
import unittest

from harness import LOOPBACK, MXGATE, Mxgate, ProxyTestCase, RawClient

HOST = "mxgate.test"


class LimitsBase(ProxyTestCase):
    def setUp(self):
        self.down = self.start_downstream()

    def mx(self, **smtp):
        self.m = self.start_mxgate(self.down.port, {"smtp": smtp})
        return self.m

    def greeted(self, port, source=None, timeout=5):
        """A connection that got the 220 greeting; retries briefly while mxgate still
        counts the harness's readiness probe against a connection limit."""
        deadline = time.time() + timeout
        while True:
            c = RawClient(port, source=source)
            code, lines = c.reply()
            if code == 220:
                self.addCleanup(c.close)
                return c
            c.close()
            if time.time() > deadline:
                self.fail("no 220 greeting: %r" % lines)
            time.sleep(0.1)

    def txn(self, c, rcpts=("rcpt@example.org",), mail="MAIL FROM:<sender@example.net>"):
        code, lines = c.cmd(mail)
        self.assertEqual(code, 250, lines)
        for r in rcpts:
            code, lines = c.cmd(f"RCPT TO:<{r}>")
            self.assertEqual(code, 250, lines)
        code, lines = c.cmd("DATA")
        self.assertEqual(code, 354, lines)

    def assert_reply(self, got, code, enhanced):
        c, lines = got
        self.assertEqual(c, code, lines)
        self.assertTrue(lines[-1].startswith(f"{code} {enhanced} "), lines)

    def nothing_delivered(self, settle=0.3):
        time.sleep(settle)
        self.assertEqual(self.down.rec.messages, [])


class CommandLine(LimitsBase):
    def test_max_command_line(self):
        m = self.mx(max_command_line=512)
        c = self.raw(m.port)
        self.ehlo(c)
        # 512 octets including CRLF is allowed...
        line = "NOOP " + "x" * (512 - 2 - 5)
        self.assertEqual(len(line) + 2, 512)
        self.assertEqual(c.cmd(line), (250, ["250 2.0.0 Ok"]))
        # ...513 is not,
        self.assert_reply(c.cmd(line + "x"), 500, "5.5.2")
        # nor is a much longer one arriving in many reads: exactly one reply for it.
        c.send("NOOP " + "y" * 20000 + "\r\n")
        self.assert_reply(c.reply(), 500, "5.5.2")
        # The session continues.
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.txn(c)
        c.send(b"Subject: after long lines\r\n\r\nbody\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.commands.count(("MAIL", "sender@example.net")), 1)


class TextLine(LimitsBase):
    def test_long_lines_accepted_by_default(self):
        """smtp.long_lines: accept (the default): a 5,000-byte line, in the body and in
        a header field, reaches the MX byte for byte; the log counts it. The MX here
        takes long lines as Postfix does."""
        self.down = self.start_downstream(line_length_limit=1024 * 1024)
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        long_body = b"<p>" + b"w" * 4993 + b"</p>"
        self.assertEqual(len(long_body), 5000)
        long_header = b"X-Tracking: " + b"t" * 1500
        data = (b"Subject: newsletter\r\n" + long_header + b"\r\n\r\n" + long_body +
                b"\r\n.leading dot " + b"d" * 2000 + b"\r\nshort\r\n")
        self.txn(c)
        wire = data.replace(b"\r\n.", b"\r\n..")
        c.send(wire + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)
        got = self.down.rec.messages[0]["data"]
        # aiosmtpd hands over the content with CRLF ends, dot-unstuffed.
        self.assertTrue(got.endswith(data), got[-200:])
        t = m.wait_transactions(1)[-1]
        self.assertEqual(t["verdict"], "accept", t)
        self.assertEqual(t["long_lines"], 3, t)
        syms = {s["name"]: s for s in t["symbols"]}
        self.assertEqual(syms["LONG_LINES"]["detail"], "3 over 1000", t)
        self.assertEqual(syms["LONG_LINES"]["score"], 0, t)
        # A message without long lines has neither.
        self.txn(c)
        c.send(b"Subject: short\r\n\r\n" + b"a" * 998 + b"\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        t = m.wait_transactions(2)[-1]
        self.assertNotIn("long_lines", t)
        self.assertNotIn("LONG_LINES", [s["name"] for s in t["symbols"]])

    def test_mx_that_refuses_long_lines_is_heard(self):
        """An MX that keeps to RFC 5321's 1,000 octets (aiosmtpd) refuses the line
        itself: its own reply reaches the client, as every MX answer does."""
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        self.txn(c)
        c.send(b"Subject: long\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code // 100, 5, lines)
        t = m.wait_transactions(1)[-1]
        self.assertEqual(t["verdict"], "reject", t)
        self.assertEqual(t["reply"], t["downstream_reply"], t)
        self.assertEqual(self.down.rec.messages, [])

    def test_long_lines_reject(self):
        """smtp.long_lines: reject refuses a line over smtp.max_line_length with
        550 5.6.0 at the end of data, and the session goes on."""
        m = self.mx(max_line_length=1000, long_lines="reject")
        c = self.raw(m.port)
        self.ehlo(c)
        # 998 characters + CRLF = 1000 octets (RFC 5321 4.5.3.1.6): accepted.
        ok_line = b"a" * 998
        self.txn(c)
        c.send(b"Subject: longest allowed\r\n\r\n" + ok_line + b"\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertIn(ok_line + b"\r\n", self.down.rec.messages[0]["data"])
        # 999 characters: one octet too long.
        self.txn(c)
        c.send(b"Subject: one too long\r\n\r\n" + b"b" * 999 + b"\r\n.\r\n")
        self.assert_reply(c.reply(), 550, "5.6.0")
        # Much longer.
        self.txn(c)
        c.send(b"Subject: far too long\r\n\r\n" + b"c" * 5000 + b"\r\nshort\r\n.\r\n")
        self.assert_reply(c.reply(), 550, "5.6.0")
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        time.sleep(0.3)
        self.assertEqual(len(self.down.rec.messages), 1)   # only the first one
        self.assertEqual([t["verdict"] for t in m.wait_transactions(3)], ["accept", "reject", "reject"])

    def test_long_lines_bad_value(self):
        m = Mxgate(self.down.port, {"smtp": {"long_lines": "fold"}})
        self.addCleanup(shutil.rmtree, m.workdir, True)
        p = subprocess.run([MXGATE, "serve", "--config", m.config_path, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("smtp.long_lines", p.stderr)
        self.assertIn("accept", p.stderr)


class MessageSize(LimitsBase):
    def setUp(self):
        super().setUp()
        self.m = self.mx(max_message_bytes=4096, max_header_bytes=2048)

    def test_ehlo_advertises_size(self):
        c = self.raw(self.m.port)
        lines = self.ehlo(c)
        sizes = [l[4:] for l in lines if l[4:].upper().startswith("SIZE")]
        self.assertEqual(sizes, ["SIZE 4096"], lines)

    def test_size_parameter_over_limit(self):
        c = self.raw(self.m.port)
        self.ehlo(c)
        self.assert_reply(c.cmd("MAIL FROM:<sender@example.net> SIZE=4097"), 552, "5.3.4")
        # Nothing was opened downstream for it.
        self.assertEqual(self.down.rec.mail_count, 0)
        # At the limit is fine.
        code, lines = c.cmd("MAIL FROM:<sender@example.net> SIZE=4096")
        self.assertEqual(code, 250, lines)
        self.assertEqual(self.down.rec.mail_count, 1)

    def test_message_over_limit_without_size(self):
        c = self.raw(self.m.port)
        self.ehlo(c)
        self.txn(c)
        body = b"".join(b"%04d " % i + b"z" * 70 + b"\r\n" for i in range(80))   # ~6 KB
        c.send(b"Subject: too big\r\n\r\n" + body + b".\r\n")
        self.assert_reply(c.reply(), 552, "5.3.4")
        self.nothing_delivered()
        # The session continues and a small message still goes through.
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.txn(c)
        c.send(b"Subject: small\r\n\r\nsmall\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["data"], b"Subject: small\r\n\r\nsmall\r\n")
        txns = self.m.wait_transactions(2)
        self.assertEqual([t["verdict"] for t in txns], ["reject", "accept"], txns)

    def test_message_at_limit_is_accepted(self):
        # The limit counts the message as received (after dot-unstuffing, without the
        # final dot line): exactly max_message_bytes goes through, one more does not.
        def message(n):
            head = b"Subject: exact\r\n\r\n"
            filler = n - len(head) - 2
            return head + b"x" * (filler % 900) + b"\r\n" + b"".join(
                b"y" * 898 + b"\r\n" for _ in range(filler // 900))
        at, over = message(4096), message(4097)
        self.assertEqual((len(at), len(over)), (4096, 4097))
        c = self.raw(self.m.port)
        self.ehlo(c)
        self.txn(c)
        c.send(at + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.txn(c)
        c.send(over + b".\r\n")
        self.assert_reply(c.reply(), 552, "5.3.4")
        time.sleep(0.3)
        self.assertEqual([m["data"] for m in self.down.rec.messages], [at])


class HeaderSize(LimitsBase):
    def test_max_header_bytes(self):
        m = self.mx(max_header_bytes=1024)
        c = self.raw(m.port)
        self.ehlo(c)
        self.txn(c)
        header = b"".join(b"X-Filler-%02d: " % i + b"h" * 60 + b"\r\n" for i in range(30))  # ~2.2 KB
        c.send(b"Subject: big header\r\n" + header + b"\r\nsmall body\r\n.\r\n")
        self.assert_reply(c.reply(), 552, "5.3.4")
        self.nothing_delivered()
        # A large body under a small header is fine.
        self.txn(c)
        body = b"".join(b"b" * 70 + b"\r\n" for _ in range(60))
        c.send(b"Subject: small header\r\n\r\n" + body + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)


class Recipients(LimitsBase):
    def test_max_recipients(self):
        m = self.mx(max_recipients=2)
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<one@example.org>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<two@example.org>")[0], 250)
        self.assert_reply(c.cmd("RCPT TO:<three@example.org>"), 452, "4.5.3")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: three rcpts\r\n\r\nbody\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["rcpts"], ["one@example.org", "two@example.org"])
        self.assertNotIn(("RCPT", "three@example.org"), self.down.rec.commands)


class Commands(LimitsBase):
    def test_max_commands(self):
        m = self.mx(max_commands=10)
        c = self.raw(m.port)
        self.ehlo(c)                              # command 1
        for _ in range(9):                        # commands 2..10
            self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assert_reply(c.cmd("NOOP"), 421, "4.7.0")   # command 11
        self.assertTrue(c.closed())


class Timeouts(LimitsBase):
    def test_command_timeout(self):
        m = self.mx(command_timeout="1s")
        c = self.raw(m.port)
        self.ehlo(c)
        self.expect_timeout_close(c)

    def expect_timeout_close(self, c):
        """The next reply is 421 4.4.2 after about the configured 1 s, then the close."""
        t0 = time.time()
        c.sock.settimeout(10)
        got = c.reply()
        waited = time.time() - t0
        self.assert_reply(got, 421, "4.4.2")
        self.assertTrue(c.closed())
        self.assertGreater(waited, 0.8)
        self.assertLess(waited, 5)

    def test_command_timeout_in_transaction(self):
        m = self.mx(command_timeout="1s")
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        c.sock.settimeout(10)
        self.assert_reply(c.reply(), 421, "4.4.2")
        self.assertTrue(c.closed())
        self.nothing_delivered()
        txns = m.wait_transactions(1)
        self.assertEqual([t["verdict"] for t in txns], ["aborted"], txns)

    def test_data_timeout(self):
        m = self.mx(command_timeout="20s", data_timeout="1s")
        c = self.raw(m.port)
        self.ehlo(c)
        self.txn(c)
        c.send(b"Subject: stalled\r\n\r\nhalf a mess")
        self.expect_timeout_close(c)
        self.nothing_delivered(0.5)
        txns = m.wait_transactions(1)
        self.assertEqual(len(txns), 1, txns)
        self.assertEqual(txns[0]["verdict"], "aborted", txns[0])


class Connections(LimitsBase):
    def test_max_connections(self):
        m = self.mx(max_connections=2)
        a = self.greeted(m.port)
        b = self.greeted(m.port)
        extra = self.raw(m.port)
        self.assert_reply(extra.reply(), 421, "4.7.0")
        self.assertTrue(extra.closed())
        # Also from another address: the limit is for all clients together.
        other = self.raw(m.port, source="127.0.0.2")
        self.assert_reply(other.reply(), 421, "4.7.0")
        self.assertTrue(other.closed())
        # The held ones still work; when one leaves, a new client gets in.
        self.assertEqual(b.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(a.cmd("QUIT")[0], 221)
        a.close()
        c = self.greeted(m.port)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)

    def test_idle_sessions_make_way_at_the_limit(self):
        # At max_connections a new client closes the session that has waited longest
        # for a command (at least a second), not one in use.
        m = self.mx(max_connections=3, command_timeout="60s", stress_command_timeout="60s")
        a = self.greeted(m.port)
        b = self.greeted(m.port, source="127.0.0.2")
        time.sleep(1.3)
        self.assertEqual(b.cmd("NOOP")[0], 250)  # b is in use: its wait starts again
        c = self.greeted(m.port, source="127.0.0.3")
        d = self.raw(m.port, source="127.0.0.4")
        self.assertEqual(d.reply()[0], 220)
        code, lines = a.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("4.7.0", lines[-1])
        self.assertIn("closing idle session", lines[-1])
        self.assertTrue(a.closed())
        self.assertEqual(b.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(d.cmd("EHLO client.test")[0], 250)
        # Nobody idle long enough: the next one is refused, as before.
        e = self.raw(m.port, source="127.0.0.5")
        self.assert_reply(e.reply(), 421, "4.7.0")
        self.assertTrue(e.closed())
        m.stop()
        self.assertIn("idle_evictions=1", m.log())

    def test_max_connections_per_ip(self):
        m = self.mx(max_connections_per_ip=2)
        self.greeted(m.port)
        self.greeted(m.port)
        extra = self.raw(m.port)
        code, lines = extra.reply()
        self.assert_reply((code, lines), 421, "4.7.0")
        self.assertIn("127.0.0.1", lines[-1])
        self.assertTrue(extra.closed())
        # Another address has its own count.
        for _ in range(2):
            c = self.greeted(m.port, source="127.0.0.2")
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        extra2 = self.raw(m.port, source="127.0.0.2")
        self.assert_reply(extra2.reply(), 421, "4.7.0")
        self.assertTrue(extra2.closed())


class SlowClients(LimitsBase):
    """Clients that hold a slot without using it: under stress the waits shorten (as
    Postfix's ${stress?...} defaults), and a command line or DATA that trickles in
    has one deadline however often a byte arrives."""

    def test_stress_shortens_the_wait_for_a_command(self):
        m = self.mx(max_connections=10, stress_threshold=50, command_timeout="30s",
                    stress_command_timeout="1s", stress_max_errors=1)
        calm = self.greeted(m.port)
        time.sleep(1.5)
        self.assertEqual(calm.cmd("NOOP")[0], 250, "no stress yet: the 30 s timeout holds")
        held = [self.greeted(m.port, source="127.0.0.%d" % (i + 2)) for i in range(4)]  # 5 of 10: stress
        started = time.time()
        code, lines = held[-1].reply()  # waited with the stress timeout
        self.assertEqual(code, 421, lines)
        self.assertIn("4.4.2", lines[-1])
        self.assertLess(time.time() - started, 5)
        self.assertIn("stress: 5 of 10 connections open", m.log())

    def test_stress_allows_one_error(self):
        # Under stress one error ends the session (Postfix: smtpd_hard_error_limit
        # ${stress?1}). A threshold of 10% of 10 makes every session one under stress,
        # whatever else the machine is doing.
        m = self.mx(max_connections=10, stress_threshold=10, max_errors=20, stress_max_errors=1)
        c = self.greeted(m.port)
        code, lines = c.cmd("BOGUS")
        self.assertEqual(code, 500, lines)
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertIn("too many errors", lines[-1])
        # Not under stress (threshold 100%): twenty errors as before.
        calm = self.mx(max_connections=10, stress_threshold=100, max_errors=20)
        d = self.greeted(calm.port)
        for _ in range(3):
            self.assertEqual(d.cmd("BOGUS")[0], 500)
        self.assertEqual(d.cmd("NOOP")[0], 250)

    def test_a_trickling_command_line_has_one_deadline(self):
        m = self.mx(command_timeout="2s")
        c = self.greeted(m.port)
        started = time.time()
        got = None
        for ch in "EHLO slowly.example.org.and.on.and.on.and.on.and.on":
            if self._readable(c):
                got = c.reply()
                break
            c.send(ch)
            time.sleep(0.25)
        self.assertIsNotNone(got, "a byte every 250 ms kept the session open past the 2 s deadline")
        self.assertEqual(got[0], 421, got)
        self.assertIn("4.4.2", got[1][-1])
        self.assertLess(time.time() - started, 4)

    def test_trickling_data_runs_out_of_time(self):
        m = self.mx(data_timeout="2s", min_data_rate=1000)
        c = self.greeted(m.port)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: slow\r\n\r\n")
        started = time.time()
        got = None
        while time.time() - started < 8:
            if self._readable(c):
                got = c.reply()
                break
            c.send("0123456789")  # 40 bytes a second: under the 1,000 asked for
            time.sleep(0.25)
        self.assertIsNotNone(got, "DATA at 40 bytes/s was not cut off")
        self.assertEqual(got[0], 421, got)
        self.assertIn("4.4.2", got[1][-1])
        self.assertLess(time.time() - started, 4.5)
        self.nothing_delivered()
        # A client that keeps up is not affected by the same limits.
        fast = self.greeted(m.port)
        self.assertEqual(fast.cmd("EHLO client.test")[0], 250)
        self.txn(fast)
        fast.send("Subject: fast\r\n\r\n" + ("x" * 98 + "\r\n") * 50 + ".\r\n")
        self.assertEqual(fast.reply()[0], 250, m.log()[-1500:])

    @staticmethod
    def _readable(c):
        import select
        return bool(select.select([c.sock], [], [], 0)[0])


class Errors(LimitsBase):
    def test_max_errors(self):
        m = self.mx(max_errors=3)
        c = self.raw(m.port)
        self.ehlo(c)
        self.assert_reply(c.cmd("BOGUS"), 500, "5.5.2")
        self.assert_reply(c.cmd("RCPT TO:<x@example.org>"), 503, "5.5.1")
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))   # not an error
        self.assert_reply(c.cmd("BOGUS"), 500, "5.5.2")             # the third error...
        self.assert_reply(c.reply(), 421, "4.7.0")                  # ...ends the session
        self.assertTrue(c.closed())


class StalledClients(LimitsBase):
    def test_stalled_clients_do_not_hold_up_others(self):
        m = self.mx()   # default timeouts (30s in the harness): the stalled ones stay
        idle = self.raw(m.port)                  # connected, says nothing at all
        greeted = self.raw(m.port)
        self.ehlo(greeted)                       # greeted, then silent
        mid_data = self.raw(m.port)
        self.ehlo(mid_data)
        self.txn(mid_data)
        mid_data.send(b"Subject: stuck\r\n\r\nthis message never ends")
        time.sleep(0.2)

        results, errors = [], []

        def deliver(i):
            try:
                t0 = time.time()
                with smtplib.SMTP(LOOPBACK, m.port, timeout=10) as s:
                    s.ehlo("client%d.test" % i)
                    s.sendmail("sender@example.net", ["rcpt@example.org"],
                               b"Subject: prompt %d\r\n\r\nbody %d\r\n" % (i, i))
                results.append(time.time() - t0)
            except Exception as e:   # noqa: BLE001 - reported below
                errors.append(repr(e))

        t0 = time.time()
        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        total = time.time() - t0
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 5)
        self.assertLess(total, 5, results)
        subjects = sorted(msg["data"].split(b"\r\n")[0] for msg in self.down.rec.messages)
        self.assertEqual(subjects, [b"Subject: prompt %d" % i for i in range(5)])
        # The stalled ones are still connected and the stuck message was not delivered.
        self.assertFalse(idle.closed(timeout=0.2))
        self.assertEqual(idle.reply()[0], 220)
        self.assertFalse(mid_data.closed(timeout=0.2))
        self.assertEqual(greeted.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))



def sized_message(tag, size):
    """A message of exactly `size` bytes: a short header, then 80-byte lines (none
    starts with a dot), ending in CRLF. `tag` makes each message's bytes its own."""
    head = b"Subject: budget %s\r\nMessage-ID: <%s@example.net>\r\n\r\n" % (tag, tag)
    out = [head]
    n = len(head)
    i = 0
    while n < size:
        line = b"%s line %07d " % (tag, i)
        room = min(80, size - n)
        if room < 2:            # cannot happen with the padding below; be safe
            raise ValueError(size)
        if size - n - room == 1:  # never leave a single byte for the last line
            room -= 1
        line = (line + b"x" * 80)[:room - 2] + b"\r\n"
        out.append(line)
        n += len(line)
        i += 1
    data = b"".join(out)
    assert len(data) == size and not any(l.startswith(b".") for l in data.split(b"\r\n"))
    return data


class BufferBudget(LimitsBase):
    """smtp.max_buffered_bytes: the message bytes all sessions hold together. A message
    that would take the total over it is tempfailed 451 4.3.1 after its final dot
    (452 4.3.1 at DATA when the budget is already spent); the others are relayed."""

    BUDGET = 1024 * 1024
    SIZE = 600 * 1024          # two of these do not fit in the budget
    HEAD = 560 * 1024          # "most of the body": two of these do not fit either

    def open_data(self, port, sender):
        c = self.greeted(port)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.txn(c, mail=f"MAIL FROM:<{sender}>")
        return c

    def test_concurrent_messages_over_budget(self):
        m = self.mx(max_buffered_bytes="1M")
        msgs = [sized_message(b"client%d" % i, self.SIZE) for i in range(3)]
        clients = [self.open_data(m.port, f"s{i}@example.net") for i in range(3)]
        # One after the other, each sends most of its message and pauses; the first
        # holds 560 KB, so the second and third each take the total over 1 MB.
        for c, data in zip(clients, msgs):
            c.send(data[:self.HEAD])
            time.sleep(0.7)
        for c, data in zip(clients, msgs):
            c.send(data[self.HEAD:] + b".\r\n")
        replies = [c.reply() for c in clients]
        self.assertEqual(replies[0][0], 250, replies)
        for got in replies[1:]:
            self.assert_reply(got, 451, "4.3.1")
        # Only the one that fit reached the downstream, byte for byte.
        time.sleep(0.3)
        self.assertEqual([x["data"] for x in self.down.rec.messages], [msgs[0]])
        self.assertEqual(self.down.rec.messages[0]["mail_from"], "s0@example.net")
        txns = m.wait_transactions(3)
        self.assertEqual(sorted(t["verdict"] for t in txns), ["accept", "tempfail", "tempfail"], txns)
        # The budget is free again: the same session that was told 451 sends again...
        self.txn(clients[1], mail="MAIL FROM:<s1@example.net>")
        clients[1].send(msgs[1] + b".\r\n")
        self.assertEqual(clients[1].reply()[0], 250)
        # ...and a new client's 600 KB message is delivered too.
        fresh = sized_message(b"fresh", self.SIZE)
        c = self.open_data(m.port, "fresh@example.net")
        c.send(fresh + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual([x["data"] for x in self.down.rec.messages], [msgs[0], msgs[1], fresh])

    def test_data_refused_while_budget_spent(self):
        m = self.mx(max_buffered_bytes="1M")
        full = sized_message(b"full", self.BUDGET)   # exactly the budget: allowed
        a = self.open_data(m.port, "a@example.net")
        a.send(full)                                 # not finished yet
        time.sleep(0.7)
        b = self.greeted(m.port)
        self.assertEqual(b.cmd("EHLO client.test")[0], 250)
        self.assertEqual(b.cmd("MAIL FROM:<b@example.net>")[0], 250)
        self.assertEqual(b.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assert_reply(b.cmd("DATA"), 452, "4.3.1")
        self.assertEqual(b.cmd("RSET")[0], 250)
        # The one holding the budget finishes and is delivered.
        a.send(b".\r\n")
        self.assertEqual(a.reply()[0], 250)
        self.assertEqual([x["data"] for x in self.down.rec.messages], [full])
        # Now b gets in.
        small = sized_message(b"after", 2000)
        self.txn(b, mail="MAIL FROM:<b@example.net>")
        b.send(small + b".\r\n")
        self.assertEqual(b.reply()[0], 250)
        self.assertEqual([x["data"] for x in self.down.rec.messages], [full, small])


class DownstreamConnections(LimitsBase):
    """downstream.max_connections: each open transaction holds one MX connection;
    MAIL beyond the limit gets 451 4.3.2 and is not relayed."""

    def session(self, port):
        c = self.greeted(port)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def mail_when_free(self, c, sender, timeout=5):
        """MAIL until it is accepted: the MX connection of a finished transaction is
        let go once its QUIT has been answered, a moment after the client's reply."""
        deadline = time.time() + timeout
        while True:
            got = c.cmd(f"MAIL FROM:<{sender}>")
            if got[0] == 250 or time.time() > deadline:
                self.assertEqual(got[0], 250, got)
                return
            self.assert_reply(got, 451, "4.3.2")
            time.sleep(0.3)

    def test_max_connections_one(self):
        m = self.start_mxgate(self.down.port, {"downstream": {"max_connections": 1}})
        a = self.session(m.port)
        b = self.session(m.port)
        self.assertEqual(a.cmd("MAIL FROM:<a@example.net>")[0], 250)
        mails = self.down.rec.mail_count
        self.assert_reply(b.cmd("MAIL FROM:<b@example.net>"), 451, "4.3.2")
        self.assertEqual(self.down.rec.mail_count, mails, "the refused MAIL was relayed")
        # No transaction was opened for b.
        self.assert_reply(b.cmd("RCPT TO:<rcpt@example.org>"), 503, "5.5.1")
        # a finishes its message: then b can start.
        self.assertEqual(a.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(a.cmd("DATA")[0], 354)
        a.send(b"Subject: from a\r\n\r\nbody a\r\n.\r\n")
        self.assertEqual(a.reply()[0], 250)
        self.mail_when_free(b, "b@example.net")
        # Now b holds the one connection; a is refused until b lets go with RSET.
        self.assert_reply(a.cmd("MAIL FROM:<a2@example.net>"), 451, "4.3.2")
        self.assertEqual(b.cmd("RSET")[0], 250)
        self.mail_when_free(a, "a2@example.net")
        self.assertEqual(a.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(a.cmd("DATA")[0], 354)
        a.send(b"Subject: from a2\r\n\r\nbody a2\r\n.\r\n")
        self.assertEqual(a.reply()[0], 250)
        self.assertEqual([(x["mail_from"], x["data"]) for x in self.down.rec.messages],
                         [("a@example.net", b"Subject: from a\r\n\r\nbody a\r\n"),
                          ("a2@example.net", b"Subject: from a2\r\n\r\nbody a2\r\n")])


class TrustedFrontPerIp(LimitsBase):
    def test_xclient_trusted_not_held_to_per_ip_limit(self):
        m = self.mx(max_connections_per_ip=2, xclient_trusted=["127.0.0.2/32"])
        # A front MTA allowed XCLIENT: four connections at once, all greeted.
        front = [self.raw(m.port, source="127.0.0.2") for _ in range(4)]
        for c in front:
            code, lines = c.reply()
            self.assertEqual(code, 220, lines)
        for c in front:
            lines = self.front_ehlo(c)
            self.assertTrue(any(l[4:].startswith("XCLIENT") for l in lines), lines)
        # Everyone else still is.
        self.greeted(m.port)
        self.greeted(m.port)
        extra = self.raw(m.port)
        code, lines = extra.reply()
        self.assert_reply((code, lines), 421, "4.7.0")
        self.assertIn("127.0.0.1", lines[-1])
        self.assertTrue(extra.closed())

    def front_ehlo(self, c):
        code, lines = c.cmd("EHLO front.test")
        self.assertEqual(code, 250, lines)
        return lines


if __name__ == "__main__":
    unittest.main()
