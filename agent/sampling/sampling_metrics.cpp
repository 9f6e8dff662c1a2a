// The sampling stage's counters as Prometheus series: every field of SamplerCounters and
// RemotePollerCounters is reported here, next to the structs, so a new counter is not forgotten.
#include "agent/metrics/metrics.hpp"
#include "agent/sampling/remote.hpp"
#include "agent/sampling/sampler.hpp"

namespace spanring::agent {

void report_metrics(const SamplerCounters& c, Registry& r) {
  for (std::size_t i = 0; i < kSampleReasonCount; ++i) {
    const char* reason = to_string(static_cast<SampleReason>(i));
    r.counter("spanring_sampler_spans", "Sampling decisions applied to spans, by outcome and reason.",
                     {{"decision", "keep"}, {"reason", reason}}).mirror(c.spans_kept[i]);
    r.counter("spanring_sampler_spans", "Sampling decisions applied to spans, by outcome and reason.",
                     {{"decision", "drop"}, {"reason", reason}}).mirror(c.spans_dropped[i]);
  }
  r.counter("spanring_sampler_decision_cache_hits", "Spans that reused their trace's remembered decision.").mirror(c.decision_cache_hits);
  r.counter("spanring_sampler_decision_cache_misses", "Rate-limited decisions taken (normally one per trace).").mirror(c.decision_cache_misses);
  r.counter("spanring_sampler_decision_cache_evictions",
                   "Remembered decisions dropped for room before their TTL (their traces may be split).").mirror(c.decision_cache_evictions);
  r.counter("spanring_sampler_decision_cache_expirations", "Remembered decisions dropped at their TTL.").mirror(c.decision_cache_expirations);
  r.counter("spanring_sampler_operations_overflow",
                   "Spans of operations past max_operations, sampled at the default rate.").mirror(c.operations_overflow);
  r.counter("spanring_sampler_remote_updates", "Strategies changed by the remote sampling endpoint.").mirror(c.remote_updates);
}

void report_metrics(const RemotePollerCounters& c, Registry& r) {
  r.counter("spanring_remote_sampling_polls", "Polls of the remote sampling endpoint, by result.",
                   {{"result", "ok"}}).mirror(c.polls_ok);
  r.counter("spanring_remote_sampling_polls", "Polls of the remote sampling endpoint, by result.",
                   {{"result", "failed"}}).mirror(c.polls_failed);
}

}  // namespace spanring::agent
