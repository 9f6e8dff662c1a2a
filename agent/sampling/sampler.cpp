#include "agent/sampling/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace spanring::agent {

const char* to_string(SampleReason reason) noexcept {
  switch (reason) {
    case SampleReason::kProbabilistic: return "probabilistic";
    case SampleReason::kRateLimiting: return "rate_limiting";
    case SampleReason::kLowerBound: return "lowerbound";
    case SampleReason::kParent: return "parent";
    case SampleReason::kParentNotSampled: return "parent_not_sampled";
  }
  return "unknown";
}

std::uint64_t SamplerCounters::kept_total() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t v : spans_kept) n += v;
  return n;
}

std::uint64_t SamplerCounters::dropped_total() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t v : spans_dropped) n += v;
  return n;
}

namespace {

// Root-name ids are 16-bit in the ABI; anything larger is not an interned id.
constexpr std::int32_t kMaxRootNameId = 1 << 16;
constexpr std::int32_t kUnresolved = -2;
constexpr std::int32_t kOverflow = -1;

}  // namespace

struct Sampler::Operation {
  std::string name;
  double probability = 1.0;
  std::uint64_t threshold = 0;
  RateLimiter lower_bound;
};

struct Sampler::Service {
  std::string name;
  ServiceStrategy strategy;
  bool remote = false;
  Mode mode = Mode::kProbabilistic;
  // kProbabilistic: param/threshold. kRateLimiting: param = traces/s and limiter.
  // kPerOperation: param/threshold are the default probability for unlisted operations.
  double param = 1.0;
  std::uint64_t threshold = 0;
  int precision = 0;  // config_.threshold_precision the thresholds were computed with
  RateLimiter limiter;
  double lower_bound = 0;
  std::vector<Operation> operations;
  std::unordered_map<std::string, std::int32_t> operation_by_name;
  // Bumped when operation indices may change meaning, so slots drop their id caches.
  std::uint32_t generation = 0;
};

struct Sampler::Slot {
  std::size_t service = 0;
  bool used = false;
  std::uint32_t generation = 0;
  std::vector<std::int32_t> operation_by_id;  // root_name_id → operation index, kUnresolved, kOverflow
};

double Sampler::steady_seconds() noexcept {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Sampler::Sampler(SamplingConfig config, Clock clock)
    : config_(std::move(config)),
      clock_(std::move(clock)),
      cache_(config_.decision_cache_capacity, config_.decision_cache_ttl_seconds) {}

Sampler::~Sampler() = default;

SamplerCounters Sampler::counters() const noexcept {
  SamplerCounters c = counters_;
  c.decision_cache_evictions = cache_.evictions();
  c.decision_cache_expirations = cache_.expirations();
  return c;
}

Sampler::Service& Sampler::service(std::string_view name) {
  const std::string key(name);
  if (auto it = service_by_name_.find(key); it != service_by_name_.end()) return *services_[it->second];
  services_.push_back(std::make_unique<Service>());
  Service& s = *services_.back();
  s.name = key;
  service_by_name_.emplace(key, services_.size() - 1);
  apply(s, config_.strategy_for(name), true);
  return s;
}

void Sampler::apply(Service& s, const ServiceStrategy& strategy, bool fresh) {
  const Mode mode = strategy.per_operation ? Mode::kPerOperation
                    : strategy.type == StrategyType::kRateLimiting ? Mode::kRateLimiting
                                                                   : Mode::kProbabilistic;
  const int precision = config_.threshold_precision;
  if (!fresh && mode == s.mode && strategy == s.strategy && precision == s.precision) return;
  const double now = mode == Mode::kProbabilistic ? 0.0 : clock_();
  s.precision = precision;
  fresh = fresh || mode != s.mode;
  s.strategy = strategy;
  s.mode = mode;
  switch (mode) {
    case Mode::kProbabilistic:
      s.param = strategy.param;
      s.threshold = probability_to_threshold(strategy.param, precision);
      break;
    case Mode::kRateLimiting:
      s.param = strategy.param;
      if (fresh) {
        s.limiter = RateLimiter::traces_per_second(strategy.param, now);
      } else {
        s.limiter.update_traces_per_second(strategy.param, now);
      }
      break;
    case Mode::kPerOperation: {
      s.param = strategy.default_probability;
      s.threshold = probability_to_threshold(strategy.default_probability, precision);
      const double bound = strategy.lower_bound_per_second;
      if (fresh) {
        s.operations.clear();
        s.operation_by_name.clear();
      }
      // Every known operation takes its listed rate, else the default; limiters rescale.
      for (Operation& op : s.operations) {
        op.probability = strategy.default_probability;
        for (const OperationStrategy& listed : strategy.operations) {
          if (listed.operation == op.name) op.probability = listed.probability;
        }
        op.threshold = probability_to_threshold(op.probability, precision);
        if (bound != s.lower_bound) op.lower_bound.update_traces_per_second(bound, now);
      }
      s.lower_bound = bound;
      // Listed operations exist from the start (they count toward max_operations, as in Go).
      for (const OperationStrategy& listed : strategy.operations) {
        if (s.operation_by_name.count(listed.operation) != 0) continue;
        Operation op;
        op.name = listed.operation;
        op.probability = listed.probability;
        op.threshold = probability_to_threshold(listed.probability, precision);
        op.lower_bound = RateLimiter::traces_per_second(bound, now);
        s.operation_by_name.emplace(op.name, static_cast<std::int32_t>(s.operations.size()));
        s.operations.push_back(std::move(op));
      }
      break;
    }
  }
  ++s.generation;
}

std::size_t Sampler::service_slot(std::string_view name) {
  Service& s = service(name);
  const std::size_t service_index = service_by_name_.find(s.name)->second;
  std::size_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    index = slots_.size();
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.service = service_index;
  slot.used = true;
  slot.generation = s.generation;
  slot.operation_by_id.clear();
  return index;
}

void Sampler::release_slot(std::size_t index) {
  if (index >= slots_.size() || !slots_[index].used) return;
  slots_[index].used = false;
  slots_[index].operation_by_id = {};
  free_slots_.push_back(index);
}

void Sampler::update(SamplingConfig config) {
  config_ = std::move(config);
  cache_.configure(config_.decision_cache_capacity, config_.decision_cache_ttl_seconds);
  for (auto& s : services_) {
    if (config_.remote.endpoint.empty()) s->remote = false;
    const ServiceStrategy strategy = s->remote ? s->strategy : config_.strategy_for(s->name);
    apply(*s, strategy, false);
  }
}

void Sampler::set_remote_strategy(std::string_view name, ServiceStrategy strategy) {
  Service& s = service(name);
  s.remote = true;
  if (s.strategy == strategy) return;
  apply(s, strategy, false);
  ++counters_.remote_updates;
}

const ServiceStrategy& Sampler::strategy(std::string_view name) const {
  if (auto it = service_by_name_.find(std::string(name)); it != service_by_name_.end()) {
    return services_[it->second]->strategy;
  }
  return config_.strategy_for(name);
}

std::vector<std::string> Sampler::services() const {
  std::vector<std::string> out;
  out.reserve(services_.size());
  for (const auto& s : services_) out.push_back(s->name);
  return out;
}

void Sampler::count(const SamplingDecision& d) noexcept {
  (d.keep ? counters_.spans_kept : counters_.spans_dropped)[static_cast<std::size_t>(d.reason)] += 1;
}

SamplingDecision decide_probabilistic(std::uint64_t threshold, double probability, const shm::SpanView& span) noexcept {
  std::uint64_t r;
  if (span.trace_state.empty()) [[likely]] {
    r = trace_id_randomness(span.trace_id);
  } else {
    const OtTraceState ot = parse_ot_trace_state(span.trace_state);
    r = ot.has_rv ? ot.rv : trace_id_randomness(span.trace_id);
    // Downstream of a probability sampler the agent may only raise T.
    if (ot.has_th && ot.th > threshold) threshold = ot.th;
  }
  SamplingDecision d;
  d.keep = r >= threshold;
  d.reason = SampleReason::kProbabilistic;
  d.has_threshold = true;
  d.sampler_type = "probabilistic";
  d.sampler_param = probability;
  d.threshold = threshold;
  return d;
}

SamplingDecision Sampler::decide(std::size_t slot, const shm::SpanView& span) {
  Slot& sl = slots_[slot];
  return decide(&sl, *services_[sl.service], span);
}

SamplingDecision Sampler::decide(std::string_view name, const shm::SpanView& span) {
  return decide(nullptr, service(name), span);
}

SamplingDecision Sampler::decide(Slot* slot, Service& s, const shm::SpanView& span) {
  SamplingDecision d;
  if (config_.parent_based && (span.span_flags & shm::kSpanFlagTraceRemote) != 0) {
    d.keep = (span.trace_flags & 0x01) != 0;
    d.reason = d.keep ? SampleReason::kParent : SampleReason::kParentNotSampled;
    d.sampler_type = "const";
    d.sampler_param = d.keep ? 1.0 : 0.0;
  } else {
    switch (s.mode) {
      case Mode::kProbabilistic: d = decide_probabilistic(s.threshold, s.param, span); break;
      case Mode::kRateLimiting: d = rate_limited(s, span); break;
      case Mode::kPerOperation: d = per_operation(slot, s, span); break;
    }
  }
  count(d);
  return d;
}

// A limiter's answer is taken once per trace and reused for the trace's later spans, so that a
// limiter running out of credit mid-trace does not cut the trace in half.
template <class Decide>
SamplingDecision Sampler::once_per_trace(const shm::SpanView& span, Decide&& decide) {
  const TraceKey key = TraceKey::from(span.trace_id);
  const double now = clock_();
  if (const SamplingDecision* known = cache_.find(key, now)) {
    ++counters_.decision_cache_hits;
    return *known;
  }
  ++counters_.decision_cache_misses;
  const SamplingDecision d = decide(now);
  cache_.insert(key, d, now);
  return d;
}

SamplingDecision Sampler::rate_limited(Service& s, const shm::SpanView& span) {
  return once_per_trace(span, [&](double now) {
    SamplingDecision d;
    d.keep = s.limiter.check_credit(1.0, now);
    d.reason = SampleReason::kRateLimiting;
    d.sampler_type = "ratelimiting";
    d.sampler_param = s.param;
    return d;
  });
}

std::int32_t Sampler::operation_by_name(Service& s, std::string_view name) {
  const std::string key(name);
  if (auto it = s.operation_by_name.find(key); it != s.operation_by_name.end()) return it->second;
  if (s.operations.size() >= config_.max_operations) return kOverflow;
  Operation op;
  op.name = key;
  op.probability = s.param;
  op.threshold = s.threshold;
  if (s.lower_bound > 0) op.lower_bound = RateLimiter::traces_per_second(s.lower_bound, clock_());
  const auto index = static_cast<std::int32_t>(s.operations.size());
  s.operation_by_name.emplace(key, index);
  s.operations.push_back(std::move(op));
  return index;
}

std::int32_t Sampler::operation_index(Slot* slot, Service& s, const shm::SpanView& span) {
  const std::int32_t id = span.root_name_id;
  if (slot == nullptr || id < 0 || id >= kMaxRootNameId) return operation_by_name(s, span.root_name);
  if (slot->generation != s.generation) {
    slot->operation_by_id.clear();
    slot->generation = s.generation;
  }
  const auto uid = static_cast<std::size_t>(id);
  if (uid < slot->operation_by_id.size() && slot->operation_by_id[uid] != kUnresolved) {
    return slot->operation_by_id[uid];
  }
  const std::int32_t index = operation_by_name(s, span.root_name);
  if (uid >= slot->operation_by_id.size()) slot->operation_by_id.resize(uid + 1, kUnresolved);
  slot->operation_by_id[uid] = index;
  return index;
}

SamplingDecision Sampler::per_operation(Slot* slot, Service& s, const shm::SpanView& span) {
  const std::int32_t index = operation_index(slot, s, span);
  if (index == kOverflow) {
    ++counters_.operations_overflow;
    return decide_probabilistic(s.threshold, s.param, span);
  }
  Operation& op = s.operations[static_cast<std::size_t>(index)];
  if (s.lower_bound <= 0) return decide_probabilistic(op.threshold, op.probability, span);
  return once_per_trace(span, [&](double now) {
    SamplingDecision d = decide_probabilistic(op.threshold, op.probability, span);
    if (d.keep) {
      // Jaeger: traces the probability keeps also use up lower-bound credit, so the bound is a
      // floor on the operation's total, not extra traffic on top of it.
      op.lower_bound.check_credit(1.0, now);
    } else if (op.lower_bound.check_credit(1.0, now)) {
      d.keep = true;
      d.reason = SampleReason::kLowerBound;
      d.has_threshold = false;
      d.sampler_type = "lowerbound";
      d.sampler_param = op.probability;
    }
    return d;
  });
}

SamplingAnnotation annotate(const SamplingDecision& decision, bool local_root, std::string_view trace_state_in,
                            std::string& trace_state_out) {
  SamplingAnnotation a;
  if (!decision.keep || decision.reason == SampleReason::kParent) return a;
  a.add_sampler_tags = local_root;
  a.sampler_type = decision.sampler_type;
  a.sampler_param = decision.sampler_param;
  if (decision.has_threshold) {
    const OtTraceState ot = trace_state_in.empty() ? OtTraceState{} : parse_ot_trace_state(trace_state_in);
    if ((decision.threshold > 0 && !ot.has_th) || (ot.has_th && ot.th != decision.threshold)) {
      set_trace_state_threshold(trace_state_in, decision.threshold, trace_state_out);
      a.trace_state_changed = true;
    }
  } else if (!trace_state_in.empty() && parse_ot_trace_state(trace_state_in).has_th) {
    set_trace_state_threshold(trace_state_in, std::nullopt, trace_state_out);
    a.trace_state_changed = true;
  }
  return a;
}

}  // namespace spanring::agent
