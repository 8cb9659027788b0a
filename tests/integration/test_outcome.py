"""One outcome for a message, whoever asks: a live session and `mxgate check` with the
same config, envelope and DNS give the same verdict, score, symbols, deciding rule,
reply and added header fields (policy/outcome.hpp's finish() serves both).

Peers on 127.0.0.1: a DNS server serving samples/dns/demo.zone, the scripted aiosmtpd
downstream that records what it receives, raw SMTP clients, and mxgate itself. The
messages are the sample messages and the content test messages of this repository;
the config runs every filter and the builtin rules, with a subject prefix so the
header edit shows, and a tag threshold low enough that some messages are tagged.
"""
import glob
import json
import os
import subprocess

from harness import LOOPBACK, MXGATE, SOURCE_DIR, DnsServer, ProxyTestCase

DEMO_ZONE = os.path.join(SOURCE_DIR, "samples", "dns", "demo.zone")
MESSAGES = sorted(glob.glob(os.path.join(SOURCE_DIR, "samples", "messages", "*.eml")) +
                  glob.glob(os.path.join(SOURCE_DIR, "tests", "data", "content", "*.eml")))
HELO = "mail.example.net"


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def header_address(data):
    """The From address of a message, roughly, for MAIL FROM ("" if none)."""
    for line in data.split(b"\r\n"):
        if not line:
            break
        if line.lower().startswith(b"from:"):
            v = line[5:].decode("latin-1")
            if "<" in v and ">" in v:
                return v[v.rindex("<") + 1:v.rindex(">")]
            return v.strip() if "@" in v else ""
    return ""


class OneOutcome(ProxyTestCase):
    def setUp(self):
        with open(DEMO_ZONE) as f:
            self.dns = DnsServer(f.read().splitlines()).start()
        self.addCleanup(self.dns.stop)
        self.down = self.start_downstream()
        self.m = self.start_mxgate(self.down.port, {
            "authserv_id": "mx.test",
            "dns": {"nameservers": [f"{LOOPBACK}:{self.dns.port}"], "timeout": "500ms", "attempts": 1},
            "filters": ["headers", "spf", "dkim", "dmarc", "mime", {"content": {"rules": ["builtin"], "cache_dir": "cache"}}],
            "policy": {"thresholds": {"tag": 3, "reject": 15},
                       "tagging": {"subject_prefix": "[SPAM] "}},
        })

    def check(self, path, mail_from, rcpt):
        p = subprocess.run([MXGATE, "check", path, "--json", "--config", self.m.config_path,
                            "--ip", LOOPBACK, "--helo", HELO, "--from", mail_from, "--rcpt", rcpt],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def live(self, data, mail_from, rcpt):
        """(end-of-data reply, transaction log line, data the MX got or None)."""
        n_txn = len(self.m.transactions())
        n_msg = len(self.down.rec.messages)
        c = self.raw(self.m.port)
        self.ehlo(c, HELO)
        self.assertEqual(c.cmd(f"MAIL FROM:<{mail_from}>")[0], 250)
        self.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        lines = data.split(b"\r\n")
        if lines and lines[-1] == b"":
            lines.pop()
        c.send(b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n")
        end = c.reply()
        c.cmd("QUIT")
        txn = self.m.wait_transactions(n_txn + 1)[-1]
        got = self.down.rec.messages[-1]["data"] if len(self.down.rec.messages) > n_msg else None
        return end, txn, got

    def test_server_and_check_agree(self):
        self.assertGreaterEqual(len(MESSAGES), 10)
        verdicts = set()
        for path in MESSAGES:
            with self.subTest(message=os.path.basename(path)):
                with open(path, "rb") as f:
                    data = crlf(f.read())
                mail_from = header_address(data) or "sender@example.net"
                rcpt = "user@example.org"
                j = self.check(path, mail_from, rcpt)
                end, txn, got = self.live(data, mail_from, rcpt)
                verdicts.add(txn["verdict"])
                self.assertEqual(j["verdict"], txn["verdict"], (j, txn))
                self.assertAlmostEqual(j["score"], txn["score"], places=6)
                self.assertEqual(j.get("decided_by"), txn.get("decided_by"))
                self.assertEqual(j.get("required"), txn.get("required"))
                self.assertEqual([(s["name"], s["score"], s.get("detail"), s.get("where")) for s in j["symbols"]],
                                 [(s["name"], s["score"], s.get("detail"), s.get("where")) for s in txn["symbols"]
                                  if not s["name"].startswith("FORGED_")])
                # check prints the field folded, the log unfolded (RFC 5322 2.2.3).
                self.assertEqual((j.get("authentication_results") or "").replace("\r\n", ""),
                                 txn.get("authentication_results", ""))
                if txn["verdict"] in ("reject", "tempfail"):
                    self.assertEqual(j["reply"], txn["reply"])
                    self.assertEqual(end[0] // 100, 5 if txn["verdict"] == "reject" else 4)
                    self.assertIsNone(got)
                    self.assertEqual(j["headers"], [])
                    continue
                self.assertEqual(end[0], 250, end)
                # The fields on top of the delivered message are check's, byte for byte.
                added = "".join(j["headers"]).encode()
                self.assertTrue(j["headers"], j)
                self.assertTrue(got.startswith(added), (got[:600], added))
                rest = got[len(added):]
                subject = [l for l in rest.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if l.lower().startswith(b"subject:")]
                if j.get("subject_prefix"):
                    self.assertEqual(txn["verdict"], "tag")
                    self.assertTrue(subject and subject[0][8:].lstrip().startswith(b"[SPAM] "), subject)
                elif subject:
                    self.assertNotIn(b"[SPAM]", subject[0])
        # The messages cover more than one outcome, or the comparison says little.
        self.assertTrue({"accept", "tag"} <= verdicts, verdicts)
        self.assertTrue(verdicts & {"reject"}, verdicts)
