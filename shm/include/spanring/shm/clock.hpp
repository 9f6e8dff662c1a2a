// The clock contract, both sides (abi.hpp, "Clock"): the anchor a producer takes once when it
// creates its segment, and the conversion a reader applies to every raw timestamp.
//
//   producer (engine, at init)                 reader (agent, per drain pass)
//   take_clock_anchor(header, source):         ClockConverter::reset(header), then refresh()
//     best of 10 samples of (raw timestamp,      once per pass: its own anchor (rdtsc,
//     MONOTONIC_RAW, MONOTONIC, REALTIME)        MONOTONIC_RAW, MONOTONIC, REALTIME), best of 3
//   then per span: rdtsc or CLOCK_MONOTONIC    to_unix_ns(raw): TSC ticks → MONOTONIC_RAW ns
//     (detail/ring_writer.hpp, now())            with the anchors of the tick's epoch, plus
//                                                (REALTIME - MONOTONIC_RAW); MONOTONIC plus
//                                                (REALTIME - MONOTONIC)
//
// A "sample" brackets the other reads between two MONOTONIC_RAW reads and is kept when that
// bracket is the tightest, so a preemption in the middle does not skew the anchor; the reader
// drops an anchor whose bracket stays wide (kClockAnchorMaxWidthNs).
//
// WHY THE AGENT KEEPS ANCHORS. The engine records raw rdtsc wherever the CPU calls its TSC
// invariant, whatever clocksource the kernel chose: reading the TSC costs ~10 ns where a
// clock_gettime through kvm-clock costs ~27. Kernels in VMs distrust the TSC because a snapshot
// restore or a live migration can make it jump. The reader therefore never trusts one line
// through all ticks: it keeps a history of its own anchors, in EPOCHS. Within an epoch,
// consecutive anchors agree with the TSC rate (ticks elapsed / MONOTONIC_RAW ns elapsed); an
// anchor that does not agree within kClockJumpToleranceNs + kClockJumpTolerancePpm starts a new
// epoch (a discontinuity). A tick converts with the epoch whose time window it falls in (the
// newest one when it falls in several), so spans on each side of a jump keep their right
// times; a span whose start and end fall in different epochs is reported by the caller
// (SpanView::clock_discontinuity) and its end is never before its start.
// MONOTONIC_RAW is the reference because NTP neither slews nor steps it; the kernel keeps it
// continuous across a migration (kvm-clock) even when the TSC underneath jumps.
//
// tests/shm/clock_test.cpp checks the round trip against CLOCK_REALTIME and feeds the converter
// simulated jumps.
#pragma once

#include <time.h>

#include <cstdint>
#include <vector>

#include "spanring/shm/abi.hpp"

namespace spanring::shm {

// clock_gettime(id) in ns.
std::uint64_t clock_ns(clockid_t id) noexcept;

// CPUID.80000007H:EDX[8]: the CPU says its TSC runs at a constant rate in every power state.
// This alone decides whether a producer records rdtsc (the kernel's clocksource does not: the
// reader handles the jumps that make kernels distrust the TSC in VMs).
bool cpu_has_invariant_tsc() noexcept;

// One simultaneous reading of the clocks a conversion needs.
struct ClockAnchor {
  std::uint64_t tsc = 0;      // raw timestamp in the producer's units (rdtsc ticks for kClockTsc)
  std::uint64_t raw_ns = 0;   // CLOCK_MONOTONIC_RAW
  std::uint64_t mono_ns = 0;  // CLOCK_MONOTONIC
  std::uint64_t unix_ns = 0;  // CLOCK_REALTIME
};

// The tightest of `tries` samples (see the top of this file); `tsc` = rdtsc.
ClockAnchor sample_clock_anchor(int tries) noexcept;

// Producer side: stores `source` and the clock anchor (clock_anchor_tsc, _raw_ns, _mono_ns,
// _unix_ns) in the header being initialised, before it is published with `ready`. The anchor
// is raw timestamp units of `source`: rdtsc ticks for kClockTsc, CLOCK_MONOTONIC ns otherwise.
void take_clock_anchor(SegmentHeader& h, ClockSource source) noexcept;

// TSC ticks per ns on this host, measured once per process (two anchors 20 ms apart, the
// first call sleeps): the rate against which a new epoch's first anchors are checked.
double measured_tsc_ticks_per_ns() noexcept;

// A jump is an anchor whose MONOTONIC_RAW time differs from the one its epoch's TSC rate
// predicts by more than kClockJumpToleranceNs + kClockJumpTolerancePpm of the time elapsed.
// The ppm term covers the error of a rate measured over a short baseline (anchors are good to
// ~1 µs); smaller jumps are absorbed as if the TSC had not jumped (an error of that size).
inline constexpr std::uint64_t kClockJumpToleranceNs = 50'000;
inline constexpr std::uint64_t kClockJumpTolerancePpm = 1000;
// refresh() keeps an anchor only if its MONOTONIC_RAW bracket is at most this wide (else the
// reader was preempted while sampling and the anchor could be off by more than the tolerance).
inline constexpr std::uint64_t kClockAnchorMaxWidthNs = 10'000;
// Epochs kept; the oldest is forgotten first (its ticks then convert with the next one).
inline constexpr std::size_t kClockMaxEpochs = 16;

// Reader side: converts producer timestamps to Unix ns. reset() takes the producer's anchor
// from a validated header copy as the first anchor (and nothing else: the reader calls
// refresh() next); refresh() adds one of the reader's own (call it once per drain pass).
// add_anchor() is refresh() with a given reading (tests feed simulated jumps through it).
class ClockConverter {
 public:
  // ticks_per_ns: the rate a new epoch is checked against until its own anchors span
  // kRateBaselineNs; 0 = measured_tsc_ticks_per_ns() (measured on first need).
  explicit ClockConverter(double ticks_per_ns = 0) noexcept : reference_rate_(ticks_per_ns) {}

  void reset(const SegmentHeader& h) noexcept;
  void refresh() noexcept;
  void add_anchor(const ClockAnchor& a) noexcept;

  struct Converted {
    std::uint64_t unix_ns;
    std::uint32_t epoch;  // which epoch converted it (compare two of one span: equal = no jump between)
  };
  Converted convert(std::uint64_t raw) const noexcept;
  std::uint64_t to_unix_ns(std::uint64_t raw) const noexcept { return convert(raw).unix_ns; }

  // TSC jumps seen so far (epochs started after the first).
  std::uint64_t discontinuities() const noexcept { return discontinuities_; }
  std::size_t epochs() const noexcept { return epochs_.size(); }

 private:
  // A tick at most this far past the newest anchor is "recent": the fast path of convert().
  static constexpr double kRecentNs = 10e9;
  // An epoch's own rate replaces the reference once its anchors are this far apart.
  static constexpr std::uint64_t kRateBaselineNs = 100'000'000;
  struct Epoch {
    ClockAnchor first, last;
    double ns_per_tick = 0;
    std::uint32_t id = 0;  // grows with each epoch, never reused
  };
  double reference_ns_per_tick() noexcept;
  // MONOTONIC_RAW ns from the epoch's latest anchor to `tick`, on its line.
  static double since_last(const Epoch& e, std::uint64_t tick) noexcept;

  std::uint32_t source_ = kClockMonotonic;
  double reference_rate_ = 0;    // ticks per ns, 0 until needed
  std::vector<Epoch> epochs_;    // oldest first; kClockTsc only
  std::uint32_t next_id_ = 0;
  std::uint64_t discontinuities_ = 0;
  std::int64_t mono_to_unix_ = 0;  // kClockMonotonic: unix - mono, sampled at refresh
};

}  // namespace spanring::shm
