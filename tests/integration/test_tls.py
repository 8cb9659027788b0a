"""STARTTLS on both legs: client -> mxgate (tls.cert_file/key_file) and
mxgate -> downstream (downstream.tls off|opportunistic|required, tls_verify, tls_ca_file,
tls_server_name). Certificates are made at test time with the openssl CLI (make_ca)."""
import logging
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import tempfile
import subprocess
import threading
import time
import warnings

from harness import LOOPBACK, MESSAGE, MXGATE, ProxyTestCase, free_port, make_ca

import unittest


def _certs():
    d = tempfile.mkdtemp(prefix="mxgate-tls-")
    return d, make_ca(d)


CA_DIR = CA = OTHER_DIR = OTHER = None


def setUpModule():
    global CA_DIR, CA, OTHER_DIR, OTHER
    # aiosmtpd logs a traceback for every handshake a test makes fail on purpose.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    CA_DIR, CA = _certs()          # the CA that signed server.crt
    OTHER_DIR, OTHER = _certs()    # an unrelated CA (and its own server cert)


def tearDownModule():
    for d in (CA_DIR, OTHER_DIR):
        if d:
            shutil.rmtree(d, ignore_errors=True)


def client_context(ca_file=None, check_hostname=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca_file or CA["ca.crt"])  # only the test CA, not the system store
    ctx.check_hostname = check_hostname
    return ctx


def server_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CA["server.crt"], CA["server.key"])
    return ctx


def legacy_client_context(max_version):
    """A client that offers at most `max_version`, allowed by its own OpenSSL policy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def can_speak_tls11():
    """Control: can this client really do TLS 1.1 with a server that allows it? If
    not, a refused TLS 1.1 handshake against mxgate would prove nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        srv = server_context()
        srv.minimum_version = ssl.TLSVersion.TLSv1
        srv.set_ciphers("DEFAULT:@SECLEVEL=0")
        ls = socket.socket()
        ls.bind((LOOPBACK, 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        result = {}

        def serve():
            c, _ = ls.accept()
            c.settimeout(5)
            try:
                s = srv.wrap_socket(c, server_side=True)
                result["server"] = s.version()
                s.close()
            except (OSError, ssl.SSLError):
                c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        try:
            with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
                with legacy_client_context(ssl.TLSVersion.TLSv1_1).wrap_socket(
                        raw, server_hostname="mx.test") as s:
                    ok = s.version() == "TLSv1.1"
        except (OSError, ssl.SSLError):
            ok = False
        t.join(5)
        ls.close()
        return ok


class TlsCase(ProxyTestCase):
    def inbound(self, extra=None, tls=True):
        down = self.start_downstream()
        cfg = {"smtp": {"command_timeout": "3s"}}
        if tls:
            cfg["tls"] = {"cert_file": CA["server.crt"], "key_file": CA["server.key"]}
        if extra:
            cfg.update(extra)
        mx = self.start_mxgate(down.port, cfg)
        return down, mx

    def starttls(self, c, ctx=None, name="mx.test"):
        """STARTTLS on a RawClient that has said EHLO; returns after the handshake."""
        code, lines = c.cmd("STARTTLS")
        self.assertEqual((code, lines), (220, ["220 2.0.0 Ready to start TLS"]))
        self.assertEqual(c.buf, b"", "bytes after the 220 to STARTTLS")
        c.sock = (ctx or client_context()).wrap_socket(c.sock, server_hostname=name)
        return c.sock

    def deliver_raw(self, c, frm="sender@example.net", rcpt="rcpt@example.org", body=MESSAGE):
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % frm)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % rcpt)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body + b".\r\n")
        return c.reply()


class InboundStarttls(TlsCase):
    def test_ehlo_advertises_starttls(self):
        _, mx = self.inbound()
        c = self.raw(mx.port)
        lines = self.ehlo(c)
        self.assertIn("STARTTLS", [l[4:] for l in lines])

    def test_smtplib_starttls_delivers(self):
        down, mx = self.inbound()
        s = smtplib.SMTP(timeout=15)
        self.addCleanup(s.close)
        s.connect(LOOPBACK, mx.port)
        s._host = "mx.test"  # the name smtplib gives the TLS layer for SNI and the name check
        s.ehlo("client.test")
        self.assertTrue(s.has_extn("starttls"))
        code, msg = s.starttls(context=client_context())
        self.assertEqual(code, 220)
        self.assertIsInstance(s.sock, ssl.SSLSocket)
        self.assertIn(s.sock.version(), ("TLSv1.2", "TLSv1.3"))
        # The certificate checked is the one we configured (CN=localhost, SAN mx.test).
        self.assertEqual(dict(x[0] for x in s.sock.getpeercert()["subject"])["commonName"], "localhost")
        s.ehlo("client.test")
        self.assertFalse(s.has_extn("starttls"), "STARTTLS still advertised after TLS")
        refused = s.sendmail("sender@example.net", ["rcpt@example.org"], MESSAGE)
        self.assertEqual(refused, {})
        s.quit()
        self.wait_for(lambda: len(down.rec.messages) == 1, msg="message at downstream")
        m = down.rec.messages[0]
        self.assertEqual(m["mail_from"], "sender@example.net")
        self.assertEqual(m["rcpts"], ["rcpt@example.org"])
        self.assertIn(b"Hello.", m["data"])
        t = mx.wait_transactions(1)
        self.assertEqual(len(t), 1, t)
        self.assertIs(t[0]["tls"], True)
        self.assertIn(t[0]["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(t[0]["verdict"], "accept")
        self.assertEqual(t[0]["helo"], "client.test")

    def test_untrusted_or_wrong_name_fails_verification(self):
        # Control for the test above: a client that trusts another CA, or expects
        # another name, must not complete the handshake.
        _, mx = self.inbound()
        for ctx, name in ((client_context(OTHER["ca.crt"]), "mx.test"),
                          (client_context(), "wrong.example")):
            with self.subTest(name=name):
                c = self.raw(mx.port)
                self.ehlo(c)
                with self.assertRaises(ssl.SSLCertVerificationError):
                    self.starttls(c, ctx, name)

    def test_after_starttls_state_and_second_starttls(self):
        _, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        self.starttls(c)
        # RFC 3207 4.2: the session starts over; MAIL before a new EHLO is refused.
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>"),
                         (503, ["503 5.5.1 Error: send HELO/EHLO first"]))
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        self.assertFalse(any("STARTTLS" in l for l in lines), lines)
        self.assertTrue(any("PIPELINING" in l for l in lines), lines)
        self.assertEqual(c.cmd("STARTTLS"), (554, ["554 5.5.1 Error: TLS already active"]))
        # The session is still usable over TLS.
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))

    def test_starttls_syntax_and_transaction(self):
        _, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        self.assertEqual(c.cmd("STARTTLS now"), (501, ["501 5.5.4 Syntax: STARTTLS"]))
        self.assertEqual(c.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(c.cmd("STARTTLS"), (503, ["503 5.5.1 Error: MAIL transaction in progress"]))
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.starttls(c)
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))

    def test_pipelined_command_after_starttls_not_executed(self):
        # CVE-2011-0411: "STARTTLS\r\nRSET\r\n" in one write. The RSET arrived in
        # plaintext; it must not be answered after the handshake as if sent over TLS.
        down, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        c.send(b"STARTTLS\r\nRSET\r\n")
        self.assertEqual(c.reply(), (220, ["220 2.0.0 Ready to start TLS"]))
        self.assertEqual(c.buf, b"")
        c.sock = client_context().wrap_socket(c.sock, server_hostname="mx.test")
        # HELP's reply is unlike RSET's: if the injected RSET ran, its 250 comes first.
        self.assertEqual(c.cmd("HELP")[0], 214)
        self.assertEqual(c.cmd("NOOP"), (250, ["250 2.0.0 Ok"]))
        self.assertFalse(c.closed(timeout=0.5))
        self.assertEqual(c.buf, b"", "unexpected extra reply: %r" % c.buf)

    def test_pipelined_transaction_after_starttls_not_executed(self):
        # The classic exploit injects a whole transaction behind STARTTLS.
        down, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        c.send(b"STARTTLS\r\nEHLO evil.test\r\nMAIL FROM:<evil@example.net>\r\n"
               b"RCPT TO:<rcpt@example.org>\r\n")
        self.assertEqual(c.reply(), (220, ["220 2.0.0 Ready to start TLS"]))
        c.sock = client_context().wrap_socket(c.sock, server_hostname="mx.test")
        self.assertEqual(c.cmd("HELP")[0], 214)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>"),
                         (503, ["503 5.5.1 Error: send HELO/EHLO first"]))
        self.assertEqual(down.rec.mail_count, 0)
        self.assertEqual(c.buf, b"")

    def test_tls11_refused_tls12_accepted(self):
        if not can_speak_tls11():
            self.skipTest("this Python/OpenSSL cannot do TLS 1.1 even when allowed")
        _, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.starttls(c, legacy_client_context(ssl.TLSVersion.TLSv1_1))
        c2 = self.raw(mx.port)
        self.ehlo(c2)
        s = self.starttls(c2, legacy_client_context(ssl.TLSVersion.TLSv1_2))
        self.assertEqual(s.version(), "TLSv1.2")
        self.assertEqual(c2.cmd("EHLO client.test")[0], 250)
        self.assertEqual(self.deliver_raw(c2)[0], 250)
        t = mx.wait_transactions(1)
        self.assertEqual(t[-1]["tls_version"], "TLSv1.2")

    def test_min_version_13_refuses_tls12(self):
        _, mx = self.inbound({"tls": {"cert_file": CA["server.crt"], "key_file": CA["server.key"],
                                      "min_version": "1.3"}})
        c = self.raw(mx.port)
        self.ehlo(c)
        ctx = client_context()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            self.starttls(c, ctx)
        c2 = self.raw(mx.port)
        self.ehlo(c2)
        self.assertEqual(self.starttls(c2).version(), "TLSv1.3")

    def test_without_tls_configured(self):
        _, mx = self.inbound(tls=False)
        c = self.raw(mx.port)
        lines = self.ehlo(c)
        self.assertFalse(any("STARTTLS" in l for l in lines), lines)
        self.assertEqual(c.cmd("STARTTLS"), (502, ["502 5.5.1 Error: command not implemented"]))
        # Still a plaintext session that works.
        self.assertEqual(self.deliver_raw(c)[0], 250)
        t = mx.wait_transactions(1)
        self.assertIs(t[0]["tls"], False)
        self.assertNotIn("tls_version", t[0])

    def test_pipelined_ehlo_starttls_is_fine(self):
        # RFC 2920: STARTTLS may end a pipelined group; nothing follows it, so nothing
        # is discarded and the handshake goes ahead.
        down, mx = self.inbound()
        c = self.raw(mx.port)
        self.assertEqual(c.reply()[0], 220)
        c.send(b"EHLO client.test\r\nSTARTTLS\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250)
        self.assertIn("STARTTLS", [l[4:] for l in lines])
        self.assertEqual(c.reply(), (220, ["220 2.0.0 Ready to start TLS"]))
        c.sock = client_context().wrap_socket(c.sock, server_hostname="mx.test")
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(self.deliver_raw(c)[0], 250)
        self.assertIs(mx.wait_transactions(1)[0]["tls"], True)

    def test_stalled_handshake_times_out(self):
        # A client that says STARTTLS and then sends nothing is dropped after
        # smtp.command_timeout, not kept forever.
        _, mx = self.inbound({"smtp": {"command_timeout": "1s"}})
        c = self.raw(mx.port)
        self.ehlo(c)
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        t0 = time.time()
        self.assertTrue(c.closed(timeout=5), "still open 5s after a stalled handshake")
        self.assertLess(time.time() - t0, 4)

    def test_reload_changes_certificate(self):
        _, mx = self.inbound()
        mx.config["tls"] = {"cert_file": OTHER["server.crt"], "key_file": OTHER["server.key"]}
        mx.write_config()
        mx.signal(signal.SIGHUP)
        self.wait_for(lambda: "reloaded " in mx.log(), msg="reload")
        c = self.raw(mx.port)
        self.ehlo(c)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.starttls(c, client_context(CA["ca.crt"]))
        c2 = self.raw(mx.port)
        self.ehlo(c2)
        self.starttls(c2, client_context(OTHER["ca.crt"]))
        self.assertEqual(c2.cmd("NOOP")[0], 250)

    def test_plaintext_transaction_logs_tls_false(self):
        _, mx = self.inbound()
        c = self.raw(mx.port)
        self.ehlo(c)
        self.assertEqual(self.deliver_raw(c)[0], 250)
        t = mx.wait_transactions(1)
        self.assertIs(t[0]["tls"], False)


class TlsConfigErrors(unittest.TestCase):
    """Certificate problems are config errors: exit 2, FILE:LINE: key: message."""

    def check_config(self, lines):
        d = tempfile.mkdtemp(prefix="mxgate-tlscfg-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        path = os.path.join(d, "mxgate.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = subprocess.run([MXGATE, "serve", "--check-config", "--config", path],
                           capture_output=True, text=True, timeout=20)
        return path, p

    def base(self):
        return ["listen:", f"  - {LOOPBACK}:{free_port()}", "hostname: mx.test"]

    def test_good_certificate_checks_ok(self):
        path, p = self.check_config(self.base() + [
            "tls:", f"  cert_file: {CA['server.crt']}", f"  key_file: {CA['server.key']}",
            "downstream:", "  tls: required", "  tls_verify: true", f"  tls_ca_file: {CA['ca.crt']}"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_missing_certificate_file(self):
        path, p = self.check_config(self.base() + [
            "tls:", "  cert_file: /nonexistent/server.crt", f"  key_file: {CA['server.key']}"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:5: tls\.cert_file: .*/nonexistent/server\.crt"
                         % re.escape(path))

    def test_key_does_not_match_certificate(self):
        path, p = self.check_config(self.base() + [
            "tls:", f"  cert_file: {CA['server.crt']}", f"  key_file: {OTHER['server.key']}"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:6: tls\.key_file: .*%s"
                         % (re.escape(path), re.escape(OTHER["server.key"])))

    def test_key_without_certificate(self):
        path, p = self.check_config(self.base() + ["tls:", f"  key_file: {CA['server.key']}"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:5: tls\.cert_file: " % re.escape(path))

    def test_verify_needs_tls(self):
        path, p = self.check_config(self.base() + [
            "downstream:", "  tls: \"off\"", "  tls_verify: true"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:6: downstream\.tls_verify: " % re.escape(path))

    def test_unreadable_ca_file(self):
        path, p = self.check_config(self.base() + [
            "downstream:", "  tls: required", "  tls_verify: true",
            "  tls_ca_file: /nonexistent/ca.crt"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:7: downstream\.tls_ca_file: .*/nonexistent/ca\.crt"
                         % re.escape(path))

    def test_certificate_error_reported_with_other_errors(self):
        # Loading reports every error at once, the certificate's included.
        path, p = self.check_config(self.base() + [
            "smtp:", "  max_recipients: 0",
            "tls:", "  cert_file: /nonexistent/server.crt", f"  key_file: {CA['server.key']}"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr, r"(?m)^%s:5: smtp\.max_recipients: " % re.escape(path))
        self.assertRegex(p.stderr, r"(?m)^%s:7: tls\.cert_file: " % re.escape(path))


class DownstreamTls(TlsCase):
    def relay(self, down_cfg, offer_tls=True):
        down = self.start_downstream(tls_context=server_context() if offer_tls else None)
        cfg = {"downstream": dict(down_cfg, command_timeout="3s", connect_timeout="3s")}
        mx = self.start_mxgate(down.port, cfg)
        c = self.raw(mx.port)
        self.ehlo(c)
        return down, mx, c

    def verified(self, **kw):
        d = {"tls": "required", "tls_verify": True, "tls_ca_file": CA["ca.crt"],
             "tls_server_name": "downstream.test"}
        d.update(kw)
        return d

    def test_required_verified_delivers_over_tls(self):
        down, mx, c = self.relay(self.verified())
        code, lines = self.deliver_raw(c)
        self.assertEqual((code, lines), (250, ["250 2.0.0 Ok: queued"]))
        self.assertEqual(len(down.rec.messages), 1)
        self.assertIs(down.rec.messages[0]["tls"], True)
        self.assertIn(b"Hello.", down.rec.messages[0]["data"])
        # Client info still forwarded, after the handshake.
        self.assertEqual(down.rec.messages[0]["xforward"].get("ADDR"), LOOPBACK)

    def test_required_not_offered(self):
        down, mx, c = self.relay({"tls": "required"}, offer_tls=False)
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(lines[-1].startswith("451 4.7.4 "), lines)
        self.assertEqual(down.rec.mail_count, 0)
        self.assertEqual(down.rec.messages, [])
        t = mx.wait_transactions(1)
        self.assertEqual(t[0]["verdict"], "tempfail")

    def test_required_untrusted_certificate(self):
        down, mx, c = self.relay(self.verified(tls_ca_file=OTHER["ca.crt"]))
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(lines[-1].startswith("451 4.7.5 "), lines)
        self.assertEqual(down.rec.mail_count, 0)
        self.assertEqual(down.rec.messages, [])

    def test_required_wrong_server_name(self):
        # The chain is good but the name is not in the certificate.
        down, mx, c = self.relay(self.verified(tls_server_name="other.example"))
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(lines[-1].startswith("451 4.7.5 "), lines)
        self.assertEqual(down.rec.mail_count, 0)

    def test_verify_checks_the_ip_address_without_a_server_name(self):
        # With no tls_server_name, the address we connected to (127.0.0.1) must be in
        # the certificate: a cert for downstream.test only, from the trusted CA, fails.
        d = tempfile.mkdtemp(prefix="mxgate-noip-")
        self.addCleanup(shutil.rmtree, d, True)
        noip = make_ca(d, names=("downstream.test",), ip_san=False)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(noip["server.crt"], noip["server.key"])
        down = self.start_downstream(tls_context=ctx)
        cfg = {"downstream": {"tls": "required", "tls_verify": True, "tls_ca_file": noip["ca.crt"],
                              "command_timeout": "3s", "connect_timeout": "3s"}}
        mx = self.start_mxgate(down.port, cfg)
        c = self.raw(mx.port)
        self.ehlo(c)
        code, lines = c.cmd("MAIL FROM:<sender@example.net>")
        self.assertEqual(code, 451, lines)
        self.assertTrue(lines[-1].startswith("451 4.7.5 "), lines)
        self.assertEqual(down.rec.mail_count, 0)
        # The same CA and certificate pass once the configured name matches.
        down2 = self.start_downstream(tls_context=ctx)
        cfg["downstream"]["tls_server_name"] = "downstream.test"
        mx2 = self.start_mxgate(down2.port, cfg)
        c2 = self.raw(mx2.port)
        self.ehlo(c2)
        self.assertEqual(self.deliver_raw(c2)[0], 250)
        self.assertIs(down2.rec.messages[0]["tls"], True)

    def test_required_unverified_accepts_any_certificate(self):
        down, mx, c = self.relay({"tls": "required", "tls_verify": False})
        self.assertEqual(self.deliver_raw(c)[0], 250)
        self.assertIs(down.rec.messages[0]["tls"], True)

    def test_opportunistic_bad_certificate_falls_back_to_plaintext(self):
        down, mx, c = self.relay(self.verified(tls="opportunistic", tls_ca_file=OTHER["ca.crt"]))
        code, lines = self.deliver_raw(c)
        self.assertEqual((code, lines), (250, ["250 2.0.0 Ok: queued"]))
        self.assertEqual(len(down.rec.messages), 1)
        self.assertIs(down.rec.messages[0]["tls"], False)
        self.assertEqual(down.rec.mail_count, 1)

    def test_opportunistic_good_certificate_uses_tls(self):
        down, mx, c = self.relay(self.verified(tls="opportunistic"))
        self.assertEqual(self.deliver_raw(c)[0], 250)
        self.assertIs(down.rec.messages[0]["tls"], True)

    def test_opportunistic_not_offered_plaintext(self):
        down, mx, c = self.relay({"tls": "opportunistic"}, offer_tls=False)
        self.assertEqual(self.deliver_raw(c)[0], 250)
        self.assertIs(down.rec.messages[0]["tls"], False)

    def test_off_plaintext_even_when_offered(self):
        down, mx, c = self.relay({"tls": "off"})
        self.assertEqual(self.deliver_raw(c)[0], 250)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertIs(down.rec.messages[0]["tls"], False)


if __name__ == "__main__":
    unittest.main()
