#include "spanring/shm/reader.hpp"

#include <time.h>
#include <x86intrin.h>

#include <cstring>

#include "fault_guard.hpp"

namespace spanring::shm {

__extension__ typedef __int128 i128;

const char* to_string(RejectReason r) noexcept {
  switch (r) {
    case kRejectRecordHeader: return "record_header";
    case kRejectTruncated: return "truncated";
    case kRejectBadTag: return "bad_tag";
    case kRejectBadString: return "bad_string";
    case kRejectBadField: return "bad_field";
    case kRejectRingIndex: return "ring_index";
    case kRejectFault: return "segment_fault";
    case kRejectReasonCount: break;
  }
  return "unknown";
}

std::uint32_t SpanView::otlp_flags() const noexcept {
  std::uint32_t f = trace_flags & 0x03u;  // only the W3C bits we know: sampled, random
  if (span_flags & kSpanFlagHasRemote) {
    f |= 0x100u;
    if (span_flags & kSpanFlagParentRemote) f |= 0x200u;
  }
  return f;
}

std::uint64_t ReaderCounters::rejected_total() const noexcept {
  std::uint64_t t = 0;
  for (std::uint64_t v : rejected) t += v;
  return t;
}

std::uint64_t ReaderCounters::spans_rejected() const noexcept {
  std::uint64_t t = 0;
  for (std::uint32_t r = 0; r < kRejectRingIndex; ++r) t += rejected[r];
  return t;
}

// ---------------------------------------------------------------------------------------------
// Strings

void StringCache::reset(const StringTable* table) noexcept {
  if (table != nullptr) detail::install_fault_handler();
  table_ = table;
  faulted_ = false;
  strings_.clear();
  known_.clear();
}

bool StringCache::lookup(std::uint32_t id, std::string_view& out) {
  if (id >= kStringTableEntries || table_ == nullptr) return false;
  if (id < known_.size() && known_[id]) {
    out = strings_[id];
    return true;
  }
  if (faulted_) return false;
  // Copied out under the SIGBUS guard, then stored (allocation is not allowed in the guard).
  char text[kMaxStringLength];
  std::uint16_t len = 0;
  bool valid = false;
  auto copy = [&] {
    // acquire pairs with the producer's release store of count after writing the entry.
    const std::uint32_t count = table_->count.load(std::memory_order_acquire);
    if (id >= count || count > kStringTableEntries) return;
    const std::uint32_t off = table_->offsets[id];
    if (off > kStringTableBytes - 2) return;
    std::memcpy(&len, table_->bytes + off, 2);
    if (len > kMaxStringLength || off + 2u + len > kStringTableBytes) return;
    std::memcpy(text, table_->bytes + off + 2, len);
    valid = true;
  };
  if (!detail::guarded(copy)) {
    faulted_ = true;
    return false;
  }
  if (!valid) return false;
  if (strings_.size() <= id) {
    strings_.resize(id + 1);
    known_.resize(id + 1, 0);
  }
  strings_[id].assign(text, len);
  known_[id] = 1;
  out = strings_[id];
  return true;
}

// ---------------------------------------------------------------------------------------------
// Span decoding

namespace {

class Cursor {
 public:
  Cursor(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ == end_; }
  template <class T>
  bool get(T& v) {
    if (std::size_t(end_ - p_) < sizeof(T)) return false;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool bytes(void* dst, std::size_t n) {
    if (std::size_t(end_ - p_) < n) return false;
    std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  // Returns kRejectReasonCount on success.
  RejectReason str(StringCache& strings, std::string_view& out, std::int32_t* id = nullptr) {
    std::uint16_t n;
    if (!get(n)) return kRejectTruncated;
    if (n & kStrInterned) {
      const std::uint32_t i = n & 0x7fffu;
      if (!strings.lookup(i, out)) return kRejectBadString;
      if (id) *id = std::int32_t(i);
      return kRejectReasonCount;
    }
    if (n > kMaxStringLength) return kRejectBadString;
    if (std::size_t(end_ - p_) < n) return kRejectTruncated;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    if (id) *id = -1;
    return kRejectReasonCount;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

constexpr RejectReason kOk = kRejectReasonCount;

RejectReason attribute(Cursor& c, std::uint8_t tag, StringCache& strings, AttrView& a) {
  a = AttrView{};
  if (RejectReason r = c.str(strings, a.key, &a.key_id); r != kOk) return r;
  switch (tag) {
    case kItemAttrBool: {
      std::uint8_t v;
      if (!c.get(v)) return kRejectTruncated;
      if (v > 1) return kRejectBadField;
      a.type = kAttrBool;
      a.bool_value = v != 0;
      return kOk;
    }
    case kItemAttrInt:
      a.type = kAttrInt;
      return c.get(a.int_value) ? kOk : kRejectTruncated;
    case kItemAttrDouble:
      a.type = kAttrDouble;
      return c.get(a.double_value) ? kOk : kRejectTruncated;
    case kItemAttrString:
      a.type = kAttrString;
      return c.str(strings, a.string_value);
    default:
      return kRejectBadTag;
  }
}

bool is_attr_tag(std::uint8_t t) { return t >= kItemAttrBool && t <= kItemAttrString; }

// Reads `count` attribute items into `out`.
RejectReason attributes(Cursor& c, std::uint32_t count, StringCache& strings, std::vector<AttrView>& out) {
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint8_t tag;
    if (!c.get(tag)) return kRejectTruncated;
    if (!is_attr_tag(tag)) return kRejectBadTag;
    AttrView a;
    if (RejectReason r = attribute(c, tag, strings, a); r != kOk) return r;
    out.push_back(a);
  }
  return kOk;
}

// The tail shared by events and links: [u8 attr_count][u8 dropped_attrs], then the attribute
// items, appended to the span's sub_attributes.
template <class EventOrLink>
RejectReason sub_attributes(Cursor& c, StringCache& strings, SpanView& s, EventOrLink& item) {
  std::uint8_t count, dropped;
  if (!c.get(count) || !c.get(dropped)) return kRejectTruncated;
  item.first_attr = std::uint32_t(s.sub_attributes.size());
  item.attr_count = count;
  item.dropped_attributes = dropped;
  return attributes(c, count, strings, s.sub_attributes);
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

}  // namespace

RejectReason decode_span(const std::uint8_t* data, std::size_t size, StringCache& strings, SpanView& s) {
  s.attributes.clear();
  s.events.clear();
  s.links.clear();
  s.sub_attributes.clear();
  s.name = {};
  s.name_id = -1;
  s.status_message = {};
  s.trace_state = {};
  if (size < sizeof(SpanFixed) || size > kMaxRecordsPerSpan * kRecordPayload) return kRejectTruncated;
  SpanFixed f;
  std::memcpy(&f, data, sizeof f);
  if (all_zero(f.trace_id, 16) || all_zero(f.span_id, 8)) return kRejectBadField;
  if (f.kind < kKindInternal || f.kind > kKindConsumer || f.status > kStatusError) return kRejectBadField;
  std::memcpy(s.trace_id.data(), f.trace_id, 16);
  std::memcpy(s.span_id.data(), f.span_id, 8);
  std::memcpy(s.parent_span_id.data(), f.parent_span_id, 8);
  s.has_parent = (f.span_flags & kSpanFlagHasParent) != 0;
  if (s.has_parent && all_zero(f.parent_span_id, 8)) return kRejectBadField;
  s.kind = f.kind;
  s.status = f.status;
  s.trace_flags = f.trace_flags;
  s.span_flags = f.span_flags;
  s.start_raw = f.start_time;
  s.end_raw = f.end_time;
  if (s.end_raw < s.start_raw) return kRejectBadField;
  s.dropped_attributes = f.dropped_attributes;
  s.dropped_events = f.dropped_events;
  s.dropped_links = f.dropped_links;
  s.root_name_id = -1;
  s.root_name = {};
  if (f.root_name & kStrInterned) {
    // Advisory (used for per-operation sampling): an unknown id is ignored, not an error.
    if (strings.lookup(f.root_name & 0x7fffu, s.root_name)) s.root_name_id = f.root_name & 0x7fff;
  }

  Cursor c(data + sizeof(SpanFixed), size - sizeof(SpanFixed));
  // Bounds on item counts come from the span size itself (each item takes ≥ 4 bytes), so the
  // vectors below never grow past ~kMaxSpanBytes/4 entries.
  while (!c.done()) {
    std::uint8_t tag;
    c.get(tag);
    switch (tag) {
      case kItemName:
        if (RejectReason r = c.str(strings, s.name, &s.name_id); r != kOk) return r;
        break;
      case kItemStatusMessage:
        if (RejectReason r = c.str(strings, s.status_message); r != kOk) return r;
        break;
      case kItemTraceState:
        if (RejectReason r = c.str(strings, s.trace_state); r != kOk) return r;
        break;
      case kItemAttrBool:
      case kItemAttrInt:
      case kItemAttrDouble:
      case kItemAttrString: {
        AttrView a;
        if (RejectReason r = attribute(c, tag, strings, a); r != kOk) return r;
        s.attributes.push_back(a);
        break;
      }
      case kItemEvent: {
        EventView e;
        if (!c.get(e.time_unix_ns)) return kRejectTruncated;
        if (RejectReason r = c.str(strings, e.name); r != kOk) return r;
        if (RejectReason r = sub_attributes(c, strings, s, e); r != kOk) return r;
        s.events.push_back(e);
        break;
      }
      case kItemLink: {
        LinkView l;
        if (!c.bytes(l.trace_id.data(), 16) || !c.bytes(l.span_id.data(), 8)) return kRejectTruncated;
        if (!c.get(l.trace_flags) || !c.get(l.flags)) return kRejectTruncated;
        if (RejectReason r = c.str(strings, l.trace_state); r != kOk) return r;
        if (RejectReason r = sub_attributes(c, strings, s, l); r != kOk) return r;
        s.links.push_back(l);
        break;
      }
      default:
        return kRejectBadTag;
    }
  }
  if (s.name.empty()) return kRejectBadField;  // OTLP: name is required
  // A description belongs to ERROR only (an ERROR later overridden by OK loses it).
  if (s.status != kStatusError) s.status_message = {};
  if (s.root_name_id < 0 && (!s.has_parent || (s.span_flags & kSpanFlagParentRemote))) {
    s.root_name = s.name;  // a local root with an inline name names itself
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// Clock

namespace {

std::uint64_t clock_ns(clockid_t id) noexcept {
  timespec ts;
  clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

}  // namespace

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

// ---------------------------------------------------------------------------------------------
// Segment reader

SegmentError SegmentReader::open(std::string_view name, std::string& message) {
  Mapping m;
  if (SegmentError e = attach_segment(name, m, message); e != SegmentError::kOk) return e;
  // attach_segment validated a copy it then dropped; the header may have changed since. Copy
  // once more, validate that copy, and from here on use nothing else.
  HeaderCopy copy;
  bool ready = false;
  if (!copy_header(m, copy, ready)) {
    message = "/dev/shm/" + std::string(name) + " shrank while its header was read";
    return SegmentError::kInvalidHeader;
  }
  if (SegmentError e = validate_header(copy.get(), m.size(), message); e != SegmentError::kOk) {
    message = "/dev/shm/" + std::string(name) + ": " + message;
    return e;
  }
  map_ = std::move(m);
  header_ = copy;
  const SegmentHeader& h = header_.get();
  ring_count_ = h.ring_count;
  capacity_ = h.ring_capacity;
  rings_ = reinterpret_cast<RingHeader*>(map_.data() + h.rings_offset);
  records_ = reinterpret_cast<const Record*>(map_.data() + h.ring_data_offset);
  service_.assign(h.service_name, h.service_name_length);
  resource_.clear();
  // Resource list: validated entry by entry; a malformed tail is ignored.
  Cursor c(h.resource, h.resource_bytes_used);
  for (std::uint32_t i = 0; i < h.resource_count && i < 256; ++i) {
    std::uint16_t kl, vl;
    std::string k, v;
    if (!c.get(kl) || kl > kMaxStringLength) break;
    k.resize(kl);
    if (!c.bytes(k.data(), kl)) break;
    if (!c.get(vl) || vl > kMaxStringLength) break;
    v.resize(vl);
    if (!c.bytes(v.data(), vl)) break;
    resource_.emplace_back(std::move(k), std::move(v));
  }
  strings_.reset(reinterpret_cast<const StringTable*>(map_.data() + h.string_table_offset));
  clock_.reset(h);
  counters_ = {};
  faulted_ = false;
  last_head_.assign(ring_count_, 0);
  last_tail_.assign(ring_count_, 0);
  health_.assign(ring_count_, RingHealth{});
  last_written_ = last_full_ = last_no_ring_ = 0;
  last_traceparent_invalid_ = last_interned_failed_ = last_generation_ = 0;
  last_closed_ = false;
  return SegmentError::kOk;
}

void SegmentReader::quarantine(std::uint32_t ring) noexcept {
  if (health_[ring].quarantined) return;
  health_[ring].quarantined = true;
  ++counters_.rings_quarantined;
}

void SegmentReader::set_faulted() const noexcept {
  if (faulted_) return;
  faulted_ = true;
  ++counters_.rejected[kRejectFault];
}

std::uint64_t SegmentReader::live_load(const std::atomic<std::uint64_t>& a, std::memory_order order,
                                       std::uint64_t& last) const noexcept {
  if (faulted_) return last;
  std::uint64_t v = 0;
  auto load = [&] { v = a.load(order); };
  if (!detail::guarded(load)) {
    set_faulted();
    return last;
  }
  last = v;
  return v;
}

const Record* SegmentReader::record(std::uint32_t r, std::uint64_t i) const noexcept {
  return records_ + (std::uint64_t(r) * capacity_ + (i & (capacity_ - 1)));
}

std::uint64_t SegmentReader::head(std::uint32_t ring) const noexcept {
  if (ring >= ring_count_) return 0;
  // acquire pairs with the producer's release store ①: records below head are complete.
  return live_load(rings_[ring].head, std::memory_order_acquire, last_head_[ring]);
}

std::uint64_t SegmentReader::tail(std::uint32_t ring) const noexcept {
  if (ring >= ring_count_) return 0;
  // relaxed: only this reader writes tail; reading our own last store needs no ordering.
  return live_load(rings_[ring].tail, std::memory_order_relaxed, last_tail_[ring]);
}

std::uint32_t SegmentReader::ring_owner(std::uint32_t ring) const noexcept {
  if (ring >= ring_count_ || faulted_) return 0;
  std::uint32_t tid = 0;
  auto load = [&] { tid = rings_[ring].owner_tid.load(std::memory_order_acquire); };
  if (!detail::guarded(load)) set_faulted();
  return faulted_ ? 0 : tid;
}

void SegmentReader::commit(std::uint32_t ring, std::uint64_t pos) noexcept {
  if (ring >= ring_count_ || faulted_) return;
  // release pairs with the producer's acquire ②: our reads of the records happen-before the
  // producer overwrites them.
  auto store = [&] { rings_[ring].tail.store(pos, std::memory_order_release); };
  if (!detail::guarded(store)) {
    set_faulted();
    return;
  }
  last_tail_[ring] = pos;
}

std::uint32_t SegmentReader::next_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok) {
  ok = false;
  std::uint32_t n = 0;
  // One guard per span: the copy does only memcpy and counter increments.
  auto copy = [&] { n = copy_span(ring, pos, head, ok); };
  if (!detail::guarded(copy)) {
    ok = false;
    set_faulted();
    return 0;
  }
  return n;
}

std::uint32_t SegmentReader::copy_span(std::uint32_t ring, std::uint64_t pos, std::uint64_t head, bool& ok) {
  ok = false;
  Record rec;
  std::memcpy(&rec, record(ring, pos), sizeof rec);  // copy first: the producer is untrusted
  const RecordHeader& rh = rec.header;
  if (rh.type != kRecordSpan || rh.index != 0 || rh.count == 0 || rh.count > kMaxRecordsPerSpan ||
      rh.payload_len > kRecordPayload || head - pos < rh.count ||
      (rh.count > 1 && rh.payload_len != kRecordPayload)) {
    ++counters_.rejected[kRejectRecordHeader];
    return 1;  // resynchronise on the next record
  }
  const std::uint32_t count = rh.count;
  std::memcpy(scratch_, rec.payload, rh.payload_len);
  scratch_len_ = rh.payload_len;
  for (std::uint32_t k = 1; k < count; ++k) {
    std::memcpy(&rec, record(ring, pos + k), sizeof rec);
    const bool last = k + 1 == count;
    if (rec.header.type != kRecordContinuation || rec.header.index != k || rec.header.count != count ||
        rec.header.payload_len > kRecordPayload || (!last && rec.header.payload_len != kRecordPayload)) {
      ++counters_.rejected[kRejectRecordHeader];
      return k;  // the span is lost; resume at the record that broke it
    }
    std::memcpy(scratch_ + scratch_len_, rec.payload, rec.header.payload_len);
    scratch_len_ += rec.header.payload_len;
  }
  ok = true;
  return count;
}

std::uint64_t SegmentReader::count_spans(std::uint32_t ring, std::uint64_t from, std::uint64_t to) const noexcept {
  if (ring >= ring_count_ || faulted_ || to < from || to - from > capacity_) return 0;
  std::uint64_t n = 0;
  auto count = [&] {
    for (std::uint64_t i = from; i < to; ++i) {
      RecordHeader h;
      std::memcpy(&h, &record(ring, i)->header, sizeof h);
      if (h.type == kRecordSpan && h.index == 0) ++n;
    }
  };
  if (!detail::guarded(count)) {
    set_faulted();
    return 0;
  }
  return n;
}

std::uint64_t SegmentReader::spans_written() const noexcept {
  if (faulted_) return last_written_;
  std::uint64_t n = 0;
  auto sum = [&] {
    for (std::uint32_t r = 0; r < ring_count_; ++r) n += rings_[r].spans_written.load(std::memory_order_relaxed);
  };
  if (!detail::guarded(sum)) {
    set_faulted();
    return last_written_;
  }
  return last_written_ = n;
}

std::uint64_t SegmentReader::spans_dropped_full() const noexcept {
  if (faulted_) return last_full_;
  std::uint64_t n = 0;
  auto sum = [&] {
    for (std::uint32_t r = 0; r < ring_count_; ++r) n += rings_[r].spans_dropped_full.load(std::memory_order_relaxed);
  };
  if (!detail::guarded(sum)) {
    set_faulted();
    return last_full_;
  }
  return last_full_ = n;
}

std::uint64_t SegmentReader::spans_dropped_no_ring() const noexcept {
  if (map_.header() == nullptr) return 0;
  return live_load(map_.header()->spans_dropped_no_ring, std::memory_order_relaxed, last_no_ring_);
}

std::uint64_t SegmentReader::traceparent_invalid() const noexcept {
  if (map_.header() == nullptr) return 0;
  return live_load(map_.header()->traceparent_invalid, std::memory_order_relaxed, last_traceparent_invalid_);
}

std::uint64_t SegmentReader::strings_interned_failed() const noexcept {
  if (map_.header() == nullptr) return 0;
  return live_load(map_.header()->strings_interned_failed, std::memory_order_relaxed, last_interned_failed_);
}

std::uint64_t SegmentReader::ring_release_generation() const noexcept {
  if (map_.header() == nullptr) return 0;
  return live_load(map_.header()->ring_release_generation, std::memory_order_acquire, last_generation_);
}

bool SegmentReader::closed() const noexcept {
  if (map_.header() == nullptr || faulted_) return last_closed_;
  std::uint32_t v = 0;
  auto load = [&] { v = map_.header()->closed.load(std::memory_order_acquire); };
  if (!detail::guarded(load)) {
    set_faulted();
    return last_closed_;
  }
  return last_closed_ = v != 0;
}

}  // namespace spanring::shm
