#!/usr/bin/env bash
# Whole-process figures for the agent: CPU and peak RSS of spanring-agent over 10 s while
# spanring-loadgen produces ~10k spans/s (833 requests/s × 12 spans), exporting to a local
# `none` exporter (batches are still built and serialized to OTLP protobuf, then discarded).
#   bench/agent_cpu.sh [build-dir]
set -euo pipefail
build=${1:-build}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
prefix="cpu$$-"
cat >"$work/agent.yaml" <<YAML
discovery: {segment_prefix: "spanring.$prefix"}
exporter: {type: none}
metrics: {listen: ""}
YAML
/usr/bin/time -v timeout -s TERM 10 "$build/agent/spanring-agent" --config "$work/agent.yaml" 2>"$work/time.txt" &
sleep 0.5
"$build/loadgen/spanring-loadgen" --service "${prefix}llm" --rate 833 --duration 9 --quiet >"$work/loadgen.out"
wait
grep -E "User time|System time|Maximum resident" "$work/time.txt"
awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "agent CPU: %.2f%% of one core over 10 s\n", (u+s)*10}' "$work/time.txt"
grep "spanring-agent: service=" "$work/time.txt" || true
cat "$work/loadgen.out"
