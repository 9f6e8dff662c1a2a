#include "spanring/shm/reader.hpp"

#include <cstring>

#include "byte_cursor.hpp"
#include "fault_guard.hpp"

namespace spanring::shm {

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
// Segment reader

SegmentError SegmentReader::open(std::string_view name, std::string& message) {
  Mapping m;
  // attach_segment hands over the copy it validated: from here on nothing else is used.
  HeaderCopy copy;
  if (SegmentError e = attach_segment(name, m, message, &copy); e != SegmentError::kOk) return e;
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
  detail::Cursor c(h.resource, h.resource_bytes_used);
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
  clock_.refresh();
  counters_ = {};
  faulted_ = false;
  last_ = LastSeen{};
  last_.head.assign(ring_count_, 0);
  last_.tail.assign(ring_count_, 0);
  health_.assign(ring_count_, RingHealth{});
  return SegmentError::kOk;
}

template <class T, class Read>
T SegmentReader::guarded_read(T& last, Read&& read) const noexcept {
  if (faulted_ || map_.data() == nullptr) return last;
  T v{};
  auto load = [&] { v = read(); };
  if (!detail::guarded(load)) {
    set_faulted();
    return last;
  }
  return last = v;
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


const Record* SegmentReader::record(std::uint32_t r, std::uint64_t i) const noexcept {
  return records_ + (std::uint64_t(r) * capacity_ + (i & (capacity_ - 1)));
}

std::uint64_t SegmentReader::head(std::uint32_t ring) const noexcept {
  if (ring >= ring_count_) return 0;
  // acquire pairs with the producer's release store ①: records below head are complete.
  return guarded_read(last_.head[ring], [&] { return rings_[ring].head.load(std::memory_order_acquire); });
}

std::uint64_t SegmentReader::tail(std::uint32_t ring) const noexcept {
  if (ring >= ring_count_) return 0;
  // relaxed: only this reader writes tail; reading our own last store needs no ordering.
  return guarded_read(last_.tail[ring], [&] { return rings_[ring].tail.load(std::memory_order_relaxed); });
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
  last_.tail[ring] = pos;
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

// Counters are summed over rings (each ring's counters have one writer: its producer thread).
std::uint64_t SegmentReader::spans_written() const noexcept {
  return guarded_read(last_.written, [&] {
    std::uint64_t n = 0;
    for (std::uint32_t r = 0; r < ring_count_; ++r) n += rings_[r].spans_written.load(std::memory_order_relaxed);
    return n;
  });
}

std::uint64_t SegmentReader::spans_dropped_full() const noexcept {
  return guarded_read(last_.full, [&] {
    std::uint64_t n = 0;
    for (std::uint32_t r = 0; r < ring_count_; ++r) n += rings_[r].spans_dropped_full.load(std::memory_order_relaxed);
    return n;
  });
}

std::uint64_t SegmentReader::spans_dropped_no_ring() const noexcept {
  return guarded_read(last_.no_ring, [&] { return map_.header()->spans_dropped_no_ring.load(std::memory_order_relaxed); });
}

std::uint64_t SegmentReader::traceparent_invalid() const noexcept {
  return guarded_read(last_.traceparent_invalid,
                      [&] { return map_.header()->traceparent_invalid.load(std::memory_order_relaxed); });
}

std::uint64_t SegmentReader::strings_interned_failed() const noexcept {
  return guarded_read(last_.interned_failed,
                      [&] { return map_.header()->strings_interned_failed.load(std::memory_order_relaxed); });
}

std::uint64_t SegmentReader::ring_release_generation() const noexcept {
  return guarded_read(last_.generation,
                      [&] { return map_.header()->ring_release_generation.load(std::memory_order_acquire); });
}

bool SegmentReader::closed() const noexcept {
  return guarded_read(last_.closed, [&] { return map_.header()->closed.load(std::memory_order_acquire) != 0; });
}

}  // namespace spanring::shm
