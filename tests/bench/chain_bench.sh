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

. tests/bench/bench_lib.sh  # port, wait_port, median

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
"$MXGATE" serve --config "$work/mxgate.yaml" 2>"$work/mxgate.log" & mx_pid=$!; pids+=($mx_pid)
wait_port "$mx_port"
for _ in $(seq 600); do grep -q "content rules compiled\|listening" "$work/mxgate.log" && break; sleep 0.1; done
if grep -q "serving with the builtin rules" "$work/mxgate.log"; then
  for _ in $(seq 3000); do grep -q "content rules compiled" "$work/mxgate.log" && break; sleep 0.1; done
fi

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
  : > "$work/d"; : > "$work/m"
  for _ in $(seq "$ROUNDS"); do
    rate "$s" "$sink_port" >> "$work/d"
    rate "$s" "$mx_port" >> "$work/m"
  done
  d=$(median < "$work/d"); m=$(median < "$work/m")
  printf "%-10s %14.0f %14.0f %8.3f\n" "$s" "$d" "$m" "$(echo "$m / $d" | bc -l)"
done
logged=$(wc -l < "$work/transactions.jsonl")
passed=$(grep -c '"dmarc":"pass"\|dmarc=pass' "$work/transactions.jsonl" || true)
echo "transactions logged: $logged (with dmarc=pass: $passed)"
echo "mxgate peak RSS: $(awk '$1=="VmHWM:" {print $2}' /proc/$mx_pid/status) kB"
