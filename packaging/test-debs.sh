#!/usr/bin/env bash
# Builds the Debian packages with CPack and checks them; with --install, installs them with
# apt-get (meant for a fresh root: ../shared/tools/fresh-debian/run -- 'bash packaging/test-debs.sh --install')
# and then, as a user of the packages would:
#   - builds a ten-line engine (tests/ops/engine) against /usr with CMake (find_package) and with
#     pkg-config;
#   - runs both beside the installed /usr/bin/spanring-agent (its default config, file exporter
#     added by a drop-in config) and checks with the installed spanringctl that their spans were
#     exported.
# Opt-in (not in ctest): it builds a release tree of its own (build-deb/) and installs packages.
set -euo pipefail
cd "$(dirname "$0")/.."
install=0
[[ ${1:-} == --install ]] && install=1
fail() { echo "test-debs: FAIL: $*" >&2; exit 1; }

./scripts/setup.sh
cmake -S . -B build-deb -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
  -DSPANRING_BUILD_TESTS=OFF -DSPANRING_BUILD_BENCH=OFF ${CMAKE_EXTRA_ARGS:-}
cmake --build build-deb
rm -f build-deb/*.deb
(cd build-deb && cpack -G DEB)
agent_deb=$(ls build-deb/spanring-agent_*.deb) || fail "no spanring-agent package"
dev_deb=$(ls build-deb/libspanring-dev_*.deb) || fail "no libspanring-dev package"
runtime_deb=$(ls build-deb/libspanring2_*.deb) || fail "no libspanring2 (shared library) package"
python_deb=$(ls build-deb/python3-spanring_*.deb) || fail "no python3-spanring package"

contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's#^\./#/#'; }
agent_files=$(contents "$agent_deb")
for f in /usr/bin/spanring-agent /usr/bin/spanringctl /usr/lib/systemd/system/spanring-agent.service \
         /usr/lib/sysusers.d/spanring.conf /usr/lib/tmpfiles.d/spanring.conf /etc/spanring/agent.yaml \
         /usr/share/doc/spanring/README.md /usr/share/doc/spanring/README.systemd.md; do
  grep -qx "$f" <<<"$agent_files" || fail "$agent_deb lacks $f"
done
dpkg-deb -f "$agent_deb" Depends | grep -q libprotobuf || fail "spanring-agent does not depend on libprotobuf"
dpkg-deb -I "$agent_deb" conffiles | grep -qx /etc/spanring/agent.yaml || fail "/etc/spanring/agent.yaml is not a conffile"
dev_files=$(contents "$dev_deb")
for f in /usr/include/spanring/tracer.hpp /usr/include/spanring/spanring.h /usr/include/spanring/shm/abi.hpp; do
  grep -qx "$f" <<<"$dev_files" || fail "$dev_deb lacks $f"
done
grep -q '/usr/lib/.*libspanring_client.a$' <<<"$dev_files" || fail "$dev_deb lacks libspanring_client.a"
grep -q '/cmake/spanring/spanring-config.cmake$' <<<"$dev_files" || fail "$dev_deb lacks the CMake package"
grep -q '/pkgconfig/spanring.pc$' <<<"$dev_files" || fail "$dev_deb lacks spanring.pc"
contents "$runtime_deb" | grep -q '/libspanring\.so\.2$' || fail "$runtime_deb lacks libspanring.so.2"
contents "$python_deb" | grep -q '/spanring/__init__\.py$' || fail "$python_deb lacks the spanring package"
echo "test-debs: packages OK: $(ls build-deb/*.deb | tr '\n' ' ')"
((install)) || exit 0

[[ $(id -u) == 0 ]] || fail "--install needs root (use it in a fresh root)"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "./$agent_deb" "./$dev_deb" "./$runtime_deb" "./$python_deb"
# The Python package from the system interpreter, loading the packaged shared library.
(cd / && python3 -c 'import spanring; spanring.init(service_name="deb-py"); spanring.shutdown()') ||
  fail "import spanring from python3-spanring"
getent passwd spanring >/dev/null || fail "postinst did not create the spanring user"
work=$(mktemp -d)
cmake -S tests/ops/engine -B "$work/engine-cmake" -G Ninja >/dev/null || fail "find_package(spanring) against /usr"
cmake --build "$work/engine-cmake" >/dev/null || fail "building the engine with CMake"
c++ -std=c++20 -O1 -o "$work/engine-pc" tests/ops/engine/engine.cpp $(pkg-config --cflags --libs spanring) \
  || fail "building the engine with pkg-config"

# The installed agent, as the unit runs it but in the foreground: the packaged config plus a
# file exporter (no backend here).
sed 's#^  type: otlp .*#  type: file#' /etc/spanring/agent.yaml >"$work/agent.yaml"
grep -q '^  type: file' "$work/agent.yaml" || fail "could not switch the packaged config to the file exporter"
sed -i "s#path: spans.jsonl#path: $work/spans.jsonl#" "$work/agent.yaml"
mkdir -p "$work/run"
RUNTIME_DIRECTORY=$work/run /usr/bin/spanring-agent --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
trap 'kill $agent_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -S $work/run/spanring-agent.sock ]] && break; sleep 0.1; done
SPANRING_SHM_MODE=0660 "$work/engine-cmake/engine" deb-cmake
SPANRING_SHM_MODE=0660 "$work/engine-pc" deb-pc
ok=0
for _ in $(seq 100); do
  status=$(RUNTIME_DIRECTORY=$work/run spanringctl status)
  if grep -q "deb-cmake .*exported=20 " <<<"$status" && grep -q "deb-pc .*exported=20 " <<<"$status"; then ok=1; break; fi
  sleep 0.1
done
((ok)) || { echo "$status"; cat "$work/agent.log"; fail "the engines' spans were not exported by the installed agent"; }
kill "$agent_pid"; wait "$agent_pid" || fail "the agent did not exit 0"
trap - EXIT
echo "test-debs: OK (installed with apt-get; engine built with CMake and pkg-config; installed agent exported its spans)"
