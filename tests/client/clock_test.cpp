// Span timestamps: stored raw (TSC ticks or CLOCK_MONOTONIC ns) and converted to Unix ns by
// the reader. A span started after a CLOCK_REALTIME read r0 and ended before a read r1 must
// convert into [r0, r1], give or take the conversion's error (20 us allowed).
//
// Whether init picks the TSC depends on the CPU alone (invariant TSC bit), not on the kernel's
// clocksource: the tests play a kernel that distrusts the TSC (kvm-clock, hpet) through
// detail::set_clocksource_path_for_testing and check that the TSC is still chosen. A test that
// needs the TSC chosen skips, saying so, on a CPU without an invariant TSC.
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace spanring::test {
namespace {

// A file standing in for /sys/.../current_clocksource with `content`, pointed to for the
// lifetime of this object.
class FakeClocksource {
 public:
  explicit FakeClocksource(const std::string& content) {
    char path[] = "/tmp/spanring-clocksource-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd >= 0) {
      path_ = path;
      const std::string line = content + "\n";
      ok_ = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      ::close(fd);
    }
    detail::set_clocksource_path_for_testing(path_.empty() ? "/nonexistent/current_clocksource" : path_.c_str());
  }
  ~FakeClocksource() {
    detail::set_clocksource_path_for_testing(nullptr);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  FakeClocksource(const FakeClocksource&) = delete;
  FakeClocksource& operator=(const FakeClocksource&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string path_;
  bool ok_ = false;
};

constexpr const char* kNoInvariantTsc =
    "this CPU has no invariant TSC (CPUID 80000007H EDX bit 8), so the TSC is never chosen here";

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
  if (GetParam() == ClockChoice::kDefault && !detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;
  FakeClocksource kernel("kvm-clock");  // a kernel that distrusts the TSC, whatever this one does
  ASSERT_TRUE(kernel.ok());
  std::optional<ScopedEnv> env;
  if (GetParam() == ClockChoice::kEnvMonotonic) env.emplace("SPANRING_CLOCK", "monotonic");
  Options o;
  if (GetParam() == ClockChoice::kOptionMonotonic) o.prefer_tsc = false;  // else unset
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
  EXPECT_EQ(c.clock_source, GetParam() == ClockChoice::kDefault ? shm::kClockTsc : shm::kClockMonotonic);
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

// tracer.hpp, above Options: the API wins over the variable.
TEST_F(ClockVariable, PreferTscFalseWinsOverTscVariable) {
  if (!detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;  // else monotonic anyway
  FakeClocksource kernel("tsc");
  ASSERT_TRUE(kernel.ok());
  ScopedEnv env("SPANRING_CLOCK", "tsc");
  Options o;
  o.prefer_tsc = false;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockMonotonic);
}

TEST_F(ClockVariable, TscVariableAppliesWhenPreferTscIsUnset) {
  if (!detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;
  FakeClocksource kernel("tsc");
  ASSERT_TRUE(kernel.ok());
  ScopedEnv env("SPANRING_CLOCK", "tsc");
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockTsc);
}

// A set option means the variable is not read, so not checked either (as for every setting).
TEST_F(ClockVariable, InvalidVariableIsNotReadWhenPreferTscIsSet) {
  ScopedEnv env("SPANRING_CLOCK", "rdtsc");
  Options o;
  o.prefer_tsc = false;
  const InitStatus st = start_tracer(o);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockMonotonic);
}

TEST_F(ClockVariable, InvalidVariableFailsInitWhenPreferTscIsUnset) {
  ScopedEnv env("SPANRING_CLOCK", "rdtsc");
  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(st.code, InitCode::kInvalidArgument);
  EXPECT_EQ(st.message, "spanring: SPANRING_CLOCK='rdtsc' must be tsc or monotonic");
}

// A VM on kvm-clock, or a kernel booted with tsc=unstable: the TSC is used all the same (the
// agent handles its jumps, shm/clock.hpp), and the kernel's choice is only reported.
TEST_F(ClockVariable, TscIsUsedWhenTheKernelDistrustsTheTsc) {
  if (!detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;
  FakeClocksource kernel("kvm-clock");
  ASSERT_TRUE(kernel.ok());
  ScopedEnv env("SPANRING_CLOCK", "tsc");
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(detail::kernel_clocksource(), "kvm-clock");
  EXPECT_TRUE(detail::using_tsc());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockTsc);
}

TEST_F(ClockVariable, DefaultFollowsTheCpuWhateverTheClocksource) {
  FakeClocksource kernel("hpet");
  ASSERT_TRUE(kernel.ok());
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(detail::kernel_clocksource(), "hpet");
  EXPECT_EQ(stop_and_read().clock_source,
            detail::cpu_has_invariant_tsc() ? shm::kClockTsc : shm::kClockMonotonic);
}

// No clocksource file (no /sys in a container): nothing to report, the CPU's word decides.
TEST_F(ClockVariable, DefaultFollowsTheCpuWhenTheClocksourceCannotBeRead) {
  detail::set_clocksource_path_for_testing("/nonexistent/current_clocksource");
  const InitStatus st = start_tracer();
  EXPECT_EQ(detail::kernel_clocksource(), "");
  detail::set_clocksource_path_for_testing(nullptr);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(stop_and_read().clock_source,
            detail::cpu_has_invariant_tsc() ? shm::kClockTsc : shm::kClockMonotonic);
}

// rdtsc read on one core at start and another at end: the invariant TSC is synchronised
// across cores, so the span keeps a sane duration (and converts between the realtime reads).
TEST_F(ClockVariable, ASpanEndedOnAnotherCoreHasASaneDuration) {
  if (!detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;
  cpu_set_t allowed;
  ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) GTEST_SKIP() << "this test may run on one CPU only, so no span can move between cores";
  auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return ::sched_setaffinity(0, sizeof one, &one) == 0;
  };
  ASSERT_TRUE(start_tracer().ok());
  static const Key kIndex("i");
  constexpr int kMoves = 20;
  std::vector<std::uint64_t> r0(kMoves), r1(kMoves);
  for (int i = 0; i < kMoves; ++i) {
    ASSERT_TRUE(pin(cpus[i % 2]));
    r0[i] = realtime_ns();
    {
      Span s("moves.core");
      s.set_attribute(kIndex, i);
      ASSERT_TRUE(pin(cpus[(i + 1) % 2]));  // the span ends on the other core
    }
    r1[i] = realtime_ns();
  }
  ::sched_setaffinity(0, sizeof allowed, &allowed);
  const SegmentContents c = stop_and_read();
  ASSERT_EQ(c.spans.size(), std::size_t{kMoves});
  for (const ReadSpan& s : c.spans) {
    const auto i = static_cast<std::size_t>(s.attribute("i")->int_value);
    EXPECT_LE(s.start_raw, s.end_raw) << "span " << i;
    EXPECT_LE(s.start_unix_ns, s.end_unix_ns) << "span " << i;
    EXPECT_LE(s.end_unix_ns - s.start_unix_ns, r1[i] - r0[i] + kTolerance) << "span " << i;
    EXPECT_GE(s.start_unix_ns + kTolerance, r0[i]) << "span " << i;
    EXPECT_LE(s.end_unix_ns, r1[i] + kTolerance) << "span " << i;
  }
}

TEST_F(ClockVariable, PreferTscTrueWinsOverMonotonicVariable) {
  if (!detail::cpu_has_invariant_tsc()) GTEST_SKIP() << kNoInvariantTsc;  // else monotonic anyway
  FakeClocksource kernel("tsc");
  ASSERT_TRUE(kernel.ok());
  ScopedEnv env("SPANRING_CLOCK", "monotonic");
  Options o;
  o.prefer_tsc = true;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(stop_and_read().clock_source, shm::kClockTsc);
}

}  // namespace
}  // namespace spanring::test
