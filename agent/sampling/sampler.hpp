// Per-trace sampling decisions for the spans the agent drains.
//
// Spans of a trace arrive in any order (children end, and arrive, before their root), and the
// agent exports or drops each span as it arrives, so the first span of a trace to arrive decides
// for the whole trace and every later span must get the same answer:
//
//   parent-based (default on)  the span has kSpanFlagTraceRemote: the upstream sampled flag
//                              (trace_flags & 1) decides. Same flag on every span of the trace.
//   probabilistic              keep iff R >= T (consistent.hpp). A pure function of the trace
//                              id (or its rv) and the config: no memory, any order, any process.
//   rate limiting              the service's limiter (rate_limiter.hpp) decides on the first
//                              span that arrives; the answer, keep or drop, is remembered per
//                              trace id in a DecisionCache for later spans.
//   per operation              operation = the trace's local root name (every span carries it;
//                              spans of an ABI 1.0 producer have none and count as operation "").
//                              Each operation keeps at its own probability; with a lower bound
//                              > 0, a trace that probability drops may still be kept by the
//                              operation's lower-bound limiter (Jaeger's guaranteed throughput);
//                              those answers are remembered like rate-limited ones.
//
// Remembered answers are bounded (capacity, TTL; see SamplingConfig). When an entry is evicted
// for room (decision_cache_evictions) or expires (decision_cache_expirations) before the trace's
// last span arrives, that span is decided afresh: the limiter may answer differently and the
// backend then sees part of the trace. Size the cache for traces/s × the longest trace.
//
// Differences from Jaeger's clients, on purpose:
//  - A per-operation strategy with lower bound 0 is plain per-operation probability. Jaeger's
//    guaranteed-throughput sampler still builds a limiter of max(0, 1) = 1 credit and so keeps
//    the first trace of every operation; strategies files cannot even set a bound, and that
//    extra trace would make every per-operation service pay for per-trace memory.
//  - On reload, operations that are no longer listed go back to the default probability
//    (jaeger-client-go keeps their old rate until the process restarts).
//  - The probability test is OpenTelemetry's R >= T, not Jaeger's traceID.low64 <= boundary, so
//    the decision agrees with OTel SDKs and collectors that use th.
//
// Threading: one thread (the agent's io_context). decide() does not allocate on the
// probabilistic and rate-limited paths once warm (the decision cache allocates on first use,
// an operation table entry on the first span of a new operation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/sampling/config.hpp"
#include "agent/sampling/consistent.hpp"
#include "agent/sampling/decision.hpp"
#include "agent/sampling/decision_cache.hpp"
#include "agent/sampling/rate_limiter.hpp"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

struct SamplerCounters {
  std::uint64_t spans_kept[kSampleReasonCount] = {};     // by SampleReason
  std::uint64_t spans_dropped[kSampleReasonCount] = {};  // by SampleReason
  std::uint64_t decision_cache_hits = 0;    // spans that reused their trace's remembered answer
  std::uint64_t decision_cache_misses = 0;  // limiter decisions taken (one per trace, normally)
  std::uint64_t decision_cache_evictions = 0;    // answers dropped for room before their TTL
  std::uint64_t decision_cache_expirations = 0;  // answers dropped at their TTL
  std::uint64_t operations_overflow = 0;  // spans of operations past max_operations (default rate)
  std::uint64_t remote_updates = 0;       // strategies changed by set_remote_strategy()

  std::uint64_t kept_total() const noexcept;
  std::uint64_t dropped_total() const noexcept;
};
class Registry;
// Reports every field above as spanring_sampler_* series (sampling_metrics.cpp).
void report_metrics(const SamplerCounters& counters, Registry& registry);

class Sampler {
 public:
  // Seconds on a monotonic clock. Called only on the rate-limited and lower-bound paths.
  using Clock = std::function<double()>;
  static double steady_seconds() noexcept;

  explicit Sampler(SamplingConfig config, Clock clock = &Sampler::steady_seconds);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // A handle for the spans of one segment of `service`. Call once per attached segment, not
  // per span: the slot caches the segment's interned root-name ids (ids are per segment) so the
  // per-operation path does not hash strings. Give it back with release_slot() on detach.
  std::size_t service_slot(std::string_view service);
  void release_slot(std::size_t slot);

  SamplingDecision decide(std::size_t slot, const shm::SpanView& span);
  // Slower (a string lookup per call): tests and callers without a slot.
  SamplingDecision decide(std::string_view service, const shm::SpanView& span);

  // A reloaded config. A service whose kind of strategy (probabilistic / rate limiting / per
  // operation) is unchanged keeps its limiter balances, rescaled (Go's Update); a changed kind
  // starts fresh. Remembered decisions stay. Remote answers stay unless remote sampling is
  // now off.
  void update(SamplingConfig config);
  // A remote endpoint's answer for `service` (RemoteSamplingPoller's on_update). Wins over the
  // config until the service's next answer, or until update() turns remote sampling off.
  void set_remote_strategy(std::string_view service, ServiceStrategy strategy);

  // The strategy in force for `service` (remote, else config).
  const ServiceStrategy& strategy(std::string_view service) const;
  // Every service seen through service_slot(), decide(name) or set_remote_strategy().
  std::vector<std::string> services() const;
  const SamplingConfig& config() const noexcept { return config_; }
  SamplerCounters counters() const noexcept;

 private:
  enum class Mode : std::uint8_t { kProbabilistic, kRateLimiting, kPerOperation };
  struct Operation;
  struct Service;
  struct Slot;

  Service& service(std::string_view name);
  void apply(Service& s, const ServiceStrategy& strategy, bool fresh);
  SamplingDecision decide(Slot* slot, Service& s, const shm::SpanView& span);
  // The trace's remembered decision, or `decide(now)`'s, remembered for the trace's later spans.
  template <class Decide>
  SamplingDecision once_per_trace(const shm::SpanView& span, Decide&& decide);
  SamplingDecision rate_limited(Service& s, const shm::SpanView& span);
  SamplingDecision per_operation(Slot* slot, Service& s, const shm::SpanView& span);
  std::int32_t operation_index(Slot* slot, Service& s, const shm::SpanView& span);
  std::int32_t operation_by_name(Service& s, std::string_view name);
  void count(const SamplingDecision& d) noexcept;

  SamplingConfig config_;
  Clock clock_;
  std::vector<std::unique_ptr<Service>> services_;
  std::unordered_map<std::string, std::size_t> service_by_name_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> free_slots_;
  DecisionCache cache_;
  SamplerCounters counters_;
};

// The probabilistic decision alone: keep iff R >= max(T_agent, T_upstream), R from the
// tracestate's rv if valid, else from the trace id; T_upstream from a valid th.
SamplingDecision decide_probabilistic(std::uint64_t threshold, double probability, const shm::SpanView& span) noexcept;

// A span is its trace's local root when it has no parent, or its parent is remote: the ABI's
// rule (shm/abi.hpp), for SpanView in shm/span_codec.hpp.
using shm::is_local_root;

// What the exporter changes on a kept span.
struct SamplingAnnotation {
  bool trace_state_changed = false;  // use the out-string as the span's tracestate
  bool add_sampler_tags = false;     // add sampler.type (string) and sampler.param (double)
  const char* sampler_type = nullptr;
  double sampler_param = 0;
};

// For a kept span: a probabilistic decision writes th = the deciding T into the ot member
// (unless T = 0 and no th came in: keeping everything leaves tracestate untouched); a rate-limit
// or lower-bound keep erases an incoming th (the adjusted count is no longer known); a parent
// decision leaves tracestate as it came (ParentBased propagates th). sampler.* tags go on local
// roots whose trace the agent's own strategy kept (not parent decisions). `trace_state_out` is
// scratch the caller reuses to avoid allocating per span.
SamplingAnnotation annotate(const SamplingDecision& decision, bool is_local_root, std::string_view trace_state_in,
                            std::string& trace_state_out);

}  // namespace spanring::agent
