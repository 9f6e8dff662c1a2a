#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, builds,
# runs every test (ctest), smoke-runs every benchmark once, then rebuilds with
# ThreadSanitizer and runs the suite again.
#   SPANRING_SKIP_TSAN=1   skip the ThreadSanitizer pass (local iteration)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

./scripts/setup.sh

echo "== build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"

echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

echo "== benchmark smoke run (each benchmark once; timings are not judged here)"
for b in build/bench/spanring-bench-*; do
  "$b" --benchmark_min_time=0.001 >/dev/null
  echo "$(basename "$b"): ok"
done

if [[ "${SPANRING_SKIP_TSAN:-0}" != 1 ]]; then
  echo "== ThreadSanitizer build (build-tsan/)"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANRING_TSAN=ON -DSPANRING_BUILD_BENCH=OFF
  cmake --build build-tsan -j "$jobs"
  # TSan needs the classic address-space layout on kernels with high mmap ASLR entropy.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch "$(uname -m)" -R \
    ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600
fi
