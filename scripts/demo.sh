#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs what is missing, builds, starts
# spanring-agent, runs the simulated LLM engine for a few seconds, then shows trace waterfalls
# and the agent's counters.
#   OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 ./scripts/demo.sh   # send to Jaeger instead
#   DEMO_SECONDS=10 DEMO_RATE=50 ./scripts/demo.sh                      # longer, different rate
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
seconds=${DEMO_SECONDS:-3}
rate=${DEMO_RATE:-20}

./scripts/setup.sh
echo "== build (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs" --target spanring-agent spanring-loadgen

work=$(mktemp -d)
config=$work/agent.yaml
# A demo-only prefix keeps this run's segments apart from any other engine on the machine.
prefix="spanring.demo-"
if [[ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-}" ]]; then
  exporter="type: otlp"
  echo "== exporting to ${OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:-$OTEL_EXPORTER_OTLP_ENDPOINT}"
else
  exporter="type: console
  console:
    max_traces: 3"
fi
cat >"$config" <<YAML
discovery:
  segment_prefix: $prefix
exporter:
  $exporter
batch:
  timeout: 500ms
metrics:
  listen: 127.0.0.1:0
YAML

agent_log=$work/agent.log
echo "== starting spanring-agent (config $config)"
build/agent/spanring-agent --config "$config" >"$work/agent.out" 2>"$agent_log" &
agent_pid=$!
trap 'kill $agent_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q "spanring-agent started" "$agent_log" && break; sleep 0.1; done
metrics_addr=$(sed -n 's/.*metrics=\([0-9.:]*\).*/\1/p' "$agent_log" | head -1)

echo "== running spanring-loadgen: 2 services, ${rate} requests/s, ${seconds}s"
build/loadgen/spanring-loadgen --service demo-llm-server --service demo-kv-cache \
  --rate "$rate" --duration "$seconds" --error-rate 0.1 --simulate-work --quiet | tee "$work/loadgen.out"

sleep 1.5  # the agent's batch timeout and the console's hold time
if [[ -n "$metrics_addr" ]]; then
  echo "== agent counters (http://$metrics_addr/metrics)"
  curl -s "http://$metrics_addr/metrics" | grep -E '^spanring_(spans|engine)_[a-z_]*total' | grep -v ' 0$' || true
fi
kill -TERM "$agent_pid"
wait "$agent_pid" || true
trap 'rm -rf "$work"' EXIT

echo "== trace waterfalls"
cat "$work/agent.out"
echo "== agent summary"
grep 'spanring-agent: service=' "$agent_log" || cat "$agent_log"
