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
#include "spanring/shm/segment.hpp"

namespace spanring::shm {

enum AttrType : std::uint8_t { kAttrBool = 1, kAttrInt = 2, kAttrDouble = 3, kAttrString = 4 };

struct AttrView {
  std::string_view key;
  std::uint8_t type = 0;  // AttrType
  bool bool_value = false;
  std::int64_t int_value = 0;
  double double_value = 0;
  std::string_view string_value;
  std::int32_t key_id = -1;  // interned key id, or -1 for an inline key (lets readers cache)
};

struct EventView {
  std::uint64_t time_unix_ns = 0;
  std::string_view name;
  std::uint32_t first_attr = 0;  // index into SpanView::sub_attributes
  std::uint32_t attr_count = 0;
  std::uint32_t dropped_attributes = 0;
};

struct LinkView {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 0;
  std::uint8_t flags = 0;  // kSpanFlag*
  std::string_view trace_state;
  std::uint32_t first_attr = 0;
  std::uint32_t attr_count = 0;
  std::uint32_t dropped_attributes = 0;
};

// A decoded span. Views point into the reader's buffers and are valid until the next decode.
struct SpanView {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_span_id{};
  bool has_parent = false;
  std::uint8_t kind = 0;    // OTLP SpanKind value
  std::uint8_t status = 0;  // OTLP StatusCode value
  std::uint8_t trace_flags = 0;
  std::uint8_t span_flags = 0;  // kSpanFlag*
  std::uint64_t start_raw = 0, end_raw = 0;  // producer clock units
  std::uint64_t start_unix_ns = 0, end_unix_ns = 0;
  std::string_view name;
  std::int32_t name_id = -1;
  std::int32_t root_name_id = -1;  // interned name of the local root span, -1 when unknown
  std::string_view root_name;      // its text (empty when unknown)
  std::string_view status_message;
  std::string_view trace_state;
  std::uint32_t dropped_attributes = 0, dropped_events = 0, dropped_links = 0;
  std::vector<AttrView> attributes;
  std::vector<EventView> events;
  std::vector<LinkView> links;
  std::vector<AttrView> sub_attributes;  // attributes of events and links

  // OTLP Span.flags: W3C flags in bits 0–7, parent is-remote in bits 8–9.
  std::uint32_t otlp_flags() const noexcept;
};

// Why a span or record was rejected.
enum RejectReason : std::uint32_t {
  kRejectRecordHeader = 0,  // type/index/count/payload_len of a record is impossible
  kRejectTruncated,         // an item runs past the end of the span's bytes
  kRejectBadTag,            // unknown item tag
  kRejectBadString,         // string length too long or interned id not in the table
  kRejectBadField,          // kind/status/ids out of range (e.g. zero trace id)
  // Not span drops (no span is known to be behind them); counted once per episode:
  kRejectRingIndex,         // head/tail of a ring are inconsistent (ring skipped while it lasts)
  kRejectFault,             // the segment shrank under the mapping (SIGBUS): reader is faulted
  kRejectReasonCount,
};
const char* to_string(RejectReason r) noexcept;

// Resolves interned ids; caches each string the first time it is seen (entries are immutable).
class StringCache {
 public:
  void reset(const StringTable* table) noexcept;
  // Returns false if `id` is not a published, well-formed entry, or reading the table faulted.
  bool lookup(std::uint32_t id, std::string_view& out);
  // Reading the table raised SIGBUS (segment truncated): lookups of new ids fail from then on.
  bool faulted() const noexcept { return faulted_; }

 private:
  const StringTable* table_ = nullptr;
  bool faulted_ = false;
  // A deque: growing it never moves existing strings, so views handed out stay valid.
  std::deque<std::string> strings_;
  std::vector<std::uint8_t> known_;
};

// Decodes one span's concatenated payload bytes. Returns kRejectReasonCount on success, else
// the reason. Raw times are left in start_raw/end_raw (no clock conversion). This is the
// function the fuzzer targets.
RejectReason decode_span(const std::uint8_t* data, std::size_t size, StringCache& strings, SpanView& out);

// Converts producer timestamps to Unix ns (see abi.hpp, "Clock"). refresh() re-samples the
// reader's own anchor; call it once per drain pass.
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

struct ReaderCounters {
  std::uint64_t spans_read = 0;
  std::uint64_t records_read = 0;
  std::uint64_t rejected[kRejectReasonCount] = {};
  std::uint64_t rings_quarantined = 0;
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
  const ReaderCounters& counters() const noexcept { return counters_; }

 private:
  // Copies and checks the span starting at `pos`; returns records consumed (≥1) and sets ok.
  // Returns 0 if the copy faulted (the reader is then faulted).
  std::uint32_t next_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok);
  std::uint32_t copy_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok);
  const Record* record(std::uint32_t r, std::uint64_t i) const noexcept;
  void set_faulted() const noexcept;
  // Loads a live 64-bit atomic under the guard; `last` caches it for after a fault.
  std::uint64_t live_load(const std::atomic<std::uint64_t>& a, std::memory_order order, std::uint64_t& last) const noexcept;

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
  mutable std::vector<std::uint64_t> last_head_, last_tail_;
  struct RingHealth {
    std::uint32_t bad_index_passes = 0;  // consecutive read() calls that found head inconsistent
    std::uint64_t rejects_in_a_row = 0;  // records/spans rejected since the last valid span
    bool quarantined = false;
  };
  std::vector<RingHealth> health_;
  void quarantine(std::uint32_t ring) noexcept;
  mutable std::uint64_t last_written_ = 0, last_full_ = 0, last_no_ring_ = 0;
  mutable std::uint64_t last_traceparent_invalid_ = 0, last_interned_failed_ = 0, last_generation_ = 0;
  mutable bool last_closed_ = false;
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
    view_.start_unix_ns = clock_.to_unix_ns(view_.start_raw);
    view_.end_unix_ns = clock_.to_unix_ns(view_.end_raw);
    for (EventView& e : view_.events) e.time_unix_ns = clock_.to_unix_ns(e.time_unix_ns);
    ++counters_.spans_read;
    fn(static_cast<const SpanView&>(view_));
  }
  return pos;
}

}  // namespace spanring::shm
