"""`mxgate corpus`: labelled folders, maildirs and mbox files through the chain.

The messages are tests/data/content's (known spam and ham for the builtin rules of
rules/default/), laid out at test time as the three kinds of input an admin has: a
folder of .eml files, a maildir, and an mbox. --compare-spamassassin runs Debian's
real `spamassassin -L -t` (in a network namespace, as root) on two of them.
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import MXGATE, SOURCE_DIR

CONTENT = os.path.join(SOURCE_DIR, "tests", "data", "content")
HAM = ["ham_encoded_german.eml", "ham_newsletter.eml", "ham_reply.eml"]
SPAM = ["gtube.eml", "lottery_advance_fee.eml", "pharma_fake_reply.eml", "ceo_gift_card.eml"]

CONFIG = """\
filters:
  - headers
  - mime
  - content:
      rules: [builtin]
      cache_dir: ""
policy:
  thresholds: {tag: 5, reject: 1000}
"""


def read(name):
    with open(os.path.join(CONTENT, name), "rb") as f:
        return f.read()


class CorpusTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mxgate-corpus-")
        cls.config = os.path.join(cls.tmp, "corpus.yaml")
        with open(cls.config, "w") as f:
            f.write(CONFIG)
        # Ham: a folder of .eml files, one behind an mbox "From " line; a hidden file skipped.
        cls.ham = os.path.join(cls.tmp, "ham")
        os.makedirs(os.path.join(cls.ham, "sub"))
        for i, name in enumerate(HAM):
            data = read(name)
            if i == 0:
                data = b"From someone@example.org Mon Dec  7 10:00:00 2026\n" + data
            with open(os.path.join(cls.ham, "sub" if i == 2 else "", name), "wb") as f:
                f.write(data)
        with open(os.path.join(cls.ham, ".hidden"), "wb") as f:
            f.write(read(SPAM[0]))
        # Spam: a maildir with two, and an mbox with two.
        cls.maildir = os.path.join(cls.tmp, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(cls.maildir, sub))
        for i, name in enumerate(SPAM[:2]):
            with open(os.path.join(cls.maildir, "new" if i else "cur", f"1700000000.{i}.host:2,S"), "wb") as f:
                f.write(read(name))
        cls.mbox = os.path.join(cls.tmp, "spam.mbox")
        with open(cls.mbox, "wb") as f:
            for name in SPAM[2:]:
                f.write(b"From spammer@example.com Mon Dec  7 10:00:00 2026\n" + read(name).rstrip(b"\n") + b"\n\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def corpus(self, *extra):
        p = subprocess.run([MXGATE, "corpus", "-c", self.config, "--ham", self.ham, "--spam", self.maildir,
                            "--spam", self.mbox, "--json", *extra], capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def check_score(self, data):
        p = subprocess.run([MXGATE, "check", "-c", self.config, "--json", "-"], input=data, capture_output=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_counts_flags_and_rule_table(self):
        r = self.corpus("--jobs", "2")
        self.assertEqual((r["ham"], r["spam"], r["unreadable"]), (3, 4, 0))
        # The builtin rules flag every spam of tests/data/content and no ham (EXPECTED there).
        self.assertEqual((r["spam_flagged"], r["ham_flagged"]), (4, 0))
        self.assertEqual(r["false_positives"], [])
        self.assertEqual(r["false_negatives"], [])
        by_name = {x["name"]: x for x in r["rules"]}
        self.assertEqual(by_name["GTUBE"]["spam"], 1)
        self.assertEqual(by_name["GTUBE"]["ham"], 0)
        self.assertEqual(by_name["GTUBE"]["so"], 1.0)
        # The threshold table agrees with the scores: at 0 everything with a score >= 0.
        t5 = next(t for t in r["thresholds"] if t["score"] == 5)
        self.assertEqual(t5["spam_pct"], 100.0)

    def test_each_score_is_what_check_says(self):
        # corpus runs the same chain as check: the mbox's second message scores the same.
        r = self.corpus("--list", "100")
        data = read(SPAM[3])
        expected = self.check_score(data)["score"]
        p = subprocess.run([MXGATE, "corpus", "-c", self.config, "--spam", self.mbox, "--json"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        one = json.loads(p.stdout)
        self.assertEqual(one["spam"], 2)
        self.assertGreaterEqual(expected, 5)
        self.assertEqual(r["spam_flagged"], 4)

    def test_ham_threshold_lists_false_positives(self):
        # With the tag threshold at 0, every ham is "flagged": each is listed by file.
        cfg = os.path.join(self.tmp, "low.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.replace("tag: 5", "tag: -100"))
        p = subprocess.run([MXGATE, "corpus", "-c", cfg, "--ham", self.ham, "--json"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual(r["ham_flagged"], 3)
        files = sorted(os.path.basename(x["file"]) for x in r["false_positives"])
        self.assertEqual(files, sorted(HAM))

    def test_missing_input_is_an_error(self):
        p = subprocess.run([MXGATE, "corpus", "-c", self.config, "--ham", os.path.join(self.tmp, "nope")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such file or folder", p.stderr)

    @unittest.skipUnless(shutil.which("spamassassin") and os.geteuid() == 0, "needs spamassassin and root (unshare -n)")
    def test_compare_with_real_spamassassin(self):
        p = subprocess.run([MXGATE, "corpus", "-c", self.config, "--spam", self.maildir, "--json",
                            "--compare-spamassassin"], capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        sa = r["spamassassin"]
        self.assertEqual(sa["checked"], 2)
        # GTUBE is in both rule sets (rules/default/ ships it); SpamAssassin flags it too.
        gtube = next((x for x in sa["rules"] if x["name"] == "GTUBE"), None)
        self.assertIsNotNone(gtube, sa)
        self.assertEqual((gtube["both"], gtube["mxgate_only"], gtube["spamassassin_only"]), (1, 0, 0))
        self.assertGreaterEqual(sa["spam_flagged_pct"], 50.0)
        # verdicts_differ: exactly the messages SpamAssassin puts on the other side of 5.
        flagged = {"tag", "quarantine", "reject"}
        want = sorted(m["file"] for m in r["messages"]
                      if (m["verdict"] in flagged) != (m["spamassassin_score"] >= 5.0))
        self.assertEqual(sorted(d["file"] for d in sa["verdicts_differ"]), want)
        for d in sa["verdicts_differ"]:
            m = next(x for x in r["messages"] if x["file"] == d["file"])
            self.assertEqual(d["spamassassin_score"], m["spamassassin_score"])


if __name__ == "__main__":
    unittest.main()
