#!/usr/bin/env bash
# spanringctl against a running agent, as an operator uses it: status, tail (waterfalls, with
# filters), dump in the three formats (chrome-json parsed as JSON), the clear message when no
# agent runs, and usage errors naming the flag.
# usage: spanringctl_test.sh AGENT SPANRINGCTL LOADGEN
set -euo pipefail
agent=$1 ctl=$2 loadgen=$3
work=$(mktemp -d /tmp/spanringctl-test.XXXXXX)
agent_pid=""
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# No agent: exit 1 and say so.
if out=$("$ctl" --socket "$work/none.sock" status 2>&1); then fail "status without an agent succeeded"; fi
grep -q "no spanring-agent is running" <<<"$out" || fail "no-agent message: $out"
# Usage errors name the flag (exit 2).
set +e
out=$("$ctl" dump --format xml --out "$work/x" 2>&1); rc=$?
set -e
[[ $rc == 2 ]] && grep -q -- "--format: expected otlp-json, otlp-proto or chrome-json" <<<"$out" || fail "bad --format: rc=$rc $out"

tag=ctl$$
cat >"$work/agent.yaml" <<YAML
discovery: {segment_prefix: spanring.$tag, scan_interval: 100ms}
exporter: {type: none}
batch: {timeout: 50ms}
metrics: {listen: ""}
YAML
RUNTIME_DIRECTORY=$work "$agent" --config "$work/agent.yaml" >"$work/agent.log" 2>&1 &
agent_pid=$!
sock=$work/spanring-agent.${tag}sock
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.05; done
[[ -S $sock ]] || { cat "$work/agent.log"; fail "no control socket"; }
export RUNTIME_DIRECTORY=$work   # spanringctl finds the socket as the agent placed it

# Traffic for 2.5 s while tail and three dumps watch.
SPANRING_SHM_MODE=0660 "$loadgen" --service "$tag-llm" --rate 40 --duration 2.5 --error-rate 0.3 >/dev/null 2>&1 &
gen=$!
timeout -s INT 3 "$ctl" --prefix "spanring.$tag" tail --errors --min-duration 1us >"$work/tail.txt" 2>"$work/tail.err" &
tail_pid=$!
"$ctl" --prefix "spanring.$tag" dump --out "$work/d.jsonl" --duration 2s 2>"$work/dump1.err" &
"$ctl" --prefix "spanring.$tag" dump --out "$work/d.pb" --duration 2s --format otlp-proto 2>"$work/dump2.err" &
"$ctl" --prefix "spanring.$tag" dump --out "$work/d.json" --duration 2s --format chrome-json 2>"$work/dump3.err" &
wait "$gen"
wait %3 %4 %5 || fail "a dump failed: $(cat "$work"/dump*.err)"
wait "$tail_pid" || true

grep -q "^trace [0-9a-f]\{32\}  $tag-llm" "$work/tail.txt" || { cat "$work/tail.txt" "$work/tail.err"; fail "tail printed no waterfall"; }
grep -q "ERROR" "$work/tail.txt" || fail "tail --errors printed a trace without an error"
[[ -s $work/d.jsonl ]] && grep -q '"resourceSpans"' "$work/d.jsonl" || fail "otlp-json dump: $(cat "$work/dump1.err")"
[[ -s $work/d.pb ]] || fail "otlp-proto dump is empty: $(cat "$work/dump2.err")"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
x = [e for e in d["traceEvents"] if e["ph"] == "X"]
assert x, "no complete events"
assert all(e["dur"] >= 0 and "trace_id" in e["args"] for e in x)
' "$work/d.json" || fail "chrome-json dump does not parse as trace-event JSON"
status=$("$ctl" --prefix "spanring.$tag" status)
grep -q "^  $tag-llm  created=" <<<"$status" || { echo "$status"; fail "status lacks the service"; }
grep -q "^exporter: none" <<<"$status" || fail "status lacks the exporter"
echo "spanringctl test: OK ($(grep -c '^trace' "$work/tail.txt") waterfalls, $(wc -l <"$work/d.jsonl") otlp-json batches)"
