"""Relaying with real peers: smtplib / swaks / raw clients -> mxgate -> Postfix
smtp-sink or the scripted aiosmtpd downstream.

Run: cd tests/integration && MXGATE_BIN=.../mxgate /usr/bin/python3 -m unittest -v test_relay
"""
import smtplib
import socket
import subprocess
import time
import unittest

from harness import LOOPBACK, MESSAGE, ProxyTestCase, ScriptedDownstream, free_port

NOUSER = "nouser@example.org"
NOUSER_REPLY = "550 5.1.1 <nouser@example.org>: Recipient address rejected: User unknown"

# Body with lines that need dot-stuffing on the wire, for the smtp-sink test.
DOTTY = MESSAGE + (b".starts with a dot\r\n"
                   b"..two dots\r\n"
                   b".\r\n"
                   b"after the lone dot\r\n")


def enhanced(lines):
    """The enhanced status code of the last reply line ("5.5.1"), or ""."""
    parts = lines[-1][4:].split(" ", 1)
    return parts[0] if parts and parts[0][:1].isdigit() and parts[0].count(".") == 2 else ""


def capture_mail_options(downstream):
    """Wraps the scripted downstream's DATA hook to also record the MAIL parameters
    (aiosmtpd keeps them in envelope.mail_options) and the SMTPUTF8 flag. The hook is
    looked up per connection, so this must run before mxgate connects."""
    handler = downstream.controller.handler
    seen = []
    orig = handler.handle_DATA

    async def handle_DATA(server, session, envelope):
        seen.append({"mail_options": list(envelope.mail_options),
                     "smtp_utf8": bool(getattr(envelope, "smtp_utf8", False))})
        return await orig(server, session, envelope)

    handler.handle_DATA = handle_DATA
    return seen


class RelayCase(ProxyTestCase):
    def assertReply(self, got, code, enh=None, text=None):
        c, lines = got
        self.assertEqual(c, code, lines)
        if enh is not None:
            self.assertEqual(enhanced(lines), enh, lines)
        if text is not None:
            self.assertEqual(lines[-1], text, lines)

    def wait_probe(self, m):
        """Waits until mxgate's start-up probe has talked to the downstream."""
        self.wait_for(lambda: "ready (SIZE" in m.log() or "not answering" in m.log(),
                      msg="downstream probe\n" + m.log())

    def send_message(self, c, data):
        """Sends DATA's 354 already received: the message, dot-stuffed, and the end."""
        lines = data.split(b"\r\n")
        assert lines[-1] == b""
        wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
        c.send(wire + b".\r\n")
        return c.reply()


class TestSmtpSink(RelayCase):
    """smtplib -> mxgate -> Postfix smtp-sink (-d dumps each message to a file)."""

    def test_message_arrives_intact(self):
        sink = self.start_sink()
        m = self.start_mxgate(sink.port)
        with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.test", timeout=15) as c:
            refused = c.sendmail("sender@example.net", ["rcpt@example.org", "other@example.org"], DOTTY)
            self.assertEqual(refused, {})
        self.wait_for(lambda: len(sink.messages()) == 1, msg="smtp-sink dump")
        time.sleep(0.2)  # make sure no second file turns up
        msgs = sink.messages()
        self.assertEqual(len(msgs), 1, msgs)
        dump = msgs[0]
        # The sink's own additions: X-* records, then a 3-line Received: header.
        lines = dump.split(b"\n")
        i = 0
        sink_headers = []
        while lines[i].startswith(b"X-"):
            sink_headers.append(lines[i])
            i += 1
        self.assertTrue(lines[i].startswith(b"Received: from "), dump)
        self.assertTrue(lines[i + 1].startswith(b"\tby ") and lines[i + 2].startswith(b"\t"), dump)
        body = b"\n".join(lines[i + 3:])
        # Then the message as received (LF line ends, dots unstuffed), then an empty line.
        self.assertEqual(body, DOTTY.replace(b"\r\n", b"\n") + b"\n")
        self.assertIn(b"X-Mail-Args: <sender@example.net>", sink_headers)
        self.assertEqual([h for h in sink_headers if h.startswith(b"X-Rcpt-Args:")],
                         [b"X-Rcpt-Args: <rcpt@example.org>", b"X-Rcpt-Args: <other@example.org>"])
        self.assertIn(b"X-Helo-Args: mxgate.test", sink_headers)

    def test_null_sender(self):
        sink = self.start_sink()
        m = self.start_mxgate(sink.port)
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<>"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.wait_for(lambda: len(sink.messages()) == 1, msg="smtp-sink dump")
        dump = sink.messages()[0]
        self.assertIn(b"\nX-Mail-Args: <>\n", dump)
        self.assertTrue(dump.endswith(MESSAGE.replace(b"\r\n", b"\n") + b"\n"), dump)


class TestSwaks(RelayCase):
    def run_swaks(self, port, *extra):
        args = ["/usr/bin/swaks", "--server", "127.0.0.1", "--port", str(port),
                "--from", "sender@example.net", "--to", "rcpt@example.org",
                "--helo", "client.test", "--timeout", "15",
                "--header", "Subject: swaks test", "--body", "Body from swaks", *extra]
        return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)

    @staticmethod
    def swaks_sent(transcript):
        """The message lines swaks printed (" -> ...") between 354 and the lone "."."""
        out, inside = [], False
        for line in transcript.split(b"\n"):
            line = line.rstrip(b"\r")
            if line.startswith(b"<-  354") or line.startswith(b"<** 354"):
                inside = True
            elif inside and line.startswith(b" -> "):
                if line == b" -> .":
                    break
                out.append(line[4:])
            elif inside and line == b" -> ":
                out.append(b"")
        return b"".join(l + b"\r\n" for l in out)

    def test_swaks_to_scripted_downstream(self):
        d = self.start_downstream()
        m = self.start_mxgate(d.port)
        for extra in ((), ("--pipeline",)):
            with self.subTest(extra=extra):
                n = len(d.rec.messages)
                p = self.run_swaks(m.port, *extra)
                self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
                self.assertIn(b"250 2.0.0 Ok: queued", p.stdout)
                self.assertEqual(len(d.rec.messages), n + 1)
                msg = d.rec.messages[-1]
                self.assertEqual(msg["mail_from"], "sender@example.net")
                self.assertEqual(msg["rcpts"], ["rcpt@example.org"])
                self.assertIn(b"\r\nSubject: swaks test\r\n", b"\r\n" + msg["data"])
                # Byte for byte what swaks says it sent after 354 (its transcript).
                self.assertEqual(msg["data"], self.swaks_sent(p.stdout), p.stdout)


class TestScripted(RelayCase):
    def setUp(self):
        self.d = self.start_downstream()

    def mx(self, overrides=None):
        return self.start_mxgate(self.d.port, overrides)

    def test_rcpt_rejection_passed_through(self):
        self.d.behaviour.reject_rcpts[NOUSER] = NOUSER_REPLY
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250, text="250 2.1.0 OK")
        self.assertReply(c.cmd("RCPT TO:<a@example.org>"), 250, text="250 2.1.5 OK")
        code, lines = c.cmd(f"RCPT TO:<{NOUSER}>")
        self.assertEqual((code, lines), (550, [NOUSER_REPLY]))
        self.assertReply(c.cmd("RCPT TO:<b@example.org>"), 250, text="250 2.1.5 OK")
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250, text="250 2.0.0 Ok: queued")
        self.assertEqual(len(self.d.rec.messages), 1)
        msg = self.d.rec.messages[0]
        self.assertEqual(msg["rcpts"], ["a@example.org", "b@example.org"])
        self.assertEqual(msg["mail_from"], "sender@example.net")
        self.assertEqual(msg["data"], MESSAGE)
        self.assertReply(c.cmd("QUIT"), 221)

    def test_multiline_rcpt_reply_relayed(self):
        self.d.behaviour.reject_rcpts["x@example.org"] = (
            "550-5.1.1 first line\r\n550-5.1.1 second line\r\n550 5.1.1 <x@example.org>: third")
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertEqual(c.cmd("RCPT TO:<x@example.org>"),
                         (550, ["550-5.1.1 first line", "550-5.1.1 second line",
                                "550 5.1.1 <x@example.org>: third"]))
        self.assertReply(c.cmd("RCPT TO:<y@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertEqual([x["rcpts"] for x in self.d.rec.messages], [["y@example.org"]])

    def test_rcpt_rejection_smtplib(self):
        self.d.behaviour.reject_rcpts[NOUSER] = NOUSER_REPLY
        m = self.mx()
        with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.test", timeout=15) as c:
            refused = c.sendmail("sender@example.net", ["a@example.org", NOUSER], MESSAGE)
        self.assertEqual(refused, {NOUSER: (550, NOUSER_REPLY[4:].encode())})
        self.assertEqual([x["rcpts"] for x in self.d.rec.messages], [["a@example.org"]])

    def test_final_reply_relayed(self):
        self.d.behaviour.data_reply = "554 5.7.1 Message content rejected"
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertEqual(self.send_message(c, MESSAGE), (554, ["554 5.7.1 Message content rejected"]))
        # The transaction is over; the session goes on.
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("NOOP"), 250)

    def test_multiple_transactions_and_rset(self):
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        bodies = [MESSAGE.replace(b"Subject: test", b"Subject: msg %d" % i) for i in (1, 2, 3)]
        for i in (0, 1):
            self.assertReply(c.cmd(f"MAIL FROM:<s{i}@example.net>"), 250, "2.1.0")
            self.assertReply(c.cmd(f"RCPT TO:<r{i}@example.org>"), 250, "2.1.5")
            self.assertReply(c.cmd("DATA"), 354)
            self.assertReply(self.send_message(c, bodies[i]), 250, "2.0.0")
        # A transaction abandoned with RSET: nothing is delivered for it.
        self.assertReply(c.cmd("MAIL FROM:<aborted@example.net>"), 250, "2.1.0")
        self.assertReply(c.cmd("RCPT TO:<aborted@example.org>"), 250, "2.1.5")
        self.assertReply(c.cmd("RSET"), 250, "2.0.0")
        # RSET really ended it: DATA now has no transaction.
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<s2@example.net>"), 250, "2.1.0")
        self.assertReply(c.cmd("RCPT TO:<r2@example.org>"), 250, "2.1.5")
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, bodies[2]), 250, "2.0.0")
        self.assertReply(c.cmd("QUIT"), 221)
        msgs = self.d.rec.messages
        self.assertEqual([(x["mail_from"], x["rcpts"], x["data"]) for x in msgs],
                         [(f"s{i}@example.net", [f"r{i}@example.org"], bodies[i]) for i in range(3)])
        self.assertEqual(self.d.rec.mail_count, 4)
        self.assertNotIn("aborted@example.net", [x["mail_from"] for x in msgs])

    def test_xforward(self):
        m = self.mx()
        c = self.raw(m.port)
        client_port = c.sock.getsockname()[1]
        self.ehlo(c, "helo.client.test")
        for i in range(2):
            self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
            self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
            self.assertReply(c.cmd("DATA"), 354)
            self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertEqual(len(self.d.rec.messages), 2)
        for msg in self.d.rec.messages:
            xf = msg["xforward"]
            self.assertEqual(xf.get("ADDR"), "127.0.0.1", xf)
            self.assertEqual(xf.get("HELO"), "helo.client.test", xf)
            self.assertEqual(xf.get("PORT"), str(client_port), xf)
            self.assertEqual(xf.get("PROTO"), "ESMTP", xf)
        # XFORWARD goes before MAIL in each downstream session.
        verbs = [v for v, _ in self.d.rec.commands if v in ("XFORWARD", "MAIL")]
        self.assertEqual(verbs, ["XFORWARD", "MAIL", "XFORWARD", "MAIL"])

        # HELO (not EHLO): PROTO=SMTP.
        c2 = self.raw(m.port)
        self.assertEqual(c2.reply()[0], 220)
        self.assertReply(c2.cmd("HELO old.client.test"), 250)
        self.assertReply(c2.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c2.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c2.cmd("DATA"), 354)
        self.assertReply(self.send_message(c2, MESSAGE), 250)
        xf = self.d.rec.messages[2]["xforward"]
        self.assertEqual((xf.get("ADDR"), xf.get("HELO"), xf.get("PROTO")),
                         ("127.0.0.1", "old.client.test", "SMTP"), xf)

    def test_no_xforward_when_not_offered(self):
        self.d.behaviour.xforward = False
        m = self.mx()
        with smtplib.SMTP("127.0.0.1", m.port, local_hostname="client.test", timeout=15) as c:
            self.assertEqual(c.sendmail("sender@example.net", ["rcpt@example.org"], MESSAGE), {})
        self.assertEqual(len(self.d.rec.messages), 1)
        self.assertEqual(self.d.rec.messages[0]["xforward"], {})
        self.assertNotIn("XFORWARD", [v for v, _ in self.d.rec.commands])

    def test_pipelining(self):
        self.d.behaviour.reject_rcpts[NOUSER] = NOUSER_REPLY
        m = self.mx()
        c = self.raw(m.port)
        self.assertIn("PIPELINING", [l[4:] for l in self.ehlo(c)])
        c.send("MAIL FROM:<sender@example.net>\r\n"
               "RCPT TO:<a@example.org>\r\n"
               f"RCPT TO:<{NOUSER}>\r\n"
               "RCPT TO:<b@example.org>\r\n"
               "DATA\r\n")
        self.assertReply(c.reply(), 250, text="250 2.1.0 OK")
        self.assertReply(c.reply(), 250, text="250 2.1.5 OK")
        self.assertEqual(c.reply(), (550, [NOUSER_REPLY]))
        self.assertReply(c.reply(), 250, text="250 2.1.5 OK")
        self.assertReply(c.reply(), 354)
        # End of message and the next transaction's commands in one write.
        c.send(MESSAGE + b".\r\n"
               b"MAIL FROM:<second@example.net>\r\n"
               b"RCPT TO:<c@example.org>\r\n"
               b"DATA\r\n")
        self.assertReply(c.reply(), 250, text="250 2.0.0 Ok: queued")
        self.assertReply(c.reply(), 250, "2.1.0")
        self.assertReply(c.reply(), 250, "2.1.5")
        self.assertReply(c.reply(), 354)
        second = MESSAGE.replace(b"Hello.", b"Second.")
        c.send(second + b".\r\nQUIT\r\n")
        self.assertReply(c.reply(), 250, text="250 2.0.0 Ok: queued")
        self.assertReply(c.reply(), 221)
        self.assertTrue(c.closed())
        self.assertEqual([(x["mail_from"], x["rcpts"], x["data"]) for x in self.d.rec.messages],
                         [("sender@example.net", ["a@example.org", "b@example.org"], MESSAGE),
                          ("second@example.net", ["c@example.org"], second)])

    def test_dot_stuffing(self):
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        c.send(b"Subject: dots\r\n"
               b"\r\n"
               b"..leading dot\r\n"
               b"..\r\n"
               b"...two dots\r\n"
               b"..\r\n"
               b"last line\r\n"
               b".\r\n")
        self.assertReply(c.reply(), 250, "2.0.0")
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertEqual(len(self.d.rec.messages), 1)
        self.assertEqual(self.d.rec.messages[0]["data"],
                         b"Subject: dots\r\n"
                         b"\r\n"
                         b".leading dot\r\n"
                         b".\r\n"
                         b"..two dots\r\n"
                         b".\r\n"
                         b"last line\r\n")
        self.assertEqual(self.d.rec.mail_count, 1)

    def test_dot_stuffing_split_writes(self):
        m = self.mx()
        c = self.raw(m.port)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.ehlo(c)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        # Cut between the dots and inside CR LF, ending with a stuffed lone dot.
        for part in (b"Subject: x\r\n\r\n.", b".lead\r", b"\n.", b".\r\n..", b".x\r\n.",
                     b".\r", b"\n.\r", b"\n"):
            c.send(part)
            time.sleep(0.05)
        self.assertReply(c.reply(), 250, "2.0.0")
        self.assertEqual([x["data"] for x in self.d.rec.messages],
                         [b"Subject: x\r\n\r\n.lead\r\n.\r\n..x\r\n.\r\n"])

    def test_8bitmime_smtputf8(self):
        seen = capture_mail_options(self.d)
        m = self.mx()
        c = self.raw(m.port)
        self.ehlo(c)
        sender, rcpt = "sénder@exämple.net", "rëcipient@example.org"
        body = "Subject: Grüße\r\n\r\nÄpfel und Bäume, 日本語.\r\n".encode()
        self.assertReply(c.cmd(f"MAIL FROM:<{sender}> BODY=8BITMIME SMTPUTF8"), 250, "2.1.0")
        self.assertReply(c.cmd(f"RCPT TO:<{rcpt}>"), 250, "2.1.5")
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, body), 250, "2.0.0")
        self.assertEqual(len(self.d.rec.messages), 1)
        msg = self.d.rec.messages[0]
        self.assertEqual((msg["mail_from"], msg["rcpts"], msg["data"]), (sender, [rcpt], body))
        self.assertIn("BODY=8BITMIME", seen[0]["mail_options"])
        self.assertIn("SMTPUTF8", seen[0]["mail_options"])
        self.assertTrue(seen[0]["smtp_utf8"])

        # Without SMTPUTF8, a non-ASCII address is refused here, never relayed.
        mails = self.d.rec.mail_count
        self.assertReply(c.cmd(f"MAIL FROM:<{sender}>"), 553, "5.6.7")
        self.assertReply(c.cmd(f"MAIL FROM:<{sender}> BODY=8BITMIME"), 553, "5.6.7")
        self.assertEqual(self.d.rec.mail_count, mails)
        self.assertReply(c.cmd("MAIL FROM:<ascii@example.net> BODY=8BITMIME"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{rcpt}>"), 553, "5.6.7")
        self.assertNotIn(("RCPT", rcpt), self.d.rec.commands[-1:])
        self.assertEqual(sum(1 for v, a in self.d.rec.commands if v == "RCPT"), 1)
        # 8-bit body with BODY=8BITMIME and an ASCII envelope is relayed too.
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, body), 250, "2.0.0")
        self.assertEqual(self.d.rec.messages[1]["data"], body)
        self.assertIn("BODY=8BITMIME", seen[1]["mail_options"])
        self.assertNotIn("SMTPUTF8", seen[1]["mail_options"])

    def ehlo_keywords(self, port):
        c = self.raw(port)
        lines = self.ehlo(c)
        self.assertEqual(lines[0], "250-mxgate.test")
        kw = {}
        for l in lines[1:]:
            word, _, arg = l[4:].partition(" ")
            kw[word.upper()] = arg
        c.cmd("QUIT")
        return kw

    def test_ehlo_keywords_size_smaller_downstream(self):
        self.d.behaviour.size = 100000
        m = self.mx({"smtp": {"max_message_bytes": 1048576}})
        self.wait_for(lambda: "ready (SIZE 100000)" in m.log(), msg="probe\n" + m.log())
        kw = self.ehlo_keywords(m.port)
        for k in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
            self.assertIn(k, kw)
        self.assertNotIn("STARTTLS", kw)
        self.assertEqual(kw["SIZE"], "100000")

    def test_ehlo_size_ours_smaller(self):
        self.d.behaviour.size = 5000000
        m = self.mx({"smtp": {"max_message_bytes": 1048576}})
        self.wait_for(lambda: "ready (SIZE 5000000)" in m.log(), msg="probe\n" + m.log())
        self.assertEqual(self.ehlo_keywords(m.port)["SIZE"], "1048576")

    def test_ehlo_size_downstream_not_seen(self):
        # Nothing listening downstream: SIZE is ours alone.
        m = self.start_mxgate(free_port(), {"smtp": {"max_message_bytes": 1048576}})
        self.wait_probe(m)
        kw = self.ehlo_keywords(m.port)
        self.assertEqual(kw["SIZE"], "1048576")
        for k in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"):
            self.assertIn(k, kw)

    def test_size_parameter(self):
        self.d.behaviour.size = 100000
        seen = capture_mail_options(self.d)
        m = self.mx({"smtp": {"max_message_bytes": 1048576}})
        self.wait_for(lambda: "ready (SIZE 100000)" in m.log(), msg="probe\n" + m.log())
        c = self.raw(m.port)
        self.ehlo(c)
        # Over our own limit: refused here, the downstream is not asked.
        conns = self.d.rec.connections
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> SIZE=2000000"), 552, "5.3.4")
        self.assertEqual(self.d.rec.connections, conns)
        # Over the downstream's: its refusal comes back unchanged.
        self.assertEqual(c.cmd("MAIL FROM:<a@example.net> SIZE=200000"),
                         (552, ["552 Error: message size exceeds fixed maximum message size"]))
        # Within both: SIZE= is passed on to a downstream that announced SIZE.
        self.assertReply(c.cmd("MAIL FROM:<a@example.net> SIZE=5000"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertEqual(seen[0]["mail_options"], ["SIZE=5000"])
        self.assertEqual(self.d.rec.messages[0]["data"], MESSAGE)

    def test_command_order_errors(self):
        m = self.mx()
        c = self.raw(m.port)
        self.assertEqual(c.reply()[0], 220)
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 503, "5.5.1")
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("EHLO client.test"), 250)
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 503, "5.5.1")
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<sender@example.net>"), 250)
        self.assertReply(c.cmd("DATA"), 503, "5.5.1")
        self.assertReply(c.cmd("MAIL FROM:<other@example.net>"), 503, "5.5.1")
        self.assertReply(c.cmd("FROB nicate"), 500, "5.5.2")
        self.assertReply(c.cmd("VRFY x"), 252)
        self.assertReply(c.cmd("NOOP"), 250)
        self.assertReply(c.cmd("HELP"), 214)
        # The transaction survived the errors and still works.
        self.assertReply(c.cmd("RCPT TO:<rcpt@example.org>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertReply(c.cmd("QUIT"), 221, "2.0.0")
        self.assertTrue(c.closed())
        # Nothing out of order reached the downstream.
        self.assertEqual(self.d.rec.mail_count, 1)
        self.assertEqual(self.d.rec.commands[-2:], [("MAIL", "sender@example.net"),
                                                    ("RCPT", "rcpt@example.org")])
        self.assertEqual(len(self.d.rec.messages), 1)



def without_smtputf8(downstream):
    """Makes the scripted downstream an MX without SMTPUTF8 (aiosmtpd's
    enable_SMTPUTF8=False: not in its EHLO, and MAIL ... SMTPUTF8 refused). Each
    connection gets a new aiosmtpd server from the factory, so this must run before
    anything connects."""
    factory = downstream.controller.factory

    def no_utf8():
        server = factory()
        server.enable_SMTPUTF8 = False
        return server

    downstream.controller.factory = no_utf8
    return downstream


def without_8bitmime(downstream):
    """Takes 8BITMIME out of the scripted downstream's EHLO reply."""
    handler = downstream.controller.handler
    orig = handler.handle_EHLO

    async def handle_EHLO(server, session, envelope, hostname, responses):
        out = await orig(server, session, envelope, hostname, responses)
        return [r for r in out if r[4:].upper() != "8BITMIME"]

    handler.handle_EHLO = handle_EHLO
    return downstream


class TestKeywordsFollowDownstream(RelayCase):
    """8BITMIME and SMTPUTF8 are offered only if the MX takes them (RFC 6152 3,
    RFC 6531 3.4), and a MAIL parameter not offered is refused (RFC 5321 4.1.1.11)."""

    def ready(self, d):
        m = self.start_mxgate(d.port)
        self.wait_for(lambda: f"downstream {LOOPBACK}:{d.port} ready" in m.log(),
                      msg="downstream probe\n" + m.log())
        return m

    def keywords(self, c):
        lines = self.ehlo(c)
        return [l[4:].split(" ")[0].upper() for l in lines[1:]]

    def start(self, d):
        d.start()
        self.addCleanup(d.stop)
        return d

    def test_smtputf8_follows_downstream(self):
        # An MX without SMTPUTF8: not offered, and refused before anything is relayed.
        d = self.start(without_smtputf8(ScriptedDownstream()))
        m = self.ready(d)
        c = self.raw(m.port)
        kw = self.keywords(c)
        self.assertNotIn("SMTPUTF8", kw)
        self.assertIn("8BITMIME", kw)
        self.assertIn("PIPELINING", kw)
        mails = d.rec.mail_count
        self.assertReply(c.cmd("MAIL FROM:<a@b.c> SMTPUTF8"), 555, "5.5.4")
        self.assertEqual(d.rec.mail_count, mails, "the refused MAIL was relayed")
        # The session goes on; plain ASCII mail is relayed.
        self.assertReply(c.cmd("MAIL FROM:<a@b.c>"), 250)
        self.assertReply(c.cmd("RCPT TO:<d@e.f>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertEqual([x["data"] for x in d.rec.messages], [MESSAGE])

        # An MX that takes SMTPUTF8: offered and accepted.
        d2 = self.start(ScriptedDownstream())
        m2 = self.ready(d2)
        c2 = self.raw(m2.port)
        self.assertIn("SMTPUTF8", self.keywords(c2))
        self.assertReply(c2.cmd("MAIL FROM:<a@b.c> SMTPUTF8"), 250)
        self.assertReply(c2.cmd("RCPT TO:<d@e.f>"), 250)
        self.assertReply(c2.cmd("DATA"), 354)
        self.assertReply(self.send_message(c2, MESSAGE), 250)
        self.assertEqual([x["data"] for x in d2.rec.messages], [MESSAGE])

    def test_8bitmime_follows_downstream(self):
        d = self.start(without_8bitmime(ScriptedDownstream()))
        m = self.ready(d)
        c = self.raw(m.port)
        kw = self.keywords(c)
        self.assertNotIn("8BITMIME", kw)
        mails = d.rec.mail_count
        self.assertReply(c.cmd("MAIL FROM:<a@b.c> BODY=8BITMIME"), 555, "5.5.4")
        self.assertEqual(d.rec.mail_count, mails)
        self.assertReply(c.cmd("MAIL FROM:<a@b.c> BODY=7BIT"), 250)


class TestControlCharacters(RelayCase):
    """A control byte inside a command line (bare CR, NUL) gets 500 5.5.2; the
    command is not parsed or relayed, and the session goes on."""

    def test_bare_cr_and_nul_in_parameters(self):
        d = self.start_downstream()
        m = self.start_mxgate(d.port)
        c = self.raw(m.port)
        self.ehlo(c)
        self.assertReply(c.cmd(b"MAIL FROM:<a@b.c> X\r=1".decode()), 500, "5.5.2")
        self.assertReply(c.cmd("RCPT TO:<d@e.f> \x00"), 500, "5.5.2")
        self.assertEqual(d.rec.mail_count, 0)
        self.assertReply(c.cmd("NOOP"), 250)
        # Neither started a transaction; a normal one is relayed.
        self.assertReply(c.cmd("MAIL FROM:<a@b.c>"), 250)
        self.assertReply(c.cmd("RCPT TO:<d@e.f>"), 250)
        self.assertReply(c.cmd("DATA"), 354)
        self.assertReply(self.send_message(c, MESSAGE), 250)
        self.assertReply(c.cmd("QUIT"), 221)
        self.assertTrue(c.closed())
        self.assertEqual([(x["mail_from"], x["rcpts"], x["data"]) for x in d.rec.messages],
                         [("a@b.c", ["d@e.f"], MESSAGE)])
        self.assertEqual([x for x in d.rec.commands if x[0] in ("MAIL", "RCPT")],
                         [("MAIL", "a@b.c"), ("RCPT", "d@e.f")])
        self.assertNotIn("session failed", m.log())


if __name__ == "__main__":
    unittest.main()


class TestXclientToDownstream(ProxyTestCase):
    """A downstream that offers XCLIENT (and not XFORWARD) is told the real client with
    XCLIENT; mxgate greets it again after its 220 (XCLIENT_README) and relays."""

    def test_xclient_sent_then_ehlo_again(self):
        down = self.start_downstream()
        down.behaviour.xforward = False
        down.behaviour.xclient = True
        mx = self.start_mxgate(down.port)
        with smtplib.SMTP(LOOPBACK, mx.port, local_hostname="client.example", timeout=15) as s:
            refused = s.sendmail("sender@example.net", ["rcpt@example.org"], MESSAGE)
        self.assertEqual(refused, {})
        self.assertEqual(len(down.rec.messages), 1)
        verbs = [v for v, _ in down.rec.commands]
        self.assertIn("XCLIENT", verbs)
        self.assertNotIn("XFORWARD", verbs)
        self.assertLess(verbs.index("XCLIENT"), verbs.index("MAIL"))
        attrs = down.rec.messages[0]["xforward"]
        self.assertEqual(attrs.get("ADDR"), LOOPBACK)
        self.assertEqual(attrs.get("HELO"), "client.example")
        self.assertEqual(attrs.get("PROTO"), "ESMTP")
