#!/bin/bash
# Fuzzing (a tool, not a test): builds every harness with clang's libFuzzer, ASan and
# UBSan into build-fuzz/, then runs each for RUNS executions (default 10,000,000) or
# SECONDS_LIMIT seconds, one after the other on one core. A crash stops that
# harness and leaves the input as build-fuzz/fuzz-out/<name>/crash-*: copy it to
# tests/fuzz/corpus/<name>/ with the fix, so the suite replays it ever after.
#
#   tests/fuzz/fuzz.sh [HARNESS...]          RUNS=10000000 (or SECONDS_LIMIT=N per harness)
#
# Prints, per harness, the executions done and the outcome; the results of a full
# run are recorded in docs/conformance.md ("Fuzzing").
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${FUZZ_BUILD:-build-fuzz}
RUNS=${RUNS:-10000000}
ALL="smtp data message mime rules dns auth_records arc config"
HARNESSES=${*:-$ALL}
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMXGATE_FUZZ=ON -DMXGATE_TESTS=OFF -DMXGATE_BENCH=OFF >&2 || exit 1
fi
targets=""
for h in $HARNESSES; do targets="$targets fuzz_$h"; done
flock /tmp/mxgate-build.lock ninja -C "$BUILD" $targets >&2 || exit 1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
seeds() {  # the seed folders of a harness (as tests/fuzz/CMakeLists.txt)
  local d="tests/fuzz/corpus/$1" t=../shared/testdata
  case "$1" in
    message) echo "$d samples $t/python-test_email" ;;
    mime) echo "$d $t/enmime-testdata $t/python-test_email" ;;
    rules) echo "$d rules/default" ;;
    config) echo "$d samples" ;;
    *) echo "$d" ;;
  esac
}
status=0
for h in $HARNESSES; do
  out="$BUILD/fuzz-out/$h"
  mkdir -p "$out/corpus"
  limit="-runs=$RUNS"
  [ -n "${SECONDS_LIMIT:-}" ] && limit="-max_total_time=$SECONDS_LIMIT"
  start=$(date +%s)
  (cd "$out" && "../../tests/fuzz/fuzz_$h" $limit -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 corpus $(for s in $(seeds "$h"); do echo "../../../$s"; done) > log.txt 2>&1)
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log.txt" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$out/log.txt" | tail -1)
  printf '%-14s %12s executions  %4ss  %-10s %s\n' "$h" "${execs:-?}" "$(( $(date +%s) - start ))" "$cov" \
    "$([ $rc -eq 0 ] && echo ok || echo "FAILED (rc $rc): $out/log.txt")"
  [ $rc -eq 0 ] || status=1
done
exit $status
