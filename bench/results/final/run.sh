#!/usr/bin/env bash
# The figures of the README's benchmark table, from one sitting on one machine: the final tree
# (build/) and, for the agent's ratios, the e61209d build (issue 13's baseline) alternated with it.
#   BASE=/path/to/e61209d/build bash bench/results/final/run.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=bench/results/final
agg=(--benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_out_format=json)
build/bench/spanring-bench-client "${agg[@]}" --benchmark_out=$out/client.json \
  --benchmark_filter='BM_SpanThreeAttributes/threads:1|BM_SpanEmpty|BM_CSpanThreeAttributes|BM_SharedLibSpanThreeAttributes'
build/bench/spanring-bench-agent "${agg[@]}" --benchmark_out=$out/agent.json \
  --benchmark_filter='BM_AgentDrainExport(Grpc|Tls|DiskQueue)?/|BM_AgentDrainSampled1pct|BM_AgentDrainEncode|BM_AgentExportRemote/(http_protobuf|grpc)/(manual_time|max_in_flight:1/)'
if [[ -n ${BASE:-} ]]; then
  for round in 1 2; do
    "$BASE/bench/spanring-bench-agent" "${agg[@]}" --benchmark_out=$out/ratio-base-$round.json \
      --benchmark_filter='BM_AgentDrainExport/|BM_AgentDrainSampled1pct'
    build/bench/spanring-bench-agent "${agg[@]}" --benchmark_out=$out/ratio-final-$round.json \
      --benchmark_filter='BM_AgentDrainExport/|BM_AgentDrainSampled1pct'
  done
fi
PYTHONPATH=build/python python3 bench/python/span_bench.py | tee $out/python.jsonl
