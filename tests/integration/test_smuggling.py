"""SMTP smuggling (CVE-2023-51764/51765/51766 family): only <CRLF>.<CRLF> ends DATA.

Each end-of-data lookalike is placed inside a message and followed by a complete
second transaction, then the real <CRLF>.<CRLF>. mxgate must either reject the
message outright (smtp.bare_line_endings: reject, the default: 550 5.5.2) or turn
every bare CR/LF into CRLF (normalize) so that the downstream gets ONE message with
the would-be second transaction as plain text inside it. Either way the downstream
must never see MAIL FROM:<evil@attacker.example>.
"""
import re
import socket
import time
import unittest

from harness import ProxyTestCase

# name -> the bytes a lenient server might take for the end of the message
LOOKALIKES = {
    "lf_dot_lf": b"\n.\n",
    "lf_dot_crlf": b"\n.\r\n",
    "cr_dot_cr": b"\r.\r",
    "crlf_dot_lf": b"\r\n.\n",
    "lf_dot_cr": b"\n.\r",
    "cr_dot_crlf": b"\r.\r\n",
    "crlf_dot_cr": b"\r\n.\r",
}

HEAD = (b"From: Sender <sender@example.net>\r\n"
        b"To: Rcpt <rcpt@example.org>\r\n"
        b"Subject: smuggling test\r\n"
        b"Message-ID: <smuggle-1@example.net>\r\n"
        b"\r\n"
        b"Legit body line")
SMUGGLED = (b"MAIL FROM:<evil@attacker.example>\r\n"
            b"RCPT TO:<victim@example.org>\r\n"
            b"DATA\r\n"
            b"From: CEO <ceo@example.org>\r\n"
            b"To: <victim@example.org>\r\n"
            b"Subject: smuggled\r\n"
            b"\r\n"
            b"Smuggled body\r\n")
REAL_END = b".\r\n"   # SMUGGLED ends in CRLF, so this makes <CRLF>.<CRLF>

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def payload(lookalike):
    return HEAD + lookalike + SMUGGLED + REAL_END


class SmugglingBase(ProxyTestCase):
    mode = None   # None: leave smtp.bare_line_endings at its default

    def setUp(self):
        self.down = self.start_downstream()
        smtp = {}
        if self.mode:
            smtp["bare_line_endings"] = self.mode
        self.mx = self.start_mxgate(self.down.port, {"smtp": smtp})

    def open_data(self, c):
        self.ehlo(c)
        self.start_data(c)

    def start_data(self, c):
        """MAIL, RCPT and DATA on a greeted session, up to the 354."""
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 250, lines)
        code, lines = c.cmd("RCPT TO:<rcpt@example.org>")
        self.assertEqual(code, 250, lines)
        code, lines = c.cmd("DATA")
        self.assertEqual(code, 354, lines)

    def assert_nothing_more(self, c, wait=0.7):
        """No further reply bytes arrive (a smuggled transaction would produce some)."""
        self.assertEqual(c.buf, b"", "unexpected extra reply data %r" % c.buf)
        c.sock.settimeout(wait)
        try:
            extra = c.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            extra = None
        finally:
            c.sock.settimeout(15)
        self.assertIsNone(extra, "unexpected extra reply data (or close) %r" % extra)

    def evil_commands(self):
        with self.down.rec.lock:
            return [cmd for cmd in self.down.rec.commands
                    if cmd[1] in ("evil@attacker.example", "victim@example.org")]

    def mail_commands(self):
        with self.down.rec.lock:
            return [cmd for cmd in self.down.rec.commands if cmd[0] == "MAIL"]


class RejectMode(SmugglingBase):
    """Default smtp.bare_line_endings (reject)."""

    def check_rejected(self, lookalike):
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(lookalike))
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.5.2 "), lines)
        self.assert_nothing_more(c)
        # The session is still usable and the next command gets exactly its own reply.
        code, lines = c.cmd("NOOP")
        self.assertEqual((code, lines), (250, ["250 2.0.0 Ok"]))
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(self.evil_commands(), [])
        self.assertEqual(self.mail_commands(), [("MAIL", "sender@example.net")])
        self.assertEqual(self.down.rec.mail_count, 1)
        txns = self.mx.wait_transactions(1)
        self.assertEqual(len(txns), 1, txns)
        self.assertEqual(txns[0]["verdict"], "reject", txns[0])
        self.assertEqual(txns[0]["mail_from"], "sender@example.net")

    def test_session_continues_after_rejection(self):
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(b"\n.\n"))
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.5.2 "), lines)
        # A clean transaction on the same connection goes through.
        self.start_data(c)
        c.send(b"Subject: clean\r\n\r\nClean body\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["data"], b"Subject: clean\r\n\r\nClean body\r\n")
        self.assertEqual(self.evil_commands(), [])
        self.assertEqual(self.down.rec.mail_count, 2)
        code, lines = c.cmd("QUIT")
        self.assertEqual(code, 221, lines)

    def test_pipelined_commands_after_real_end_are_processed(self):
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(b"\r\n.\n") + b"RSET\r\nNOOP\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.5.2 "), lines)
        self.assertEqual(c.reply(), (250, ["250 2.0.0 Ok"]))   # RSET
        self.assertEqual(c.reply(), (250, ["250 2.0.0 Ok"]))   # NOOP
        code, lines = c.reply()                                # QUIT
        self.assertEqual(code, 221, lines)
        self.assertTrue(c.closed())
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(self.evil_commands(), [])

    def test_pipelined_transaction_after_real_end(self):
        # RFC 2920: a client may pipeline the next MAIL/RCPT/DATA right after the dot.
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(b"\n.\r\n") +
               b"MAIL FROM:<sender@example.net>\r\nRCPT TO:<rcpt@example.org>\r\nDATA\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.5.2 "), lines)
        self.assertEqual(c.reply()[0], 250)   # MAIL
        self.assertEqual(c.reply()[0], 250)   # RCPT
        self.assertEqual(c.reply()[0], 354)   # DATA
        c.send(b"Subject: second\r\n\r\nSecond body\r\n.\r\nQUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.reply()[0], 221)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["data"], b"Subject: second\r\n\r\nSecond body\r\n")
        self.assertEqual(self.evil_commands(), [])


    def test_lookalike_split_across_writes(self):
        # The reader keeps its state between reads: a lookalike cut into pieces
        # (each piece its own TCP segment) is still caught.
        c = self.raw(self.mx.port)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open_data(c)
        for piece in (HEAD + b"\r", b"\n.", b"\n" + SMUGGLED[:-1], b"\n", b".", b"\r", b"\n"):
            c.send(piece)
            time.sleep(0.05)
        code, lines = c.reply()
        self.assertEqual(code, 550, lines)
        self.assertTrue(lines[-1].startswith("550 5.5.2 "), lines)
        self.assert_nothing_more(c)
        self.assertEqual(self.down.rec.messages, [])
        self.assertEqual(self.evil_commands(), [])


class NormalizeMode(SmugglingBase):
    mode = "normalize"

    def check_normalized(self, lookalike):
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(lookalike))
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assert_nothing_more(c)
        code, lines = c.cmd("NOOP")
        self.assertEqual((code, lines), (250, ["250 2.0.0 Ok"]))
        rec = self.down.rec
        self.assertEqual(len(rec.messages), 1, rec.messages)
        self.assertEqual(rec.mail_count, 1)
        self.assertEqual(self.mail_commands(), [("MAIL", "sender@example.net")])
        self.assertEqual(self.evil_commands(), [])
        msg = rec.messages[0]
        self.assertEqual(msg["mail_from"], "sender@example.net")
        self.assertEqual(msg["rcpts"], ["rcpt@example.org"])
        data = msg["data"]
        self.assertIsNone(BARE.search(data), "bare CR or LF reached the downstream: %r" % data)
        self.assertTrue(data.endswith(b"\r\n"), data)
        # The would-be second transaction is text inside the one message.
        self.assertIn(b"Legit body line", data)
        self.assertIn(b"\r\nMAIL FROM:<evil@attacker.example>\r\n", data)
        self.assertIn(b"\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n", data)
        self.assertTrue(data.endswith(b"\r\nSmuggled body\r\n"), data)
        self.assertLess(data.index(b"Legit body line"), data.index(b"MAIL FROM:<evil@"))
        txns = self.mx.wait_transactions(1)
        self.assertEqual(len(txns), 1, txns)
        self.assertEqual(txns[0]["verdict"], "accept", txns[0])

    def test_pipelined_quit_after_real_end(self):
        c = self.raw(self.mx.port)
        self.open_data(c)
        c.send(payload(b"\r.\r") + b"QUIT\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        code, lines = c.reply()
        self.assertEqual(code, 221, lines)
        self.assertTrue(c.closed())
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.mail_count, 1)
        self.assertEqual(self.evil_commands(), [])

    def test_crlf_split_across_writes_is_not_bare(self):
        # A CRLF whose CR ends one read and whose LF starts the next is one line end,
        # not a bare CR plus a bare LF: the message arrives byte for byte.
        c = self.raw(self.mx.port)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.open_data(c)
        body = b"Subject: split\r\n\r\nline one\r\n..dotted\r\nline three\r\n"
        pieces = [b"Subject: split\r", b"\n\r", b"\nline one\r", b"\n.", b".dotted\r",
                  b"\nline three\r", b"\n.", b"\r", b"\n"]
        self.assertEqual(b"".join(pieces), body + b".\r\n")
        for piece in pieces:
            c.send(piece)
            time.sleep(0.05)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(self.down.rec.messages), 1)
        self.assertEqual(self.down.rec.messages[0]["data"],
                         b"Subject: split\r\n\r\nline one\r\n.dotted\r\nline three\r\n")
        txns = self.mx.wait_transactions(1)
        names = [s["name"] for s in txns[0]["symbols"]]
        self.assertNotIn("BARE_LINE_ENDING_NORMALIZED", names, txns[0])


def _add(cls, prefix, method):
    for name, seq in LOOKALIKES.items():
        def test(self, seq=seq):
            getattr(self, method)(seq)
        test.__name__ = f"test_{prefix}_{name}"
        test.__doc__ = f"{prefix}: {seq!r} inside the message"
        setattr(cls, test.__name__, test)


_add(RejectMode, "rejects", "check_rejected")
_add(NormalizeMode, "normalizes", "check_normalized")


if __name__ == "__main__":
    unittest.main()
