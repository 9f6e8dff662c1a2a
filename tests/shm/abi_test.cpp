// ABI pins: the client writes a real segment and the test reads it back as raw bytes at the
// offsets a reader without our headers would use (abi.hpp's field order, little-endian), for
// several ring layouts. A failure here means the shared-memory ABI changed: bump kAbiMajor.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/layout.hpp"
#include "spanring/tracer.hpp"
#include "test_support.hpp"

namespace spanring::shm {
namespace {

using test_support::load_at;
using test_support::TracerSession;

// Hand-computed from the field order in abi.hpp. Not taken from offsetof on purpose: these are
// what a foreign reader hard-codes.
constexpr std::uint64_t kOffMagic = 0, kOffAbiMajor = 8, kOffAbiMinor = 10, kOffHeaderSize = 12;
constexpr std::uint64_t kOffSegmentSize = 16, kOffRecordSize = 24, kOffRingCount = 28, kOffCapacity = 32;
constexpr std::uint64_t kOffClockSource = 36, kOffStringTable = 40, kOffRings = 48, kOffRingData = 56;
constexpr std::uint64_t kOffProducerPid = 64, kOffServiceNameLength = 68, kOffServiceName = 128;
constexpr std::uint64_t kOffReady = 2624, kOffClosed = 2628;
constexpr std::uint64_t kRingHeaderBytes = 192, kOffRingOwner = 0, kOffRingHead = 64, kOffRingWritten = 72;
constexpr std::uint64_t kOffRingDroppedFull = 80, kOffRingTail = 128;
constexpr std::uint64_t kRecordBytes = 128, kOffRecordType = 0, kOffRecordIndex = 1, kOffRecordCount = 2;
constexpr std::uint64_t kOffRecordPayloadLen = 4, kOffRecordPayload = 8;
// Inside a span record's payload: SpanFixed, then the first item (always the name).
constexpr std::uint64_t kOffSpanTraceId = 0, kOffSpanSpanId = 16, kOffSpanKind = 48, kOffSpanFlags = 51;
constexpr std::uint64_t kOffSpanRootName = 58, kOffSpanFirstItem = 64;
// StringTable: count, bytes_used, offsets[4096], bytes[64 KiB].
constexpr std::uint64_t kOffTableCount = 0, kOffTableOffsets = 8, kOffTableBytes = 8 + 4 * 4096;

struct RingLayout {
  std::uint32_t ring_count;
  std::uint32_t ring_capacity;
};

std::string layout_name(const ::testing::TestParamInfo<RingLayout>& info) {
  return std::to_string(info.param.ring_count) + "x" + std::to_string(info.param.ring_capacity);
}

class SegmentAbi : public ::testing::TestWithParam<RingLayout> {};

TEST_P(SegmentAbi, HeaderFieldsSitAtDocumentedOffsets) {
  TracerSession session(GetParam().ring_count, GetParam().ring_capacity);
  ASSERT_TRUE(session.ok());
  const Layout& l = session.layout();
  const std::uint8_t* b = session.bytes();

  EXPECT_EQ(std::memcmp(b + kOffMagic, "SPNRING1", 8), 0);
  EXPECT_EQ(load_at<std::uint16_t>(b, kOffAbiMajor), 2u);  // 2.0: arrays, explicit times (abi.hpp)
  EXPECT_EQ(load_at<std::uint16_t>(b, kOffAbiMinor), kAbiMinor);  // grows with additive changes
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffHeaderSize), 4096u);
  EXPECT_EQ(load_at<std::uint64_t>(b, kOffSegmentSize), l.segment_size);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffRecordSize), 128u);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffRingCount), GetParam().ring_count);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffCapacity), GetParam().ring_capacity);
  const auto clock = load_at<std::uint32_t>(b, kOffClockSource);
  EXPECT_TRUE(clock == 1 || clock == 2) << clock;
  EXPECT_EQ(load_at<std::uint64_t>(b, kOffStringTable), 4096u);
  EXPECT_EQ(load_at<std::uint64_t>(b, kOffRings), l.rings_offset);
  EXPECT_EQ(load_at<std::uint64_t>(b, kOffRingData), l.ring_data_offset);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffProducerPid), static_cast<std::uint32_t>(::getpid()));
  const std::string service = test_support::unique_service_name();
  ASSERT_EQ(load_at<std::uint32_t>(b, kOffServiceNameLength), service.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b + kOffServiceName), service.size()), service);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffReady), 1u);
  EXPECT_EQ(load_at<std::uint32_t>(b, kOffClosed), 0u);
}

TEST_P(SegmentAbi, ShutdownSetsClosedAtItsOffset) {
  TracerSession session(GetParam().ring_count, GetParam().ring_capacity);
  ASSERT_TRUE(session.ok());
  shutdown();
  EXPECT_EQ(load_at<std::uint32_t>(session.bytes(), kOffClosed), 1u);
}

TEST_P(SegmentAbi, SpanRecordsAndRingPositionsSitAtDocumentedOffsets) {
  TracerSession session(GetParam().ring_count, GetParam().ring_capacity);
  ASSERT_TRUE(session.ok());
  const Layout& l = session.layout();
  std::uint8_t* b = session.bytes();

  static const Key kRootName("abi-root");
  Span first("abi-first", SpanKind::kServer);
  Span second("abi-second", first);
  Span third(kRootName, SpanKind::kInternal);
  Span fourth("abi-fourth", third);
  fourth.end();
  third.end();
  const SpanId first_id = first.span_id(), second_id = second.span_id();
  const TraceId trace = first.trace_id();
  second.end();
  first.end();

  // The main thread claims ring 0: its header is the first at rings_offset.
  const std::uint64_t ring0 = l.rings_offset;
  EXPECT_EQ(load_at<std::uint32_t>(b, ring0 + kOffRingOwner), static_cast<std::uint32_t>(::gettid()));
  EXPECT_EQ(load_at<std::uint64_t>(b, ring0 + kOffRingHead), 4u);
  EXPECT_EQ(load_at<std::uint64_t>(b, ring0 + kOffRingWritten), 4u);
  EXPECT_EQ(load_at<std::uint64_t>(b, ring0 + kOffRingDroppedFull), 0u);
  EXPECT_EQ(load_at<std::uint64_t>(b, ring0 + kOffRingTail), 0u);

  // ABI 1.1: the local root's interned name ref, in the root and inherited by its child.
  const std::uint64_t rec_fourth = l.ring_data_offset, rec_third = rec_fourth + kRecordBytes;
  EXPECT_EQ(load_at<std::uint16_t>(b, rec_third + kOffRecordPayload + kOffSpanRootName), kRootName.ref());
  EXPECT_EQ(load_at<std::uint16_t>(b, rec_fourth + kOffRecordPayload + kOffSpanRootName), kRootName.ref());
  EXPECT_EQ(b[rec_fourth + kOffRecordPayload + kOffSpanFlags], kSpanFlagHasParent | kSpanFlagHasRemote);

  // Records are kRecordBytes apart: `second` ended before `first`, so it comes first.
  const std::uint64_t rec0 = l.ring_data_offset + 2 * kRecordBytes, rec1 = rec0 + kRecordBytes;
  for (const std::uint64_t rec : {rec0, rec1}) {
    EXPECT_EQ(b[rec + kOffRecordType], 1u);  // kRecordSpan
    EXPECT_EQ(b[rec + kOffRecordIndex], 0u);
    EXPECT_EQ(b[rec + kOffRecordCount], 1u);
    EXPECT_EQ(std::memcmp(b + rec + kOffRecordPayload + kOffSpanTraceId, trace.bytes, 16), 0);
  }
  EXPECT_EQ(std::memcmp(b + rec0 + kOffRecordPayload + kOffSpanSpanId, second_id.bytes, 8), 0);
  EXPECT_EQ(std::memcmp(b + rec1 + kOffRecordPayload + kOffSpanSpanId, first_id.bytes, 8), 0);
  EXPECT_EQ(b[rec1 + kOffRecordPayload + kOffSpanKind], 2u);  // kKindServer
  // The name item of `first`: [tag 1][u16 10]["abi-first"...], 64 + 3 + 9 payload bytes.
  const std::uint64_t item = rec1 + kOffRecordPayload + kOffSpanFirstItem;
  EXPECT_EQ(b[item], 1u);
  EXPECT_EQ(load_at<std::uint16_t>(b, item + 1), 9u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b + item + 3), 9), "abi-first");
  EXPECT_EQ(load_at<std::uint16_t>(b, rec1 + kOffRecordPayloadLen), 64u + 3u + 9u);

  // The reader's tail is the third cache line of the ring header.
  session.reader().commit(0, 4);
  EXPECT_EQ(load_at<std::uint64_t>(b, ring0 + kOffRingTail), 4u);
}

TEST_P(SegmentAbi, SecondRingStartsOneRingHeaderAndOneRingOfRecordsLater) {
  if (GetParam().ring_count < 2) GTEST_SKIP() << "layout has one ring";
  TracerSession session(GetParam().ring_count, GetParam().ring_capacity);
  ASSERT_TRUE(session.ok());
  const Layout& l = session.layout();
  const std::uint8_t* b = session.bytes();

  Span held("abi-ring0");  // the main thread now owns ring 0, so the next thread gets ring 1
  SpanId other_id;
  std::thread([&] {
    Span s("abi-ring1");
    other_id = s.span_id();
  }).join();
  held.end();

  const std::uint64_t ring1 = l.rings_offset + kRingHeaderBytes;
  EXPECT_EQ(load_at<std::uint64_t>(b, ring1 + kOffRingHead), 1u);
  EXPECT_EQ(load_at<std::uint32_t>(b, ring1 + kOffRingOwner), 0u);  // released when the thread exited
  const std::uint64_t rec = l.ring_data_offset + std::uint64_t{GetParam().ring_capacity} * kRecordBytes;
  EXPECT_EQ(b[rec + kOffRecordType], 1u);
  EXPECT_EQ(std::memcmp(b + rec + kOffRecordPayload + kOffSpanSpanId, other_id.bytes, 8), 0);
}

TEST_P(SegmentAbi, InternedKeyIsPublishedInTheStringTable) {
  TracerSession session(GetParam().ring_count, GetParam().ring_capacity);
  ASSERT_TRUE(session.ok());
  const Key key = intern("abi.interned.key");
  ASSERT_NE(key.ref() & kStrInterned, 0);
  const std::uint32_t id = key.ref() & 0x7fffu;

  const std::uint8_t* b = session.bytes();
  const std::uint64_t table = session.layout().string_table_offset;
  EXPECT_GT(load_at<std::uint32_t>(b, table + kOffTableCount), id);
  const auto off = load_at<std::uint32_t>(b, table + kOffTableOffsets + 4ull * id);
  const std::uint64_t entry = table + kOffTableBytes + off;
  ASSERT_EQ(load_at<std::uint16_t>(b, entry), 16u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(b + entry + 2), 16), "abi.interned.key");
}

INSTANTIATE_TEST_SUITE_P(Layouts, SegmentAbi,
                         ::testing::Values(RingLayout{1, 32}, RingLayout{2, 64}, RingLayout{3, 512},
                                           RingLayout{15, 2048}),
                         layout_name);

// Pins of the layout arithmetic itself: the string table's size decides every later offset.
TEST(LayoutFor, OffsetsArePageAlignedAndPinned) {
  const Layout l = layout_for(1, 32);
  EXPECT_EQ(l.string_table_offset, 4096u);
  EXPECT_EQ(l.rings_offset, 90112u);  // 4096 + sizeof(StringTable) (81984), page-aligned
  EXPECT_EQ(l.ring_data_offset, 94208u);
  EXPECT_EQ(l.segment_size, 94208u + 32u * 128u);
  const Layout big = layout_for(22, 2048);  // 22 ring headers spill into a second page
  EXPECT_EQ(big.rings_offset, 90112u);
  EXPECT_EQ(big.ring_data_offset, 90112u + 8192u);
}

}  // namespace
}  // namespace spanring::shm
