#!/usr/bin/env bash
# The design point of one host, scaled to this machine: 8 engines × 16 threads producing spans
# at a fixed total rate while one spanring-agent drains them. Reports the agent's CPU per
# million spans and its peak RSS, and checks that no span is lost uncounted: for every
# service, created = exported + sampled_out + dropped (the agent's own summary at exit), and
# the agent's `created` equals what the engines say they created.
#
#   bench/agent_host.sh [build-dir] [spans-per-second] [seconds]
#
# Defaults: build, 100000 spans/s (the design point is 1 M spans/s on a GPU server with dozens
# of cores; this VM has 2, shared by the engines and the agent), 10 s. The exporter is `none`
# (batches are still encoded to OTLP, then discarded): what is measured is the agent, not a
# backend. Opt-in: not part of ctest.
set -euo pipefail
build=${1:-build}
rate=${2:-100000}
seconds=${3:-10}
engines=8
threads=16
spans_per_request=12
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
prefix="host$$-"
cat >"$work/agent.yaml" <<YAML
discovery: {segment_prefix: "spanring.$prefix"}
exporter: {type: none}
metrics: {listen: ""}
YAML
/usr/bin/time -v timeout -s TERM $((seconds + 3)) "$build/agent/spanring-agent" --config "$work/agent.yaml" \
  2>"$work/agent.txt" &
sleep 0.5
services=()
for i in $(seq 1 $engines); do services+=(--service "${prefix}llm-$i"); done
# Segments big enough for ~1 s of each engine's spans, so a pass of the agent never finds a
# ring full (ring_full drops would be counted, but they are the engine's, not the agent's).
"$build/loadgen/spanring-loadgen" "${services[@]}" --threads $threads --rate $((rate / spans_per_request)) \
  --spans-per-request $spans_per_request --duration "$seconds" --shm-size 16M --quiet >"$work/loadgen.txt"
wait || true

cat "$work/loadgen.txt"
grep "spanring-agent: service=" "$work/agent.txt" || true
awk -v engines=$engines '
  FNR == NR && /^spanring-loadgen: service=/ {
    for (i = 1; i <= NF; ++i) { split($i, kv, "="); f[kv[1]] = kv[2] }
    made[f["service"]] = f["spans_created"]; total_made += f["spans_created"]; next
  }
  /User time/ { split($0, a, ": "); user = a[2] }
  /System time/ { split($0, a, ": "); sys = a[2] }
  /Maximum resident/ { split($0, a, ": "); rss = a[2] }
  /^spanring-agent: service=/ {
    for (i = 1; i <= NF; ++i) { split($i, kv, "="); g[kv[1]] = kv[2] }
    s = g["service"]; created += g["created"]; exported += g["exported"]
    balance = g["created"] - g["exported"] - g["sampled_out"] - g["dropped"]
    if (balance != 0) { printf "UNBALANCED %s: created - exported - sampled_out - dropped = %d\n", s, balance; bad = 1 }
    if (g["created"] != made[s]) { printf "MISMATCH %s: engine created %s, agent counted %s\n", s, made[s], g["created"]; bad = 1 }
    ++seen
  }
  END {
    if (seen != engines) { printf "only %d of %d services reported by the agent\n", seen, engines; bad = 1 }
    cpu = user + sys
    printf "spans created %d, exported %d; agent CPU %.2f s = %.3f s per million spans; peak RSS %.1f MB\n",
           total_made, exported, cpu, (total_made > 0 ? cpu * 1e6 / total_made : 0), rss / 1024
    printf "accounting: %s\n", bad ? "FAILED" : "closes for every service"
    exit bad
  }' "$work/loadgen.txt" "$work/agent.txt"
