#include "trace_shape.hpp"

#include <cmath>
#include <ctime>

#include "spanring/llm_attributes.hpp"
#include "spanring/tracer.hpp"

namespace spanring::loadgen {
namespace {

// Shares that make the tree look like a server with a two-tier KV cache.
constexpr double kHitRate = 0.75;   // a layer's blocks are found in the cache
constexpr double kColdShare = 0.4;  // of hits, found on SSD (and read back)
constexpr double kSpansPerLookup = 1.0 + kHitRate * kColdShare;  // cache_lookup (+ ssd_read)
constexpr int kSpansPerEviction = 4;  // eviction + score_calculation, ssd_write, cleanup
constexpr int kFixedSpans = 3;        // llm_inference, attention_compute, response_generation
constexpr double kLookupShare = 0.6;  // of the variable budget, spent on cache lookups

constexpr std::int64_t kMaxTokenChoices[] = {128, 256, 512, 1024, 2048, 4096};
constexpr double kTemperatures[] = {0.0, 0.2, 0.7, 1.0};

struct Failure {
  std::string_view error_type;      // error.type: low cardinality
  std::string_view exception_type;
  std::string_view message;
};
constexpr Failure kFailures[] = {
    {"cuda_out_of_memory", "spanring::sim::CudaOutOfMemory", "CUDA out of memory while allocating KV blocks"},
    {"timeout", "spanring::sim::DeadlineExceeded", "request exceeded its deadline"},
    {"kv_cache_exhausted", "spanring::sim::KvCacheExhausted", "no free KV cache blocks after eviction"},
};
constexpr std::size_t kFailureCount = sizeof kFailures / sizeof kFailures[0];

// Attribute values this simulator sends often, interned so they travel as ids.
struct SimValues {
  Key provider{"spanring-sim"};
  Key models[4] = {Key("llama-3-8b"), Key("llama-3-70b"), Key("mistral-7b"), Key("qwen2.5-14b")};
  Key error_types[kFailureCount] = {Key(kFailures[0].error_type), Key(kFailures[1].error_type),
                                    Key(kFailures[2].error_type)};
};

const SimValues& sim_values() noexcept {
  static const SimValues values;
  return values;
}

template <typename T, std::size_t N>
const T& pick(Rng& rng, const T (&choices)[N]) noexcept {
  return choices[rng.below(N)];
}

// A span counts as created when it started recording: exactly the spans the client will
// either write or count as dropped when they end.
void count(const Span& span, RequestTally& tally) noexcept { tally.spans_created += span.recording() ? 1 : 0; }

}  // namespace

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t service, std::uint64_t thread) noexcept {
  Rng mix(seed ^ (service << 32) ^ (thread * 0x9e3779b97f4a7c15ull));
  mix.next();
  return mix.next();
}

Shape shape_for(int spans_per_request, double error_rate) noexcept {
  Shape s;
  const double budget = spans_per_request - kFixedSpans;
  s.layers = static_cast<int>(std::lround(budget * kLookupShare / kSpansPerLookup));
  if (s.layers < 1) s.layers = 1;
  s.evictions = (budget - s.layers * kSpansPerLookup) / kSpansPerEviction;
  if (s.evictions < 0) s.evictions = 0;
  s.error_rate = error_rate;
  return s;
}

namespace {

// Simulated work inside a span: a sleep, so the waterfall shows plausible proportions.
void work(const Shape& shape, double micros) noexcept {
  if (!shape.simulate_work || micros <= 0) return;
  timespec ts{static_cast<time_t>(micros / 1e6), static_cast<long>(std::fmod(micros, 1e6) * 1000)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

}  // namespace

void simulate_request(const Shape& shape, Rng& rng, RequestTally& tally) noexcept {
  const llm::LlmKeys& k = llm::llm_keys();
  const SimValues& v = sim_values();

  // Everything random is drawn in a fixed order, whether tracing is on or not, so a seed
  // gives the same requests either way.
  const Key& model = pick(rng, v.models);
  const std::int64_t max_tokens = pick(rng, kMaxTokenChoices);
  const double temperature = pick(rng, kTemperatures);
  // Prompt lengths spread over orders of magnitude (16..4096 tokens), like real traffic.
  const auto input_tokens = static_cast<std::int64_t>(std::exp2(4.0 + 8.0 * rng.uniform()));
  const bool failed = rng.chance(shape.error_rate);
  const std::size_t failure = rng.below(kFailureCount);

  // A new root even if the caller has a Scope: each request is its own trace.
  Span root(k.llm_inference, Span::NewRoot{}, SpanKind::kServer);
  count(root, tally);
  // Set at start: the attributes a sampler may look at (semconv asks for them up front).
  root.set_attribute(k.operation_name, k.chat);
  root.set_attribute(k.provider_name, v.provider);
  root.set_attribute(k.request_model, model);
  root.set_attribute(k.request_max_tokens, max_tokens);
  root.set_attribute(k.request_temperature, temperature);
  root.set_attribute(k.usage_input_tokens, input_tokens);

  for (int layer = 0; layer < shape.layers; ++layer) {
    Span lookup(k.cache_lookup, root);
    count(lookup, tally);
    const bool hit = rng.chance(kHitRate);
    lookup.set_attribute(k.cache_hit, hit);
    lookup.set_attribute(k.cache_layer, layer);
    work(shape, 20);
    if (!hit) continue;  // a miss has no tier: the blocks were found nowhere
    const bool cold = rng.chance(kColdShare);
    lookup.set_attribute(k.cache_tier, cold ? k.tier_cold : k.tier_hot);
    if (cold) {
      Span read(k.ssd_read, lookup);
      count(read, tally);
      work(shape, 300);
    }
  }

  const double whole = std::floor(shape.evictions);
  const int evictions = static_cast<int>(whole) + (rng.chance(shape.evictions - whole) ? 1 : 0);
  for (int e = 0; e < evictions; ++e) {
    Span eviction(k.eviction, root);
    count(eviction, tally);
    eviction.set_attribute(k.eviction_policy, k.policy_lru);
    eviction.set_attribute(k.eviction_tokens, static_cast<std::int64_t>(16 * (1 + rng.below(64))));
    {
      Span score(k.score_calculation, eviction);
      count(score, tally);
      work(shape, 50);
    }
    {
      Span write(k.ssd_write, eviction);
      count(write, tally);
      work(shape, 200);
    }
    Span cleanup(k.cleanup, eviction);
    count(cleanup, tally);
    work(shape, 20);
  }

  std::int64_t output_tokens = 0;
  {
    Span attention(k.attention_compute, root);
    count(attention, tally);
    work(shape, 2000 + 6000 * rng.uniform());
    if (failed) attention.set_status(StatusCode::kError, kFailures[failure].message);
  }
  if (failed) {
    // The request dies in attention: no response is generated.
    root.set_attribute(k.error_type, v.error_types[failure]);
    root.record_exception(kFailures[failure].exception_type, kFailures[failure].message);
  } else {
    Span response(k.response_generation, root);
    count(response, tally);
    output_tokens = 1 + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(max_tokens)));
    work(shape, 20.0 * static_cast<double>(std::min<std::int64_t>(output_tokens, 512)));
  }
  root.set_attribute(k.usage_output_tokens, output_tokens);

  ++tally.requests;
  tally.errors += failed ? 1 : 0;
}

}  // namespace spanring::loadgen
