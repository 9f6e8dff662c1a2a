// What the sampler answers for one span.
#pragma once

#include <cstddef>
#include <cstdint>

namespace spanring::agent {

enum class SampleReason : std::uint8_t {
  kProbabilistic,     // R >= T decided (kept or dropped); also per-operation drops
  kRateLimiting,      // the service's traces-per-second limiter decided (kept or dropped)
  kLowerBound,        // kept only by a per-operation guaranteed-throughput credit
  kParent,            // kept: the trace came with a remote parent that was sampled
  kParentNotSampled,  // dropped: the trace came with a remote parent that was not sampled
};
inline constexpr std::size_t kSampleReasonCount = 5;

// "probabilistic", "rate_limiting", "lowerbound", "parent", "parent_not_sampled": the label
// values of the sampling metrics.
const char* to_string(SampleReason reason) noexcept;

struct SamplingDecision {
  bool keep = true;
  SampleReason reason = SampleReason::kProbabilistic;
  // True for probabilistic decisions: `threshold` is the T that decided (the larger of the
  // agent's and an upstream th), to be written as th when the trace is kept.
  bool has_threshold = false;
  // Jaeger sampler.type / sampler.param (SPEC §7.d) for the local root of a kept trace:
  // "probabilistic" (param = rate), "ratelimiting" (traces/s), "lowerbound" (param = the
  // operation's probabilistic rate, not the bound), or "const" (parent decisions, param 1 or 0).
  const char* sampler_type = "probabilistic";
  double sampler_param = 1.0;
  std::uint64_t threshold = 0;
};

}  // namespace spanring::agent
