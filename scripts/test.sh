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
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANRING_WERROR=ON
cmake --build build -j "$jobs"

# The independent OTLP sink (official OpenTelemetry JS decoding), when Node >= 20.6 is here.
sink_src=../shared/tools/otlp-sink
if [[ -d $sink_src ]] && command -v node >/dev/null && command -v npm >/dev/null &&
   node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=6)?0:1)'; then
  if [[ ! -d build/otlp-sink/node_modules ]]; then
    rm -rf build/otlp-sink && cp -r "$sink_src" build/otlp-sink
    (cd build/otlp-sink && npm ci --silent --no-audit --no-fund) || { echo "otlp-sink: npm ci failed; its test will skip"; rm -rf build/otlp-sink/node_modules; }
  fi
else
  echo "otlp-sink: Node >= 20.6 or ../shared/tools/otlp-sink not found; EndToEnd.IndependentOtlpSinkDecodesTheExport will skip"
fi

echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300

echo "== benchmark smoke run (each benchmark once; timings are not judged here)"
for b in build/bench/spanring-bench-*; do
  "$b" --benchmark_min_time=0.001 >/dev/null
  echo "$(basename "$b"): ok"
done

if [[ "${SPANRING_SKIP_TSAN:-0}" != 1 ]]; then
  echo "== ThreadSanitizer build (build-tsan/)"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANRING_TSAN=ON -DSPANRING_BUILD_BENCH=OFF -DSPANRING_WERROR=ON
  cmake --build build-tsan -j "$jobs"
  # TSan needs the classic address-space layout on kernels with high mmap ASLR entropy.
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" setarch "$(uname -m)" -R \
    ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600
fi
