// layout_within: how a segment size and a ring count become a layout, at the edges.
#include "spanring/shm/layout.hpp"

#include <gtest/gtest.h>

#include <cstdint>

namespace spanring::shm {
namespace {

void expect_same(const Layout& a, const Layout& b) {
  EXPECT_EQ(a.ring_count, b.ring_count);
  EXPECT_EQ(a.ring_capacity, b.ring_capacity);
  EXPECT_EQ(a.string_table_offset, b.string_table_offset);
  EXPECT_EQ(a.rings_offset, b.rings_offset);
  EXPECT_EQ(a.ring_data_offset, b.ring_data_offset);
  EXPECT_EQ(a.segment_size, b.segment_size);
}

TEST(LayoutWithin, DefaultSegmentSizeHoldsFifteenRingsOf2048Records) {
  const Layout l = layout_within(kDefaultSegmentSize, 0);
  EXPECT_EQ(l.ring_count, 15u);
  EXPECT_EQ(l.ring_capacity, 2048u);
  EXPECT_LE(l.segment_size, kDefaultSegmentSize);
  expect_same(l, layout_for(15, 2048));
}

TEST(LayoutWithin, ExactSizeOfALayoutGivesThatLayoutBack) {
  for (const auto& [rings, capacity] : {std::pair{1u, 32u}, {2u, 64u}, {3u, 512u}, {7u, 4096u}, {1024u, 32u}}) {
    SCOPED_TRACE(::testing::Message() << rings << "x" << capacity);
    expect_same(layout_within(layout_for(rings, capacity).segment_size, rings), layout_for(rings, capacity));
  }
}

TEST(LayoutWithin, CapacityRoundsDownToAPowerOfTwo) {
  // Room for 127 records per ring: the capacity is 64, and the spare bytes stay unused.
  const Layout l = layout_within(layout_for(2, 127).segment_size, 2);
  EXPECT_EQ(l.ring_count, 2u);
  EXPECT_EQ(l.ring_capacity, 64u);
  EXPECT_EQ(l.segment_size, layout_for(2, 64).segment_size);
}

TEST(LayoutWithin, SizeBelowTheSmallestRingGivesNoRings) {
  // The smallest ring holds two of the largest spans (kMinRingCapacity = 18), rounded up to 32.
  EXPECT_EQ(layout_within(layout_for(1, 32).segment_size - 1, 1).ring_count, 0u);
  EXPECT_EQ(layout_within(layout_for(1, 16).segment_size, 1).ring_count, 0u);
  EXPECT_EQ(layout_within(layout_for(1, 0).ring_data_offset, 1).ring_count, 0u);
  EXPECT_EQ(layout_within(kHeaderSize, 1).ring_count, 0u);
  EXPECT_EQ(layout_within(0, 1).ring_count, 0u);
}

TEST(LayoutWithin, SizeBelowOneDefaultRingGivesNoRingsWhenCountIsAutomatic) {
  EXPECT_EQ(layout_within(layout_for(1, kDefaultRingCapacity).segment_size - 1, 0).ring_count, 0u);
  EXPECT_EQ(layout_within(layout_for(1, kDefaultRingCapacity).segment_size, 0).ring_count, 1u);
  EXPECT_EQ(layout_within(0, 0).ring_count, 0u);
}

TEST(LayoutWithin, MoreRingsThanTheMaximumGivesNoRings) {
  EXPECT_EQ(layout_within(1ull << 32, kMaxRingCount + 1).ring_count, 0u);
  EXPECT_EQ(layout_within(1ull << 32, kMaxRingCount).ring_count, kMaxRingCount);
}

TEST(LayoutWithin, AutomaticRingCountStopsAtTheMaximum) {
  const Layout l = layout_within(layout_for(kMaxRingCount, kDefaultRingCapacity).segment_size * 2, 0);
  EXPECT_EQ(l.ring_count, kMaxRingCount);
  EXPECT_EQ(l.ring_capacity, kDefaultRingCapacity);
}

TEST(LayoutWithin, CapacityStopsAtTwoToTheTwentyFour) {
  const Layout l = layout_within(layout_for(1, 1u << 26).segment_size, 1);
  EXPECT_EQ(l.ring_capacity, 1u << 24);
}

}  // namespace
}  // namespace spanring::shm
