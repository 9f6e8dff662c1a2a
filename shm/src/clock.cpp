// The clock contract (clock.hpp): the producer's anchor and the reader's conversion, side by
// side so that what one writes and the other assumes can be read together.
#include "spanring/shm/clock.hpp"

#include <cpuid.h>
#include <x86intrin.h>

namespace spanring::shm {

__extension__ typedef __int128 i128;

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts;
  clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

bool cpu_has_invariant_tsc() noexcept {
  unsigned a, b, c, d;
  return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)) != 0;  // CPUID.80000007H:EDX[8]
}

// ---------------------------------------------------------------------------------------------
// Producer side

void take_clock_anchor(SegmentHeader& h, ClockSource source) noexcept {
  const bool tsc = source == kClockTsc;
  h.clock_source = source;
  std::uint64_t best = ~0ull;
  for (int i = 0; i < 10; ++i) {
    const std::uint64_t raw0 = clock_ns(CLOCK_MONOTONIC_RAW);
    const std::uint64_t t = tsc ? __rdtsc() : clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t mono = clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t real = clock_ns(CLOCK_REALTIME);
    const std::uint64_t raw1 = clock_ns(CLOCK_MONOTONIC_RAW);
    if (raw1 - raw0 < best) {
      best = raw1 - raw0;
      h.clock_anchor_tsc = t;
      h.clock_anchor_raw_ns = raw0 + (raw1 - raw0) / 2;
      h.clock_anchor_mono_ns = mono;
      h.clock_anchor_unix_ns = real;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reader side

void ClockConverter::reset(const SegmentHeader& h) noexcept {
  source_ = h.clock_source;
  anchor_tsc_ = h.clock_anchor_tsc;
  anchor_raw_ = h.clock_anchor_raw_ns;
  refresh();
}

void ClockConverter::refresh() noexcept {
  // Bracket the REALTIME read between two reads of the other clock and keep the tightest of a
  // few tries, so a preemption between the reads does not skew the offset.
  std::uint64_t best = ~0ull;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t t0 = __rdtsc();
    const std::uint64_t raw0 = clock_ns(CLOCK_MONOTONIC_RAW);
    const std::uint64_t mono = clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t real = clock_ns(CLOCK_REALTIME);
    const std::uint64_t raw1 = clock_ns(CLOCK_MONOTONIC_RAW);
    const std::uint64_t t1 = __rdtsc();
    if (raw1 - raw0 < best) {
      best = raw1 - raw0;
      const std::uint64_t raw_mid = raw0 + (raw1 - raw0) / 2;
      now_raw_ = raw_mid;
      now_tsc_ = t0 + (t1 - t0) / 2;
      raw_to_unix_ = std::int64_t(real - raw_mid);
      mono_to_unix_ = std::int64_t(real - mono);
    }
  }
}

std::uint64_t ClockConverter::to_unix_ns(std::uint64_t raw) const noexcept {
  if (source_ == kClockMonotonic) return raw + std::uint64_t(mono_to_unix_);
  // Linear interpolation between the producer's anchor and ours: exact for a constant-rate
  // TSC, whatever its frequency. Signed, in 128 bits, so timestamps slightly outside the two
  // anchors (or garbage from a hostile producer) extrapolate without overflow.
  const i128 dt = i128(raw) - i128(anchor_tsc_);
  const i128 span_tsc = i128(now_tsc_) - i128(anchor_tsc_);
  const i128 span_ns = i128(now_raw_) - i128(anchor_raw_);
  i128 ns;
  if (span_tsc <= 0 || span_ns <= 0) {
    ns = i128(anchor_raw_);  // no usable baseline yet: clamp to the anchor
  } else {
    ns = i128(anchor_raw_) + dt * span_ns / span_tsc;
  }
  ns += raw_to_unix_;
  if (ns < 0) return 0;
  if (ns > i128(~0ull)) return ~0ull;
  return std::uint64_t(ns);
}

}  // namespace spanring::shm
