"""`mxgate rules lint DIR`: a rule folder loaded and compiled as the server would,
with counts per scope and engine, and errors with file, line and rule."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import MXGATE


def lint(d):
    return subprocess.run([MXGATE, "rules", "lint", d], capture_output=True, text=True, timeout=120)


class RulesLint(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mxgate-rules-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def test_counts_per_engine_and_why(self):
        self.write("10_demo.cf",
                   "header SUBJ_MONEY Subject =~ /\\bmoney\\b/i\n"
                   "score SUBJ_MONEY 1.5\n"
                   "body LOOKAHEAD /foo(?=bar)/\n"
                   "meta BOTH SUBJ_MONEY && LOOKAHEAD\n"
                   "body E eval:check_foo()\n")
        p = lint(self.dir)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("total: 2 = 1 / 0 / 1 / 0 / 0", p.stdout)
        self.assertIn("meta rules 1", p.stdout)
        self.assertIn(os.path.join(self.dir, "10_demo.cf") + ":3: rule LOOKAHEAD: prefilter+pcre2:", p.stdout)
        self.assertIn("eval", p.stdout)  # counted as unsupported, with its directive

    def test_without_a_folder_lints_the_builtin_set(self):
        p = subprocess.run([MXGATE, "rules", "lint"], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        total = [l for l in p.stdout.splitlines() if l.strip().startswith("total:")]
        self.assertEqual(len(total), 1, p.stdout)
        n, engines = total[0].split(":")[1].split("=")
        self.assertEqual(engines.split("/")[0].strip(), n.strip())  # every rule on Hyperscan
        self.assertIn("warnings 0", p.stdout)
        self.assertTrue(p.stdout.rstrip().endswith("rules not on plain Hyperscan:"), p.stdout)

    def test_errors_name_file_line_rule_and_exit_2(self):
        self.write("10_ok.cf", "body OK /fine/\n")
        self.write("20_bad.cf", "\nbody A /abc\nbody B\n")
        p = lint(self.dir)
        self.assertEqual(p.returncode, 2, p.stdout)
        bad = os.path.join(self.dir, "20_bad.cf")
        self.assertIn(bad + ":2: rule A: invalid regexp '/abc': invalid end delimiter/mods", p.stderr)
        self.assertIn(bad + ":3: rule B: missing value for 'body'", p.stderr)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    unittest.main()
