"""The quarantine store end to end: a message whose policy outcome is quarantine is
written (fsynced, indexed) before the client hears `250 2.0.0 Ok: queued as ID`, the
downstream never gets it, and `mxgate quarantine` lists, shows, releases, deletes
and purges it. Also: failed releases, list filters, crash safety (SIGKILL right
after the 250), a store that fails at run time (451 4.3.0), config errors, retention,
the DMARC p=quarantine default, and the CLI reading while the server writes.

Every peer is real and on 127.0.0.1: mxgate (`serve` and `quarantine`), the scripted
aiosmtpd downstream that records what reaches it (also the target of `release`), raw
SMTP clients, and for DMARC a DNS server started here (tests/dns/fake_dns.py).
Without it DNS goes nowhere (the harness default).

Scores come from the content filter on a rule folder written here only (no builtin
rules, so each gate starts fast): TEST_Q 12 and TEST_HOLD 10.5 (quarantined at the
threshold of 10), TEST_TAGONLY 6 (tagged and delivered). Reject is at 100.

Run: cd tests/integration && MXGATE_BIN=.../mxgate /usr/bin/python3 -m unittest -v test_quarantine
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (LOOPBACK, MXGATE, DnsServer, Mxgate, ProxyTestCase, RawClient, Recorder,
                     free_port, to_yaml)

TEST_RULES = ("body TEST_Q /quarantineme/\n"
              "describe TEST_Q Asks to be quarantined\n"
              "score TEST_Q 12\n"
              "body TEST_HOLD /holdme/\n"
              "describe TEST_HOLD Asks to be held too\n"
              "score TEST_HOLD 10.5\n"
              "body TEST_TAGONLY /tagonly/\n"
              "describe TEST_TAGONLY Tagged, not held\n"
              "score TEST_TAGONLY 6\n")

CONTENT = {"content": {"rules": ["rules"], "cache_dir": "cache"}}
POLICY = {"thresholds": {"quarantine": 10, "reject": 100}}

ID_PATTERN = r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}"
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as (%s)$" % ID_PATTERN)
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SENTINEL = "Nothing-in-the-header-section-says-this-7f3a"   # a body line no rule matches

_counter = [0]


def message(body="Please quarantineme now.", subject="Quarantine me please",
            from_addr="Spammer <spammer@example.net>", to="One <one@example.org>"):
    _counter[0] += 1
    mid = "<quarantine-%d-%d@example.net>" % (os.getpid(), _counter[0])
    data = ("From: %s\r\n"
            "To: %s\r\n"
            "Subject: %s\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
            "Message-ID: %s\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n"
            "%s\r\n"
            "\r\n"
            "A second paragraph, to be sure the whole body is kept.\r\n"
            "%s\r\n" % (from_addr, to, subject, mid, body, SENTINEL)).encode()
    return data, mid


def lf(data):
    """Line ends made LF, to compare a stored message however it keeps them."""
    if isinstance(data, str):
        data = data.encode()
    return data.replace(b"\r\n", b"\n")


def header_section(data):
    return lf(data).split(b"\n\n", 1)[0].decode("utf-8", "replace")


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def id_time(qid):
    return datetime.datetime.strptime(qid[:15], "%Y%m%d-%H%M%S").replace(tzinfo=datetime.timezone.utc)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class QuarantineTestBase(ProxyTestCase):
    """A gate with a quarantine store, SMTP sessions, and the `mxgate quarantine` CLI."""

    def make_gate(self, down_port, quarantine=None, policy=None, filters=None, start=True):
        """An mxgate whose config folder has the test rules in rules/ and whose store
        is <workdir>/quarantine (not created here: the server must create it)."""
        workdir = tempfile.mkdtemp(prefix="mxgate-quarantine-")
        qdir = os.path.join(workdir, "quarantine")
        q = {"dir": qdir}
        q.update(quarantine or {})
        pol = json.loads(json.dumps(POLICY)) if policy is None else policy
        m = Mxgate(down_port, {"filters": filters or ["mime", CONTENT], "policy": pol, "quarantine": q},
                   workdir=workdir)
        os.makedirs(os.path.join(workdir, "rules"))
        with open(os.path.join(workdir, "rules", "50_quarantine_test.cf"), "w") as f:
            f.write(TEST_RULES)
        m.qdir = qdir
        self.addCleanup(shutil.rmtree, workdir, ignore_errors=True)
        self.addCleanup(m.stop)
        if start:
            m.start()
        return m

    def session(self, port, mail_from, rcpts, data, helo="client.test", kill=None, all_rcpts=True):
        """One transaction, then QUIT. Returns {"mail", "rcpt": [...], "data", "end"}
        (each (code, lines)). With kill, calls kill() the moment the end-of-data
        reply has been read, and does not QUIT. all_rcpts: every RCPT must get 250
        (else at least one)."""
        c = RawClient(port)
        try:
            self.ehlo(c, helo)
            out = {"mail": c.cmd("MAIL FROM:<%s>" % mail_from), "rcpt": []}
            self.assertEqual(out["mail"][0], 250, out)
            for r in rcpts:
                out["rcpt"].append(c.cmd("RCPT TO:<%s>" % r))
            codes = [code for code, _ in out["rcpt"]]
            self.assertTrue(all(x == 250 for x in codes) if all_rcpts else 250 in codes, out)
            out["data"] = c.cmd("DATA")
            self.assertEqual(out["data"][0], 354, out)
            lines = data.split(b"\r\n")
            assert lines[-1] == b"", "message must end with CRLF"
            wire = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines[:-1])
            c.send(wire + b".\r\n")
            out["end"] = c.reply()
            if kill:
                kill()
                return out
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        return out

    def quarantine(self, m, mail_from="spammer@example.net", rcpts=("one@example.org",), data=None, **kw):
        """Sends a message that must be quarantined; returns its ID."""
        if data is None:
            data, _ = message()
        r = self.session(m.port, mail_from, list(rcpts), data, **kw)
        code, lines = r["end"]
        self.assertEqual(code, 250, (r, m.log()[-3000:]))
        match = QUEUED_RE.match(lines[-1])
        self.assertIsNotNone(match, "not a quarantine reply: %r" % lines)
        return match.group(1)

    # ---- the CLI

    def cli(self, m, *args, config=None, timeout=30):
        try:
            return subprocess.run([MXGATE, "quarantine", "--config", config or m.config_path, *args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("mxgate quarantine %s did not finish in %ss" % (" ".join(args), timeout))

    def cli_ok(self, m, *args, **kw):
        p = self.cli(m, *args, **kw)
        self.assertEqual(p.returncode, 0, "mxgate quarantine %s: exit %d\nstdout: %s\nstderr: %s"
                         % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def qlist(self, m, *args):
        """`list --json` with args: the records, in the order printed."""
        out = self.cli_ok(m, "list", "--json", *args).stdout
        recs = []
        for line in out.splitlines():
            if line.strip():
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    self.fail("list --json printed a line that is not JSON: %r\n%s" % (line, out))
        return recs

    def text_ids(self, out):
        """The IDs of plain `list` output: one line per message, starting with its ID
        (a heading or a count line may come with them)."""
        ids = [l.split()[0] for l in out.splitlines() if re.match(r"%s(\s|$)" % ID_PATTERN, l)]
        self.assertEqual(len(ids), len(set(ids)), out)
        return ids

    def ids(self, m, *args):
        return [r["id"] for r in self.qlist(m, *args)]

    def record(self, m, qid):
        """qid's record as `list --json` prints it."""
        recs = [r for r in self.qlist(m, "--limit", "1000") if r["id"] == qid]
        self.assertEqual(len(recs), 1, "%s listed %d times" % (qid, len(recs)))
        return recs[0]

    def show_json(self, m, qid, body=False):
        p = self.cli_ok(m, "show", qid, "--json", *(["--body"] if body else []))
        try:
            return json.loads(p.stdout)
        except ValueError:
            self.fail("show --json did not print one JSON object: %r" % p.stdout)

    def eml_path(self, m, qid):
        return os.path.join(m.qdir, "messages", qid[:8], qid + ".eml")

    def stored(self, m, qid):
        with open(self.eml_path(m, qid), "rb") as f:
            return f.read()

    def cli_config(self, m, downstream_port):
        """A copy of m's config (same folder, so relative paths hold) with another
        downstream.address, for the CLI only."""
        cfg = json.loads(json.dumps(m.config))
        cfg["downstream"]["address"] = "%s:%d" % (LOOPBACK, downstream_port)
        path = os.path.join(m.workdir, "cli-%d.yaml" % downstream_port)
        with open(path, "w") as f:
            f.write(to_yaml(cfg))
        return path

    def txn(self, m, n):
        t = m.wait_transactions(n)
        self.assertGreaterEqual(len(t), n, m.log()[-3000:])
        return t[n - 1]


# ---------------------------------------------------------------- (1) end to end

class EndToEnd(QuarantineTestBase):
    def test_quarantine_list_show_release(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        self.assertTrue(os.path.isdir(m.qdir), "quarantine.dir was not created at start")
        data, mid = message()
        before = utcnow()
        qid = self.quarantine(m, "spammer@example.net", ["one@example.org", "two@example.org"], data)
        after = utcnow()

        # The downstream heard the envelope, never a message.
        self.assertEqual(down.rec.messages, [])
        self.assertEqual(down.rec.mail_count, 1)
        self.assertIn(("RCPT", "one@example.org"), down.rec.commands)
        self.assertIn(("RCPT", "two@example.org"), down.rec.commands)

        # The ID's time is now (UTC), and the message is on disk where the spec says.
        self.assertLessEqual(abs((id_time(qid) - before).total_seconds()), 5, qid)
        self.assertLessEqual(id_time(qid), after, qid)
        stored = self.stored(m, qid)
        self.assertTrue(lf(stored).endswith(lf(data).split(b"\n\n", 1)[1]), stored)
        self.assertRegex(header_section(stored), r"(?mi)^X-Spam-Flag: YES$")
        self.assertRegex(header_section(stored), r"(?mi)^X-Spam-Status: Yes, score=12\.0 ")
        self.assertIn(mid, header_section(stored))

        t = self.txn(m, 1)
        self.assertEqual(t["verdict"], "quarantine", t)
        self.assertEqual(t.get("quarantine_id"), qid, t)
        self.assertEqual(t.get("decided_by"), "policy.thresholds.quarantine", t)
        self.assertTrue(t.get("reply", "").endswith(qid), t)

        # A control: a message scoring only 6 is tagged and delivered, not held.
        tagged, _ = message(body="Just tagonly, please.", subject="Only tagged")
        r = self.session(m.port, "sender@example.net", ["one@example.org"], tagged)
        self.assertEqual(r["end"][0], 250, r)
        self.assertIsNone(QUEUED_RE.match(r["end"][1][-1]), r)   # the downstream's own reply
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(self.txn(m, 2)["verdict"], "tag", self.txn(m, 2))
        self.assertNotIn("quarantine_id", self.txn(m, 2))
        down.rec = Recorder()

        # list: one line, starting with the ID.
        p = self.cli_ok(m, "list")
        self.assertEqual(self.text_ids(p.stdout), [qid], p.stdout)

        recs = self.qlist(m)
        self.assertEqual(len(recs), 1, recs)
        rec = recs[0]
        self.assertEqual(rec["id"], qid)
        self.assertRegex(rec["time"], ISO_RE)
        self.assertEqual(parse_iso(rec["time"]), id_time(qid), rec)
        self.assertEqual(rec["client_ip"], LOOPBACK)
        self.assertEqual(rec["helo"], "client.test")
        self.assertEqual(rec["mail_from"], "spammer@example.net")
        self.assertEqual(rec["rcpts"], ["one@example.org", "two@example.org"])
        self.assertIn("spammer@example.net", rec["header_from"])
        self.assertEqual(rec["subject"], "Quarantine me please")
        self.assertIn(mid.strip("<>"), rec["message_id"])
        self.assertIsInstance(rec["size"], int)
        self.assertIn(rec["size"], (len(data), len(stored)), rec)
        self.assertAlmostEqual(float(rec["score"]), 12.0, places=2)
        syms = {s["name"]: s for s in rec["symbols"]}
        self.assertIn("TEST_Q", syms, rec)
        self.assertAlmostEqual(float(syms["TEST_Q"]["score"]), 12.0, places=2)
        self.assertIsInstance(rec["auth_results"], str)
        self.assertEqual(rec["rule"], "policy.thresholds.quarantine")
        self.assertEqual(rec["state"], "held")
        self.assertFalse(rec.get("released_at"), rec)
        self.assertFalse(rec.get("released_to"), rec)
        self.assertFalse(rec.get("release_reply"), rec)

        # show: the index fields, the verdict trace, the header section; not the body.
        p = self.cli_ok(m, "show", qid)
        self.assertIn(qid, p.stdout)
        self.assertIn("spammer@example.net", p.stdout)
        self.assertIn("TEST_Q", p.stdout)
        self.assertRegex(p.stdout, r"TEST_Q\b.*\b12(\.0+)?\b")
        self.assertIn("policy.thresholds.quarantine", p.stdout)
        self.assertRegex(p.stdout, r"(?m)^\s*Subject: Quarantine me please\s*$")
        self.assertRegex(p.stdout, r"(?mi)^\s*X-Spam-Flag: YES\s*$")
        self.assertNotIn(SENTINEL, p.stdout)
        p = self.cli_ok(m, "show", qid, "--body")
        self.assertIn(SENTINEL, p.stdout)
        self.assertIn("A second paragraph", p.stdout)
        j = self.show_json(m, qid)
        self.assertEqual(j["id"], qid)
        self.assertEqual(j["rcpts"], ["one@example.org", "two@example.org"])
        self.assertEqual(j["rule"], "policy.thresholds.quarantine")
        self.assertEqual(j["state"], "held")
        self.assertIn("TEST_Q", [s["name"] for s in j["symbols"]])
        j = self.show_json(m, qid, body=True)
        self.assertEqual(lf(j["message"]), lf(stored))

        # release: once, to the original envelope, the stored content.
        p = self.cli_ok(m, "release", qid)
        self.assertIn("250", p.stdout)
        self.assertIn("2.0.0 Ok: queued", p.stdout)
        self.assertEqual(len(down.rec.messages), 1, down.rec.commands)
        got = down.rec.messages[0]
        self.assertEqual(got["mail_from"], "spammer@example.net")
        self.assertEqual(got["rcpts"], ["one@example.org", "two@example.org"])
        self.assertEqual(lf(got["data"]), lf(stored))
        self.assertRegex(header_section(got["data"]), r"(?mi)^X-Spam-Flag: YES$")
        self.assertIn(SENTINEL.encode(), got["data"])

        rec = self.qlist(m)[0]
        self.assertEqual(rec["state"], "released", rec)
        self.assertEqual(sorted(rec["released_to"]), ["one@example.org", "two@example.org"], rec)
        self.assertIn("250", rec["release_reply"], rec)
        self.assertRegex(rec["released_at"], ISO_RE)
        self.assertTrue(os.path.exists(self.eml_path(m, qid)), "the released file must be kept")

        # A second release is refused, and sends nothing.
        p = self.cli(m, "release", qid)
        self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
        self.assertIn("already released", (p.stdout + p.stderr).lower())
        self.assertEqual(len(down.rec.messages), 1)

        # --force --to: a second copy, to that address only, from the original sender.
        p = self.cli_ok(m, "release", qid, "--force", "--to", "other@example.org")
        self.assertIn("250", p.stdout)
        self.assertEqual(len(down.rec.messages), 2, down.rec.commands)
        got = down.rec.messages[1]
        self.assertEqual(got["mail_from"], "spammer@example.net")
        self.assertEqual(got["rcpts"], ["other@example.org"])
        self.assertEqual(lf(got["data"]), lf(stored))
        self.assertEqual(self.qlist(m)[0]["state"], "released")

    def test_stored_and_released_byte_for_byte(self):
        """Lines that start with a dot (one is only a dot) and a 1.5 MB body come back
        exactly: the store keeps what arrived after dot-unstuffing, release stuffs
        again. A message without Subject lists with an empty one."""
        down = self.start_downstream()
        m = self.make_gate(down.port)
        filler = "".join("filler line %06d %s\r\n" % (i, "x" * 56) for i in range(20000))
        data = ("From: Spammer <spammer@example.net>\r\n"
                "To: One <one@example.org>\r\n"
                "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
                "Message-ID: <dots-%d@example.net>\r\n"
                "\r\n"
                "quarantineme\r\n"
                ".a line that starts with a dot\r\n"
                ".\r\n"
                "..\r\n"
                "%s"
                ".\r\n"
                "the end\r\n" % (os.getpid(), filler)).encode()
        qid = self.quarantine(m, "spammer@example.net", ["one@example.org"], data)
        self.assertEqual(down.rec.messages, [])
        stored = self.stored(m, qid)
        self.assertTrue(stored.endswith(data), "the stored message is not what arrived")
        self.assertLess(len(stored) - len(data), 2000)   # only our header fields in front
        self.assertEqual(self.show_json(m, qid, body=True)["message"], stored.decode())
        rec = self.qlist(m)[0]
        self.assertIn("subject", rec)
        self.assertFalse(rec["subject"], rec)
        self.cli_ok(m, "release", qid)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(down.rec.messages[0]["data"], stored)

    def test_only_recipients_the_downstream_accepted_are_stored(self):
        """A recipient the MX refused at RCPT TO is no recipient of the held message,
        and release does not send to it."""
        down = self.start_downstream()
        down.behaviour.reject_rcpts = {"nobody@example.org": "550 5.1.1 <nobody@example.org>: no such user"}
        m = self.make_gate(down.port)
        data, _ = message()
        r = self.session(m.port, "spammer@example.net", ["one@example.org", "nobody@example.org"], data,
                         all_rcpts=False)
        self.assertEqual([code for code, _ in r["rcpt"]], [250, 550], r)
        match = QUEUED_RE.match(r["end"][1][-1])
        self.assertIsNotNone(match, r)
        qid = match.group(1)
        rec = self.qlist(m)[0]
        self.assertEqual(rec["id"], qid)
        self.assertEqual(rec["rcpts"], ["one@example.org"], rec)
        down.behaviour.reject_rcpts = {}
        self.cli_ok(m, "release", qid)
        self.assertEqual([x["rcpts"] for x in down.rec.messages], [["one@example.org"]])

    def test_null_sender_is_released_with_the_null_sender(self):
        """Held backscatter (MAIL FROM:<>) goes out as MAIL FROM:<> again, never with
        a sender made up for it."""
        down = self.start_downstream()
        m = self.make_gate(down.port)
        qid = self.quarantine(m, "", ["one@example.org"], message()[0])
        self.assertEqual(self.record(m, qid)["mail_from"], "")
        self.cli_ok(m, "release", qid)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(down.rec.messages[0]["mail_from"], "<>")   # aiosmtpd's spelling of the null sender
        self.assertEqual([a for v, a in down.rec.commands if v == "MAIL"], ["<>", "<>"])

    def test_dmarc_p_quarantine_defaults_to_quarantine_with_a_store(self):
        """policy.dmarc.quarantine defaults to quarantine once a store exists; the
        stored message carries our Authentication-Results."""
        zone = ["$TTL 300",
                "com. 300 IN SOA ns.com. admin.com. 1 3600 600 86400 60",
                'example.com. 300 IN TXT "v=spf1 ip4:192.0.2.1 -all"',
                '_dmarc.example.com. 300 IN TXT "v=DMARC1; p=quarantine"']
        dns = DnsServer(zone).start()
        self.addCleanup(dns.stop)
        down = self.start_downstream()
        m = self.make_gate(down.port, policy={}, filters=["spf", "dkim", "dmarc"], start=False)
        m.config["dns"] = {"nameservers": ["%s:%d" % (LOOPBACK, dns.port)], "timeout": "500ms", "attempts": 1}
        m.write_config()
        m.start()
        data, _ = message(body="Please pay the invoice.", from_addr="Someone <someone@example.com>")
        qid = self.quarantine(m, "someone@example.com", ["one@example.org"], data)
        self.assertEqual(down.rec.messages, [])
        t = self.txn(m, 1)
        self.assertEqual(t["verdict"], "quarantine", t)
        self.assertEqual(t.get("decided_by"), "policy.dmarc.quarantine example.com", t)
        rec = self.qlist(m)[0]
        self.assertEqual(rec["id"], qid)
        self.assertEqual(rec["rule"], "policy.dmarc.quarantine example.com", rec)
        self.assertIn("dmarc=fail", rec["auth_results"], rec)
        self.assertIn("DMARC_POLICY_QUARANTINE", [s["name"] for s in rec["symbols"]], rec)
        self.assertRegex(header_section(self.stored(m, qid)), r"(?mi)^Authentication-Results: mxgate\.test;")
        self.assertRegex(header_section(self.stored(m, qid)), r"(?mi)dmarc=fail")


# ---------------------------------------------------------------- (2) failed releases

class FailedRelease(QuarantineTestBase):
    def test_failed_release_keeps_the_message_held_and_a_later_release_works(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        data, _ = message()
        qid = self.quarantine(m, "spammer@example.net", ["one@example.org"], data)
        stored = self.stored(m, qid)
        down.rec = Recorder()

        def behave(**kw):
            b = down.behaviour
            b.data_reply = b.mail_reply = None
            b.reject_rcpts = {}
            for k, v in kw.items():
                setattr(b, k, v)

        cases = [("451 to the message", dict(data_reply="451 4.3.0 Error: queue full"), "451 4.3.0 Error: queue full"),
                 ("550 to the message", dict(data_reply="550 5.6.0 Error: content refused"),
                  "550 5.6.0 Error: content refused"),
                 ("550 to the recipient", dict(reject_rcpts={"one@example.org":
                                                             "550 5.1.1 <one@example.org>: Recipient address rejected: no such user"}),
                  "550 5.1.1"),
                 ("451 to MAIL FROM", dict(mail_reply="451 4.3.0 try later"), "451 4.3.0 try later")]
        for name, behaviour, why in cases:
            with self.subTest(name):
                behave(**behaviour)
                p = self.cli(m, "release", qid)
                self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
                self.assertIn(why, p.stderr)
                rec = self.record(m, qid)
                self.assertEqual(rec["state"], "held", rec)
                self.assertFalse(rec.get("released_to"), rec)
                self.assertEqual(self.stored(m, qid), stored)
        behave()
        # The downstream refused whatever reached it; nothing it accepted.
        down.rec = Recorder()

        with self.subTest("one of two recipients refused"):
            # All or nothing: a release that would reach only some recipients is a
            # failed release (the message stays held for all of them).
            q2 = self.quarantine(m, "spammer@example.net", ["one@example.org", "two@example.org"], message()[0])
            down.rec = Recorder()
            behave(reject_rcpts={"two@example.org": "550 5.1.1 <two@example.org>: no such user"})
            p = self.cli(m, "release", q2)
            self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
            self.assertIn("550 5.1.1", p.stderr)
            self.assertEqual(down.rec.messages, [])
            self.assertEqual([r["state"] for r in self.qlist(m, "--rcpt", "two@example.org")], ["held"])
            behave()
            self.cli_ok(m, "release", q2)
            self.assertEqual([x["rcpts"] for x in down.rec.messages], [["one@example.org", "two@example.org"]])
            down.rec = Recorder()

        with self.subTest("downstream down"):
            closed = free_port()   # nothing listens there
            p = self.cli(m, "release", qid, config=self.cli_config(m, closed))
            self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
            self.assertRegex(p.stderr, r"(?i)refused|connect|%s:%d" % (re.escape(LOOPBACK), closed))
            self.assertEqual(self.record(m, qid)["state"], "held")
            self.assertTrue(os.path.exists(self.eml_path(m, qid)))

        self.assertEqual(down.rec.messages, [])
        p = self.cli_ok(m, "release", qid)
        self.assertIn("250", p.stdout)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(down.rec.messages[0]["rcpts"], ["one@example.org"])
        self.assertEqual(lf(down.rec.messages[0]["data"]), lf(stored))
        rec = self.record(m, qid)
        self.assertEqual(rec["state"], "released", rec)
        self.assertIn("250", rec["release_reply"], rec)


# ---------------------------------------------------------------- (3) list filters

class ListFilters(QuarantineTestBase):
    def test_filters_limit_and_time_range(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        data_a, _ = message(subject="Alpha offer", from_addr="Alice <alice@sender-a.example>")
        a = self.quarantine(m, "alice@sender-a.example", ["one@example.org"], data_a)
        t_a = parse_iso(self.qlist(m)[0]["time"])
        # B and C at least two seconds later, so a time between them is unambiguous.
        while utcnow() < t_a + datetime.timedelta(seconds=2):
            time.sleep(0.1)
        mid = (t_a + datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
        data_b, _ = message(body="Please holdme for a while.", subject="Bravo deal",
                            from_addr="Bob <bob@Header-B.example>")
        b = self.quarantine(m, "bounce@envelope-b.example", ["two@example.org", "three@example.com"], data_b)
        data_c, _ = message(subject="Charlie news", from_addr="Carol <carol@sender-c.example>")
        c = self.quarantine(m, "carol@sender-c.example", ["three@example.com"], data_c)
        self.assertEqual(down.rec.messages, [])

        everything = self.ids(m)
        self.assertEqual(sorted(everything), sorted([a, b, c]))
        self.assertEqual(everything[-1], a, "newest first: A is two seconds older")
        self.assertEqual(len(set(everything)), 3)

        cases = [
            (["--from", "ENVELOPE-B"], {b}),           # envelope sender, case-insensitive
            (["--from", "header-b.example"], {b}),     # header From, case-insensitive
            (["--from", "sender-"], {a, c}),
            (["--from", "nobody.example"], set()),
            (["--rcpt", "three@example.com"], {b, c}),
            (["--rcpt", "two@example.org"], {b}),
            (["--rcpt", "one@"], {a}),
            (["--subject", "Bravo"], {b}),
            (["--subject", "Alpha"], {a}),
            (["--subject", "Zulu"], set()),
            (["--rule", "TEST_HOLD"], {b}),
            (["--rule", "TEST_Q"], {a, c}),
            (["--rule", "policy.thresholds.quarantine"], {a, b, c}),
            (["--rule", "NO_SUCH_RULE"], set()),
            (["--rcpt", "three@example.com", "--rule", "TEST_Q"], {c}),
            (["--since", mid], {b, c}),
            (["--until", mid], {a}),
            (["--since", "30m"], {a, b, c}),
            (["--until", "30m"], set()),
            (["--since", "7d"], {a, b, c}),
            (["--since", t_a.strftime("%Y-%m-%d")], {a, b, c}),
            (["--until", "2020-01-01"], set()),
            (["--since", "2099-01-01"], set()),
            (["--since", "2h", "--until", mid], {a}),
        ]
        for args, want in cases:
            with self.subTest(args=args):
                got = self.ids(m, *args)
                self.assertEqual(len(got), len(set(got)), got)
                self.assertEqual(set(got), want, args)

        with self.subTest("limit"):
            got = self.ids(m, "--limit", "2")
            self.assertEqual(len(got), 2, got)
            self.assertNotIn(a, got)           # the two newest
            self.assertEqual(self.ids(m, "--limit", "1", "--rule", "TEST_Q"), [c])

        with self.subTest("text output"):
            p = self.cli_ok(m, "list", "--rcpt", "three@example.com")
            self.assertEqual(sorted(self.text_ids(p.stdout)), sorted([b, c]), p.stdout)

    def test_newest_first_also_within_one_second(self):
        """Messages quarantined one after the other (each got its 250 before the next
        was sent), most within the same second: list prints them in exactly the
        reverse order, and --limit N gives the N last ones."""
        down = self.start_downstream()
        m = self.make_gate(down.port)
        sent = [self.quarantine(m) for _ in range(8)]
        self.assertEqual(self.ids(m), sent[::-1])
        self.assertEqual(self.ids(m, "--limit", "3"), sent[:-4:-1])
        self.assertEqual(self.ids(m, "--limit", "1"), [sent[-1]])

    def test_usage_errors_and_unknown_ids(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        self.quarantine(m)
        for args in (["bogus-subcommand"], ["list", "--limit", "many"], ["list", "--since", "yesterday-ish"],
                     ["list", "--no-such-option"], ["show"], ["purge"], ["purge", "--older-than", "soon"]):
            with self.subTest(args=args):
                p = self.cli(m, *args)
                self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
                self.assertTrue(p.stderr.strip(), "a usage error says something")
        unknown = "20990101-000000-deadbeef"
        for args in (["show", unknown], ["release", unknown], ["delete", unknown]):
            with self.subTest(args=args):
                p = self.cli(m, *args)
                self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
        self.assertEqual(down.rec.messages, [])
        self.assertEqual(len(self.ids(m)), 1)


# ---------------------------------------------------------------- (4) delete and purge

class DeleteAndPurge(QuarantineTestBase):
    def test_delete_then_purge(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        q1, q2, q3 = (self.quarantine(m) for _ in range(3))
        self.assertEqual(sorted(self.ids(m)), sorted([q1, q2, q3]))

        p = self.cli_ok(m, "delete", q1)
        self.assertEqual(sorted(self.ids(m)), sorted([q2, q3]))
        self.assertFalse(os.path.exists(self.eml_path(m, q1)))
        self.assertTrue(os.path.exists(self.eml_path(m, q2)))
        self.assertEqual(self.cli(m, "show", q1).returncode, 1)
        p = self.cli(m, "delete", q1)
        self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
        self.assertEqual(self.cli(m, "release", q1).returncode, 1)
        self.assertEqual(down.rec.messages, [])

        # Nothing is a day old yet.
        p = self.cli_ok(m, "purge", "--older-than", "1")
        self.assertRegex(p.stdout, r"(?<![\d.])0(?![\d.])", p.stdout)
        self.assertEqual(sorted(self.ids(m)), sorted([q2, q3]))

        # Everything is older than now (a second later, whatever the precision).
        time.sleep(1.1)
        p = self.cli_ok(m, "purge", "--older-than", "0")
        self.assertRegex(p.stdout, r"(?<![\d.])2(?![\d.])", p.stdout)
        self.assertEqual(self.ids(m), [])
        for q in (q2, q3):
            self.assertFalse(os.path.exists(self.eml_path(m, q)), q)
        left = [f for _, _, files in os.walk(os.path.join(m.qdir, "messages")) for f in files]
        self.assertEqual(left, [])

        # The store still works after a purge.
        q4 = self.quarantine(m)
        self.assertEqual(self.ids(m), [q4])


class LearnFromReview(QuarantineTestBase):
    """quarantine.learn_on_release / learn_on_delete: what the admin's review says
    teaches the classifier (the bayes filter's database, read back with
    `mxgate learn --stats`)."""

    BAYES = {"bayes": {"path": "bayes.db"}}

    def stats(self, m):
        p = subprocess.run([MXGATE, "learn", "--config", m.config_path, "--stats", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        st = json.loads(p.stdout)
        return st["spam"], st["ham"]

    def test_release_learns_ham_and_delete_learns_spam(self):
        down = self.start_downstream()
        m = self.make_gate(down.port, quarantine={"learn_on_release": True, "learn_on_delete": True},
                           filters=["mime", self.BAYES, CONTENT])
        q1 = self.quarantine(m)
        q2 = self.quarantine(m, data=message(body="Please quarantineme, another text.")[0])
        self.assertEqual(self.stats(m), (0, 0))
        p = self.cli_ok(m, "release", q1)
        self.assertIn("learned %s as ham" % q1, p.stdout)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertEqual(self.stats(m), (0, 1))
        p = self.cli_ok(m, "delete", q2)
        self.assertIn("learned %s as spam" % q2, p.stdout)
        self.assertIn("deleted %s" % q2, p.stdout)
        self.assertEqual(self.stats(m), (1, 1))
        # Released again, it is the same message: learned once.
        self.cli_ok(m, "release", q1, "--force")
        self.assertEqual(self.stats(m), (1, 1))
        # Deleted after its release: it moves from ham to spam, not counted twice.
        self.cli_ok(m, "delete", q1)
        self.assertEqual(self.stats(m), (2, 0))

    def test_off_by_default(self):
        down = self.start_downstream()
        m = self.make_gate(down.port, filters=["mime", self.BAYES, CONTENT])
        q1, q2 = self.quarantine(m), self.quarantine(m)
        self.assertNotIn("learned", self.cli_ok(m, "release", q1).stdout)
        self.assertNotIn("learned", self.cli_ok(m, "delete", q2).stdout)
        self.assertEqual(self.stats(m), (0, 0))

    def test_a_classifier_that_cannot_learn_does_not_stop_the_review(self):
        down = self.start_downstream()
        m = self.make_gate(down.port, quarantine={"learn_on_release": True, "learn_on_delete": True},
                           filters=["mime", {"bayes": {"path": "broken/bayes.db"}}, CONTENT])
        q1, q2 = self.quarantine(m), self.quarantine(m)
        # The database's folder is a file now: nothing can open it.
        shutil.rmtree(os.path.join(m.workdir, "broken"), ignore_errors=True)
        with open(os.path.join(m.workdir, "broken"), "w") as f:
            f.write("not a folder")
        p = self.cli_ok(m, "release", q1)
        self.assertIn("released %s" % q1, p.stdout)
        self.assertIn("not learned as ham", p.stderr)
        self.assertEqual(len(down.rec.messages), 1)
        p = self.cli_ok(m, "delete", q2)
        self.assertIn("not learned as spam", p.stderr)
        self.assertNotIn(q2, self.ids(m))


# ---------------------------------------------------------------- (5) crash safety

class CrashSafety(QuarantineTestBase):
    def test_sigkill_right_after_250_loses_nothing(self):
        down = self.start_downstream()
        m = self.make_gate(down.port, start=False)
        sent = {}
        for i in range(4):
            with self.subTest(round=i):
                m.start()
                data, mid = message(body="Round %d: quarantineme, then crash." % i, subject="Crash %d" % i)
                qid = self.quarantine(m, "spammer@example.net", ["one@example.org"], data, kill=m.proc.kill)
                m.proc.wait(10)
                m.stop()
                sent[qid] = (data, mid)
                listed = set(self.ids(m))
                self.assertEqual(listed, set(sent), "lost after SIGKILL")
                for q, (d, mi) in sent.items():
                    j = self.show_json(m, q, body=True)
                    body = lf(d).split(b"\n\n", 1)[1]
                    self.assertTrue(lf(j["message"]).endswith(body), (q, j["message"]))
                    self.assertIn(mi, j["message"])
                    self.assertIn(SENTINEL, j["message"])
                    self.assertRegex(header_section(j["message"].encode()), r"(?mi)^X-Spam-Flag: YES$")
        self.assertEqual(down.rec.messages, [])
        # And what was stored before the crashes can still be released.
        q = next(iter(sent))
        self.cli_ok(m, "release", q)
        self.assertEqual(len(down.rec.messages), 1)
        self.assertTrue(lf(down.rec.messages[0]["data"]).endswith(lf(sent[q][0]).split(b"\n\n", 1)[1]))


# ---------------------------------------------------------------- (6) store failure

class StoreFailure(QuarantineTestBase):
    def check_tempfail(self, m, down, n):
        data, _ = message()
        r = self.session(m.port, "spammer@example.net", ["one@example.org"], data)
        code, lines = r["end"]
        self.assertEqual(code, 451, r)
        self.assertTrue(lines[-1].startswith("451 4.3.0 "), lines)
        self.assertEqual(down.rec.messages, [])
        t = self.txn(m, n)
        self.assertEqual(t["verdict"], "tempfail", t)
        self.assertNotIn("quarantine_id", t)

    def test_messages_dir_replaced_by_a_file_tempfails(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        messages = os.path.join(m.qdir, "messages")
        shutil.rmtree(messages, ignore_errors=True)   # the server may or may not have made it yet
        with open(messages, "w") as f:
            f.write("not a directory\n")
        self.check_tempfail(m, down, 1)
        # Once the operator repairs the store, quarantine works again; the message
        # the client was told to send again left no index row behind. (The CLI
        # refuses to open a store whose messages/ is not a folder, so it looks only now.)
        os.remove(messages)
        os.mkdir(messages)
        qid = self.quarantine(m)
        self.assertEqual(self.ids(m), [qid])
        self.assertEqual(down.rec.messages, [])

    @unittest.skipIf(os.geteuid() == 0, "root ignores directory permissions")
    def test_unwritable_messages_dir_tempfails(self):
        down = self.start_downstream()
        m = self.make_gate(down.port)
        messages = os.path.join(m.qdir, "messages")
        os.makedirs(messages, exist_ok=True)
        dirs = [messages] + [os.path.join(messages, d) for d in os.listdir(messages)]
        for d in dirs:
            os.chmod(d, 0o500)
        try:
            self.check_tempfail(m, down, 1)
            self.assertEqual(self.ids(m), [])   # no index row for it
        finally:
            for d in dirs:
                os.chmod(d, 0o700)


# ---------------------------------------------------------------- (7) config

class ConfigErrors(unittest.TestCase):
    def write(self, tail):
        tmp = tempfile.mkdtemp(prefix="mxgate-quarantine-cfg-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        path = os.path.join(tmp, "mxgate.yaml")
        lines = ["listen:", f"  - {LOOPBACK}:0", "hostname: mxgate.test",
                 "downstream:", f"  address: {LOOPBACK}:1",
                 "dns:", f"  nameservers: [\"{LOOPBACK}:1\"]", "  timeout: 200ms", "  attempts: 1",
                 "log:", "  transactions: \"off\""] + [l.replace("$TMP", tmp) for l in tail]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path, lines

    def check(self, tail):
        path, lines = self.write(tail)
        try:
            p = subprocess.run([MXGATE, "serve", "--check-config", "--config", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("serve --check-config did not finish")
        return path, lines, p

    def test_quarantine_actions_need_a_store(self):
        path, lines, p = self.check(["policy:", "  thresholds:", "    quarantine: 10",
                                     "  spf_fail: quarantine"])
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        self.assertRegex(p.stderr, r"(?m)^%s:%d: policy\.thresholds\.quarantine: \S"
                         % (re.escape(path), lines.index("    quarantine: 10") + 1))
        self.assertRegex(p.stderr, r"(?m)^%s:%d: policy\.spf_fail: \S"
                         % (re.escape(path), lines.index("  spf_fail: quarantine") + 1))

    def test_with_a_store_quarantine_actions_load(self):
        """The control for the case above: the same keys with quarantine.dir set."""
        path, _, p = self.check(["quarantine:", "  dir: $TMP/store", "  retention: 30d",
                                 "policy:", "  thresholds:", "    quarantine: 10",
                                 "  spf_fail: quarantine", "  dmarc: {reject: quarantine, quarantine: quarantine}"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(path + ": ok", p.stdout)
        for retention in ("0", "1s", "12h"):
            with self.subTest(retention=retention):
                _, _, p = self.check(["quarantine:", "  dir: $TMP/store", "  retention: " + retention])
                self.assertEqual(p.returncode, 0, p.stderr)

    def test_bad_retention_names_file_line_and_key(self):
        path, lines, p = self.check(["quarantine:", "  dir: $TMP/store", "  retention: soonish"])
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        self.assertRegex(p.stderr, r"(?m)^%s:%d: quarantine\.retention: \S"
                         % (re.escape(path), lines.index("  retention: soonish") + 1))

    def test_cli_without_a_store_is_a_config_error(self):
        path, _ = self.write([])
        p = subprocess.run([MXGATE, "quarantine", "--config", path, "list"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(p.returncode, 2, (p.stdout, p.stderr))
        self.assertIn("quarantine.dir", p.stderr)


# ---------------------------------------------------------------- (8) retention

class Retention(QuarantineTestBase):
    def test_retention_is_applied_at_start(self):
        down = self.start_downstream()
        m = self.make_gate(down.port, quarantine={"retention": 0})
        qid = self.quarantine(m)
        m.stop()
        time.sleep(1.5)
        # retention 0 keeps forever: still there after a restart.
        m.start()
        time.sleep(1.0)
        self.assertEqual(self.ids(m), [qid])
        m.stop()
        # retention 1s: the restarted server deletes it (older than a second by now).
        m.config["quarantine"]["retention"] = "1s"
        m.write_config()
        m.start()
        deadline = time.time() + 10
        while time.time() < deadline and self.ids(m):
            time.sleep(0.2)
        self.assertEqual(self.ids(m), [], "retention 1s did not remove a message older than that at start")
        self.assertFalse(os.path.exists(self.eml_path(m, qid)))
        # And the server still quarantines.
        q2 = self.quarantine(m)
        self.assertIn(q2, self.ids(m))


# ---------------------------------------------------------------- concurrency

class ConcurrentAccess(QuarantineTestBase):
    def test_cli_reads_while_the_server_writes(self):
        """Four clients quarantine 13 messages each while the CLI lists and shows in a
        loop: every CLI call succeeds, every message is stored, and list's default
        limit is 50, newest first."""
        down = self.start_downstream()
        m = self.make_gate(down.port)
        got, errors = [], []
        lock = threading.Lock()

        def client(k):
            try:
                for i in range(13):
                    data, _ = message(subject="Concurrent %d.%d" % (k, i))
                    c = RawClient(m.port)
                    try:
                        c.reply()
                        c.cmd("EHLO client%d.test" % k)
                        c.cmd("MAIL FROM:<spammer%d@example.net>" % k)
                        c.cmd("RCPT TO:<one@example.org>")
                        c.cmd("DATA")
                        c.send(data + b".\r\n")
                        code, lines = c.reply()
                        c.cmd("QUIT")
                    finally:
                        c.close()
                    match = QUEUED_RE.match(lines[-1])
                    with lock:
                        if match:
                            got.append(match.group(1))
                        else:
                            errors.append(lines)
            except Exception as e:   # reported below, not lost in the thread
                with lock:
                    errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        cli_calls = 0
        while any(t.is_alive() for t in threads):
            recs = self.qlist(m, "--limit", "5")
            if recs:
                self.show_json(m, recs[0]["id"], body=True)
            cli_calls += 1
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(got), 52)
        self.assertGreater(cli_calls, 0)
        self.assertEqual(sorted(self.ids(m, "--limit", "100")), sorted(got))
        recs = self.qlist(m)
        self.assertEqual(len(recs), 50)
        times = [r["time"] for r in recs]
        self.assertEqual(times, sorted(times, reverse=True))
        self.assertEqual(down.rec.messages, [])


if __name__ == "__main__":
    unittest.main()
