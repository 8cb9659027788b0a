#!/bin/bash
# Runs the DKIM corpus (make_cases.py: cases.json, cases/*.eml, zone.txt) through
# `mxgate check --json` and compares each signature's result with what RFC 6376 /
# RFC 8301 / RFC 8463 / RFC 8601 say.
#
#   tests/dkim/corpus/run.sh MXGATE_BINARY [strict|lenient]      (default strict)
#
# The cases are made fresh in a temporary folder each run (make_cases.py: keys by
# openssl, signatures by dkimpy, t= = now), so nothing generated is kept in the
# repository. ctest runs both profiles (dkim_corpus.*); the exit status is 1 if any
# signature disagrees with what the RFCs allow.
#
# strict:  dkim allow_sha1 false, min_rsa_bits 1024 (mxgate's defaults)
# lenient: dkim allow_sha1 true,  min_rsa_bits 512
# Per signature: = exact match with the expected result, ~ a result the RFCs also
# allow (see each case's note), X a disagreement.
# The DNS server is tests/dns/fake_dns.py (NXDOMAIN and NODATA answered properly,
# SERVFAIL for names under servfail.) on a free port of 127.0.0.1.
HERE=$(cd "$(dirname "$0")" && pwd)
MX=${1:?usage: run.sh MXGATE_BINARY [strict|lenient]}
PROFILE=${2:-strict}
MX=$(realpath "$MX")
case "$PROFILE" in
  strict) SHA1=false; BITS=1024 ;;
  lenient) SHA1=true; BITS=512 ;;
  *) echo "profile must be strict or lenient" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/dkimcorpus-run.XXXXXX)
dns_pid=
cleanup() { [ -n "$dns_pid" ] && kill "$dns_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
/usr/bin/python3 "$HERE/make_cases.py" "$work/corpus" >/dev/null || exit 2
cd "$work/corpus" || exit 2

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 "$HERE/../../dns/fake_dns.py" zone.txt "$port" --tcp > "$work/dns.out" 2>&1 & dns_pid=$!
for _ in $(seq 100); do grep -q ready "$work/dns.out" 2>/dev/null && break; sleep 0.05; done

cat > "$work/mxgate.yaml" <<YAML
listen: [127.0.0.1:1]
hostname: mx.test
downstream:
  address: 127.0.0.1:2
  tls: "off"
dns:
  nameservers: [127.0.0.1:$port]
filters:
  - headers
  - dkim:
      allow_sha1: $SHA1
      min_rsa_bits: $BITS
YAML

mkdir -p "$work/out"
/usr/bin/python3 -c 'import json; [print(c["name"], c["file"]) for c in json.load(open("cases.json"))["cases"]]' |
while read -r name file; do
  nice -n 10 "$MX" check -c "$work/mxgate.yaml" --dns "127.0.0.1:$port" --json "$file" \
    > "$work/out/$name.json" 2> "$work/out/$name.err" || echo "exit $?" >> "$work/out/$name.err"
done

echo "binary:  $MX"
echo "profile: $PROFILE (allow_sha1 $SHA1, min_rsa_bits $BITS)"
/usr/bin/python3 - "$work/out" "$PROFILE" <<'PY'
import json, os, sys
out, prof = sys.argv[1], sys.argv[2]
cases = json.load(open("cases.json"))["cases"]
n = exact = allowed = 0
diffs = []
print("%-2s %-34s %-10s %-10s %-10s %s" % ("", "case", "sig", "expected", "got", "reason (mxgate) | RFC-allowed"))
for c in cases:
    try:
        got = json.load(open(os.path.join(out, c["name"] + ".json")))["auth"].get("dkim", [])
    except Exception as e:
        err = open(os.path.join(out, c["name"] + ".err")).read().strip().replace("\n", " ")[:100]
        got = None
    for i, s in enumerate(c["sigs"]):
        g = None
        if got is not None:
            if len(got) == len(c["sigs"]):
                g = got[i]
            else:
                m = [x for x in got if x.get("selector") == s["s"] and x.get("domain", "").lower() == s["d"].lower()]
                g = m[0] if m else None
        res = g.get("result") if g else ("(no output: %s)" % err if got is None else "(none)")
        reason = (g.get("reason") or "") if g else ""
        exp, ok = s[prof], s["ok_" + prof]
        n += 1
        if res == exp:
            mark = "="; exact += 1; allowed += 1
        elif res in ok:
            mark = "~"; allowed += 1
        else:
            mark = "X"; diffs.append((c["name"], s["s"], exp, res, reason))
        alt = ",".join(x for x in ok if x != exp)
        print("%-2s %-34s %-10s %-10s %-10s %s%s" % (mark, c["name"], s["s"], exp, res, reason,
                                                    (" | also ok: " + alt) if alt else ""))
    if got is not None and len(got) != len(c["sigs"]):
        print("   %-34s note: %d signature results reported, %d expected" % (c["name"], len(got), len(c["sigs"])))
print()
print("summary (%s): %d signatures in %d cases: %d exact, %d within what the RFCs allow, %d disagree"
      % (prof, n, len(cases), exact, allowed, n - allowed))
for d in diffs:
    print("  X %-34s s=%-10s expected %-9s got %-9s %s" % d)
sys.exit(1 if diffs else 0)
PY
