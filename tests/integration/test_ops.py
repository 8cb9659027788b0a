"""Operations: config errors with file:line:key, --check-config, SIGHUP reload,
SIGTERM drain, and the JSON transaction log."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import NO_DNS, LOOPBACK, MESSAGE, MXGATE, ProxyTestCase, free_port, to_yaml

SHUTTING_DOWN = "421 4.3.2 mxgate.test Service shutting down, try again later"


class ConfigFile:
    """A config written from lines, remembering which line each marked key is on."""

    def __init__(self, testcase, lines):
        self.dir = tempfile.mkdtemp(prefix="mxgate-cfg-")
        testcase.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.path = os.path.join(self.dir, "mxgate.yaml")
        self.lines = lines
        with open(self.path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def line_of(self, fragment):
        hits = [i + 1 for i, l in enumerate(self.lines) if fragment in l]
        assert len(hits) == 1, (fragment, hits)
        return hits[0]


def base_lines(port=None):
    return ["listen:",
            f"  - {LOOPBACK}:{port or free_port()}",
            "hostname: mxgate.test",
            "workers: 1",
            "dns:",  # never the system resolver (harness.NO_DNS)
            f"  nameservers: [\"{NO_DNS}\"]"]


def serve(*args, timeout=10):
    """Runs mxgate serve; a config that loads would make it run, so it is killed."""
    p = subprocess.Popen([MXGATE, "serve", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out, err
    return p.returncode, out, err


class ConfigErrors(unittest.TestCase):
    def assert_error(self, err, cfg, fragment, key, what):
        """stderr has `FILE:LINE: key: message` for the line holding `fragment`."""
        line = cfg.line_of(fragment)
        pat = re.compile(r"^%s:%d: %s: (.*)$" % (re.escape(cfg.path), line, re.escape(key)), re.M)
        m = pat.search(err)
        self.assertIsNotNone(m, "no `%s:%d: %s: ...` in:\n%s" % (cfg.path, line, key, err))
        self.assertRegex(m.group(1), what)
        return m.group(1)

    def fails(self, cfg, n_errors):
        rc, out, err = serve("--config", cfg.path)
        self.assertIsNotNone(rc, "mxgate started on a bad config:\n" + err)
        self.assertEqual(rc, 2, err)
        self.assertIn("mxgate: %d configuration error%s, not started" % (n_errors, "" if n_errors == 1 else "s"),
                      err)
        self.assertEqual(len([l for l in err.splitlines() if l.startswith(cfg.path + ":")]), n_errors, err)
        return err

    def test_unknown_key_top_level(self):
        cfg = ConfigFile(self, base_lines() + ["listn: 127.0.0.1:2525"])
        err = self.fails(cfg, 1)
        self.assert_error(err, cfg, "listn:", "listn", r"^unknown key \(did you mean listen\?\)$")

    def test_unknown_key_nested(self):
        cfg = ConfigFile(self, base_lines() + ["smtp:", "  banner: ESMTP x", "  max_recipent: 5"])
        err = self.fails(cfg, 1)
        self.assert_error(err, cfg, "max_recipent", "smtp.max_recipent",
                          r"^unknown key \(did you mean max_recipients\?\)$")

    def test_wrong_type(self):
        cases = [
            (["smtp:", "  max_recipients: [1, 2]"], "max_recipients", "smtp.max_recipients",
             r"whole number"),
            (["smtp: 5"], "smtp: 5", "smtp", r"mapping"),
            (["downstream:", "  command_timeout: {a: 1}"], "command_timeout",
             "downstream.command_timeout", r"duration"),
            (["downstream:", "  tls_verify: maybe"], "tls_verify", "downstream.tls_verify",
             r"true or false"),
        ]
        for lines, frag, key, what in cases:
            with self.subTest(key=key):
                cfg = ConfigFile(self, base_lines() + lines)
                err = self.fails(cfg, 1)
                self.assert_error(err, cfg, frag, key, what)

    def test_bad_value(self):
        cases = [
            (["smtp:", "  max_recipients: 0"], "max_recipients", "smtp.max_recipients",
             r"^must be between 1 and 100000 \(got 0\)$"),
            (["downstream:", "  tls: maybe"], "tls: maybe", "downstream.tls",
             r'^must be one of off, opportunistic, required \(got "maybe"\)$'),
            (["smtp:", "  command_timeout: 50ms"], "command_timeout", "smtp.command_timeout",
             r"^must be between 100ms and"),
            (["smtp:", "  max_message_bytes: 10 parsecs"], "max_message_bytes",
             "smtp.max_message_bytes", r"size"),
            (["downstream:", "  address: nowhere"], "address", "downstream.address", r"host:port"),
            (["smtp:", "  xclient_trusted: [10.0.0.0/33]"], "xclient_trusted", "smtp.xclient_trusted",
             r"10\.0\.0\.0/33"),
        ]
        for lines, frag, key, what in cases:
            with self.subTest(key=key):
                cfg = ConfigFile(self, base_lines() + lines)
                err = self.fails(cfg, 1)
                self.assert_error(err, cfg, frag, key, what)

    def test_several_errors_reported_at_once(self):
        cfg = ConfigFile(self, base_lines() + [
            "smtp:",
            "  max_recipients: 0",
            "  command_timout: 5s",
            "  bare_line_endings: sometimes",
            "downstream:",
            "  tls: maybe",
            "  connect_timeout: soon",
            "log:",
            "  level: loud",
        ])
        err = self.fails(cfg, 6)
        self.assert_error(err, cfg, "max_recipients", "smtp.max_recipients", r"between 1 and 100000")
        self.assert_error(err, cfg, "command_timout", "smtp.command_timout",
                          r"did you mean command_timeout\?")
        self.assert_error(err, cfg, "bare_line_endings", "smtp.bare_line_endings",
                          r"reject, normalize")
        self.assert_error(err, cfg, "tls: maybe", "downstream.tls", r"off, opportunistic, required")
        self.assert_error(err, cfg, "connect_timeout", "downstream.connect_timeout", r"duration")
        self.assert_error(err, cfg, "level: loud", "log.level", r"must be one of")

    def test_bad_config_does_not_listen(self):
        port = free_port()
        cfg = ConfigFile(self, base_lines(port) + ["smtp:", "  max_recipients: 0"])
        rc, _, _ = serve("--config", cfg.path)
        self.assertEqual(rc, 2)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, port), timeout=2).close()

    def test_yaml_syntax_error(self):
        cfg = ConfigFile(self, base_lines() + ["smtp:", "  banner: [unclosed"])
        rc, _, err = serve("--config", cfg.path)
        self.assertEqual(rc, 2, err)
        self.assertRegex(err, r"^%s:\d+: .*YAML" % re.escape(cfg.path))

    def test_missing_file(self):
        rc, _, err = serve("--config", "/nonexistent/mxgate.yaml")
        self.assertEqual(rc, 2, err)
        self.assertIn("/nonexistent/mxgate.yaml", err)

    def test_check_config(self):
        port = free_port()
        good = ConfigFile(self, base_lines(port) + [
            "smtp:", "  max_recipients: 10", "  command_timeout: 30s",
            "downstream:", "  address: 127.0.0.1:2526", "  tls: opportunistic",
            "filters:", "  - headers",
            "log:", "  level: warn", "  transactions: \"off\""])
        rc, out, err = serve("--check-config", "--config", good.path)
        self.assertEqual(rc, 0, err)
        self.assertIn(good.path + ": ok", out)
        # It only checks: nothing listens.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, port), timeout=2).close()
        bad = ConfigFile(self, base_lines() + ["downstream:", "  tls: maybe"])
        rc, out, err = serve("--check-config", "--config", bad.path)
        self.assertEqual(rc, 2, err)
        self.assert_error(err, bad, "tls: maybe", "downstream.tls", r"must be one of")

    def test_check_config_embedded(self):
        rc, out, err = serve("--check-config")
        self.assertEqual(rc, 0, err)
        self.assertIn("embedded config: ok", out)


class OpsCase(ProxyTestCase):
    def session(self, mx, helo="client.test"):
        c = self.raw(mx.port)
        greeting = c.reply()
        self.assertEqual(c.cmd("EHLO " + helo)[0], 250)
        return c, greeting

    def rcpts(self, c, n, start=0):
        return [c.cmd("RCPT TO:<r%d@example.org>" % i) for i in range(start, start + n)]

    def finish(self, c, body=MESSAGE):
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body + b".\r\n")
        return c.reply()


class Reload(OpsCase):
    def start(self, down):
        return self.start_mxgate(down.port, {"smtp": {"banner": "ESMTP first", "max_recipients": 2}})

    def hup_and_wait(self, mx, what):
        before = mx.log().count(what)
        mx.signal(signal.SIGHUP)
        self.wait_for(lambda: mx.log().count(what) > before, msg="%r in the log" % what)

    def test_good_reload_new_sessions_only(self):
        down = self.start_downstream()
        down2 = self.start_downstream()
        mx = self.start(down)
        # A session open across the reload, in the middle of a transaction.
        a, greeting = self.session(mx)
        self.assertEqual(greeting, (220, ["220 mxgate.test ESMTP first"]))
        self.assertEqual(a.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(self.rcpts(a, 1)[0][0], 250)

        mx.config["smtp"]["banner"] = "ESMTP second"
        mx.config["smtp"]["max_recipients"] = 5
        mx.config["downstream"]["address"] = f"{LOOPBACK}:{down2.port}"
        mx.write_config()
        self.hup_and_wait(mx, "reloaded ")
        self.assertIsNone(mx.proc.poll())

        # New sessions: new banner, new limit, new downstream.
        b, greeting = self.session(mx)
        self.assertEqual(greeting, (220, ["220 mxgate.test ESMTP second"]))
        self.assertEqual(b.cmd("MAIL FROM:<b@example.net>")[0], 250)
        self.assertEqual([r[0] for r in self.rcpts(b, 4)], [250, 250, 250, 250])
        self.assertEqual(self.finish(b)[0], 250)
        self.assertEqual(len(down2.rec.messages), 1)
        self.assertEqual(down2.rec.messages[0]["rcpts"], ["r%d@example.org" % i for i in range(4)])

        # The old session was not dropped and finishes under the settings it began with.
        r = self.rcpts(a, 2, start=1)
        self.assertEqual(r[0][0], 250)
        self.assertEqual(r[1], (452, ["452 4.5.3 Error: too many recipients"]))
        self.assertEqual(self.finish(a)[0], 250)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(down.rec.messages[0]["mail_from"], "a@example.net")
        self.assertEqual(down.rec.messages[0]["rcpts"], ["r0@example.org", "r1@example.org"])
        self.assertEqual(a.cmd("QUIT")[0], 221)

    def test_broken_reload_keeps_old_config(self):
        down = self.start_downstream()
        mx = self.start(down)
        a, _ = self.session(mx)   # open across the failed reload
        good_text = to_yaml(mx.config)
        bad = good_text.replace("max_recipients: 2", "max_recipients: 0") + "bogus_key: 1\n"
        mx.write_config(text=bad.replace("ESMTP first", "ESMTP never"))
        bad_lines = bad.splitlines()
        line = [i + 1 for i, l in enumerate(bad_lines) if "max_recipients: 0" in l][0]
        bogus = [i + 1 for i, l in enumerate(bad_lines) if l.startswith("bogus_key")][0]
        self.hup_and_wait(mx, "failed: keeping the running configuration")
        log = mx.log()
        self.assertIn("%s:%d: smtp.max_recipients: must be between 1 and 100000 (got 0)"
                      % (mx.config_path, line), log)
        self.assertIn("%s:%d: bogus_key: unknown key" % (mx.config_path, bogus), log)
        self.assertIsNone(mx.proc.poll(), "mxgate exited on a bad reload")

        # New sessions still get the old settings.
        b, greeting = self.session(mx)
        self.assertEqual(greeting, (220, ["220 mxgate.test ESMTP first"]))
        self.assertEqual(b.cmd("MAIL FROM:<b@example.net>")[0], 250)
        r = self.rcpts(b, 3)
        self.assertEqual([x[0] for x in r], [250, 250, 452])
        self.assertEqual(self.finish(b)[0], 250)
        # The session open across it is fine too.
        self.assertEqual(a.cmd("NOOP")[0], 250)
        self.assertEqual(a.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(self.rcpts(a, 1)[0][0], 250)
        self.assertEqual(self.finish(a)[0], 250)
        self.assertEqual(len(down.rec.messages), 2)

        # A fixed file then reloads normally: the server still handles SIGHUP.
        mx.config["smtp"]["banner"] = "ESMTP fixed"
        mx.write_config()
        self.hup_and_wait(mx, "reloaded ")
        c, greeting = self.session(mx)
        self.assertEqual(greeting, (220, ["220 mxgate.test ESMTP fixed"]))


class Shutdown(OpsCase):
    def test_sigterm_drains(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"shutdown_timeout": "8s"})
        idle, _ = self.session(mx)            # greeted, no transaction
        fresh = self.raw(mx.port)             # connected, greeting read only
        self.assertEqual(fresh.reply()[0], 220)
        busy, _ = self.session(mx)            # in the middle of DATA
        self.assertEqual(busy.cmd("MAIL FROM:<busy@example.net>")[0], 250)
        self.assertEqual(busy.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(busy.cmd("DATA")[0], 354)
        head, tail = MESSAGE[:40], MESSAGE[40:]
        busy.send(head)
        time.sleep(0.2)

        t0 = time.time()
        mx.signal(signal.SIGTERM)
        # Idle sessions are told and closed.
        for c in (idle, fresh):
            self.assertEqual(c.reply(), (421, [SHUTTING_DOWN]))
            self.assertTrue(c.closed())
        # No new sessions: refused, or told 421 4.3.2, never greeted.
        try:
            n = socket.create_connection((LOOPBACK, mx.port), timeout=3)
        except (ConnectionRefusedError, ConnectionResetError):
            pass
        else:
            with n:
                n.settimeout(3)
                data = b""
                try:
                    while True:
                        chunk = n.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except (ConnectionResetError, socket.timeout):
                    pass
                self.assertFalse(data.startswith(b"220"), data)
                if data:
                    self.assertEqual(data, SHUTTING_DOWN.encode() + b"\r\n")
        self.assertIsNone(mx.proc.poll(), "exited before the transaction in flight finished")
        # The transaction in flight finishes and gets the downstream's 250.
        busy.send(tail + b".\r\n")
        self.assertEqual(busy.reply(), (250, ["250 2.0.0 Ok: queued"]))
        self.assertEqual(busy.reply(), (421, [SHUTTING_DOWN]))
        self.assertTrue(busy.closed())
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(down.rec.messages[0]["data"].replace(b"\r\n", b"\n"),
                         MESSAGE.replace(b"\r\n", b"\n"))
        rc = mx.proc.wait(timeout=10)
        self.assertEqual(rc, 0, mx.log())
        self.assertLess(time.time() - t0, 8, "did not exit before the shutdown deadline")
        self.assertIn("received SIGTERM", mx.log())
        t = mx.transactions()
        self.assertEqual([x["verdict"] for x in t], ["accept"])

    def test_sigterm_deadline_aborts_stuck_transaction(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"shutdown_timeout": "1s"})
        busy, _ = self.session(mx)
        self.assertEqual(busy.cmd("MAIL FROM:<busy@example.net>")[0], 250)
        self.assertEqual(busy.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(busy.cmd("DATA")[0], 354)
        busy.send(MESSAGE[:40])    # and never finishes
        time.sleep(0.2)
        t0 = time.time()
        mx.signal(signal.SIGTERM)
        rc = mx.proc.wait(timeout=10)
        elapsed = time.time() - t0
        self.assertEqual(rc, 0, mx.log())
        self.assertGreaterEqual(elapsed, 0.9, "did not wait for the transaction in flight")
        self.assertLess(elapsed, 5)
        self.assertTrue(busy.closed())
        self.assertNotIn(b"250", busy.buf)
        self.assertEqual(down.rec.messages, [])
        t = mx.transactions()
        self.assertEqual(len(t), 1, t)
        self.assertEqual(t[0]["verdict"], "aborted")

    def test_sigterm_with_no_sessions_exits_at_once(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"shutdown_timeout": "20s"})
        t0 = time.time()
        mx.signal(signal.SIGTERM)
        self.assertEqual(mx.proc.wait(timeout=10), 0)
        self.assertLess(time.time() - t0, 3)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, mx.port), timeout=2).close()


    def test_sigterm_deadline_answers_open_transaction(self):
        # MAIL and RCPT accepted, then the client says nothing: at the shutdown
        # deadline it is told 421 4.3.2 (RFC 5321 3.8), not just disconnected.
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"shutdown_timeout": "1s"})
        busy, _ = self.session(mx)
        self.assertEqual(busy.cmd("MAIL FROM:<busy@example.net>")[0], 250)
        self.assertEqual(busy.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        time.sleep(0.2)
        t0 = time.time()
        mx.signal(signal.SIGTERM)
        busy.sock.settimeout(6)
        got = busy.reply()
        waited = time.time() - t0
        self.assertEqual(got, (421, [SHUTTING_DOWN]))
        self.assertGreaterEqual(waited, 0.9, "the transaction was not given shutdown_timeout")
        self.assertLess(waited, 3)
        self.assertTrue(busy.closed())
        rc = mx.proc.wait(timeout=10)
        self.assertEqual(rc, 0, mx.log())
        self.assertEqual(down.rec.messages, [])
        t = mx.transactions()
        self.assertEqual([x["verdict"] for x in t], ["aborted"], t)


class BannerCheck(unittest.TestCase):
    def test_banner_with_control_character_refused(self):
        cfg = ConfigFile(self, base_lines() + ["smtp:", '  banner: "ESMTP x\\u0001y"'])
        rc, out, err = serve("--config", cfg.path)
        self.assertIsNotNone(rc, "mxgate started with a control character in its banner:\n" + err)
        self.assertEqual(rc, 2, err)
        line = cfg.line_of("banner:")
        self.assertRegex(err, r"(?m)^%s:%d: smtp\.banner: " % (re.escape(cfg.path), line))
        self.assertIn("mxgate: 1 configuration error, not started", err)


class TransactionLog(OpsCase):
    NO_DATE = (b"From: Sender <sender@example.net>\r\n"
               b"To: Rcpt <rcpt@example.org>\r\n"
               b"Subject: no date\r\n"
               b"Message-ID: <nodate-1@example.net>\r\n"
               b"\r\n"
               b"Hello.\r\n")

    def check_ms(self, t):
        self.assertEqual(set(t["ms"]), {"mail", "rcpt", "data", "filters", "downstream", "total"}, t)
        for k, v in t["ms"].items():
            self.assertIsInstance(v, int, k)
            self.assertGreaterEqual(v, 0, k)
        for k in ("mail", "rcpt", "data", "filters", "downstream"):
            self.assertLessEqual(t["ms"][k], t["ms"]["total"], k)

    def test_one_line_per_transaction(self):
        down = self.start_downstream()
        down.behaviour.reject_rcpts["nobody@example.org"] = \
            "550 5.1.1 <nobody@example.org>: Recipient address rejected: no such user"
        mx = self.start_mxgate(down.port, {"filters": ["headers"]})
        # Session 1: a delivered message with one refused recipient, then an aborted one.
        a, _ = self.session(mx, "client.test")
        self.assertEqual(a.cmd("MAIL FROM:<sender@example.net>")[0], 250)
        self.assertEqual(a.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(a.cmd("RCPT TO:<nobody@example.org>"),
                         (550, ["550 5.1.1 <nobody@example.org>: Recipient address rejected: no such user"]))
        self.assertEqual(self.finish(a, self.NO_DATE), (250, ["250 2.0.0 Ok: queued"]))
        self.assertEqual(a.cmd("MAIL FROM:<second@example.net>")[0], 250)
        self.assertEqual(a.cmd("RSET")[0], 250)
        self.assertEqual(a.cmd("QUIT")[0], 221)
        # Session 2: an ordinary message.
        b, _ = self.session(mx, "other.test")
        self.assertEqual(b.cmd("MAIL FROM:<other@example.net>")[0], 250)
        self.assertEqual(b.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(self.finish(b), (250, ["250 2.0.0 Ok: queued"]))
        self.assertEqual(b.cmd("QUIT")[0], 221)

        t = mx.wait_transactions(3)
        time.sleep(0.3)
        t = mx.transactions()
        self.assertEqual(len(t), 3, t)
        first, aborted, other = t
        for x in t:
            for k in ("session", "txn", "client_ip", "helo", "mail_from", "rcpts", "size", "symbols",
                      "verdict", "reply", "downstream_reply", "ms"):
                self.assertIn(k, x)
            self.check_ms(x)
            self.assertEqual(x["client_ip"], LOOPBACK)

        self.assertRegex(first["session"], r"^[0-9A-Z]{6,}$")
        self.assertEqual(first["txn"], first["session"] + ".1")
        self.assertEqual(first["helo"], "client.test")
        self.assertEqual(first["mail_from"], "sender@example.net")
        self.assertEqual(first["rcpts"], ["rcpt@example.org"])
        self.assertEqual(len(first["refused_rcpts"]), 1)
        self.assertEqual(first["refused_rcpts"][0]["rcpt"], "nobody@example.org")
        self.assertIn("5.1.1", first["refused_rcpts"][0]["reply"])
        self.assertIn("no such user", first["refused_rcpts"][0]["reply"])
        self.assertEqual(first["size"], len(self.NO_DATE))
        self.assertEqual([(s["name"], s["score"]) for s in first["symbols"]], [("MISSING_DATE", 1)])
        self.assertEqual(first["score"], 1)
        self.assertEqual(first["verdict"], "accept")
        self.assertIn("Ok: queued", first["reply"])
        self.assertEqual(first["downstream_reply"], "250 2.0.0 Ok: queued")
        self.assertIs(first["tls"], False)

        self.assertEqual(aborted["session"], first["session"])
        self.assertEqual(aborted["txn"], first["session"] + ".2")
        self.assertEqual(aborted["verdict"], "aborted")
        self.assertEqual(aborted["mail_from"], "second@example.net")
        self.assertEqual(aborted["rcpts"], [])
        self.assertEqual(aborted["size"], 0)
        self.assertNotIn("refused_rcpts", aborted)
        self.assertEqual(aborted["symbols"], [])

        self.assertNotEqual(other["session"], first["session"])
        self.assertEqual(other["txn"], other["session"] + ".1")
        self.assertEqual(other["helo"], "other.test")
        self.assertEqual(other["mail_from"], "other@example.net")
        self.assertEqual(other["symbols"], [])
        self.assertEqual(other["verdict"], "accept")
        self.assertEqual(other["size"], len(MESSAGE))

    def test_rejected_and_tempfailed_messages(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port)
        c, _ = self.session(mx)
        down.behaviour.data_reply = "554 5.7.1 Message refused"
        self.assertEqual(c.cmd("MAIL FROM:<s@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(self.finish(c), (554, ["554 5.7.1 Message refused"]))
        down.behaviour.data_reply = "451 4.3.0 Error: queue full"
        self.assertEqual(c.cmd("MAIL FROM:<s@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        self.assertEqual(self.finish(c), (451, ["451 4.3.0 Error: queue full"]))
        t = mx.wait_transactions(2)
        self.assertEqual([x["verdict"] for x in t], ["reject", "tempfail"])
        self.assertEqual(t[0]["downstream_reply"], "554 5.7.1 Message refused")
        self.assertEqual(t[1]["downstream_reply"], "451 4.3.0 Error: queue full")

    def test_all_recipients_refused_then_rset(self):
        down = self.start_downstream()
        down.behaviour.reject_rcpts["a@example.org"] = "550 5.1.1 <a@example.org>: no such user"
        down.behaviour.reject_rcpts["b@example.org"] = "450 4.2.0 <b@example.org>: mailbox busy"
        mx = self.start_mxgate(down.port)
        c, _ = self.session(mx)
        self.assertEqual(c.cmd("MAIL FROM:<s@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<a@example.org>")[0], 550)
        self.assertEqual(c.cmd("RCPT TO:<b@example.org>")[0], 450)
        self.assertEqual(c.cmd("DATA"), (554, ["554 5.5.1 Error: no valid recipients"]))
        self.assertEqual(c.cmd("RSET")[0], 250)
        t = mx.wait_transactions(1)
        self.assertEqual(len(t), 1, t)
        self.assertEqual(t[0]["verdict"], "aborted")
        self.assertEqual(t[0]["rcpts"], [])
        self.assertEqual([r["rcpt"] for r in t[0]["refused_rcpts"]], ["a@example.org", "b@example.org"])

    def test_disconnect_mid_transaction_logged_aborted(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port)
        c, _ = self.session(mx)
        self.assertEqual(c.cmd("MAIL FROM:<gone@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<rcpt@example.org>")[0], 250)
        c.close()
        t = mx.wait_transactions(1)
        self.assertEqual(len(t), 1, t)
        self.assertEqual(t[0]["verdict"], "aborted")
        self.assertEqual(t[0]["mail_from"], "gone@example.net")
        self.assertEqual(t[0]["rcpts"], ["rcpt@example.org"])
        self.assertEqual(down.rec.messages, [])

    def test_no_transaction_no_line(self):
        down = self.start_downstream()
        mx = self.start_mxgate(down.port)
        c, _ = self.session(mx)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        time.sleep(0.5)
        self.assertEqual(mx.transactions(), [])

    def test_rotated_by_size(self):
        # log.max_size 4k, log.max_files 2: FILE and two rotated files, nothing more;
        # every line in them a whole JSON object, the newest in FILE.
        import json
        import smtplib
        down = self.start_downstream()
        mx = self.start_mxgate(down.port, {"filters": ["headers"],
                                           "log": {"max_size": "4k", "max_files": 2}})
        n = 40
        with smtplib.SMTP(LOOPBACK, mx.port, timeout=30) as s:
            for i in range(n):
                s.sendmail("sender@example.net", ["rcpt@example.org"],
                           MESSAGE.replace(b"Subject:", b"X-Seq: %d\r\nSubject:" % i))
        self.wait_for(lambda: len(down.rec.messages) == n, msg="all delivered")
        # spdlog's numbering: transactions.jsonl -> transactions.1.jsonl, .2.jsonl
        path = mx.txn_log
        base, ext = os.path.splitext(path)
        rotated = lambda k: "%s.%d%s" % (base, k, ext)
        self.wait_for(lambda: os.path.exists(rotated(2)), msg="two rotations")
        self.assertFalse(os.path.exists(rotated(3)))
        lines = []
        for f in (rotated(2), rotated(1), path):
            with open(f) as fh:
                got = [json.loads(l) for l in fh if l.strip()]
            self.assertTrue(got, f)
            self.assertLessEqual(os.path.getsize(f), 4096 + 2048, f)
            lines += got
        txns = [int(t["txn"].split(".")[1]) for t in lines]
        self.assertEqual(txns, sorted(txns))  # oldest file first, in order
        self.assertEqual(txns[-1], n)         # the newest line is in FILE
        self.assertTrue(all(t["verdict"] == "accept" for t in lines))


if __name__ == "__main__":
    unittest.main()
