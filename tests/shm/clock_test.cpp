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
  expect_within(c.to_unix_ns(b.raw), b);
}

TEST(ClockContract, AReaderWithoutABaselineClampsToTheAnchor) {
  // A TSC anchor from the future (a hostile or confused producer): no usable interpolation,
  // so every timestamp converts to the anchor's time rather than to garbage.
  auto h = std::make_unique<SegmentHeader>();
  h->clock_source = kClockTsc;
  h->clock_anchor_tsc = ~0ull;
  h->clock_anchor_raw_ns = clock_ns(CLOCK_MONOTONIC_RAW);
  ClockConverter c;
  c.reset(*h);
  EXPECT_EQ(c.to_unix_ns(0), c.to_unix_ns(12345));
}

}  // namespace
}  // namespace spanring::shm
