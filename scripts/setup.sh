#!/usr/bin/env bash
# Installs the Debian 12 packages spanring needs. Idempotent: packages already present are skipped,
# and apt is not touched at all when nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-dev                 # Asio, Beast, Interprocess (header-only)
  libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libsimdjson-dev zlib1g-dev
  libgrpc++-dev protobuf-compiler-grpc   # OTLP/gRPC exporter (agent only) and its test receiver
  libssl-dev openssl           # TLS for OTLP/HTTP; the openssl CLI makes the tests' certificates
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev     # libFuzzer and sanitizer runtimes (opt-in targets)
  procps curl                  # ps and curl used by the main job and tests
)
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
