// Span timestamps: stored raw (TSC ticks or CLOCK_MONOTONIC ns) and converted to Unix ns by
// the reader. A span started after a CLOCK_REALTIME read r0 and ended before a read r1 must
// convert into [r0, r1], give or take the conversion's error (20 us allowed).
#include <time.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "test_support.hpp"

namespace spanring::test {
namespace {

constexpr std::uint64_t kTolerance = 20'000;  // ns
constexpr int kSpans = 50;

std::uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

enum class ClockChoice { kDefault, kEnvMonotonic, kOptionMonotonic };

class Clock : public TracerTest, public ::testing::WithParamInterface<ClockChoice> {};

TEST_P(Clock, SpanTimesConvertToUnixTimeBetweenTheRealtimeReadsAroundThem) {
  std::optional<ScopedEnv> env;
  if (GetParam() == ClockChoice::kEnvMonotonic) env.emplace("SPANRING_CLOCK", "monotonic");
  Options o;
  o.prefer_tsc = GetParam() != ClockChoice::kOptionMonotonic;
  ASSERT_TRUE(start_tracer(o).ok());

  static const Key kIndex("i");
  std::vector<std::uint64_t> r0(kSpans), r1(kSpans);
  for (int i = 0; i < kSpans; ++i) {
    r0[i] = realtime_ns();
    {
      Span s("clock.span");
      s.set_attribute(kIndex, i);
      s.add_event("clock.event");
    }
    r1[i] = realtime_ns();
  }
  // The reader converts by interpolating between the producer's anchor (taken at init, just
  // before the spans) and its own (taken when it opens the segment). Opening it a few ms later
  // puts the spans near the producer's anchor, so an error in that anchor is not hidden by
  // the interpolation pulling the spans towards the reader's own, exact anchor.
  const timespec pause{0, 5'000'000};
  ::nanosleep(&pause, nullptr);
  const SegmentContents c = stop_and_read();
  if (GetParam() == ClockChoice::kDefault) {
    if (c.clock_source != shm::kClockTsc) GTEST_SKIP() << "no invariant TSC on this machine: the default is monotonic";
  } else {
    EXPECT_EQ(c.clock_source, shm::kClockMonotonic);
  }
  ASSERT_EQ(c.spans.size(), std::size_t{kSpans});
  for (const ReadSpan& s : c.spans) {
    ASSERT_NE(s.attribute("i"), nullptr);
    const auto i = static_cast<std::size_t>(s.attribute("i")->int_value);
    ASSERT_LT(i, r0.size());
    EXPECT_GE(s.start_unix_ns + kTolerance, r0[i]) << "span " << i;
    EXPECT_LE(s.end_unix_ns, r1[i] + kTolerance) << "span " << i;
    EXPECT_LE(s.start_raw, s.end_raw) << "span " << i;
    EXPECT_LE(s.start_unix_ns, s.end_unix_ns) << "span " << i;
    ASSERT_EQ(s.events.size(), 1u);
    EXPECT_GE(s.events[0].time_unix_ns, s.start_unix_ns) << "span " << i;
    EXPECT_LE(s.events[0].time_unix_ns, s.end_unix_ns) << "span " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Sources, Clock,
                         ::testing::Values(ClockChoice::kDefault, ClockChoice::kEnvMonotonic,
                                           ClockChoice::kOptionMonotonic),
                         [](const ::testing::TestParamInfo<ClockChoice>& p) {
                           switch (p.param) {
                             case ClockChoice::kDefault: return "DefaultTsc";
                             case ClockChoice::kEnvMonotonic: return "EnvMonotonic";
                             case ClockChoice::kOptionMonotonic: return "OptionMonotonic";
                           }
                           return "unknown";
                         });

class ClockVariable : public TracerTest {};

// tracer.hpp: "SPANRING_CLOCK=monotonic|tsc overrides" prefer_tsc.
TEST_F(ClockVariable, TscOverridesPreferTscFalse) {
  ScopedEnv env("SPANRING_CLOCK", "tsc");
  Options o;
  o.prefer_tsc = false;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockTsc);  // on a machine with an invariant TSC
}

TEST_F(ClockVariable, MonotonicOverridesPreferTscTrue) {
  ScopedEnv env("SPANRING_CLOCK", "monotonic");
  Options o;
  o.prefer_tsc = true;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockMonotonic);
}

}  // namespace
}  // namespace spanring::test
