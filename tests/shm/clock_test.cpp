// The clock contract (shm/clock.hpp): an anchor taken as a producer takes it, a raw timestamp
// taken after it, converted as the reader converts it, lands where CLOCK_REALTIME says it
// was. Assumes nothing about the machine's clocksource; the TSC case runs only on a CPU that
// calls its TSC invariant.
#include "spanring/shm/clock.hpp"

#include <gtest/gtest.h>
#include <x86intrin.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>

namespace spanring::shm {
namespace {

// Reads of different clocks are a few tens of ns apart unless the thread is preempted between
// them; the brackets below absorb that, this absorbs the rest (and an NTP slew over the test).
constexpr std::uint64_t kToleranceNs = 10'000;

struct Bracketed {
  std::uint64_t raw = 0, real_before = 0, real_after = 0;
};

// A raw timestamp of `source` between two CLOCK_REALTIME reads; the tightest of a few tries.
Bracketed take_raw(ClockSource source) {
  Bracketed best;
  std::uint64_t width = ~0ull;
  for (int i = 0; i < 5; ++i) {
    Bracketed b;
    b.real_before = clock_ns(CLOCK_REALTIME);
    b.raw = source == kClockTsc ? __rdtsc() : clock_ns(CLOCK_MONOTONIC);
    b.real_after = clock_ns(CLOCK_REALTIME);
    if (b.real_after - b.real_before < width) {
      width = b.real_after - b.real_before;
      best = b;
    }
  }
  return best;
}

void expect_within(std::uint64_t unix_ns, const Bracketed& b) {
  EXPECT_GE(unix_ns + kToleranceNs, b.real_before) << "converted " << (b.real_before - unix_ns) << " ns early";
  EXPECT_LE(unix_ns, b.real_after + kToleranceNs) << "converted " << (unix_ns - b.real_after) << " ns late";
}

TEST(ClockContract, MonotonicAnchorAndConversionAgreeWithRealtime) {
  auto h = std::make_unique<SegmentHeader>();
  take_clock_anchor(*h, kClockMonotonic);
  EXPECT_EQ(h->clock_source, kClockMonotonic);
  // The anchor's raw value is a CLOCK_MONOTONIC reading taken together with the others.
  EXPECT_LT(h->clock_anchor_mono_ns - h->clock_anchor_tsc, kToleranceNs);
  EXPECT_NE(h->clock_anchor_raw_ns, 0u);

  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const Bracketed b = take_raw(kClockMonotonic);
  ClockConverter c;
  c.reset(*h);
  c.refresh();
  expect_within(c.to_unix_ns(b.raw), b);
  // The anchor itself converts to the REALTIME reading taken with it.
  const std::uint64_t anchor_unix = c.to_unix_ns(h->clock_anchor_tsc);
  EXPECT_LT(anchor_unix > h->clock_anchor_unix_ns ? anchor_unix - h->clock_anchor_unix_ns
                                                  : h->clock_anchor_unix_ns - anchor_unix,
            kToleranceNs);
}

TEST(ClockContract, TscAnchorAndConversionAgreeWithRealtime) {
  if (!cpu_has_invariant_tsc())
    GTEST_SKIP() << "this CPU does not report an invariant TSC (CPUID.80000007H:EDX[8] clear), so rdtsc need not "
                    "tick at a constant rate and a producer here would use CLOCK_MONOTONIC";
  auto h = std::make_unique<SegmentHeader>();
  take_clock_anchor(*h, kClockTsc);
  EXPECT_EQ(h->clock_source, kClockTsc);
  // The reader interpolates between the producer's anchor and its own: leave a baseline.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const Bracketed b = take_raw(kClockTsc);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ClockConverter c;
  c.reset(*h);
  c.refresh();
  expect_within(c.to_unix_ns(b.raw), b);
}

TEST(ClockContract, AHostileAnchorConvertsToNothingAbsurd) {
  if (!cpu_has_invariant_tsc())
    GTEST_SKIP() << "this CPU does not report an invariant TSC (CPUID.80000007H:EDX[8] clear): the reader's own "
                    "rdtsc anchors, which this test converts against CLOCK_REALTIME, need not tick at a constant rate";
  // A TSC anchor from the future (a hostile or confused producer): the reader's own anchors
  // start a new epoch, and ticks the producer could not have written clamp instead of wrapping.
  auto h = std::make_unique<SegmentHeader>();
  h->clock_source = kClockTsc;
  h->clock_anchor_tsc = ~0ull;
  h->clock_anchor_raw_ns = clock_ns(CLOCK_MONOTONIC_RAW);
  ClockConverter c;
  c.reset(*h);
  c.refresh();
  EXPECT_EQ(c.discontinuities(), 1u);
  const std::uint64_t now = clock_ns(CLOCK_REALTIME);
  const std::uint64_t t = c.to_unix_ns(__rdtsc());
  EXPECT_LT(t > now ? t - now : now - t, 1'000'000u);  // the reader's own epoch: right
  EXPECT_LE(c.to_unix_ns(0), now);                      // before every anchor: not in the future
}

// The converter fed anchors by hand: a TSC at 3 ticks/ns, anchors every 10 ms, then a jump.
class ClockJump : public ::testing::Test {
 protected:
  static constexpr double kRate = 3.0;  // ticks per ns
  static constexpr std::uint64_t kUnix0 = 1'700'000'000'000'000'000ull, kRaw0 = 5'000'000'000ull;

  // The anchor at raw time `raw_ns`, for a TSC that reads `tsc_at_raw0` at kRaw0.
  static ClockAnchor at(std::uint64_t raw_ns, std::uint64_t tsc_at_raw0) {
    ClockAnchor a;
    a.raw_ns = raw_ns;
    a.mono_ns = raw_ns;
    a.unix_ns = kUnix0 + (raw_ns - kRaw0);
    a.tsc = tsc_at_raw0 + std::uint64_t(std::int64_t(double(std::int64_t(raw_ns - kRaw0)) * kRate));
    return a;
  }
  static std::uint64_t tick(std::uint64_t raw_ns, std::uint64_t tsc_at_raw0) { return at(raw_ns, tsc_at_raw0).tsc; }
  static std::uint64_t unix_at(std::uint64_t raw_ns) { return kUnix0 + (raw_ns - kRaw0); }

  // A converter whose producer anchor is at kRaw0, then anchors every 10 ms up to `until`.
  void start(std::uint64_t tsc0, std::uint64_t until) {
    auto h = std::make_unique<SegmentHeader>();
    const ClockAnchor p = at(kRaw0, tsc0);
    h->clock_source = kClockTsc;
    h->clock_anchor_tsc = p.tsc;
    h->clock_anchor_raw_ns = p.raw_ns;
    h->clock_anchor_mono_ns = p.mono_ns;
    h->clock_anchor_unix_ns = p.unix_ns;
    c_.reset(*h);
    feed(kRaw0 + 10'000'000, until, tsc0);
  }
  void feed(std::uint64_t from, std::uint64_t until, std::uint64_t tsc0) {
    for (std::uint64_t r = from; r <= until; r += 10'000'000) c_.add_anchor(at(r, tsc0));
  }
  static void expect_near(std::uint64_t got, std::uint64_t want) {
    EXPECT_LE(got > want ? got - want : want - got, 2u) << "got " << got << ", want " << want;
  }

  ClockConverter c_{kRate};
};

TEST_F(ClockJump, SteadyAnchorsMakeOneEpochAndConvertExactly) {
  start(1'000'000'000, kRaw0 + 2'000'000'000);
  EXPECT_EQ(c_.epochs(), 1u);
  EXPECT_EQ(c_.discontinuities(), 0u);
  expect_near(c_.to_unix_ns(tick(kRaw0 + 123'456'789, 1'000'000'000)), unix_at(kRaw0 + 123'456'789));
  // Before the producer's anchor (a span from before the agent knew the segment) and after the
  // last anchor (a span the current pass reads): extrapolated at the same rate.
  expect_near(c_.to_unix_ns(tick(kRaw0 - 1'000'000, 1'000'000'000)), unix_at(kRaw0 - 1'000'000));
  expect_near(c_.to_unix_ns(tick(kRaw0 + 2'003'000'000, 1'000'000'000)), unix_at(kRaw0 + 2'003'000'000));
}

// A live migration or snapshot restore moves the TSC forward by an hour's worth of ticks
// between two anchors (at 1.005 s): each side converts with its own anchors.
TEST_F(ClockJump, ForwardJumpStartsAnEpochAndBothSidesConvertRight) {
  constexpr std::uint64_t kBefore = 1'000'000'000, kAfter = kBefore + 3600ull * 3'000'000'000ull;
  start(kBefore, kRaw0 + 1'000'000'000);
  feed(kRaw0 + 1'010'000'000, kRaw0 + 2'000'000'000, kAfter);
  EXPECT_EQ(c_.epochs(), 2u);
  EXPECT_EQ(c_.discontinuities(), 1u);
  const auto before = c_.convert(tick(kRaw0 + 1'003'000'000, kBefore));  // after the last old anchor
  const auto after = c_.convert(tick(kRaw0 + 1'007'000'000, kAfter));    // before the first new one
  expect_near(before.unix_ns, unix_at(kRaw0 + 1'003'000'000));
  expect_near(after.unix_ns, unix_at(kRaw0 + 1'007'000'000));
  EXPECT_NE(before.epoch, after.epoch);  // a span from `before` to `after` straddles the jump
  const auto early = c_.convert(tick(kRaw0 + 500'000'000, kBefore));
  const auto late = c_.convert(tick(kRaw0 + 1'500'000'000, kAfter));
  EXPECT_EQ(early.epoch, before.epoch);
  EXPECT_EQ(late.epoch, after.epoch);
  expect_near(early.unix_ns, unix_at(kRaw0 + 500'000'000));
  expect_near(late.unix_ns, unix_at(kRaw0 + 1'500'000'000));
}

// A snapshot restore can also move the TSC backwards: ticks after the restore are smaller than
// ticks before it. Converted with one line they would run backwards in time.
TEST_F(ClockJump, BackwardJumpConvertsLaterTicksToLaterTimes) {
  constexpr std::uint64_t kBefore = 900'000'000'000ull, kAfter = 1'000'000;
  start(kBefore, kRaw0 + 1'000'000'000);
  feed(kRaw0 + 1'010'000'000, kRaw0 + 1'500'000'000, kAfter);
  EXPECT_EQ(c_.discontinuities(), 1u);
  const auto start_of_span = c_.convert(tick(kRaw0 + 990'000'000, kBefore));
  const auto end_of_span = c_.convert(tick(kRaw0 + 1'200'000'000, kAfter));
  EXPECT_LT(tick(kRaw0 + 1'200'000'000, kAfter), tick(kRaw0 + 990'000'000, kBefore));  // raw ticks went back
  expect_near(start_of_span.unix_ns, unix_at(kRaw0 + 990'000'000));
  expect_near(end_of_span.unix_ns, unix_at(kRaw0 + 1'200'000'000));
  EXPECT_NE(start_of_span.epoch, end_of_span.epoch);
}

// The engine started before a restore and the agent after it: the producer's anchor is the
// only point of the old epoch; the agent's anchors disagree with it at the measured rate.
TEST_F(ClockJump, ProducerAnchorFromBeforeARestoreIsItsOwnEpoch) {
  auto h = std::make_unique<SegmentHeader>();
  const ClockAnchor p = at(kRaw0, 50'000'000'000ull);
  h->clock_source = kClockTsc;
  h->clock_anchor_tsc = p.tsc;
  h->clock_anchor_raw_ns = p.raw_ns;
  h->clock_anchor_mono_ns = p.mono_ns;
  h->clock_anchor_unix_ns = p.unix_ns;
  c_.reset(*h);
  feed(kRaw0 + 60'000'000'000ull, kRaw0 + 61'000'000'000ull, 7'000'000);
  EXPECT_EQ(c_.discontinuities(), 1u);
  expect_near(c_.to_unix_ns(tick(kRaw0 + 1'000'000, 50'000'000'000ull)), unix_at(kRaw0 + 1'000'000));
  expect_near(c_.to_unix_ns(tick(kRaw0 + 60'500'000'000ull, 7'000'000)), unix_at(kRaw0 + 60'500'000'000ull));
}

// A jump below the tolerance is absorbed, not reported: the anchors' own error is ~1 µs.
TEST_F(ClockJump, JitterWithinToleranceIsNotADiscontinuity) {
  start(1'000'000'000, kRaw0 + 500'000'000);
  ClockAnchor a = at(kRaw0 + 510'000'000, 1'000'000'000);
  a.raw_ns += 3'000;  // a sample 3 µs off
  c_.add_anchor(a);
  EXPECT_EQ(c_.discontinuities(), 0u);
}

// Epochs are bounded: a TSC that jumps at every anchor costs memory up to kClockMaxEpochs.
TEST_F(ClockJump, EpochsAreBounded) {
  start(1'000'000'000, kRaw0 + 100'000'000);
  for (std::uint64_t i = 1; i <= 3 * kClockMaxEpochs; ++i)
    c_.add_anchor(at(kRaw0 + 100'000'000 + i * 10'000'000, 1'000'000'000 + i * 1'000'000'000'000ull));
  EXPECT_EQ(c_.epochs(), kClockMaxEpochs);
  EXPECT_EQ(c_.discontinuities(), 3 * kClockMaxEpochs);
}

}  // namespace
}  // namespace spanring::shm
