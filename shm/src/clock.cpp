// The clock contract (clock.hpp): the producer's anchor and the reader's conversion, side by
// side so that what one writes and the other assumes can be read together.
#include "spanring/shm/clock.hpp"

#include <cpuid.h>
#include <x86intrin.h>

#include <cmath>
#include <cstdlib>

namespace spanring::shm {

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts;
  clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

bool cpu_has_invariant_tsc() noexcept {
  unsigned a, b, c, d;
  return __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)) != 0;  // CPUID.80000007H:EDX[8]
}

namespace {

// One sample of every clock, bracketed by MONOTONIC_RAW; `tsc` is rdtsc or CLOCK_MONOTONIC.
// `width` gets the bracket of the sample kept (its uncertainty, twice over).
ClockAnchor sample(bool tsc, int tries, std::uint64_t* width_out = nullptr) noexcept {
  ClockAnchor best;
  std::uint64_t width = ~0ull;
  for (int i = 0; i < tries; ++i) {
    const std::uint64_t raw0 = clock_ns(CLOCK_MONOTONIC_RAW);
    const std::uint64_t t = tsc ? __rdtsc() : clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t mono = clock_ns(CLOCK_MONOTONIC);
    const std::uint64_t real = clock_ns(CLOCK_REALTIME);
    const std::uint64_t raw1 = clock_ns(CLOCK_MONOTONIC_RAW);
    if (raw1 - raw0 < width) {
      width = raw1 - raw0;
      best = {t, raw0 + (raw1 - raw0) / 2, mono, real};
    }
  }
  if (width_out) *width_out = width;
  return best;
}

// A sample whose bracket is at most `max_width`, trying up to 100 times (a preempted thread
// brackets milliseconds; a running one well under a microsecond). Returns false if none was.
bool tight_sample(ClockAnchor& out, std::uint64_t max_width) noexcept {
  for (int i = 0; i < 100; ++i) {
    std::uint64_t width = 0;
    out = sample(true, 1, &width);
    if (width <= max_width) return true;
  }
  return false;
}

}  // namespace

ClockAnchor sample_clock_anchor(int tries) noexcept { return sample(true, tries); }

double measured_tsc_ticks_per_ns() noexcept {
  static const double rate = [] {
    // 20 ms between two samples good to 2 µs: the rate to within 200 ppm, well inside the
    // jump tolerance (kClockJumpTolerancePpm).
    ClockAnchor a, b;
    tight_sample(a, 2'000);
    const timespec pause{0, 20'000'000};
    ::nanosleep(&pause, nullptr);
    tight_sample(b, 2'000);
    return b.raw_ns > a.raw_ns && b.tsc > a.tsc ? double(b.tsc - a.tsc) / double(b.raw_ns - a.raw_ns) : 1.0;
  }();
  return rate;
}

// ---------------------------------------------------------------------------------------------
// Producer side

void take_clock_anchor(SegmentHeader& h, ClockSource source) noexcept {
  const ClockAnchor a = sample(source == kClockTsc, 10);
  h.clock_source = source;
  h.clock_anchor_tsc = a.tsc;
  h.clock_anchor_raw_ns = a.raw_ns;
  h.clock_anchor_mono_ns = a.mono_ns;
  h.clock_anchor_unix_ns = a.unix_ns;
}

// ---------------------------------------------------------------------------------------------
// Reader side

double ClockConverter::reference_ns_per_tick() noexcept {
  if (reference_rate_ <= 0) reference_rate_ = measured_tsc_ticks_per_ns();
  return 1.0 / reference_rate_;
}

void ClockConverter::reset(const SegmentHeader& h) noexcept {
  source_ = h.clock_source;
  epochs_.clear();
  discontinuities_ = 0;
  mono_to_unix_ = std::int64_t(h.clock_anchor_unix_ns - h.clock_anchor_mono_ns);
  if (source_ == kClockTsc) {
    // The producer's anchor is the first point of the history: all the reader knows of the
    // ticks before its own first anchor (spans written before the agent started).
    const ClockAnchor p{h.clock_anchor_tsc, h.clock_anchor_raw_ns, h.clock_anchor_mono_ns, h.clock_anchor_unix_ns};
    epochs_.push_back({p, p, reference_ns_per_tick(), next_id_++});
  }
}

void ClockConverter::refresh() noexcept {
  if (source_ != kClockTsc) {
    const ClockAnchor a = sample(false, 3);
    mono_to_unix_ = std::int64_t(a.unix_ns - a.mono_ns);
    return;
  }
  // A sample the thread was preempted in the middle of would look like a jump: skip it (the
  // anchors already held keep converting; the next pass tries again).
  ClockAnchor a;
  if (tight_sample(a, kClockAnchorMaxWidthNs)) add_anchor(a);
}

double ClockConverter::since_last(const Epoch& e, std::uint64_t tick) noexcept {
  // From the epoch's latest anchor, the nearest to the ticks a drain pass sees; signed, so
  // ticks before it extrapolate backwards. Only this difference is a double (2^53 ticks, weeks,
  // exactly): absolute Unix ns would lose 256 ns of precision in one.
  return double(std::int64_t(tick - e.last.tsc)) * e.ns_per_tick;
}

void ClockConverter::add_anchor(const ClockAnchor& a) noexcept {
  if (source_ != kClockTsc) return;
  if (epochs_.empty()) {
    epochs_.push_back({a, a, reference_ns_per_tick(), next_id_++});
    return;
  }
  Epoch& e = epochs_.back();
  const double elapsed = std::fabs(double(std::int64_t(a.raw_ns - e.last.raw_ns)));
  const double tolerance = double(kClockJumpToleranceNs) + elapsed * double(kClockJumpTolerancePpm) * 1e-6;
  const bool agrees = a.raw_ns >= e.last.raw_ns && a.tsc >= e.last.tsc &&
                      std::fabs(since_last(e, a.tsc) - double(a.raw_ns - e.last.raw_ns)) <= tolerance;
  if (!agrees) {
    // The TSC jumped (or the producer's anchor came from before a restore): a new line
    // through the ticks from here on, at the rate last known good.
    ++discontinuities_;
    const double rate = e.ns_per_tick;
    if (epochs_.size() == kClockMaxEpochs) epochs_.erase(epochs_.begin());
    epochs_.push_back({a, a, rate, next_id_++});
    return;
  }
  e.last = a;
  // Long enough a baseline: the epoch's own rate, exact for a constant-rate TSC.
  if (e.last.raw_ns - e.first.raw_ns >= kRateBaselineNs && e.last.tsc > e.first.tsc)
    e.ns_per_tick = double(e.last.raw_ns - e.first.raw_ns) / double(e.last.tsc - e.first.tsc);
}

ClockConverter::Converted ClockConverter::convert(std::uint64_t raw) const noexcept {
  if (source_ != kClockTsc) return {raw + std::uint64_t(mono_to_unix_), 0};
  if (epochs_.empty()) return {0, 0};
  // Each epoch has a time window: from the previous epoch's last anchor to the next epoch's
  // first (open-ended for the oldest and the newest). A tick converts with an epoch whose
  // window holds the time it maps to; where a backward jump makes two fit, with the one whose
  // anchors it lies nearest (a tick hours from an epoch's anchors is not from that epoch).
  // Nearly every tick is recent: it maps into the newest epoch at or after its first anchor,
  // and the search stops there.
  const std::size_t n = epochs_.size();
  auto rel = [](std::uint64_t raw_ns, const Epoch& e) { return double(std::int64_t(raw_ns - e.last.raw_ns)); };
  const Epoch& newest = epochs_[n - 1];
  const double t_newest = since_last(newest, raw);
  std::size_t pick = n - 1;
  double dt = t_newest;
  if (n > 1 && !(t_newest >= rel(newest.first.raw_ns, newest) && t_newest <= kRecentNs)) {
    double best = -1;
    for (std::size_t i = n; i-- > 0;) {
      const Epoch& e = epochs_[i];
      const double t = since_last(e, raw);
      if (i > 0 && t < rel(epochs_[i - 1].last.raw_ns, e)) continue;
      if (i + 1 < n && t > rel(epochs_[i + 1].first.raw_ns, e)) continue;
      const double first = rel(e.first.raw_ns, e);
      const double distance = t < first ? first - t : t > 0 ? t : 0;
      if (best < 0 || distance < best) best = distance, pick = i, dt = t;
    }
    // In no window (between two epochs, which a real TSC never produces, or garbage from a
    // hostile producer): the newest epoch, not before its window.
    if (best < 0) dt = std::fmax(t_newest, rel(epochs_[n - 2].last.raw_ns, newest));
  }
  const Epoch& e = epochs_[pick];
  // The epoch's latest anchor carries REALTIME as of then: follows NTP from pass to pass.
  const double unix_ns = double(e.last.unix_ns) + dt;  // for the range checks only
  if (!(unix_ns > 0)) return {0, e.id};
  if (unix_ns >= 18446744073709549568.0) return {~0ull, e.id};
  return {e.last.unix_ns + std::uint64_t(std::llround(dt)), e.id};
}

}  // namespace spanring::shm
