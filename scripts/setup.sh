#!/usr/bin/env bash
# Installs the Debian 12 packages spanring needs. Idempotent: packages already present are skipped,
# and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-dev                 # Asio, Beast, Interprocess (header-only)
  libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libsimdjson-dev zlib1g-dev
  liblmdb-dev                  # the agent's disk queue (queue.storage: disk)
  libgrpc++-dev protobuf-compiler-grpc   # OTLP/gRPC exporter (agent only) and its test receiver
  libssl-dev openssl           # TLS for OTLP/HTTP; the openssl CLI makes the tests' certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev     # libFuzzer and sanitizer runtimes (opt-in targets)
  procps curl                  # ps and curl used by the main job and tests
  python3-yaml                 # tests/ops: deploy/compose.yaml and the Prometheus files parse
  dpkg-dev file                # cpack -G DEB: dpkg-shlibdeps finds the agent package's dependencies
  python3-dev python3-pytest   # the spanring Python package (python/) and its tests
  python3-setuptools python3-pip python3-venv   # pip install ./python (offline, --no-build-isolation)
)
# Heavy, optional: promtool (prometheus) and systemd-analyze (systemd) let tests/ops check the
# Prometheus files and the unit; without them those tests skip and say why. Opt in with
# SPANRING_SETUP_OPS_TOOLS=1.
if [[ ${SPANRING_SETUP_OPS_TOOLS:-0} == 1 ]]; then
  packages+=(prometheus systemd)
fi
# Node (>= 20.6) is optional: when present, the tests also check exports with the independent
# OTLP sink in ../shared/tools/otlp-sink. Debian 12's nodejs (18) is too old for it, so it is
# not installed here; the test says so and skips.

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
