"""Never lose mail: every downstream fault gives the client a 4xx (421 or 451 with a
4.x.x enhanced code), never a 250 and never silence, and the downstream holds no
message it did not accept. After a fault the same client session can go on.

Run: cd tests/integration && MXGATE_BIN=.../mxgate /usr/bin/python3 -m unittest -v test_faults
"""
import asyncio
import time
import unittest

from harness import MESSAGE, ProxyTestCase, ScriptedDownstream

# Downstream timeouts in the mxgate config; stalls last longer than this.
TIMEOUT = 1.0
STALL = 6


def enhanced(lines):
    parts = lines[-1][4:].split(" ", 1)
    return parts[0] if parts and parts[0][:1].isdigit() and parts[0].count(".") == 2 else ""


class FaultCase(ProxyTestCase):
    def setUp(self):
        self.d = self.start_downstream()
        self.d.behaviour.stall_seconds = STALL
        self.m = self.start_mxgate(self.d.port, {
            "downstream": {"command_timeout": "1s", "data_timeout": "1s", "connect_timeout": "1s"}})
        self.c = self.raw(self.m.port, timeout=15)
        self.ehlo(self.c)

    def assertTempfail(self, got, allowed=(421, 451)):
        code, lines = got
        self.assertIn(code, allowed, lines)
        enh = enhanced(lines)
        self.assertTrue(enh.startswith("4."), lines)
        return code, lines

    def timed(self, fn, *args):
        t0 = time.monotonic()
        r = fn(*args)
        return r, time.monotonic() - t0

    def send_message(self, data=MESSAGE):
        self.c.send(data + b".\r\n")
        return self.c.reply()

    def reset_behaviour(self):
        b = self.d.behaviour
        b.stall = b.drop = b.mail_reply = b.data_reply = None
        b.reject_rcpts.clear()

    def recover(self, after_code, body=None):
        """After a fault: the same session delivers a message once the downstream
        behaves. A 421 from us closes the session, so that case reconnects."""
        self.reset_behaviour()
        before = len(self.d.rec.messages)
        c = self.c
        if after_code == 421:
            self.assertTrue(c.closed(), "421 must close the connection")
            c = self.c = self.raw(self.m.port, timeout=15)
            self.ehlo(c)
        self.assertEqual(c.cmd("RSET")[0], 250)
        body = body or MESSAGE.replace(b"Hello.", b"Recovered.")
        self.assertEqual(c.cmd("MAIL FROM:<again@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, lines = self.send_message(body)
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(self.d.rec.messages), before + 1)
        msg = self.d.rec.messages[-1]
        self.assertEqual((msg["mail_from"], msg["rcpts"], msg["data"]),
                         ("again@example.net", ["rcpt@example.org"], body))
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def start_txn(self, rcpts=("rcpt@example.org",)):
        self.assertEqual(self.c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        for r in rcpts:
            self.assertEqual(self.c.cmd(f"RCPT TO:<{r}>")[0], 250)


class TestUnreachable(ProxyTestCase):
    def test_downstream_unreachable(self):
        d = ScriptedDownstream()  # port reserved, nothing listening yet
        m = self.start_mxgate(d.port, {"downstream": {"connect_timeout": "1s"}})
        c = self.raw(m.port, timeout=15)
        self.ehlo(c)
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(enhanced(lines).startswith("4."), lines)
        # No transaction was opened: RCPT has no MAIL.
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 503)
        # The downstream comes up: the same session now delivers.
        d.start()
        self.addCleanup(d.stop)
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(MESSAGE + b".\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual([x["data"] for x in d.rec.messages], [MESSAGE])


class TestRefusing(FaultCase):
    def test_mail_451_relayed(self):
        self.d.behaviour.mail_reply = "451 4.3.0 try later"
        got = self.c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(got, (451, ["451 4.3.0 try later"]))
        self.assertEqual(self.c.cmd("RCPT TO:<rcpt@example.org>")[0], 503)
        self.assertEqual(self.d.rec.messages, [])
        self.recover(451)

    def test_mail_421_becomes_451(self):
        self.d.behaviour.mail_reply = "421 4.3.2 downstream.test Service shutting down"
        got = self.c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(got, (451, ["451 4.3.2 downstream.test Service shutting down"]))
        # Our session with the client is not closing.
        self.assertEqual(self.c.cmd("NOOP")[0], 250)
        self.recover(451)

    def test_data_end_451_relayed(self):
        self.d.behaviour.data_reply = "451 4.3.0 Error: queue full"
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        got = self.send_message()
        self.assertEqual(got, (451, ["451 4.3.0 Error: queue full"]))
        # (The scripted downstream records the message before giving its 451, so its
        # Recorder has it; what matters is that the client was told 451.)
        self.recover(451)

    def test_rcpt_421_becomes_451(self):
        self.d.behaviour.reject_rcpts["rcpt@example.org"] = "421 4.4.5 downstream.test Too busy"
        self.assertEqual(self.c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        got = self.c.cmd("RCPT TO:<rcpt@example.org>")
        self.assertEqual(got, (451, ["451 4.4.5 downstream.test Too busy"]))
        self.assertEqual(self.c.cmd("NOOP")[0], 250)
        self.assertEqual(self.d.rec.messages, [])
        self.recover(451)

    def test_data_end_421_becomes_451(self):
        self.d.behaviour.data_reply = "421 4.3.2 downstream.test Shutting down"
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        got = self.send_message()
        self.assertEqual(got, (451, ["451 4.3.2 downstream.test Shutting down"]))
        self.assertEqual(self.c.cmd("NOOP")[0], 250)
        self.recover(451)


class TestStall(FaultCase):
    def check_elapsed(self, elapsed):
        self.assertGreaterEqual(elapsed, TIMEOUT * 0.9)
        self.assertLess(elapsed, STALL - 1, "the reply came only when the stall ended")

    def test_stall_at_mail(self):
        self.d.behaviour.stall = "mail"
        got, elapsed = self.timed(self.c.cmd, "MAIL FROM:<sender@example.net>")
        code, _ = self.assertTempfail(got)
        self.check_elapsed(elapsed)
        self.assertEqual(self.d.rec.messages, [])
        self.recover(code)

    def test_stall_at_rcpt(self):
        self.d.behaviour.stall = "rcpt"
        self.assertEqual(self.c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        got, elapsed = self.timed(self.c.cmd, "RCPT TO:<rcpt@example.org>")
        code, _ = self.assertTempfail(got)
        self.check_elapsed(elapsed)
        if code != 421:
            # No recipient was accepted, so there is nothing to send.
            self.assertGreaterEqual(self.c.cmd("DATA")[0], 500)
        self.assertEqual(self.d.rec.messages, [])
        self.recover(code)

    def stall_while_sending(self, stage):
        self.d.behaviour.stall = stage
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        got, elapsed = self.timed(self.send_message)
        code, _ = self.assertTempfail(got)
        self.check_elapsed(elapsed)
        # The downstream has not said 250: it holds nothing yet.
        self.assertEqual(self.d.rec.messages, [])
        self.recover(code)

    def test_stall_at_data_command(self):
        self.stall_while_sending("data")

    def test_stall_after_message(self):
        self.stall_while_sending("data_end")

    def test_stall_after_message_pipelined_quit(self):
        self.d.behaviour.stall = "data_end"
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        self.c.send(MESSAGE + b".\r\nQUIT\r\n")
        got, elapsed = self.timed(self.c.reply)
        self.assertTempfail(got)
        self.check_elapsed(elapsed)
        self.assertEqual(self.c.reply()[0], 221)
        self.assertTrue(self.c.closed())
        self.assertEqual(self.d.rec.messages, [])


class TestDrop(FaultCase):
    def check_dropped(self, got):
        code, lines = self.assertTempfail(got)
        # The scripted downstream's "451 4.3.0 dropped" goes to a closed socket: this
        # reply must be mxgate's own, made when it saw the connection go.
        self.assertNotIn("dropped", lines[-1], lines)
        self.assertEqual(self.d.rec.messages, [])
        return code

    def test_drop_at_mail(self):
        self.d.behaviour.drop = "mail"
        code = self.check_dropped(self.c.cmd("MAIL FROM:<sender@example.net>"))
        self.recover(code)

    def test_drop_at_rcpt(self):
        self.d.behaviour.drop = "rcpt"
        self.assertEqual(self.c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        code = self.check_dropped(self.c.cmd("RCPT TO:<rcpt@example.org>"))
        if code != 421:
            # Further recipients in the broken transaction are tempfailed, not accepted.
            self.assertTempfail(self.c.cmd("RCPT TO:<other@example.org>"))
            self.assertGreaterEqual(self.c.cmd("DATA")[0], 400)
        self.recover(code)

    def test_drop_at_second_rcpt_then_data(self):
        # One recipient accepted, then the downstream goes away: DATA must not end in 250.
        self.assertEqual(self.c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(self.c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.d.behaviour.drop = "rcpt"
        code = self.check_dropped(self.c.cmd("RCPT TO:<other@example.org>"))
        if code != 421:
            code, lines = self.c.cmd("DATA")
            if code == 354:
                code, lines = self.send_message()
            self.assertTempfail((code, lines))
        self.assertEqual(self.d.rec.messages, [])
        self.recover(code)

    def test_drop_at_rcpt_pipelined(self):
        self.d.behaviour.drop = "rcpt"
        self.c.send("MAIL FROM:<sender@example.net>\r\n"
                    "RCPT TO:<a@example.org>\r\n"
                    "RCPT TO:<b@example.org>\r\n"
                    "DATA\r\n")
        self.assertEqual(self.c.reply()[0], 250)
        code = self.check_dropped(self.c.reply())
        if code != 421:
            self.assertTempfail(self.c.reply())
            # No recipient accepted: DATA is refused, never 354 or 250.
            code2, lines = self.c.reply()
            self.assertGreaterEqual(code2, 500, lines)
        self.assertEqual(self.d.rec.messages, [])
        self.recover(code)

    def test_drop_at_data_command(self):
        self.d.behaviour.drop = "data"
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        code = self.check_dropped(self.send_message())
        self.recover(code)

    def test_drop_after_message(self):
        self.d.behaviour.drop = "data_end"
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        code = self.check_dropped(self.send_message())
        self.recover(code)



class TestDataDeadline(FaultCase):
    """downstream.data_timeout is one deadline for the whole end of data: DATA, its
    354, the message and the final reply together, not a fresh timeout per step
    (downstream.command_timeout, longer here, does not extend it)."""

    DATA_TIMEOUT = 2.0

    def setUp(self):
        self.d = self.start_downstream()
        self.m = self.start_mxgate(self.d.port, {
            "downstream": {"command_timeout": "10s", "data_timeout": "2s", "connect_timeout": "1s"}})
        self.c = self.raw(self.m.port, timeout=20)
        self.ehlo(self.c)

    def deadline_hit(self):
        self.start_txn()
        self.assertEqual(self.c.cmd("DATA")[0], 354)
        got, elapsed = self.timed(self.send_message)
        self.assertEqual(got[0], 451, got)
        self.assertTrue(enhanced(got[1]).startswith("4."), got)
        self.assertGreaterEqual(elapsed, self.DATA_TIMEOUT * 0.9, got)
        self.assertLess(elapsed, 4.0, "the end of data got more than downstream.data_timeout")
        self.assertEqual(self.d.rec.messages, [])
        t = self.m.wait_transactions(1)
        self.assertEqual([x["verdict"] for x in t], ["tempfail"], t)

    def test_stall_after_message(self):
        self.d.behaviour.stall = "data_end"
        self.d.behaviour.stall_seconds = 30
        self.deadline_hit()
        self.recover(451)

    def test_stall_at_data_command(self):
        # The 354 never comes: data_timeout (2s) applies, not command_timeout (10s).
        self.d.behaviour.stall = "data"
        self.d.behaviour.stall_seconds = 30
        self.deadline_hit()
        self.recover(451)

    def test_slow_steps_add_up(self):
        # 1.5s before the 354 and 1.5s before the final reply: each step within 2s,
        # together over it.
        async def slow(stage, server):
            if stage in ("data", "data_end"):
                await asyncio.sleep(1.5)
            return False

        self.d._misbehave = slow
        self.deadline_hit()
        del self.d._misbehave   # back to the class's (now well-behaved) Behaviour
        self.recover(451)


if __name__ == "__main__":
    unittest.main()


class TestBadGreeting(ProxyTestCase):
    """A downstream that refuses us in its greeting, or hangs up at once, is a 4xx for
    the client (our relationship with the MX, not the client's fault)."""

    def start_fake_mx(self, greeting):
        import socket
        import threading
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        self.addCleanup(srv.close)
        seen = []

        def serve():
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                seen.append(1)
                if greeting:
                    conn.sendall(greeting)
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return srv.getsockname()[1], seen

    def check(self, greeting):
        port, seen = self.start_fake_mx(greeting)
        mx = self.start_mxgate(port)
        c = self.raw(mx.port)
        self.ehlo(c)
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(lines[-1].startswith("451 4.3.0 "), lines)
        self.assertTrue(seen, "mxgate never reached the fake MX")
        # Nothing was opened: RCPT has no transaction, and the session still works.
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 503)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(mx.wait_transactions(1)[0]["verdict"], "tempfail")

    def test_554_greeting(self):
        self.check(b"554 5.7.1 mx.example.org no SMTP service here\r\n")

    def test_421_greeting(self):
        self.check(b"421 4.3.2 mx.example.org busy\r\n")

    def test_hangs_up_at_connect(self):
        self.check(None)

    def test_garbage_greeting(self):
        self.check(b"HTTP/1.1 400 Bad Request\r\n\r\n")
