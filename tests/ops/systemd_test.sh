#!/usr/bin/env bash
# systemd/spanring-agent.service: `systemd-analyze verify` is clean and
# `systemd-analyze security` rates its exposure at most 2.0. Skips (exit 77) without
# systemd-analyze. verify checks that ExecStart's binary exists, so it runs on a copy whose
# ExecStart names the agent just built.
# usage: systemd_test.sh SOURCE_DIR AGENT_BINARY
set -euo pipefail
src=$1 agent=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze not installed (Debian package systemd)"; exit 77
fi
work=$(mktemp -d /tmp/spanring-unit-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
unit=$work/spanring-agent.service
sed "s#^ExecStart=/usr/bin/spanring-agent #ExecStart=$agent #" "$src/systemd/spanring-agent.service" >"$unit"
grep -q "^ExecStart=$agent " "$unit" || { echo "FAIL: ExecStart is not /usr/bin/spanring-agent ..."; exit 1; }
if ! out=$(systemd-analyze verify "$unit" 2>&1) || [[ -n $out ]]; then
  echo "FAIL: systemd-analyze verify:"; echo "$out"; exit 1
fi
sec=$(systemd-analyze security --offline=yes "$unit" 2>&1) || { echo "$sec"; echo "FAIL: systemd-analyze security"; exit 1; }
level=$(sed -n 's/.*Overall exposure level for spanring-agent.service: \([0-9.]*\).*/\1/p' <<<"$sec")
[[ -n $level ]] || { echo "$sec"; echo "FAIL: no exposure level in the output"; exit 1; }
echo "exposure $level"
if ! awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
  grep '✗' <<<"$sec"; echo "FAIL: exposure $level > 2.0"; exit 1
fi
echo "systemd test: OK (verify clean, exposure $level)"
