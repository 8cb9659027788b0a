#!/bin/bash
# Throughput and memory benchmark (not a test): Postfix's smtp-source sends 10 KB
# messages to smtp-sink directly and through mxgate (empty filter chain), in the same
# run, with 1 and 50 parallel sessions; prints messages/s for both and their ratio,
# mxgate's peak RSS, and its memory per idle connection (1,000 idle sessions).
#
#   tests/bench/smtp_bench.sh [MESSAGES_PER_ROUND]     (default 2000; ROUNDS=5 rounds each)
#
# Everything runs on 127.0.0.1. Needs postfix (smtp-source, smtp-sink) and a built
# build/proxy/mxgate. Results are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MXGATE=${MXGATE_BIN:-build/proxy/mxgate}
MSGS=${1:-2000}
ROUNDS=${ROUNDS:-5}
SIZE=10240
IDLE=1000
work=$(mktemp -d /tmp/mxgate-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

. tests/bench/bench_lib.sh  # port, wait_port, median

sink_port=$(port); mx_port=$(port)
user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
/usr/sbin/smtp-sink -u "$user" -c "127.0.0.1:$sink_port" 1024 >/dev/null 2>&1 & pids+=($!)
wait_port "$sink_port"

cat > "$work/mxgate.yaml" <<YAML
listen: [127.0.0.1:$mx_port]
hostname: bench.test
smtp:
  max_connections: 5000
  max_connections_per_ip: 5000
  peername_lookup: false   # the proxy path alone, as the direct baseline
downstream:
  address: 127.0.0.1:$sink_port
  tls: "off"
log:
  level: warn
  transactions: $work/transactions.jsonl
YAML
${MXGATE_WRAPPER:-} "$MXGATE" serve --config "$work/mxgate.yaml" 2>"$work/mxgate.log" & mx_pid=$!; pids+=($mx_pid)
wait_port "$mx_port"

rate() {  # sessions port -> messages/s
  local start end
  start=$(date +%s.%N)
  /usr/sbin/smtp-source -s "$1" -m "$MSGS" -l "$SIZE" -f bench@example.net -t sink@example.org "127.0.0.1:$2" >/dev/null 2>&1
  end=$(date +%s.%N)
  echo "$MSGS / ($end - $start)" | bc -l
}

printf "%-10s %14s %14s %8s   (median of %d alternating rounds of %d messages)\n" \
  sessions "direct msg/s" "mxgate msg/s" ratio "$ROUNDS" "$MSGS"
for s in 1 50; do
  rate "$s" "$sink_port" >/dev/null  # warm-up
  : > "$work/d"; : > "$work/m"
  for _ in $(seq "$ROUNDS"); do   # alternate, so drift on a shared machine hits both alike
    rate "$s" "$sink_port" >> "$work/d"
    rate "$s" "$mx_port" >> "$work/m"
  done
  d=$(median < "$work/d"); m=$(median < "$work/m")
  printf "%-10s %14.0f %14.0f %8.2f\n" "$s" "$d" "$m" "$(echo "$m / $d" | bc -l)"
done
delivered=$(wc -l < "$work/transactions.jsonl")
accepted=$(grep -c '"verdict":"accept"' "$work/transactions.jsonl" || true)
echo "transactions logged: $delivered (accepted: $accepted)"

rss() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
echo "mxgate peak RSS after the throughput runs: $(rss $mx_pid VmHWM) kB"

before=$(rss $mx_pid VmRSS)
/usr/bin/python3 - "$mx_port" "$IDLE" "$mx_pid" "$before" <<'PY'
import socket, sys, time
port, n, pid, before = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
for s in socks:                       # every session greeted and waiting for a command
    s.recv(512)
for s in socks:
    s.sendall(b"EHLO idle.test\r\n")
for s in socks:                       # read to the last line of the EHLO reply ("250 ...")
    buf = b""
    while not any(l.startswith(b"250 ") for l in buf.split(b"\r\n")):
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("mxgate closed an idle session during the measurement")
        buf += chunk
time.sleep(0.5)
rss = int([l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0])
print(f"idle sessions: {n}, RSS {before} kB -> {rss} kB: {(rss - before) * 1024 / n / 1024:.1f} kB per idle connection")
for s in socks:
    s.close()
PY
