// Sampling: consistent probability (R/T, th), Jaeger rate limiting and per-operation strategies,
// parent-based decisions, per-trace completeness, config parsing and the remote poller.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "agent/sampling/config.hpp"
#include "agent/sampling/consistent.hpp"
#include "agent/sampling/decision_cache.hpp"
#include "agent/sampling/rate_limiter.hpp"
#include "agent/sampling/remote.hpp"
#include "agent/sampling/sampler.hpp"

namespace spanring::agent {
namespace {

using TraceId = std::array<std::uint8_t, 16>;

std::string testdata(const std::string& name) { return std::string(SPANRING_SAMPLING_TESTDATA_DIR) + "/" + name; }

TraceId trace_id_from_hex(const std::string& hex) {
  TraceId id{};
  for (std::size_t i = 0; i < 16; ++i) id[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return id;
}

// A trace id whose low 56 bits are `r` (the upper bytes are arbitrary but fixed).
TraceId trace_id_with_randomness(std::uint64_t r) {
  TraceId id{};
  id[0] = 0x5a;
  for (int i = 0; i < 7; ++i) id[15 - i] = static_cast<std::uint8_t>(r >> (8 * i));
  return id;
}

TraceId random_trace_id(std::mt19937_64& rng) {
  TraceId id{};
  const std::uint64_t a = rng(), b = rng();
  for (int i = 0; i < 8; ++i) {
    id[i] = static_cast<std::uint8_t>(a >> (8 * i));
    id[8 + i] = static_cast<std::uint8_t>(b >> (8 * i));
  }
  return id;
}

shm::SpanView make_span(const TraceId& trace, std::string_view root_name = "", std::int32_t root_name_id = -1) {
  shm::SpanView s;
  s.trace_id = trace;
  s.span_id = {1, 2, 3, 4, 5, 6, 7, 8};
  s.has_parent = true;
  s.trace_flags = 0x01;
  s.root_name = root_name;
  s.root_name_id = root_name_id;
  return s;
}

ServiceStrategy probabilistic(double p) {
  ServiceStrategy s;
  s.type = StrategyType::kProbabilistic;
  s.param = p;
  s.default_probability = p;
  return s;
}

ServiceStrategy rate_limiting(double tps) {
  ServiceStrategy s;
  s.type = StrategyType::kRateLimiting;
  s.param = tps;
  return s;
}

ServiceStrategy per_operation(double default_p, std::vector<OperationStrategy> ops, double lower_bound = 0) {
  ServiceStrategy s = probabilistic(default_p);
  s.per_operation = true;
  s.operations = std::move(ops);
  s.lower_bound_per_second = lower_bound;
  return s;
}

SamplingConfig config_with(std::string service, ServiceStrategy strategy) {
  SamplingConfig c;
  c.services.push_back(NamedStrategy{std::move(service), std::move(strategy)});
  return c;
}

// A clock the test moves by hand; counts how often the sampler reads it.
struct FakeClock {
  double now = 1000.0;
  int reads = 0;
  Sampler::Clock fn() {
    return [this] {
      ++reads;
      return now;
    };
  }
};

// ---- consistent probability sampling (SPEC §7.e) ------------------------------------------------

TEST(ConsistentSampling, RandomnessIsTheLastSevenBytesOfTheTraceIdBigEndian) {
  EXPECT_EQ(trace_id_randomness(trace_id_from_hex("4bf92f3577b34da6a3ce929d0e0e4736")), 0xce929d0e0e4736u);
}

TEST(ConsistentSampling, ThresholdEncodingMatchesTheSpecTable) {
  EXPECT_EQ(encode_threshold(probability_to_threshold(1.0)), "0");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.5)), "8");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.25)), "c");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.125)), "e");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.0625)), "f");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.1)), "e6666666666666");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.1, 4)), "e666");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.01, 3)), "fd71");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.01, 4)), "fd70a");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.01, 5)), "fd70a4");
  EXPECT_EQ(encode_threshold(probability_to_threshold(0.5, 4)), "8");
}

TEST(ConsistentSampling, ThresholdIsTwoToThe56MinusTheRoundedScaledProbability) {
  EXPECT_EQ(probability_to_threshold(0.5), std::uint64_t{1} << 55);
  EXPECT_EQ(probability_to_threshold(0.0), kNeverSampleThreshold);
  EXPECT_EQ(probability_to_threshold(1.0), 0u);
  EXPECT_EQ(probability_to_threshold(0.1), 0xe6666666666666u);
  EXPECT_DOUBLE_EQ(threshold_to_probability(0xc0000000000000u), 0.25);
}

TEST(ConsistentSampling, DecodingRightPadsThresholdsAndRejectsMalformedValues) {
  EXPECT_EQ(decode_threshold("c"), 0xc0000000000000u);
  EXPECT_EQ(decode_threshold("e666"), 0xe6660000000000u);
  EXPECT_EQ(decode_threshold("0"), 0u);
  EXPECT_FALSE(decode_threshold(""));
  EXPECT_FALSE(decode_threshold("C"));
  EXPECT_FALSE(decode_threshold("123456789abcdef"));
  EXPECT_EQ(decode_randomness("6e6d1a75832a2f"), 0x6e6d1a75832a2fu);
  EXPECT_FALSE(decode_randomness("6e6d1a75832a2"));
}

TEST(ConsistentSampling, KeepsExactlyWhenRandomnessIsAtLeastTheThreshold) {
  const std::uint64_t t = probability_to_threshold(0.25);
  EXPECT_FALSE(decide_probabilistic(t, 0.25, make_span(trace_id_with_randomness(t - 1))).keep);
  EXPECT_TRUE(decide_probabilistic(t, 0.25, make_span(trace_id_with_randomness(t))).keep);
  EXPECT_TRUE(decide_probabilistic(t, 0.25, make_span(trace_id_with_randomness(kRandomnessMask))).keep);
  EXPECT_FALSE(decide_probabilistic(kNeverSampleThreshold, 0.0, make_span(trace_id_with_randomness(kRandomnessMask))).keep);
}

TEST(ConsistentSampling, ExplicitRvInTracestateOverridesTheTraceId) {
  const std::uint64_t t = probability_to_threshold(0.5);
  shm::SpanView low = make_span(trace_id_with_randomness(0));
  low.trace_state = "vendor=x,ot=rv:ffffffffffffff";
  EXPECT_TRUE(decide_probabilistic(t, 0.5, low).keep);
  shm::SpanView high = make_span(trace_id_with_randomness(kRandomnessMask));
  high.trace_state = "ot=th:0;rv:00000000000001";
  EXPECT_FALSE(decide_probabilistic(t, 0.5, high).keep);
  // A malformed rv (13 digits) counts as absent: the trace id decides.
  high.trace_state = "ot=rv:0000000000001";
  EXPECT_TRUE(decide_probabilistic(t, 0.5, high).keep);
}

TEST(ConsistentSampling, UpstreamThresholdCanOnlyBeRaised) {
  const std::uint64_t half = probability_to_threshold(0.5);
  const std::uint64_t quarter = probability_to_threshold(0.25);  // T = 0xc0..., keeps fewer
  shm::SpanView s = make_span(trace_id_with_randomness(half + 1));
  s.trace_state = "ot=th:c";
  // Agent keeps all (T = 0), upstream kept 25 %: R below the upstream T is dropped, th stays c.
  SamplingDecision d = decide_probabilistic(0, 1.0, s);
  EXPECT_FALSE(d.keep);
  EXPECT_EQ(d.threshold, quarter);
  // Agent's T above the upstream's wins.
  s.trace_state = "ot=th:8";
  d = decide_probabilistic(quarter, 0.25, s);
  EXPECT_FALSE(d.keep);
  EXPECT_EQ(d.threshold, quarter);
  s.trace_id = trace_id_with_randomness(quarter);
  d = decide_probabilistic(half, 0.5, s);
  EXPECT_TRUE(d.keep);
  EXPECT_EQ(d.threshold, half);
}

TEST(TraceState, InsertsThIntoANewOtMemberAtTheLeft) {
  std::string out;
  set_trace_state_threshold("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 0xe6660000000000u, out);
  EXPECT_EQ(out, "ot=th:e666,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  set_trace_state_threshold("", std::uint64_t{1} << 55, out);
  EXPECT_EQ(out, "ot=th:8");
}

TEST(TraceState, ReplacesThKeepsOtherOtSubKeysAndMovesOtLeftmost) {
  std::string out;
  set_trace_state_threshold("rojo=1, ot=rv:6e6d1a75832a2f;th:8;zz:q ,congo=2", 0xc0000000000000u, out);
  EXPECT_EQ(out, "ot=th:c;rv:6e6d1a75832a2f;zz:q,rojo=1,congo=2");
}

TEST(TraceState, ErasingThDropsAnOtMemberLeftEmpty) {
  std::string out;
  set_trace_state_threshold("a=1,ot=th:8,b=2", std::nullopt, out);
  EXPECT_EQ(out, "a=1,b=2");
  set_trace_state_threshold("a=1,ot=th:8;rv:6e6d1a75832a2f", std::nullopt, out);
  EXPECT_EQ(out, "ot=rv:6e6d1a75832a2f,a=1");
}

TEST(TraceState, AddingOtToThirtyTwoMembersDropsTheRightmost) {
  std::string in;
  for (int i = 0; i < 32; ++i) in += (i ? "," : "") + std::string("k") + std::to_string(i) + "=v";
  std::string out;
  set_trace_state_threshold(in, 0, out);
  EXPECT_EQ(out.substr(0, 14), "ot=th:0,k0=v,k");
  EXPECT_EQ(std::count(out.begin(), out.end(), ','), 31);
  EXPECT_EQ(out.find("k31="), std::string::npos);
  EXPECT_NE(out.find("k30=v"), std::string::npos);
}

TEST(TraceState, ParsesRvAndThOnlyFromTheOtMember) {
  const OtTraceState ot = parse_ot_trace_state("bot=th:8, ot=th:c;rv:6e6d1a75832a2f");
  EXPECT_TRUE(ot.has_th);
  EXPECT_EQ(ot.th, 0xc0000000000000u);
  EXPECT_TRUE(ot.has_rv);
  EXPECT_EQ(ot.rv, 0x6e6d1a75832a2fu);
  EXPECT_FALSE(parse_ot_trace_state("bot=th:8").has_th);
}

// ---- statistics and consistency -----------------------------------------------------------------

class ProbabilisticRate : public ::testing::TestWithParam<double> {};

TEST_P(ProbabilisticRate, KeptCountIsWithinFiveSigmaOfTheBinomialMean) {
  const double p = GetParam();
  constexpr int kTraces = 200000;
  Sampler sampler(config_with("svc", probabilistic(p)));
  const std::size_t slot = sampler.service_slot("svc");
  std::mt19937_64 rng(20240601);
  int kept = 0;
  for (int i = 0; i < kTraces; ++i) kept += sampler.decide(slot, make_span(random_trace_id(rng))).keep ? 1 : 0;
  const double mean = kTraces * p, sigma = std::sqrt(kTraces * p * (1 - p));
  EXPECT_GE(kept, mean - 5 * sigma);
  EXPECT_LE(kept, mean + 5 * sigma);
  EXPECT_EQ(sampler.counters().spans_kept[0] + sampler.counters().spans_dropped[0], static_cast<std::uint64_t>(kTraces));
}

INSTANTIATE_TEST_SUITE_P(Rates, ProbabilisticRate, ::testing::Values(0.01, 0.1, 0.5));

TEST(Sampler, TwoInstancesWithTheSameConfigKeepTheSameTraces) {
  Sampler a(config_with("svc", probabilistic(0.1)));
  Sampler b(config_with("svc", probabilistic(0.1)));
  const std::size_t sa = a.service_slot("svc"), sb = b.service_slot("svc");
  std::mt19937_64 rng(7);
  int kept = 0;
  const std::uint64_t t = probability_to_threshold(0.1, 4);
  for (int i = 0; i < 20000; ++i) {
    const shm::SpanView s = make_span(random_trace_id(rng));
    const bool ka = a.decide(sa, s).keep;
    ASSERT_EQ(ka, b.decide(sb, s).keep);
    ASSERT_EQ(ka, trace_id_randomness(s.trace_id) >= t);  // the reference computation
    kept += ka ? 1 : 0;
  }
  EXPECT_GT(kept, 0);
}

TEST(Sampler, ProbabilisticPathNeverReadsTheClock) {
  FakeClock clock;
  Sampler sampler(config_with("svc", probabilistic(0.3)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) sampler.decide(slot, make_span(random_trace_id(rng)));
  EXPECT_EQ(clock.reads, 0);
}

// ---- completeness: one decision per trace, spans in any order ----------------------------------

struct Trace {
  TraceId id;
  std::string operation;
  int spans;
};

// Feeds all spans of `traces` in a shuffled order (so children and roots interleave across
// traces), advancing the clock by `step` per span; returns span decisions per trace.
std::map<TraceId, std::vector<SamplingDecision>> feed_shuffled(Sampler& sampler, std::size_t slot, FakeClock& clock,
                                                               const std::vector<Trace>& traces, double step,
                                                               std::uint64_t seed) {
  std::vector<std::size_t> order;
  for (std::size_t t = 0; t < traces.size(); ++t) {
    for (int i = 0; i < traces[t].spans; ++i) order.push_back(t);
  }
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::map<TraceId, std::vector<SamplingDecision>> out;
  for (std::size_t t : order) {
    out[traces[t].id].push_back(sampler.decide(slot, make_span(traces[t].id, traces[t].operation)));
    clock.now += step;
  }
  return out;
}

std::vector<Trace> make_traces(int n, int spans, std::uint64_t seed, const std::string& operation = "chat") {
  std::mt19937_64 rng(seed);
  std::vector<Trace> traces;
  for (int i = 0; i < n; ++i) traces.push_back(Trace{random_trace_id(rng), operation, spans});
  return traces;
}

int count_uniform_kept_traces(const std::map<TraceId, std::vector<SamplingDecision>>& decisions) {
  int kept = 0;
  for (const auto& [id, ds] : decisions) {
    for (const SamplingDecision& d : ds) {
      EXPECT_EQ(d.keep, ds.front().keep);
      EXPECT_EQ(d.reason, ds.front().reason);
    }
    kept += ds.front().keep ? 1 : 0;
  }
  return kept;
}

TEST(Completeness, RateLimitedTraceGetsOneDecisionForAllItsShuffledSpans) {
  FakeClock clock;
  Sampler sampler(config_with("svc", rate_limiting(10)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const auto traces = make_traces(400, 6, 11);
  const auto decisions = feed_shuffled(sampler, slot, clock, traces, 0.001, 12);  // 2.4 s
  const int kept = count_uniform_kept_traces(decisions);
  EXPECT_GT(kept, 10);
  EXPECT_LT(kept, 400);
  const SamplerCounters c = sampler.counters();
  EXPECT_EQ(c.decision_cache_misses, 400u);
  EXPECT_EQ(c.decision_cache_hits, 400u * 5);
  EXPECT_EQ(c.spans_kept[1], static_cast<std::uint64_t>(kept) * 6);
  EXPECT_EQ(c.decision_cache_evictions, 0u);
}

TEST(Completeness, LowerBoundTraceGetsOneDecisionForAllItsShuffledSpans) {
  FakeClock clock;
  Sampler sampler(config_with("svc", per_operation(1.0, {{"chat", 0.0}}, 5.0)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const auto traces = make_traces(300, 5, 21);
  const auto decisions = feed_shuffled(sampler, slot, clock, traces, 0.002, 22);  // 3 s
  const int kept = count_uniform_kept_traces(decisions);
  EXPECT_GT(kept, 5);
  EXPECT_LT(kept, 300);
  for (const auto& [id, ds] : decisions) {
    EXPECT_EQ(ds.front().reason, ds.front().keep ? SampleReason::kLowerBound : SampleReason::kProbabilistic);
  }
  EXPECT_EQ(sampler.counters().decision_cache_misses, 300u);
}

TEST(Completeness, EveryKeptProbabilisticTraceKeepsAllItsSpans) {
  FakeClock clock;
  Sampler sampler(config_with("svc", probabilistic(0.1)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const auto traces = make_traces(5000, 4, 31);
  const auto decisions = feed_shuffled(sampler, slot, clock, traces, 0.0, 32);
  const int kept = count_uniform_kept_traces(decisions);
  EXPECT_GT(kept, 350);
  EXPECT_LT(kept, 650);
  EXPECT_EQ(sampler.counters().spans_kept[0], static_cast<std::uint64_t>(kept) * 4);
}

TEST(Completeness, AnEvictedDecisionIsTakenAgainAndCounted) {
  FakeClock clock;
  SamplingConfig c = config_with("svc", rate_limiting(1));
  c.decision_cache_capacity = 2;
  Sampler sampler(c, clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const TraceId a = trace_id_with_randomness(1), b = trace_id_with_randomness(2), d = trace_id_with_randomness(3);
  EXPECT_TRUE(sampler.decide(slot, make_span(a)).keep);   // the initial credit
  EXPECT_FALSE(sampler.decide(slot, make_span(b)).keep);
  EXPECT_FALSE(sampler.decide(slot, make_span(d)).keep);  // evicts a
  clock.now += 1;
  EXPECT_FALSE(sampler.decide(slot, make_span(b)).keep);  // remembered
  // a's answer is gone: its late span is decided afresh and takes the new credit.
  EXPECT_TRUE(sampler.decide(slot, make_span(a)).keep);
  EXPECT_EQ(sampler.counters().decision_cache_evictions, 2u);
  EXPECT_EQ(sampler.counters().decision_cache_misses, 4u);
}

// ---- rate limiter (SPEC §7.c) --------------------------------------------------------------------

TEST(RateLimiter, FreshLimiterAdmitsItsMaxBalanceAtOnce) {
  RateLimiter rl = RateLimiter::traces_per_second(10, 0);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.check_credit(1, 0) ? 1 : 0;
  EXPECT_EQ(admitted, 10);
}

TEST(RateLimiter, BurstAfterALongIdleIsBoundedByMaxBalance) {
  RateLimiter rl = RateLimiter::traces_per_second(10, 0);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.check_credit(1, 0));
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.check_credit(1, 1000) ? 1 : 0;
  EXPECT_EQ(admitted, 10);
}

TEST(RateLimiter, RateBelowOneAdmitsOneTraceThenOnePerInterval) {
  RateLimiter rl = RateLimiter::traces_per_second(0.1, 0);
  EXPECT_TRUE(rl.check_credit(1, 0));
  EXPECT_FALSE(rl.check_credit(1, 0));
  EXPECT_FALSE(rl.check_credit(1, 5));
  EXPECT_FALSE(rl.check_credit(1, 9.99));
  EXPECT_TRUE(rl.check_credit(1, 10.01));
  EXPECT_FALSE(rl.check_credit(1, 15));
  EXPECT_TRUE(rl.check_credit(1, 20.02));
}

TEST(RateLimiter, UpdateKeepsTheBalanceAsAFractionOfTheNewMaximum) {
  RateLimiter rl = RateLimiter::traces_per_second(10, 0);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(rl.check_credit(1, 0));
  rl.update_traces_per_second(20, 0);  // half full stays half full: 10 of 20
  EXPECT_DOUBLE_EQ(rl.balance(), 10);
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += rl.check_credit(1, 0) ? 1 : 0;
  EXPECT_EQ(admitted, 10);
  EXPECT_TRUE(rl.check_credit(1, 0.05));  // refills at the new rate: 20/s
}

TEST(RateLimiter, ClockSteppingBackDoesNotDrainTheBalance) {
  RateLimiter rl = RateLimiter::traces_per_second(1, 100);
  EXPECT_TRUE(rl.check_credit(1, 50));
  EXPECT_TRUE(rl.check_credit(1, 101));
}

TEST(Sampler, RateLimitingAdmitsExactlyTheCreditOfTheSimulatedSeconds) {
  // 1280 traces, one every 1/256 s (5 s in all), at 10/s. Binary fractions keep the arithmetic
  // exact: credit = 10 (initial) + 10 × 1279/256 = 59.96, so exactly 59 traces fit.
  FakeClock clock;
  clock.now = 0;
  Sampler sampler(config_with("kv-cache", rate_limiting(10)), clock.fn());
  const std::size_t slot = sampler.service_slot("kv-cache");
  std::mt19937_64 rng(5);
  int kept = 0;
  for (int i = 0; i < 1280; ++i) {
    clock.now = i / 256.0;
    const SamplingDecision d = sampler.decide(slot, make_span(random_trace_id(rng)));
    EXPECT_EQ(d.reason, SampleReason::kRateLimiting);
    kept += d.keep ? 1 : 0;
  }
  EXPECT_EQ(kept, 59);
}

TEST(Sampler, RateLimitedKeepCarriesJaegerTags) {
  FakeClock clock;
  Sampler sampler(config_with("svc", rate_limiting(7)), clock.fn());
  const SamplingDecision d = sampler.decide("svc", make_span(trace_id_with_randomness(9)));
  EXPECT_TRUE(d.keep);
  EXPECT_STREQ(d.sampler_type, "ratelimiting");
  EXPECT_EQ(d.sampler_param, 7.0);
  EXPECT_FALSE(d.has_threshold);
}

// ---- per operation (SPEC §7.c) -------------------------------------------------------------------

TEST(PerOperation, ListedOperationsUseTheirRateAndOthersTheDefault) {
  Sampler sampler(config_with("svc", per_operation(1.0, {{"chat", 0.0}})));
  const std::size_t slot = sampler.service_slot("svc");
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100; ++i) {
    const TraceId id = random_trace_id(rng);
    EXPECT_FALSE(sampler.decide(slot, make_span(id, "chat", 4)).keep);
    EXPECT_TRUE(sampler.decide(slot, make_span(id, "embed", 5)).keep);
    EXPECT_TRUE(sampler.decide(slot, make_span(id, "other")).keep);
  }
}

TEST(PerOperation, RootNameIdsAreCachedPerSlotBecauseIdsArePerSegment) {
  Sampler sampler(config_with("svc", per_operation(1.0, {{"chat", 0.0}})));
  const std::size_t a = sampler.service_slot("svc"), b = sampler.service_slot("svc");
  const TraceId id = trace_id_with_randomness(kRandomnessMask);
  // Segment a interned "chat" as id 7; segment b interned "embed" as id 7.
  EXPECT_FALSE(sampler.decide(a, make_span(id, "chat", 7)).keep);
  EXPECT_TRUE(sampler.decide(b, make_span(id, "embed", 7)).keep);
  EXPECT_FALSE(sampler.decide(a, make_span(id, "chat", 7)).keep);
  EXPECT_TRUE(sampler.decide(b, make_span(id, "embed", 7)).keep);
}

TEST(PerOperation, OperationsBeyondTheMaximumUseTheDefaultProbabilityWithoutLowerBound) {
  FakeClock clock;
  SamplingConfig c = config_with("svc", per_operation(0.0, {{"a", 1.0}}, 100.0));
  c.max_operations = 2;
  Sampler sampler(c, clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  EXPECT_TRUE(sampler.decide(slot, make_span(trace_id_with_randomness(1), "a")).keep);
  EXPECT_TRUE(sampler.decide(slot, make_span(trace_id_with_randomness(2), "b")).keep);  // lower bound
  const SamplingDecision over = sampler.decide(slot, make_span(trace_id_with_randomness(3), "c"));
  EXPECT_FALSE(over.keep);  // third distinct operation: default 0, no lower bound
  EXPECT_EQ(over.reason, SampleReason::kProbabilistic);
  EXPECT_EQ(sampler.counters().operations_overflow, 1u);
}

TEST(PerOperation, LowerBoundKeepsOneTracePerIntervalThatProbabilityDrops) {
  FakeClock clock;
  Sampler sampler(config_with("svc", per_operation(1.0, {{"chat", 0.0}}, 1.0)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const SamplingDecision first = sampler.decide(slot, make_span(trace_id_with_randomness(1), "chat"));
  EXPECT_TRUE(first.keep);
  EXPECT_EQ(first.reason, SampleReason::kLowerBound);
  EXPECT_STREQ(first.sampler_type, "lowerbound");
  EXPECT_EQ(first.sampler_param, 0.0);  // the probabilistic rate, not the bound
  EXPECT_FALSE(sampler.decide(slot, make_span(trace_id_with_randomness(2), "chat")).keep);
  clock.now += 0.5;
  EXPECT_FALSE(sampler.decide(slot, make_span(trace_id_with_randomness(3), "chat")).keep);
  clock.now += 0.5;
  EXPECT_TRUE(sampler.decide(slot, make_span(trace_id_with_randomness(4), "chat")).keep);
}

TEST(PerOperation, ProbabilisticKeepsUseUpLowerBoundCredit) {
  FakeClock clock;
  Sampler sampler(config_with("svc", per_operation(1.0, {{"chat", 0.5}}, 1.0)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  const SamplingDecision yes = sampler.decide(slot, make_span(trace_id_with_randomness(kRandomnessMask), "chat"));
  EXPECT_TRUE(yes.keep);
  EXPECT_EQ(yes.reason, SampleReason::kProbabilistic);
  // The probabilistic keep took the one credit: a trace probability drops gets nothing.
  EXPECT_FALSE(sampler.decide(slot, make_span(trace_id_with_randomness(0), "chat")).keep);
}

// ---- parent-based (SPEC §7.f) --------------------------------------------------------------------

TEST(ParentBased, UpstreamSampledFlagDecidesTracesWithARemoteParent) {
  Sampler sampler(config_with("svc", probabilistic(0.0)));
  shm::SpanView s = make_span(trace_id_with_randomness(kRandomnessMask));
  s.span_flags = shm::kSpanFlagTraceRemote;
  s.trace_flags = 0x01;
  SamplingDecision d = sampler.decide("svc", s);
  EXPECT_TRUE(d.keep);
  EXPECT_EQ(d.reason, SampleReason::kParent);
  s.trace_flags = 0x00;
  d = sampler.decide("svc", s);
  EXPECT_FALSE(d.keep);
  EXPECT_EQ(d.reason, SampleReason::kParentNotSampled);
  EXPECT_STREQ(to_string(d.reason), "parent_not_sampled");
}

TEST(ParentBased, SampledFlagIsIgnoredWithoutTraceRemote) {
  Sampler sampler(config_with("svc", probabilistic(1.0)));
  shm::SpanView s = make_span(trace_id_with_randomness(5));
  s.trace_flags = 0x00;
  s.span_flags = shm::kSpanFlagParentRemote;  // not the trace-remote flag
  const SamplingDecision d = sampler.decide("svc", s);
  EXPECT_TRUE(d.keep);
  EXPECT_EQ(d.reason, SampleReason::kProbabilistic);
}

TEST(ParentBased, CanBeTurnedOff) {
  SamplingConfig c = config_with("svc", probabilistic(1.0));
  c.parent_based = false;
  Sampler sampler(c);
  shm::SpanView s = make_span(trace_id_with_randomness(5));
  s.span_flags = shm::kSpanFlagTraceRemote;
  s.trace_flags = 0x00;
  EXPECT_TRUE(sampler.decide("svc", s).keep);
}

// ---- reload and remote strategies ----------------------------------------------------------------

TEST(Sampler, ReloadWithTheSameStrategyTypeKeepsTheLimiterBalanceScaled) {
  FakeClock clock;
  Sampler sampler(config_with("svc", rate_limiting(10)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(sampler.decide(slot, make_span(trace_id_with_randomness(100 + i))).keep);
  sampler.update(config_with("svc", rate_limiting(20)));  // 5 of 10 left ⇒ 10 of 20
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += sampler.decide(slot, make_span(trace_id_with_randomness(200 + i))).keep ? 1 : 0;
  EXPECT_EQ(kept, 10);
}

TEST(Sampler, ReloadToAnotherStrategyTypeStartsAFreshLimiter) {
  FakeClock clock;
  Sampler sampler(config_with("svc", rate_limiting(10)), clock.fn());
  const std::size_t slot = sampler.service_slot("svc");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sampler.decide(slot, make_span(trace_id_with_randomness(100 + i))).keep);
  sampler.update(config_with("svc", probabilistic(1.0)));
  sampler.update(config_with("svc", rate_limiting(10)));
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += sampler.decide(slot, make_span(trace_id_with_randomness(200 + i))).keep ? 1 : 0;
  EXPECT_EQ(kept, 10);
}

TEST(Sampler, RemoteStrategyWinsOverTheConfigUntilRemoteSamplingIsTurnedOff) {
  SamplingConfig c = config_with("svc", probabilistic(1.0));
  c.remote.endpoint = "http://127.0.0.1:5778/sampling";
  Sampler sampler(c);
  const std::size_t slot = sampler.service_slot("svc");
  const shm::SpanView s = make_span(trace_id_with_randomness(3));
  sampler.set_remote_strategy("svc", probabilistic(0.0));
  EXPECT_FALSE(sampler.decide(slot, s).keep);
  EXPECT_EQ(sampler.counters().remote_updates, 1u);
  sampler.update(c);  // reload with remote still on
  EXPECT_FALSE(sampler.decide(slot, s).keep);
  c.remote.endpoint.clear();
  sampler.update(c);
  EXPECT_TRUE(sampler.decide(slot, s).keep);
}

// ---- annotate ------------------------------------------------------------------------------------

TEST(Annotate, ProbabilisticKeepWritesThAndTagsTheLocalRoot) {
  Sampler sampler(config_with("svc", probabilistic(0.1)));
  const shm::SpanView s = make_span(trace_id_with_randomness(kRandomnessMask));
  const SamplingDecision d = sampler.decide("svc", s);
  ASSERT_TRUE(d.keep);
  std::string ts;
  SamplingAnnotation a = annotate(d, true, "rojo=1", ts);
  EXPECT_TRUE(a.trace_state_changed);
  EXPECT_EQ(ts, "ot=th:e666,rojo=1");
  EXPECT_TRUE(a.add_sampler_tags);
  EXPECT_STREQ(a.sampler_type, "probabilistic");
  EXPECT_EQ(a.sampler_param, 0.1);
  a = annotate(d, false, "", ts);
  EXPECT_EQ(ts, "ot=th:e666");
  EXPECT_FALSE(a.add_sampler_tags);
}

TEST(Annotate, KeepingEverythingLeavesTracestateAlone) {
  Sampler sampler(config_with("svc", probabilistic(1.0)));
  const SamplingDecision d = sampler.decide("svc", make_span(trace_id_with_randomness(0)));
  std::string ts;
  EXPECT_FALSE(annotate(d, true, "rojo=1", ts).trace_state_changed);
}

TEST(Annotate, RateLimitedKeepErasesAnUpstreamThreshold) {
  FakeClock clock;
  Sampler sampler(config_with("svc", rate_limiting(5)), clock.fn());
  const SamplingDecision d = sampler.decide("svc", make_span(trace_id_with_randomness(0)));
  std::string ts;
  const SamplingAnnotation a = annotate(d, true, "ot=th:8;rv:6e6d1a75832a2f,x=1", ts);
  EXPECT_TRUE(a.trace_state_changed);
  EXPECT_EQ(ts, "ot=rv:6e6d1a75832a2f,x=1");
  EXPECT_STREQ(a.sampler_type, "ratelimiting");
  EXPECT_EQ(a.sampler_param, 5.0);
}

TEST(Annotate, ParentDecisionsChangeNothing) {
  Sampler sampler(config_with("svc", probabilistic(0.5)));
  shm::SpanView s = make_span(trace_id_with_randomness(0));
  s.span_flags = shm::kSpanFlagTraceRemote;
  std::string ts;
  const SamplingAnnotation a = annotate(sampler.decide("svc", s), true, "ot=th:8", ts);
  EXPECT_FALSE(a.trace_state_changed);
  EXPECT_FALSE(a.add_sampler_tags);
}

// ---- decision cache ------------------------------------------------------------------------------

TEST(DecisionCache, ForgetsEntriesAtTheirTtl) {
  DecisionCache cache(8, 60);
  const TraceKey k{1, 2};
  cache.insert(k, SamplingDecision{}, 0);
  EXPECT_NE(cache.find(k, 59.9), nullptr);
  EXPECT_EQ(cache.find(k, 60), nullptr);
  EXPECT_EQ(cache.expirations(), 1u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(DecisionCache, KeepsExactlyTheNewestEntriesUnderChurn) {
  DecisionCache cache(1000, 1e9);
  std::mt19937_64 rng(9);
  std::vector<TraceKey> keys;
  std::set<std::pair<std::uint64_t, std::uint64_t>> used;
  for (int i = 0; i < 20000; ++i) {
    // Clustered keys collide in the index, exercising backward-shift deletion.
    const TraceKey k{rng() & 0xff, rng() & 0xfff};
    if (!used.emplace(k.hi, k.lo).second) continue;
    keys.push_back(k);
    SamplingDecision d;
    d.keep = (keys.size() & 1) != 0;
    cache.insert(keys.back(), d, 0);
  }
  ASSERT_GT(keys.size(), 1000u);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const SamplingDecision* d = cache.find(keys[i], 0);
    if (i + 1000 >= keys.size()) {
      ASSERT_NE(d, nullptr) << i;
      EXPECT_EQ(d->keep, ((i + 1) & 1) != 0);
    } else {
      ASSERT_EQ(d, nullptr) << i;
    }
  }
  EXPECT_EQ(cache.evictions(), keys.size() - 1000);
}

TEST(DecisionCache, ShrinkingKeepsTheNewestEntries) {
  DecisionCache cache(10, 100);
  for (std::uint64_t i = 0; i < 10; ++i) cache.insert(TraceKey{i, i}, SamplingDecision{}, static_cast<double>(i));
  cache.configure(3, 100);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find(TraceKey{6, 6}, 10), nullptr);
  EXPECT_NE(cache.find(TraceKey{7, 7}, 10), nullptr);
  EXPECT_NE(cache.find(TraceKey{9, 9}, 10), nullptr);
  EXPECT_EQ(cache.evictions(), 7u);
}

// ---- config --------------------------------------------------------------------------------------

struct Parsed {
  bool ok = false;
  SamplingConfig config;
  std::vector<std::string> errors;
};

Parsed parse_file(const std::string& name) {
  Parsed p;
  const std::string path = testdata(name);
  const YAML::Node root = YAML::LoadFile(path);
  p.ok = parse_sampling_config(root["sampling"], path, p.config, p.errors);
  return p;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += s + "\n";
  return out;
}

// The form operators already write for Jaeger, exactly as the sampling issue shows it.
TEST(SamplingConfig, JaegerFormFromTheIssueLoadsAsWritten) {
  const Parsed p = parse_file("issue_example.yaml");
  ASSERT_TRUE(p.ok) << joined(p.errors);
  ASSERT_EQ(p.config.services.size(), 2u);
  EXPECT_EQ(p.config.services[0].service, "llm-server");
  EXPECT_EQ(p.config.services[0].strategy.type, StrategyType::kProbabilistic);
  EXPECT_EQ(p.config.services[0].strategy.param, 1.0);
  EXPECT_EQ(p.config.services[1].service, "kv-cache");
  EXPECT_EQ(p.config.services[1].strategy.type, StrategyType::kRateLimiting);
  EXPECT_EQ(p.config.services[1].strategy.param, 10.0);
}

// agent.example.yaml documents the sampling section in comments; uncommented, it must parse
// and state the defaults, so a renamed key or changed default cannot leave it stale.
TEST(SamplingConfig, AgentExampleSectionParsesAndStatesTheDefaults) {
  std::ifstream in(SPANRING_AGENT_EXAMPLE_CONFIG);
  ASSERT_TRUE(in) << SPANRING_AGENT_EXAMPLE_CONFIG;
  std::string yaml;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    inside = inside || line == "# sampling:";
    if (inside && line.rfind("# ", 0) == 0) yaml += line.substr(2) + "\n";
  }
  YAML::Node root = YAML::Load(yaml);
  ASSERT_TRUE(root["sampling"].IsMap()) << yaml;
  for (const char* key : {"parent_based", "strategies", "default_strategy", "default_lower_bound_traces_per_second",
                          "strategies_file", "remote", "decision_cache"}) {
    EXPECT_TRUE(root["sampling"][key]) << key;
  }
  for (const char* key : {"endpoint", "poll_interval", "timeout"}) EXPECT_TRUE(root["sampling"]["remote"][key]) << key;
  for (const char* key : {"capacity", "ttl"}) EXPECT_TRUE(root["sampling"]["decision_cache"][key]) << key;
  // The example's strategies file is an installation path, absent here.
  ASSERT_TRUE(root["sampling"].remove("strategies_file"));
  SamplingConfig c;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_sampling_config(root["sampling"], "agent.example.yaml", c, errors)) << joined(errors);
  const SamplingConfig defaults;
  EXPECT_EQ(c.remote.poll_interval, defaults.remote.poll_interval);
  EXPECT_EQ(c.remote.timeout, defaults.remote.timeout);
  EXPECT_EQ(c.decision_cache_capacity, defaults.decision_cache_capacity);
  EXPECT_EQ(c.decision_cache_ttl_seconds, defaults.decision_cache_ttl_seconds);
  EXPECT_EQ(c.parent_based, defaults.parent_based);
  EXPECT_EQ(c.default_strategy, defaults.default_strategy);
}

TEST(SamplingConfig, RemoteEndpointErrorNamesTheReason) {
  const YAML::Node root = YAML::Load("sampling:\n  remote:\n    endpoint: http://jaeger:99999/sampling\n");
  SamplingConfig c;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_sampling_config(root["sampling"], "agent.yaml", c, errors));
  const std::vector<std::string> expected{
      "agent.yaml:3:15: sampling.remote.endpoint: expected an http:// URL like http://127.0.0.1:5778/sampling, "
      "got \"http://jaeger:99999/sampling\" (port 99999 is out of range 1-65535)"};
  EXPECT_EQ(errors, expected);
}

// Sampling durations go through the config's one parser (agent/config/text.hpp): exact to the
// nanosecond, where the sampling library's own parser rounded to whole milliseconds.
SamplingConfig parse_ok(const std::string& yaml) {
  const YAML::Node root = YAML::Load(yaml);
  SamplingConfig c;
  std::vector<std::string> errors;
  EXPECT_TRUE(parse_sampling_config(root["sampling"], "agent.yaml", c, errors)) << joined(errors);
  return c;
}

TEST(SamplingConfig, RemoteTimeoutKeepsSubMillisecondValues) {
  EXPECT_EQ(parse_ok("sampling:\n  remote:\n    endpoint: http://127.0.0.1:5778/s\n    timeout: 1500us\n")
                .remote.timeout,
            std::chrono::microseconds(1500));  // was rounded to 2ms
  EXPECT_EQ(parse_ok("sampling:\n  remote:\n    endpoint: http://127.0.0.1:5778/s\n    timeout: 1.0005ms\n")
                .remote.timeout,
            std::chrono::nanoseconds(1'000'500));
}

TEST(SamplingConfig, DecisionCacheTtlKeepsSubMillisecondValues) {
  // Was rounded to 0 ms, then refused as "must be > 0".
  EXPECT_DOUBLE_EQ(parse_ok("sampling:\n  decision_cache:\n    ttl: 250us\n").decision_cache_ttl_seconds, 250e-6);
  EXPECT_DOUBLE_EQ(parse_ok("sampling:\n  decision_cache:\n    ttl: 1.5s\n").decision_cache_ttl_seconds, 1.5);
}

TEST(SamplingConfig, PollIntervalBelowOneMillisecondIsAnErrorAtItsKey) {
  // Was rounded up to 1ms (500us) or down to 0 and refused as "must be > 0" (400us).
  const YAML::Node root =
      YAML::Load("sampling:\n  remote:\n    endpoint: http://127.0.0.1:5778/s\n    poll_interval: 500us\n");
  SamplingConfig c;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_sampling_config(root["sampling"], "agent.yaml", c, errors));
  const std::vector<std::string> expected{
      "agent.yaml:4:20: sampling.remote.poll_interval: must be at least 1ms, got \"500us\""};
  EXPECT_EQ(errors, expected);
}

TEST(SamplingConfig, PollIntervalOfExactlyOneMillisecondIsAccepted) {
  EXPECT_EQ(parse_ok("sampling:\n  remote:\n    endpoint: http://127.0.0.1:5778/s\n    poll_interval: 1000us\n")
                .remote.poll_interval,
            std::chrono::milliseconds(1));
}

TEST(SamplingConfig, MissingSectionKeepsEverything) {
  SamplingConfig c;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_sampling_config(YAML::Node(), "agent.yaml", c, errors));
  EXPECT_TRUE(c.parent_based);
  EXPECT_EQ(c.default_strategy, probabilistic(1.0));
  EXPECT_TRUE(c.services.empty());
}

TEST(SamplingConfig, DocumentedExampleLoadsAndMergesTheStrategiesFile) {
  const Parsed p = parse_file("agent.yaml");
  ASSERT_TRUE(p.ok) << joined(p.errors);
  const SamplingConfig& c = p.config;
  EXPECT_TRUE(c.parent_based);
  EXPECT_EQ(c.strategies_file, testdata("jaeger_strategies.json"));
  EXPECT_EQ(c.remote.endpoint, "http://127.0.0.1:5778/api/sampling");
  EXPECT_EQ(c.remote.poll_interval, std::chrono::seconds(60));
  ASSERT_EQ(c.services.size(), 4u);
  // Inline services, merged with the final (file's) default operation list.
  EXPECT_EQ(c.services[0].service, "llm-server");
  EXPECT_EQ(c.services[0].strategy, per_operation(1.0, {{"chat", 0.2}, {"/health", 0.0}}));
  EXPECT_EQ(c.services[1].service, "kv-cache");
  EXPECT_EQ(c.services[1].strategy.type, StrategyType::kRateLimiting);
  EXPECT_EQ(c.services[1].strategy.param, 10.0);
  EXPECT_FALSE(c.services[1].strategy.per_operation);
  // File services.
  EXPECT_EQ(c.services[2].service, "llm-engine");
  EXPECT_EQ(c.services[2].strategy, per_operation(0.8, {{"chat", 0.2}, {"/health", 0.0}}));
  EXPECT_EQ(c.services[3].service, "router");
  EXPECT_EQ(c.services[3].strategy.param, 5.0);
  // The file's default wins over the inline one.
  EXPECT_EQ(c.default_strategy, per_operation(0.5, {{"/health", 0.0}}));
}

TEST(SamplingConfig, JaegerStrategiesFileLoadsWithSection7aMerging) {
  std::ifstream in(testdata("jaeger_strategies.json"));
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SamplingConfig c;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_jaeger_strategies_json(json, "strategies.json", c, errors)) << joined(errors);
  ASSERT_EQ(c.services.size(), 2u);
  EXPECT_EQ(c.services[0].strategy, per_operation(0.8, {{"chat", 0.2}, {"/health", 0.0}}));
  EXPECT_EQ(c.services[1].strategy, rate_limiting(5));
  EXPECT_EQ(c.default_strategy, per_operation(0.5, {{"/health", 0.0}}));
}

TEST(SamplingConfig, StrategiesFileWithoutDefaultUsesJaegersDefaultAndTruncatesRates) {
  std::ifstream in(testdata("no_default.json"));
  const std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  SamplingConfig c;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_jaeger_strategies_json(json, "no_default.json", c, errors)) << joined(errors);
  EXPECT_EQ(c.default_strategy, probabilistic(0.001));
  EXPECT_EQ(c.services[0].strategy.param, 2.0);  // int32(2.9), as Jaeger
}

TEST(SamplingConfig, ProbabilisticServiceWithoutOperationsInheritsTheDefaultList) {
  const std::string json = R"({"service_strategies":[{"service":"a","type":"probabilistic","param":0.3}],
    "default_strategy":{"type":"probabilistic","param":0.5,
      "operation_strategies":[{"operation":"x","type":"probabilistic","param":0.1}]}})";
  SamplingConfig c;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_jaeger_strategies_json(json, "s.json", c, errors)) << joined(errors);
  EXPECT_EQ(c.services[0].strategy, per_operation(0.3, {{"x", 0.1}}));
}

void expect_single_error(const std::string& file, const std::string& expected) {
  const Parsed p = parse_file(file);
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 1u) << joined(p.errors);
  EXPECT_EQ(p.errors[0], testdata(file) + expected);
}

TEST(SamplingConfig, ProbabilityOutsideZeroOneIsAnError) {
  expect_single_error("bad_probability.yaml", ":8:14: sampling.strategies[1].param: must be in [0, 1], got 1.5");
}

TEST(SamplingConfig, NegativeRateIsAnError) {
  expect_single_error("negative_rate.yaml",
                      ":5:14: sampling.strategies[0].param: must be >= 0 (traces per second), got -3");
}

TEST(SamplingConfig, UnknownTypeIsAnError) {
  expect_single_error("unknown_type.yaml",
                      ":3:11: sampling.default_strategy.type: expected probabilistic, rate_limiting or "
                      "ratelimiting, got \"adaptive\"");
}

TEST(SamplingConfig, DuplicateServiceIsAnError) {
  expect_single_error("duplicate_service.yaml",
                      ":6:16: sampling.strategies[1].service: duplicate service \"llm-server\" (first at line 3)");
}

TEST(SamplingConfig, MissingFieldIsAnError) {
  expect_single_error("missing_param.yaml", ":3:7: sampling.strategies[0]: missing required key \"param\"");
}

TEST(SamplingConfig, UnknownKeyIsAnError) {
  expect_single_error("unknown_key.yaml",
                      ":3:3: sampling.default_stratgy: unknown key; expected one of parent_based, strategies, "
                      "default_strategy, default_lower_bound_traces_per_second, strategies_file, remote, "
                      "decision_cache");
}

TEST(SamplingConfig, WrongYamlTypesAreErrors) {
  const Parsed p = parse_file("wrong_type.yaml");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 2u) << joined(p.errors);
  EXPECT_EQ(p.errors[0], testdata("wrong_type.yaml") + ":2:17: sampling.parent_based: expected true or false, got \"yes\"");
  EXPECT_EQ(p.errors[1], testdata("wrong_type.yaml") + ":4:5: sampling.strategies: expected a list of strategies, got a map");
}

TEST(SamplingConfig, UnreadableStrategiesFileIsAnErrorAtItsKey) {
  const Parsed p = parse_file("missing_file.yaml");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 1u) << joined(p.errors);
  EXPECT_EQ(p.errors[0], testdata("missing_file.yaml") + ":2:20: sampling.strategies_file: " +
                             testdata("does_not_exist.json") + " cannot be opened: No such file or directory");
}

// A config whose strategies_file names `target`, in a fresh directory; returns the YAML's path.
std::string config_naming_strategies_file(const std::string& test, const std::string& target) {
  const std::string dir = ::testing::TempDir() + "spanring-sampling-" + test;
  std::system(("rm -rf '" + dir + "' && mkdir -p '" + dir + "'").c_str());
  const std::string yaml = dir + "/agent.yaml";
  std::ofstream(yaml) << "sampling:\n  strategies_file: " << target << "\n";
  return yaml;
}

Parsed parse_path(const std::string& path) {
  Parsed p;
  const YAML::Node root = YAML::LoadFile(path);
  p.ok = parse_sampling_config(root["sampling"], path, p.config, p.errors);
  return p;
}

// Used to say "/tmp: (top level): invalid JSON: Empty", naming neither the YAML file nor the key.
TEST(SamplingConfigInput, StrategiesFileThatIsADirectoryIsReportedAtTheYamlKey) {
  const std::string yaml = config_naming_strategies_file("dir", "/tmp");
  const Parsed p = parse_path(yaml);
  EXPECT_FALSE(p.ok);
  const std::vector<std::string> expected{
      yaml + ":2:20: sampling.strategies_file: /tmp is a directory, not a regular file"};
  EXPECT_EQ(p.errors, expected);
}

// Used to read until std::bad_alloc: at start, and on SIGHUP in a running agent.
TEST(SamplingConfigInput, StrategiesFileThatIsADeviceIsRefusedWithoutBeingRead) {
  const std::string yaml = config_naming_strategies_file("dev", "/dev/zero");
  const Parsed p = parse_path(yaml);
  EXPECT_FALSE(p.ok);
  const std::vector<std::string> expected{
      yaml + ":2:20: sampling.strategies_file: /dev/zero is a character device, not a regular file"};
  EXPECT_EQ(p.errors, expected);
}

// Used to block in open() until a writer came: a reload froze the agent's only thread.
TEST(SamplingConfigInput, StrategiesFileThatIsAFifoIsRefusedWithoutBlocking) {
  const std::string yaml = config_naming_strategies_file("fifo", "strategies.json");
  const std::string fifo = yaml.substr(0, yaml.rfind('/')) + "/strategies.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const Parsed p = parse_path(yaml);
  EXPECT_FALSE(p.ok);
  const std::vector<std::string> expected{
      yaml + ":2:20: sampling.strategies_file: " + fifo + " is a FIFO (named pipe), not a regular file"};
  EXPECT_EQ(p.errors, expected);
}

TEST(SamplingConfigInput, StrategiesFileAboveTheSizeLimitIsRefused) {
  const std::string yaml = config_naming_strategies_file("big", "big.json");
  const std::string big = yaml.substr(0, yaml.rfind('/')) + "/big.json";
  std::ofstream(big) << "{}";
  ASSERT_EQ(::truncate(big.c_str(), (off_t{16} << 20) + 1), 0);  // sparse: no disk space used
  const Parsed p = parse_path(yaml);
  EXPECT_FALSE(p.ok);
  const std::vector<std::string> expected{yaml + ":2:20: sampling.strategies_file: " + big +
                                          " is 16777217 bytes, more than the limit of 16777216"};
  EXPECT_EQ(p.errors, expected);
}

TEST(SamplingConfigInput, EmptyStrategiesFileIsReportedAtTheYamlKey) {
  const std::string yaml = config_naming_strategies_file("empty", "empty.json");
  std::ofstream(yaml.substr(0, yaml.rfind('/')) + "/empty.json");
  const Parsed p = parse_path(yaml);
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 1u) << joined(p.errors);
  EXPECT_TRUE(p.errors[0].starts_with(yaml + ":2:20: sampling.strategies_file: ")) << p.errors[0];
  EXPECT_NE(p.errors[0].find("is empty"), std::string::npos) << p.errors[0];
}

TEST(SamplingConfig, StrategiesFileErrorsNameTheJsonFileLineAndPath) {
  const Parsed p = parse_file("bad_json_file.yaml");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.errors.size(), 1u) << joined(p.errors);
  EXPECT_EQ(p.errors[0], testdata("bad_probability.json") + ":5:15: service_strategies[1].param: must be in [0, 1], got 1.5");
}

TEST(SamplingConfig, ClonedNodesWithoutMarksStillNameTheKey) {
  const YAML::Node root = YAML::LoadFile(testdata("bad_probability.yaml"));
  SamplingConfig c;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_sampling_config(YAML::Clone(root["sampling"]), "agent.yaml", c, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "agent.yaml: sampling.strategies[1].param: must be in [0, 1], got 1.5");
}

TEST(SamplingConfig, JsonSyntaxErrorsAndUnknownKeysAreReported) {
  SamplingConfig c;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_jaeger_strategies_json("{\"service_strategies\": [}", "s.json", c, errors));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].rfind("s.json", 0), 0u) << errors[0];
  EXPECT_NE(errors[0].find("invalid JSON"), std::string::npos) << errors[0];
  errors.clear();
  EXPECT_FALSE(parse_jaeger_strategies_json("{\n  \"default_stategy\": {}\n}", "s.json", c, errors));
  ASSERT_EQ(errors.size(), 1u) << joined(errors);
  EXPECT_EQ(errors[0], "s.json:2:3: default_stategy: unknown key; expected one of service_strategies, "
                       "default_strategy, default_lower_bound_traces_per_second");
}

TEST(RemoteResponse, ParsesEachStrategyForm) {
  ServiceStrategy s;
  std::vector<std::string> errors;
  ASSERT_TRUE(parse_remote_strategy_response(
      R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.8},
          "operationSampling":{"defaultSamplingProbability":0.8,"defaultLowerBoundTracesPerSecond":0.5,
            "perOperationStrategies":[{"operation":"chat","probabilisticSampling":{"samplingRate":0.2}}],
            "defaultUpperBoundTracesPerSecond":0}})",
      "r", s, errors))
      << joined(errors);
  EXPECT_EQ(s, per_operation(0.8, {{"chat", 0.2}}, 0.5));
  ASSERT_TRUE(parse_remote_strategy_response(
      R"({"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}})", "r", s, errors));
  EXPECT_EQ(s, rate_limiting(42));
  ASSERT_TRUE(parse_remote_strategy_response(R"({"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":3},
      "probabilisticSampling":null,"futureField":{"x":1}})", "r", s, errors));
  EXPECT_EQ(s, rate_limiting(3));
  ASSERT_TRUE(parse_remote_strategy_response(R"({"strategyType":0,"probabilisticSampling":{"samplingRate":0.25}})", "r", s,
                                             errors));
  EXPECT_EQ(s, probabilistic(0.25));
  EXPECT_TRUE(errors.empty()) << joined(errors);
}

TEST(RemoteResponse, RejectsOutOfRangeValuesAndEmptyResponses) {
  ServiceStrategy s;
  std::vector<std::string> errors;
  EXPECT_FALSE(parse_remote_strategy_response(R"({"probabilisticSampling":{"samplingRate":2}})", "r", s, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "r:1:42: probabilisticSampling.samplingRate: must be in [0, 1], got 2");
  errors.clear();
  EXPECT_FALSE(parse_remote_strategy_response(R"({"strategyType":"RATE_LIMITING"})", "r", s, errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("no strategy"), std::string::npos) << errors[0];
}

// ---- remote poller -------------------------------------------------------------------------------

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

// A one-request-per-connection HTTP server on 127.0.0.1, on the test's io_context.
class StrategyServer {
 public:
  explicit StrategyServer(asio::io_context& io) : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}) { accept(); }

  std::uint16_t port() const { return port_; }
  void respond(unsigned status, std::string body) {
    status_ = status;
    body_ = std::move(body);
  }
  void stall() { stall_ = true; }
  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }
  const std::vector<std::string>& targets() const { return targets_; }

 private:
  struct Session : std::enable_shared_from_this<Session> {
    Session(asio::ip::tcp::socket s, StrategyServer* srv) : stream(std::move(s)), server(srv) {}
    beast::tcp_stream stream;
    StrategyServer* server;
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::response<http::string_body> response;

    void run() {
      http::async_read(stream, buffer, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
        if (ec) return;
        self->server->targets_.push_back(std::string(self->request.target()));
        if (self->server->stall_) {
          self->server->stalled_.push_back(self);  // keep the connection open, never answer
          return;
        }
        self->response.result(self->server->status_);
        self->response.version(11);
        self->response.set(http::field::content_type, "application/json");
        self->response.body() = self->server->body_;
        self->response.prepare_payload();
        self->response.keep_alive(false);
        http::async_write(self->stream, self->response, [self](beast::error_code, std::size_t) {
          beast::error_code ignored;
          self->stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        });
      });
    }
  };

  void accept() {
    port_ = acceptor_.local_endpoint().port();
    acceptor_.async_accept([this](beast::error_code ec, asio::ip::tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(std::move(socket), this)->run();
      accept();
    });
  }

  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  unsigned status_ = 200;
  std::string body_;
  bool stall_ = false;
  std::vector<std::string> targets_;
  std::vector<std::shared_ptr<Session>> stalled_;
};

// Runs the io_context until `done` holds; gives up after 10 s so a broken poller fails, not hangs.
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(50));
  }
  return true;
}

struct PollerFixture {
  asio::io_context io;
  StrategyServer server{io};
  Sampler sampler{SamplingConfig{}};
  int updates = 0;
  std::vector<std::string> errors;

  RemoteSamplingConfig remote(std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
    RemoteSamplingConfig r;
    r.endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/api/sampling";
    r.poll_interval = interval;
    return r;
  }
  std::unique_ptr<RemoteSamplingPoller> poller(const RemoteSamplingConfig& r) {
    return std::make_unique<RemoteSamplingPoller>(
        io, r,
        [this](std::string service, ServiceStrategy s) {
          sampler.set_remote_strategy(service, std::move(s));
          ++updates;
        },
        [this](std::string message) { errors.push_back(std::move(message)); });
  }
};

TEST(RemotePoller, UpdatesTheStrategyAndKeepsTheLastGoodOneWhenTheServerFails) {
  PollerFixture f;
  f.server.respond(200, R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}})");
  auto poller = f.poller(f.remote());
  poller->add_service("llm server/α");
  poller->start();
  ASSERT_TRUE(run_until(f.io, [&] { return f.updates >= 1; }));
  EXPECT_EQ(f.server.targets().front(), "/api/sampling?service=llm%20server%2F%CE%B1");
  EXPECT_EQ(f.sampler.strategy("llm server/α"), probabilistic(0.25));

  f.server.respond(500, "backend down");
  ASSERT_TRUE(run_until(f.io, [&] { return !f.errors.empty(); }));
  EXPECT_NE(f.errors.back().find("HTTP 500: backend down"), std::string::npos) << f.errors.back();
  EXPECT_EQ(f.sampler.strategy("llm server/α"), probabilistic(0.25));

  f.server.respond(200, "{not json");
  const std::size_t before = f.errors.size();
  ASSERT_TRUE(run_until(f.io, [&] { return f.errors.size() > before; }));
  EXPECT_NE(f.errors.back().find("bad strategy"), std::string::npos) << f.errors.back();

  f.server.close();
  const std::size_t before_close = f.errors.size();
  ASSERT_TRUE(run_until(f.io, [&] { return f.errors.size() > before_close; }));
  EXPECT_NE(f.errors.back().find("connect"), std::string::npos) << f.errors.back();
  EXPECT_EQ(f.sampler.strategy("llm server/α"), probabilistic(0.25));
  EXPECT_EQ(poller->counters().polls_ok, static_cast<std::uint64_t>(f.updates));
  EXPECT_GE(poller->counters().polls_failed, 3u);
  poller->stop();
}

TEST(RemotePoller, NewServiceIsPolledAtOnceWithoutWaitingForTheInterval) {
  PollerFixture f;
  f.server.respond(200, R"({"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":4}})");
  auto poller = f.poller(f.remote(std::chrono::hours(1)));
  poller->start();
  poller->add_service("a");
  ASSERT_TRUE(run_until(f.io, [&] { return f.updates >= 1; }));
  poller->add_service("b");
  poller->add_service("a");  // already known
  ASSERT_TRUE(run_until(f.io, [&] { return f.updates >= 2; }));
  EXPECT_EQ(f.sampler.strategy("b"), rate_limiting(4));
  EXPECT_EQ(f.server.targets().size(), 2u);
}

TEST(RemotePoller, OversizedResponseIsRejected) {
  PollerFixture f;
  f.server.respond(200, R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.25}})" +
                            std::string(200, ' '));
  RemoteSamplingConfig r = f.remote();
  r.max_response_bytes = 100;
  auto poller = f.poller(r);
  poller->add_service("a");
  poller->start();
  ASSERT_TRUE(run_until(f.io, [&] { return !f.errors.empty() || f.updates > 0; }));
  ASSERT_FALSE(f.errors.empty());
  EXPECT_NE(f.errors.front().find("larger than 100 bytes"), std::string::npos) << f.errors.front();
  EXPECT_EQ(f.updates, 0);
}

TEST(RemotePoller, SilentServerTimesOut) {
  PollerFixture f;
  f.server.stall();
  RemoteSamplingConfig r = f.remote(std::chrono::hours(1));
  r.timeout = std::chrono::milliseconds(100);
  auto poller = f.poller(r);
  poller->add_service("a");
  poller->start();
  ASSERT_TRUE(run_until(f.io, [&] { return !f.errors.empty(); }));
  EXPECT_NE(f.errors.front().find("timed out after 100ms"), std::string::npos) << f.errors.front();
}

TEST(RemoteEndpoint, ServiceIsPercentEncodedIntoTheQuery) {
  const auto e = std::get<HttpUrl>(parse_http_url("http://jaeger:5778/sampling"));
  EXPECT_EQ(strategy_target(e, "a b"), "/sampling?service=a%20b");
}

TEST(RemoteEndpoint, ServiceIsAppendedToAnExistingQuery) {
  const auto e = std::get<HttpUrl>(parse_http_url("http://[::1]?x=1"));
  EXPECT_EQ(strategy_target(e, "s"), "/?x=1&service=s");
}

}  // namespace
}  // namespace spanring::agent
