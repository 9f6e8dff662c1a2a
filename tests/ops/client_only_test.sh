#!/usr/bin/env bash
# A client-only build needs none of the agent's dependencies nor GTest/benchmark: configuring
# with them disabled (CMAKE_DISABLE_FIND_PACKAGE_<P>) must succeed, and install only the client.
# usage: client_only_test.sh SOURCE_DIR
set -euo pipefail
src=$1
work=$(mktemp -d /tmp/spanring-client-only.XXXXXX)
trap 'rm -rf "$work"' EXIT
disabled=()
for p in Protobuf yaml-cpp simdjson ZLIB GTest benchmark; do disabled+=("-DCMAKE_DISABLE_FIND_PACKAGE_$p=ON"); done
if ! cmake -S "$src" -B "$work/b" -G Ninja -DSPANRING_BUILD_AGENT=OFF -DSPANRING_BUILD_TESTS=OFF \
     -DSPANRING_BUILD_BENCH=OFF "${disabled[@]}" >"$work/log" 2>&1; then
  cat "$work/log"; echo "FAIL: a client-only configure needs one of: Protobuf yaml-cpp simdjson ZLIB GTest benchmark"; exit 1
fi
if grep -q "spanring-agent\|spanringctl" "$work/b/build.ninja"; then
  echo "FAIL: the client-only build still has agent targets"; exit 1
fi
echo "client-only configure: OK (without ${disabled[*]})"
