// The clock contract, both sides (abi.hpp, "Clock"): the anchor a producer takes once when it
// creates its segment, and the conversion a reader applies to every raw timestamp.
//
//   producer (engine, at init)                 reader (agent, per drain pass)
//   take_clock_anchor(header, source):         ClockConverter::reset(header), refresh():
//     best of 10 samples of (raw timestamp,      its own (rdtsc, MONOTONIC_RAW, MONOTONIC,
//     MONOTONIC_RAW, MONOTONIC, REALTIME)        REALTIME) sample, best of 3
//   then per span: rdtsc or CLOCK_MONOTONIC    to_unix_ns(raw): TSC interpolated between the
//     (detail/ring_writer.hpp, now())            two anchors; MONOTONIC plus (REALTIME - MONOTONIC)
//
// A "sample" brackets the other reads between two MONOTONIC_RAW reads and is kept when that
// bracket is the tightest, so a preemption in the middle does not skew the anchor.
// tests/shm/clock_test.cpp checks the round trip against CLOCK_REALTIME.
#pragma once

#include <time.h>

#include <cstdint>

#include "spanring/shm/abi.hpp"

namespace spanring::shm {

// clock_gettime(id) in ns.
std::uint64_t clock_ns(clockid_t id) noexcept;

// CPUID.80000007H:EDX[8]: the CPU says its TSC runs at a constant rate in every power state.
// The CPU's half of the decision to use the TSC (the kernel's half is its clocksource).
bool cpu_has_invariant_tsc() noexcept;

// Producer side: stores `source` and the clock anchor (clock_anchor_tsc, _raw_ns, _mono_ns,
// _unix_ns) in the header being initialised, before it is published with `ready`. The anchor
// is raw timestamp units of `source`: rdtsc ticks for kClockTsc, CLOCK_MONOTONIC ns otherwise.
void take_clock_anchor(SegmentHeader& h, ClockSource source) noexcept;

// Reader side: converts producer timestamps to Unix ns. reset() takes the producer's anchor
// from a validated header copy; refresh() re-samples the reader's own anchor (call it once per
// drain pass, so the REALTIME offset follows NTP adjustments).
class ClockConverter {
 public:
  void reset(const SegmentHeader& h) noexcept;
  void refresh() noexcept;
  std::uint64_t to_unix_ns(std::uint64_t raw) const noexcept;

 private:
  std::uint32_t source_ = kClockMonotonic;
  std::uint64_t anchor_tsc_ = 0, anchor_raw_ = 0;
  std::uint64_t now_tsc_ = 0, now_raw_ = 0;
  std::int64_t raw_to_unix_ = 0;   // unix - raw, sampled at refresh
  std::int64_t mono_to_unix_ = 0;  // unix - mono, sampled at refresh
};

}  // namespace spanring::shm
