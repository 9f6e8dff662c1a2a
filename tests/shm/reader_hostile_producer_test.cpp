// The reader against a producer that changes its segment after the reader opened it: a header
// rewritten to point the reader elsewhere, and a segment truncated under the reader's mapping
// (SIGBUS). The segment is built by hand, not by the client, so the test can do to it what no
// client would, without the client itself touching the pages it cut off.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/layout.hpp"
#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"
#include "test_support.hpp"

#if defined(__SANITIZE_ADDRESS__)
// ASan's own SIGBUS handler would otherwise take the truncation faults before the reader's.
extern "C" const char* __asan_default_options() { return "handle_sigbus=0"; }
#endif

namespace spanring::shm {
namespace {

constexpr std::uint32_t kCapacity = 32;
constexpr std::uint32_t kCanaryOffset = 4096;  // into StringTable::bytes, past the one entry
constexpr std::uint8_t kCanary = 0xab;

// One ring of 32 records holding `spans` one-record spans named by interned string 0, "op".
class HandMadeSegment : public ::testing::Test {
 protected:
  const std::string name_ = segment_name(test_support::unique_service_name(), 0, 0);
  const Layout layout_ = layout_for(1, kCapacity);
  Mapping map_;

  void SetUp() override {
    CreateOptions o;
    o.name = name_;
    o.layout = layout_;
    std::string message;
    ASSERT_EQ(create_segment(o, map_, message), SegmentError::kOk) << message;
    SegmentHeader& h = *map_.header();
    h.magic = kMagic;
    h.abi_major = kAbiMajor;
    h.abi_minor = kAbiMinor;
    h.header_size = kHeaderSize;
    h.segment_size = layout_.segment_size;
    h.record_size = kRecordSize;
    h.ring_count = 1;
    h.ring_capacity = kCapacity;
    h.clock_source = kClockMonotonic;
    h.string_table_offset = layout_.string_table_offset;
    h.rings_offset = layout_.rings_offset;
    h.ring_data_offset = layout_.ring_data_offset;
    h.producer_pid = 1;

    StringTable& t = table();
    const std::uint16_t len = 2;
    std::memcpy(t.bytes, &len, 2);
    std::memcpy(t.bytes + 2, "op", 2);
    t.offsets[0] = 0;
    std::memset(t.bytes + kCanaryOffset, kCanary, sizeof(RingHeader));
    t.count.store(1, std::memory_order_release);
    h.ready.store(1, std::memory_order_release);
  }
  void TearDown() override { remove_segment(name_); }

  StringTable& table() { return *reinterpret_cast<StringTable*>(map_.data() + layout_.string_table_offset); }
  RingHeader& ring() { return *reinterpret_cast<RingHeader*>(map_.data() + layout_.rings_offset); }
  Record& record(std::uint64_t i) {
    return reinterpret_cast<Record*>(map_.data() + layout_.ring_data_offset)[i & (kCapacity - 1)];
  }

  void write_spans(std::uint64_t n) {
    std::uint64_t head = ring().head.load(std::memory_order_relaxed);
    for (std::uint64_t i = 0; i < n; ++i, ++head) {
      Record& r = record(head);
      std::memset(&r, 0, sizeof r);
      SpanFixed f{};
      f.trace_id[0] = 1;
      f.span_id[0] = std::uint8_t(head + 1);
      f.kind = kKindInternal;
      std::memcpy(r.payload, &f, sizeof f);
      const std::uint8_t tag = kItemName;
      const std::uint16_t interned = kStrInterned | 0;
      std::memcpy(r.payload + sizeof f, &tag, 1);
      std::memcpy(r.payload + sizeof f + 1, &interned, 2);
      r.header.type = kRecordSpan;
      r.header.count = 1;
      r.header.payload_len = sizeof f + 3;
    }
    ring().spans_written.store(head, std::memory_order_relaxed);
    ring().head.store(head, std::memory_order_release);
  }

  // What a producer calling ftruncate on its own segment does to every mapping of it.
  void truncate_to(std::uint64_t size) {
    const int fd = ::shm_open(("/" + name_).c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }

  void open(SegmentReader& reader) {
    std::string message;
    ASSERT_EQ(reader.open(name_, message), SegmentError::kOk) << message;
  }
};

std::uint64_t read_all(SegmentReader& reader, std::uint64_t from, std::vector<std::string>& names,
                       std::uint64_t max_records = ~0ull) {
  return reader.read(0, from, max_records, [&](const SpanView& v) { names.emplace_back(v.name); });
}

// ---------------------------------------------------------------------------------------------
// A header rewritten after open()

TEST_F(HandMadeSegment, LayoutRewrittenAfterOpenIsIgnoredByReadAndCommit) {
  write_spans(2);
  SegmentReader reader;
  open(reader);
  // Point rings at bytes of the string table and records far outside the mapping: a reader
  // that re-read these would write `tail` into the canary or read unmapped memory.
  SegmentHeader& h = *map_.header();
  h.ring_count = kMaxRingCount;
  h.ring_capacity = 1u << 24;
  h.rings_offset = layout_.string_table_offset + offsetof(StringTable, bytes) + kCanaryOffset;
  h.ring_data_offset = 1ull << 40;
  h.string_table_offset = 1ull << 40;

  std::vector<std::string> names;
  EXPECT_EQ(read_all(reader, 0, names), 2u);
  reader.commit(0, 2);

  EXPECT_EQ(names, (std::vector<std::string>{"op", "op"}));
  EXPECT_EQ(ring().tail.load(), 2u);
  const std::uint8_t* canary = table().bytes + kCanaryOffset;
  for (std::size_t i = 0; i < sizeof(RingHeader); ++i) ASSERT_EQ(canary[i], kCanary) << "byte " << i;
  EXPECT_EQ(reader.ring_count(), 1u);
  EXPECT_EQ(reader.header().rings_offset, layout_.rings_offset);
  EXPECT_EQ(reader.header().ring_capacity, kCapacity);
  EXPECT_EQ(reader.count_spans(0, 0, 2), 2u);
  EXPECT_FALSE(reader.faulted());
}

TEST_F(HandMadeSegment, HeaderCopyHasZeroAtomicsAndLiveStateComesFromTheMapping) {
  SegmentReader reader;
  open(reader);
  map_.header()->closed.store(1, std::memory_order_release);
  map_.header()->spans_dropped_no_ring.store(7, std::memory_order_relaxed);

  EXPECT_EQ(reader.header().ready.load(), 0u);
  EXPECT_EQ(reader.header().closed.load(), 0u);
  EXPECT_TRUE(reader.closed());
  EXPECT_EQ(reader.spans_dropped_no_ring(), 7u);
  EXPECT_EQ(reader.header().producer_pid, 1u);
}

// ---------------------------------------------------------------------------------------------
// A segment truncated under the mapping

TEST_F(HandMadeSegment, ReadOfRecordsCutOffByTruncationFaultsOnceAndReturnsItsStart) {
  write_spans(2);
  SegmentReader reader;
  open(reader);
  std::vector<std::string> names;
  ASSERT_EQ(read_all(reader, 0, names, 1), 1u);
  truncate_to(layout_.ring_data_offset);  // ring headers stay, every record is gone

  EXPECT_EQ(read_all(reader, 1, names), 1u);
  EXPECT_EQ(read_all(reader, 1, names), 1u);

  EXPECT_TRUE(reader.faulted());
  EXPECT_EQ(reader.counters().rejected[kRejectFault], 1u);
  EXPECT_EQ(reader.counters().rejected_total(), 1u);
  EXPECT_EQ(reader.counters().spans_read, 1u);
  EXPECT_EQ(names.size(), 1u);
}

TEST_F(HandMadeSegment, AfterAFaultCallsReturnLastKnownValuesAndCommitWritesNothing) {
  write_spans(2);
  SegmentReader reader;
  open(reader);
  std::vector<std::string> names;
  ASSERT_EQ(read_all(reader, 0, names, 1), 1u);
  reader.commit(0, 1);
  ASSERT_EQ(reader.spans_written(), 2u);
  truncate_to(layout_.ring_data_offset);
  ASSERT_EQ(read_all(reader, 1, names), 1u);
  ASSERT_TRUE(reader.faulted());
  ring().spans_written.store(5, std::memory_order_relaxed);  // still mapped: must not be read

  reader.commit(0, 2);

  EXPECT_EQ(ring().tail.load(), 1u);
  EXPECT_EQ(reader.head(0), 2u);
  EXPECT_EQ(reader.tail(0), 1u);
  EXPECT_EQ(reader.spans_written(), 2u);
  EXPECT_EQ(reader.count_spans(0, 1, 2), 0u);
  EXPECT_EQ(reader.counters().rejected[kRejectFault], 1u);
}

TEST_F(HandMadeSegment, HeadOfARingWhoseHeaderWasCutOffFaults) {
  write_spans(2);
  SegmentReader reader;
  open(reader);
  truncate_to(kHeaderSize);

  std::vector<std::string> names;
  EXPECT_EQ(read_all(reader, 0, names), 0u);

  EXPECT_TRUE(reader.faulted());
  EXPECT_EQ(reader.counters().rejected[kRejectFault], 1u);
  EXPECT_EQ(reader.head(0), 0u);
  EXPECT_TRUE(names.empty());
}

TEST_F(HandMadeSegment, CounterSumOverTruncatedRingHeadersFaults) {
  write_spans(1);
  SegmentReader reader;
  open(reader);
  truncate_to(kHeaderSize);

  EXPECT_EQ(reader.spans_dropped_full(), 0u);

  EXPECT_TRUE(reader.faulted());
  EXPECT_EQ(reader.counters().rejected[kRejectFault], 1u);
}

TEST_F(HandMadeSegment, StringLookupInATruncatedTableFailsAndReportsTheFault) {
  StringCache strings;
  strings.reset(&table());
  truncate_to(kHeaderSize);  // the table starts at kHeaderSize

  std::string_view out;
  EXPECT_FALSE(strings.lookup(0, out));

  EXPECT_TRUE(strings.faulted());
}

TEST_F(HandMadeSegment, StringLookupBeforeTheTruncationStaysCached) {
  StringCache strings;
  strings.reset(&table());
  std::string_view out;
  ASSERT_TRUE(strings.lookup(0, out));
  truncate_to(kHeaderSize);

  EXPECT_TRUE(strings.lookup(0, out));

  EXPECT_EQ(out, "op");
  EXPECT_FALSE(strings.faulted());
}

TEST_F(HandMadeSegment, HeaderCopyOfASegmentTruncatedToNothingFails) {
  truncate_to(0);
  HeaderCopy copy;
  bool ready = true;

  EXPECT_FALSE(copy_header(map_, copy, ready));
}

TEST_F(HandMadeSegment, SigbusOutsideTheReaderStillKillsTheProcess) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan reports an unguarded SIGBUS itself and exits instead of dying of it";
#endif
  SegmentReader reader;
  open(reader);  // installs the reader's SIGBUS handler
  truncate_to(kHeaderSize);
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  volatile std::uint8_t* cut_off = map_.data() + layout_.ring_data_offset;
  // The child ("threadsafe" re-runs the test) unlinks its own segment first: it has no TearDown.
  EXPECT_EXIT(
      {
        remove_segment(name_);
        static_cast<void>(*cut_off);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

// ---------------------------------------------------------------------------------------------
// process_start_time

std::uint64_t uptime_ticks() {
  timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return std::uint64_t(ts.tv_sec + 1) * std::uint64_t(::sysconf(_SC_CLK_TCK));
}

TEST(ProcessStartTime, OfThisProcessIsPositiveAndNotInTheFuture) {
  const std::uint64_t t = process_start_time(std::uint32_t(::getpid()));

  EXPECT_GT(t, 0u);
  EXPECT_LE(t, uptime_ticks());
}

TEST(ProcessStartTime, ParenthesesAndSpacesInTheCommandNameDoNotShiftTheField) {
  char saved[16] = {};
  ASSERT_EQ(::prctl(PR_GET_NAME, saved, 0, 0, 0), 0);
  const std::uint64_t before = process_start_time(std::uint32_t(::getpid()));
  ASSERT_EQ(::prctl(PR_SET_NAME, ") 1 2 (3) 4", 0, 0, 0), 0);

  const std::uint64_t after = process_start_time(std::uint32_t(::getpid()));

  ::prctl(PR_SET_NAME, saved, 0, 0, 0);
  EXPECT_GT(before, 0u);
  EXPECT_EQ(after, before);
}

TEST(ProcessStartTime, OfAPidThatDoesNotExistIsZero) {
  EXPECT_EQ(process_start_time(0x7ffffffeu), 0u);
}

}  // namespace
}  // namespace spanring::shm
