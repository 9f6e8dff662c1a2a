// Where things are inside a segment, computed once from (ring_count, ring_capacity). The
// producer uses it to lay a segment out; the reader uses it to check that the offsets written
// in a header are the ones this ABI would have produced.
#pragma once

#include <cstdint>

#include "spanring/shm/abi.hpp"

namespace spanring::shm {

struct Layout {
  std::uint32_t ring_count = 0;
  std::uint32_t ring_capacity = 0;  // records per ring, power of two
  std::uint64_t string_table_offset = 0;
  std::uint64_t rings_offset = 0;
  std::uint64_t ring_data_offset = 0;
  std::uint64_t segment_size = 0;
};

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint32_t kMinRingCapacity = 2 * kMaxRecordsPerSpan;  // two largest spans
inline constexpr std::uint32_t kMaxRingCount = 1024;
inline constexpr std::uint32_t kDefaultRingCapacity = 2048;
inline constexpr std::uint64_t kDefaultSegmentSize = 4ull << 20;  // 4 MiB

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

constexpr Layout layout_for(std::uint32_t ring_count, std::uint32_t ring_capacity) {
  Layout l;
  l.ring_count = ring_count;
  l.ring_capacity = ring_capacity;
  l.string_table_offset = kHeaderSize;
  l.rings_offset = align_up(l.string_table_offset + sizeof(StringTable), kPageSize);
  l.ring_data_offset = align_up(l.rings_offset + std::uint64_t{ring_count} * sizeof(RingHeader), kPageSize);
  l.segment_size = l.ring_data_offset + std::uint64_t{ring_count} * ring_capacity * kRecordSize;
  return l;
}

// Fits rings into `segment_size` bytes. With ring_count == 0, rings get kDefaultRingCapacity
// records and as many rings fit as the size allows; otherwise the capacity is the largest
// power of two that fits. Returns a layout with ring_count == 0 when nothing valid fits.
constexpr Layout layout_within(std::uint64_t segment_size, std::uint32_t ring_count) {
  if (ring_count > kMaxRingCount) return {};
  if (ring_count == 0) {
    const Layout fixed = layout_for(0, kDefaultRingCapacity);
    if (segment_size <= fixed.ring_data_offset) return {};
    std::uint64_t per_ring = std::uint64_t{kDefaultRingCapacity} * kRecordSize + sizeof(RingHeader);
    std::uint64_t n = (segment_size - fixed.ring_data_offset) / per_ring;
    if (n > kMaxRingCount) n = kMaxRingCount;
    while (n > 0 && layout_for(std::uint32_t(n), kDefaultRingCapacity).segment_size > segment_size) --n;
    if (n == 0) return {};
    return layout_for(std::uint32_t(n), kDefaultRingCapacity);
  }
  const Layout fixed = layout_for(ring_count, 0);
  if (segment_size <= fixed.ring_data_offset) return {};
  std::uint64_t cap = (segment_size - fixed.ring_data_offset) / (std::uint64_t{ring_count} * kRecordSize);
  if (cap > (1u << 24)) cap = 1u << 24;
  std::uint64_t pow2 = 1;
  while (pow2 * 2 <= cap) pow2 *= 2;
  if (pow2 < kMinRingCapacity) return {};
  return layout_for(ring_count, std::uint32_t(pow2));
}

static_assert(layout_within(kDefaultSegmentSize, 0).ring_count == 15);
static_assert(layout_within(kDefaultSegmentSize, 0).segment_size <= kDefaultSegmentSize);

}  // namespace spanring::shm
