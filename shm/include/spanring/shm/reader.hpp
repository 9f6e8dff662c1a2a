// The validating reader: maps a segment, drains its rings, and decodes span records. Everything
// it reads from the segment is untrusted: each record is copied out of shared memory before it
// is checked, every length, count and string id is bounds-checked, and anything invalid is
// skipped and counted by reason. No segment content can crash it or make it allocate without
// bound (its buffers are sized by the ABI's maxima, not by values read from the segment).
//
// The header is copied once, in open(), and only that validated copy is used afterwards: the
// ring count, capacity and offsets that decide which addresses the reader touches (and where
// commit() writes `tail`) never come from live shared memory, so a producer rewriting its
// header after open() cannot move them. Only the atomics the ABI defines as live (head, tail,
// counters, closed, the string table's count) are read from the mapping.
//
// A producer can also shrink its segment (ftruncate) under the mapping; touching a page past
// the new end raises SIGBUS. Every access to the mapping therefore runs inside a SIGBUS guard
// (one sigsetjmp per span copied, per uncached string, per head/tail/commit; see
// shm/src/fault_guard.hpp): the first open() installs a process-wide SIGBUS handler that
// returns to the guard of the faulting thread. A faulted reader counts it once
// (kRejectFault), reports faulted(), and never touches the mapping again: read() returns
// `from`, head()/tail()/counters return the last values seen, commit() does nothing. The
// owner should then drop the segment.
//
// A ring that keeps failing validation is quarantined: its head inconsistent with the read
// position on kQuarantineAfterPasses consecutive read() calls, or a whole ring's worth of
// records in a row rejected without one valid span. An honest producer can do neither. The
// episode is counted once (kRejectRingIndex, or the records' own reasons), quarantined()
// says so, and read() never touches the ring again: a hostile segment costs one count and one
// log line, not one per pass. A SIGBUS outside a guard is passed to the previous
// handler (or the default action). Under ASan set ASAN_OPTIONS=handle_sigbus=0, or ASan's own
// handler takes the signal first.
//
// Threading: one SegmentReader is used by one thread at a time.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/clock.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/shm/span_codec.hpp"

namespace spanring::shm {

struct ReaderCounters {
  std::uint64_t spans_read = 0;
  std::uint64_t records_read = 0;
  std::uint64_t rejected[kRejectReasonCount] = {};
  std::uint64_t rings_quarantined = 0;
  // Spans whose start and end straddle a TSC discontinuity (clock.hpp); still delivered.
  std::uint64_t clock_discontinuity_spans = 0;
  std::uint64_t rejected_total() const noexcept;
  // Records and spans rejected while reading (the reasons before kRejectRingIndex): each stands
  // for at least one span the producer wrote and the reader could not decode.
  std::uint64_t spans_rejected() const noexcept;
};

class SegmentReader {
 public:
  // Attaches to /dev/shm/<name> and validates the header.
  SegmentError open(std::string_view name, std::string& message);
  // The validated copy of the header taken by open(): identity, layout, clock anchor, producer
  // pid and start time. Its atomics are zero, not live: use closed(), spans_dropped_no_ring(),
  // traceparent_invalid(), strings_interned_failed(), ring_release_generation().
  const SegmentHeader& header() const noexcept { return header_.get(); }
  // The raw mapping (untrusted, unguarded: tests and tools only).
  const Mapping& mapping() const noexcept { return map_; }
  std::uint32_t ring_count() const noexcept { return ring_count_; }
  std::string_view service_name() const noexcept { return service_; }
  // Resource attributes (validated copy of the header's list).
  const std::vector<std::pair<std::string, std::string>>& resource() const noexcept { return resource_; }

  // Producer head and the committed read position (tail) of a ring (0 for ring ≥ ring_count();
  // the last value seen once faulted).
  std::uint64_t head(std::uint32_t ring) const noexcept;
  std::uint64_t tail(std::uint32_t ring) const noexcept;
  // Linux tid owning the ring, 0 when free (or faulted).
  std::uint32_t ring_owner(std::uint32_t ring) const noexcept;

  // Decodes the spans in [from, head) of `ring`, stopping at the first span boundary at or
  // after `max_records` records (a span is never split, so up to count-1 more), calling
  // fn(const SpanView&) for each valid one. Returns the position after the last record
  // consumed (valid or rejected). Does not move the ring's tail: call commit() once the spans
  // are safe (the agent: once the backend accepted them).
  template <class Fn>
  std::uint64_t read(std::uint32_t ring, std::uint64_t from, std::uint64_t max_records, Fn&& fn);

  // Spans whose first record lies in [from, to) of `ring`, from record headers alone (no
  // decoding): how many spans a ring still holds, e.g. when a restarted agent attaches.
  std::uint64_t count_spans(std::uint32_t ring, std::uint64_t from, std::uint64_t to) const noexcept;

  // Publishes `pos` as the ring's tail (release): the producer may reuse records below it.
  void commit(std::uint32_t ring, std::uint64_t pos) noexcept;

  // Spans the producer says it wrote / dropped (summed over rings and reasons).
  std::uint64_t spans_written() const noexcept;
  std::uint64_t spans_dropped_full() const noexcept;
  std::uint64_t spans_dropped_no_ring() const noexcept;
  // Live header state (the header() copy does not follow it). Last value seen once faulted.
  bool closed() const noexcept;  // acquire: the producer shut down cleanly
  std::uint64_t traceparent_invalid() const noexcept;
  std::uint64_t strings_interned_failed() const noexcept;
  std::uint64_t ring_release_generation() const noexcept;

  // The segment shrank under the mapping (SIGBUS caught): the reader no longer touches it.
  bool faulted() const noexcept { return faulted_; }
  // The ring kept failing validation and is no longer read (see the top of this file).
  static constexpr std::uint32_t kQuarantineAfterPasses = 16;
  bool quarantined(std::uint32_t ring) const noexcept { return ring < ring_count_ && health_[ring].quarantined; }

  ClockConverter& clock() noexcept { return clock_; }
  // A stored time in Unix ns: an explicit time as it is, a raw one converted (abi.hpp, Clock).
  ClockConverter::Converted convert(std::uint64_t stored) const noexcept {
    return is_explicit_time(stored) ? ClockConverter::Converted{stored & ~kTimeUnixNs, 0} : clock_.convert(stored);
  }
  const ReaderCounters& counters() const noexcept { return counters_; }

 private:
  // Copies and checks the span starting at `pos`; returns records consumed (≥1) and sets ok.
  // Returns 0 if the copy faulted (the reader is then faulted).
  std::uint32_t next_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok);
  std::uint32_t copy_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok);
  const Record* record(std::uint32_t r, std::uint64_t i) const noexcept;
  void set_faulted() const noexcept;
  // Every read of live shared state: `read()` runs under the SIGBUS guard, and its value is kept
  // in `last`, which is what the accessor returns once the reader is faulted (or before open()).
  // (defined in reader.cpp, its only user)
  template <class T, class Read>
  T guarded_read(T& last, Read&& read) const noexcept;

  Mapping map_;
  HeaderCopy header_;  // validated in open(); the only source of layout values
  std::uint32_t ring_count_ = 0, capacity_ = 0;
  RingHeader* rings_ = nullptr;      // from the copy's rings_offset
  const Record* records_ = nullptr;  // from the copy's ring_data_offset
  std::string service_;
  std::vector<std::pair<std::string, std::string>> resource_;
  StringCache strings_;
  ClockConverter clock_;
  // Mutable: const accessors that fault record it.
  mutable ReaderCounters counters_;
  mutable bool faulted_ = false;
  struct LastSeen {  // the last value of each live field read, for after a fault
    std::vector<std::uint64_t> head, tail;
    std::uint64_t written = 0, full = 0, no_ring = 0, traceparent_invalid = 0, interned_failed = 0, generation = 0;
    bool closed = false;
  };
  mutable LastSeen last_;
  struct RingHealth {
    std::uint32_t bad_index_passes = 0;  // consecutive read() calls that found head inconsistent
    std::uint64_t rejects_in_a_row = 0;  // records/spans rejected since the last valid span
    bool quarantined = false;
  };
  std::vector<RingHealth> health_;
  void quarantine(std::uint32_t ring) noexcept;
  alignas(8) std::uint8_t scratch_[kMaxRecordsPerSpan * kRecordPayload];
  std::size_t scratch_len_ = 0;
  SpanView view_;
};

template <class Fn>
std::uint64_t SegmentReader::read(std::uint32_t ring, std::uint64_t from, std::uint64_t max_records, Fn&& fn) {
  if (ring >= ring_count_ || faulted_ || health_[ring].quarantined) return from;
  RingHealth& health = health_[ring];
  const std::uint64_t h = head(ring);  // acquire: records below h are complete
  if (faulted_) return from;
  if (h < from || h - from > capacity_) {
    // A producer cannot be more than one ring ahead of the committed tail; a head behind the
    // read position or too far ahead is corruption. Skip the ring rather than read garbage;
    // count the episode once, and give up on the ring if it lasts.
    if (health.bad_index_passes++ == 0) ++counters_.rejected[kRejectRingIndex];
    if (health.bad_index_passes >= kQuarantineAfterPasses) quarantine(ring);
    return from;
  }
  health.bad_index_passes = 0;
  std::uint64_t end = h;
  if (end - from > max_records) end = from + max_records;
  std::uint64_t pos = from;
  while (pos < end) {
    bool ok = false;
    const std::uint32_t n = next_span(ring, pos, h, ok);
    if (faulted_) return pos;  // the span at pos was not consumed
    RejectReason r = kRejectRecordHeader;
    if (ok) {
      r = decode_span(scratch_, scratch_len_, strings_, view_);
      if (strings_.faulted()) {
        set_faulted();
        return pos;
      }
    }
    pos += n;
    counters_.records_read += n;
    if (!ok || r != kRejectReasonCount) {
      if (ok) ++counters_.rejected[r];  // (copy_span counted its own rejects)
      if (++health.rejects_in_a_row >= capacity_) {
        quarantine(ring);
        return pos;
      }
      continue;
    }
    health.rejects_in_a_row = 0;
    const ClockConverter::Converted started = convert(view_.start_raw), ended = convert(view_.end_raw);
    view_.start_unix_ns = started.unix_ns;
    view_.end_unix_ns = ended.unix_ns;
    // Start and end on either side of a TSC jump (clock.hpp): each is converted with its own
    // epoch's anchors, so the times are right but the jump's instant is only known to within
    // the anchors around it; the span is marked and counted. Explicit times have no epoch.
    view_.clock_discontinuity = !is_explicit_time(view_.start_raw) && !is_explicit_time(view_.end_raw) &&
                                started.epoch != ended.epoch;
    if (view_.clock_discontinuity) ++counters_.clock_discontinuity_spans;
    // An end before the start (a jump, or a span given an explicit start and ended on the clock
    // by a caller whose clocks disagree) becomes a zero-length span, never a negative one.
    if (view_.end_unix_ns < view_.start_unix_ns) view_.end_unix_ns = view_.start_unix_ns;
    for (EventView& e : view_.events) e.time_unix_ns = convert(e.time_unix_ns).unix_ns;
    ++counters_.spans_read;
    fn(static_cast<const SpanView&>(view_));
  }
  return pos;
}

}  // namespace spanring::shm
