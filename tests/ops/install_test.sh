#!/usr/bin/env bash
# cmake --install into a private prefix P, then, as a user of the installed tree would:
#   - the files the issue names are there (P/bin/spanring-agent, P/bin/spanringctl,
#     P/lib/cmake/spanring/, P/lib/pkgconfig/spanring.pc, unit, sysusers, tmpfiles, config, docs,
#     and every file the unit's Documentation= names);
#   - a ten-line engine (tests/ops/engine) builds against P with CMake and with pkg-config;
#   - both run beside P/bin/spanring-agent, whose spans reach its file exporter, and
#     P/bin/spanringctl status shows the engine's service.
# usage: install_test.sh BUILD_DIR SOURCE_DIR [sanitized]
set -euo pipefail
build=$1 src=$2
if [[ ${3:-} == sanitized ]]; then
  echo "SKIP: a sanitizer build's libraries need the sanitizer runtime, which the test's plain engine does not link"
  exit 77
fi
work=$(mktemp -d /tmp/spanring-install-test.XXXXXX)
agent_pid=""
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
P=$work/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$P" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }

for f in bin/spanring-agent bin/spanringctl lib/cmake/spanring/spanring-config.cmake \
         lib/cmake/spanring/spanringTargets.cmake lib/pkgconfig/spanring.pc lib/libspanring_client.a \
         lib/libspanring_shm.a include/spanring/tracer.hpp include/spanring/spanring.h \
         include/spanring/shm/abi.hpp lib/systemd/system/spanring-agent.service lib/sysusers.d/spanring.conf \
         lib/tmpfiles.d/spanring.conf etc/spanring/agent.yaml share/doc/spanring/README.md; do
  [[ -e $P/$f ]] || fail "$P/$f not installed"
done
# Documentation= of the unit: file:///usr/share/doc/spanring/NAME must be installed as
# <prefix>/share/doc/spanring/NAME.
docs=$(sed -n 's/^Documentation=//p' "$src/systemd/spanring-agent.service")
[[ -n $docs ]] || fail "the unit has no Documentation="
for url in $docs; do
  name=${url#file:///usr/share/doc/spanring/}
  [[ $name != "$url" ]] || fail "Documentation=$url is not under /usr/share/doc/spanring/"
  [[ -f $P/share/doc/spanring/$name ]] || fail "Documentation=$url: $name is not installed"
done
grep -q '^ExecStart=.*/spanring-agent --config .*/spanring/agent.yaml' "$P/lib/systemd/system/spanring-agent.service" \
  || fail "the installed unit's ExecStart"
"$P/bin/spanring-agent" --config "$P/etc/spanring/agent.yaml" --check-config >/dev/null \
  || fail "the installed default config does not validate"

# The engine, with CMake ...
cmake -S "$src/tests/ops/engine" -B "$work/engine-cmake" -G Ninja -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "configure the engine with find_package"; }
cmake --build "$work/engine-cmake" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build the engine (CMake)"; }
# ... and with pkg-config.
export PKG_CONFIG_PATH=$P/lib/pkgconfig
flags=$(pkg-config --cflags --libs spanring) || fail "pkg-config spanring"
c++ -std=c++20 -O1 -o "$work/engine-pc" "$src/tests/ops/engine/engine.cpp" $flags 2>"$work/pc.log" \
  || { cat "$work/pc.log"; fail "build the engine (pkg-config: $flags)"; }

# The installed agent, on a prefix of its own (other tests run agents at the same time).
tag=spanring.inst$$
mkdir -p "$work/run"
cat >"$work/agent.yaml" <<YAML
discovery: {segment_prefix: $tag, scan_interval: 100ms}
exporter: {type: file, file: {path: $work/spans.jsonl}}
batch: {timeout: 50ms}
metrics: {listen: ""}
YAML
RUNTIME_DIRECTORY=$work/run "$P/bin/spanring-agent" --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
sock=$work/run/spanring-agent.inst$$sock
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { cat "$work/agent.log"; fail "the installed agent made no control socket"; }

svc_cmake=inst$$-cmake svc_pc=inst$$-pc
# The engines' service names begin with the agent's prefix (after "spanring.").
# Group-readable segments: what an engine beside a systemd agent does (and no warning on stderr).
export SPANRING_SHM_MODE=0660
"$work/engine-cmake/engine" "$svc_cmake" || fail "the CMake-built engine"
"$work/engine-pc" "$svc_pc" || fail "the pkg-config-built engine"
status=""
for _ in $(seq 100); do
  status=$("$P/bin/spanringctl" --socket "$sock" status) || fail "spanringctl status"
  grep -q "$svc_cmake .*exported=20 " <<<"$status" && grep -q "$svc_pc .*exported=20 " <<<"$status" && break
  sleep 0.05
done
grep -q "$svc_cmake .*exported=20 " <<<"$status" || { echo "$status"; cat "$work/agent.log"; fail "the CMake engine's 20 spans were not exported"; }
grep -q "$svc_pc .*exported=20 " <<<"$status" || { echo "$status"; fail "the pkg-config engine's 20 spans were not exported"; }
kill "$agent_pid"; wait "$agent_pid" || fail "the agent did not exit 0 on SIGTERM"
agent_pid=""
grep -q "\"$svc_cmake\"" "$work/spans.jsonl" || fail "no span of $svc_cmake in the agent's output"
echo "install test: OK (prefix $P, engine via CMake and pkg-config, agent and spanringctl installed)"
