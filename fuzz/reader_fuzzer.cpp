// libFuzzer target: SegmentReader::read over fuzzer-chosen ring contents in an otherwise valid
// segment (one ring of 32 records). Input layout:
//   bytes 0..7   u64 `from`, the read position (so every slot and the u64 wrap are reachable)
//   byte  8      n: head = from + n (n > 32 is an index corruption the reader must refuse)
//   byte  9      clock_source: odd = TSC, even = monotonic
//   bytes 10..25 u64 clock_anchor_tsc, u64 clock_anchor_raw_ns (hostile clock anchors)
//   bytes 26..   record bytes, copied into slots from, from+1, ... (mod 32); the rest are zero
// The segment is created once and unlinked at once: the mappings stay valid, and a crash leaves
// nothing behind in /dev/shm. The reader quarantines a ring that keeps failing (a run of corrupt
// heads, or a ring's worth of rejects in a row, across inputs): the state is then made afresh.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_support.hpp"
#include "spanring/shm/layout.hpp"
#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"

namespace {

using namespace spanring::shm;

constexpr std::uint32_t kCapacity = 32;
constexpr std::size_t kInputHeader = 26;

struct State {
  Layout layout = layout_for(1, kCapacity);
  Mapping producer;  // the "engine" side: writes records and head
  SegmentReader reader;
  RingHeader* ring = nullptr;
  std::uint8_t* records = nullptr;

  explicit State(std::uint32_t generation) {
    CreateOptions o;
    o.name = segment_name("fuzz-reader", static_cast<std::uint32_t>(::getpid()), generation);
    o.layout = layout;
    std::string message;
    remove_segment(o.name);  // a leftover of a killed run with the same pid
    spanring::fuzz::require(create_segment(o, producer, message) == SegmentError::kOk);
    SegmentHeader& h = *producer.header();
    h.magic = kMagic;
    h.abi_major = kAbiMajor;
    h.abi_minor = kAbiMinor;
    h.header_size = kHeaderSize;
    h.segment_size = layout.segment_size;
    h.record_size = kRecordSize;
    h.ring_count = 1;
    h.ring_capacity = kCapacity;
    h.clock_source = kClockMonotonic;
    h.string_table_offset = layout.string_table_offset;
    h.rings_offset = layout.rings_offset;
    h.ring_data_offset = layout.ring_data_offset;
    spanring::fuzz::fill_table(*reinterpret_cast<StringTable*>(producer.data() + layout.string_table_offset));
    h.ready.store(1, std::memory_order_release);
    const bool opened = reader.open(o.name, message) == SegmentError::kOk;
    remove_segment(o.name);
    spanring::fuzz::require(opened);
    ring = reinterpret_cast<RingHeader*>(producer.data() + layout.rings_offset);
    records = producer.data() + layout.ring_data_offset;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::uint32_t generation = 0;
  static State* s = new State(generation);  // never destroyed: libFuzzer may exit from any point
  if (size < kInputHeader) return 0;
  std::uint64_t from;
  std::memcpy(&from, data, 8);
  const std::uint64_t n = data[8];
  SegmentHeader& h = *s->producer.header();
  h.clock_source = data[9] & 1 ? kClockTsc : kClockMonotonic;
  std::memcpy(&h.clock_anchor_tsc, data + 10, 8);
  std::memcpy(&h.clock_anchor_raw_ns, data + 18, 8);
  s->reader.clock().reset(h);  // the agent converts with whatever anchors the producer wrote
  data += kInputHeader;
  size -= kInputHeader;

  std::memset(s->records, 0, std::size_t{kCapacity} * kRecordSize);
  for (std::uint64_t i = 0; i < kCapacity && size > 0; ++i) {
    const std::size_t len = size < kRecordSize ? size : kRecordSize;
    std::memcpy(s->records + ((from + i) & (kCapacity - 1)) * kRecordSize, data, len);
    data += len;
    size -= len;
  }
  s->ring->head.store(from + n, std::memory_order_release);

  const ReaderCounters before = s->reader.counters();
  std::uint64_t delivered = 0;
  const std::uint64_t end = s->reader.read(0, from, ~0ull, [&](const SpanView& v) {
    spanring::fuzz::check_span(v);
    ++delivered;
  });
  const ReaderCounters& after = s->reader.counters();
  const std::uint64_t steps = after.spans_read - before.spans_read + after.rejected_total() - before.rejected_total();
  spanring::fuzz::require(after.spans_read - before.spans_read == delivered);
  // A head that wrapped past 2^64 is treated as corruption too: 2^64 records are never written.
  if (n > kCapacity || from + n < from) {
    // Corrupt index: nothing read; counted once per run of corrupt passes.
    spanring::fuzz::require(end == from && steps <= 1 && delivered == 0);
    spanring::fuzz::require(after.rejected[kRejectRingIndex] - before.rejected[kRejectRingIndex] <= 1);
  } else if (s->reader.quarantined(0)) {
    // A ring's worth of rejects in a row: the read stopped there, inside the range.
    spanring::fuzz::require(end >= from && end <= from + n);
  } else {
    // Every record up to head consumed exactly once; each step consumed at least one record.
    spanring::fuzz::require(end == from + n);
    spanring::fuzz::require(after.records_read - before.records_read == n);
    spanring::fuzz::require(steps <= n && (n == 0 || steps >= 1));
  }
  if (s->reader.quarantined(0)) {
    State* old = s;
    s = new State(++generation);
    delete old;
  }
  return 0;
}
