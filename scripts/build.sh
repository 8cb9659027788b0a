#!/bin/sh
# Configures (once) and builds mxgate into build/ with warnings as errors.
set -eu
cd "$(dirname "$0")/.."
"$(dirname "$0")/deps.sh"
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMXGATE_WERROR=ON -DMXGATE_TESTS=ON
fi
cmake --build build -j "$(nproc)"
