// Sampling decision cost per span, linked into spanring-bench-agent (no BENCHMARK_MAIN here).
//
//   spanring-bench-agent --benchmark_filter=BM_SamplingDecision --benchmark_repetitions=5
//
// Each iteration decides one span the way the drain loop does: Sampler::decide(slot, span) with
// the slot taken once. Spans come four to a trace (trace id = a mix of counter / 4), so new
// traces keep arriving and the rate-limited paths see their steady mix of one limiter decision
// (cache miss and insert, evicting the oldest once the cache is full) and three cache hits per
// trace, with the real steady clock read on each. Eight operations, by interned root-name id.
//
//   BM_SamplingDecision/probabilistic              R >= T only (the budget: <= 20 ns)
//   BM_SamplingDecision/per_operation              + operation lookup by root_name_id
//   BM_SamplingDecision/per_operation_lower_bound  + lower-bound limiter and decision cache
//   BM_SamplingDecision/rate_limiting              limiter and decision cache
//   BM_SamplingDecision/parent_based               the span carries the upstream decision
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/sampling/sampler.hpp"

namespace {

namespace sa = spanring::agent;

enum class Path { kProbabilistic, kPerOperation, kPerOperationLowerBound, kRateLimiting, kParentBased };

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser: distinct, random-looking ids
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void set_trace(spanring::shm::SpanView& span, std::uint64_t trace) {
  const std::uint64_t hi = mix(trace), lo = mix(trace ^ 0x5555555555555555ull);
  for (int i = 0; i < 8; ++i) {
    span.trace_id[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(hi >> (8 * i));
    span.trace_id[static_cast<std::size_t>(8 + i)] = static_cast<std::uint8_t>(lo >> (8 * i));
  }
}

void BM_SamplingDecision(benchmark::State& state, Path path) {
  static const std::array<std::string, 8> kOperations = {"chat", "completion", "embed", "rerank",
                                                         "tokenize", "health", "prefill", "decode"};
  sa::ServiceStrategy strategy;
  strategy.type = sa::StrategyType::kProbabilistic;
  strategy.param = 0.1;
  strategy.default_probability = 0.1;
  if (path == Path::kPerOperation || path == Path::kPerOperationLowerBound) {
    strategy.per_operation = true;
    strategy.operations = {{"chat", 0.2}, {"embed", 0.05}, {"health", 0.0}};
    strategy.lower_bound_per_second = path == Path::kPerOperationLowerBound ? 1.0 : 0.0;
  } else if (path == Path::kRateLimiting) {
    strategy.type = sa::StrategyType::kRateLimiting;
    strategy.param = 100;
  }
  sa::SamplingConfig config;
  config.services.push_back(sa::NamedStrategy{"llm-server", strategy});
  sa::Sampler sampler(config);
  const std::size_t slot = sampler.service_slot("llm-server");

  std::vector<spanring::shm::SpanView> spans(kOperations.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    spans[i].has_parent = true;
    spans[i].trace_flags = 0x01;
    spans[i].root_name = kOperations[i];
    spans[i].root_name_id = static_cast<std::int32_t>(i);
    if (path == Path::kParentBased) spans[i].span_flags = spanring::shm::kSpanFlagTraceRemote;
  }
  std::uint64_t n = 0, kept = 0;
  for (auto _ : state) {
    const std::uint64_t trace = n >> 2;
    spanring::shm::SpanView& span = spans[trace & 7];
    set_trace(span, trace);
    const sa::SamplingDecision d = sampler.decide(slot, span);
    kept += d.keep ? 1 : 0;
    benchmark::DoNotOptimize(d);
    ++n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  const sa::SamplerCounters c = sampler.counters();
  state.counters["kept_fraction"] = n ? static_cast<double>(kept) / static_cast<double>(n) : 0.0;
  state.counters["cache_evictions_per_decision"] =
      n ? static_cast<double>(c.decision_cache_evictions) / static_cast<double>(n) : 0.0;
}

BENCHMARK_CAPTURE(BM_SamplingDecision, probabilistic, Path::kProbabilistic);
BENCHMARK_CAPTURE(BM_SamplingDecision, per_operation, Path::kPerOperation);
BENCHMARK_CAPTURE(BM_SamplingDecision, per_operation_lower_bound, Path::kPerOperationLowerBound);
BENCHMARK_CAPTURE(BM_SamplingDecision, rate_limiting, Path::kRateLimiting);
BENCHMARK_CAPTURE(BM_SamplingDecision, parent_based, Path::kParentBased);

}  // namespace
