// The reader treats every byte of a segment as untrusted. These tests feed it random segments,
// valid segments with flipped bits, mutated and truncated span encodings and inconsistent ring
// indexes: it must never crash, must count what it rejects by reason, and must still deliver
// every span that was not damaged. Random inputs use fixed seeds so failures reproduce.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/span_context.hpp"
#include "spanring/tracer.hpp"
#include "test_support.hpp"

namespace spanring::shm {
namespace {

using test_support::drain;
using test_support::OwnedSpan;
using test_support::TracerSession;

const Key& seq_key() {
  static const Key k("shm.test.corrupt.seq");
  return k;
}

std::string value_for(std::int64_t seq) { return std::string(seq % 3 == 1 ? 220 : 4, 'v') + std::to_string(seq); }

// One record for seq % 3 != 1, three records otherwise.
void write_span(std::int64_t seq) {
  Span s("corrupt");
  s.set_attribute(seq_key(), seq);
  s.set_attribute("value", value_for(seq));
}

bool span_is_intact(const SpanView& v, std::int64_t& seq) {
  seq = -1;
  std::string_view value;
  for (const AttrView& a : v.attributes) {
    if (a.key == "shm.test.corrupt.seq" && a.type == kAttrInt) seq = a.int_value;
    if (a.key == "value") value = a.string_value;
  }
  return seq >= 0 && v.name == "corrupt" && v.attributes.size() == 2 && value == value_for(seq);
}

// A StringTable in local memory with the given entries, for decode_span without a segment.
std::unique_ptr<StringTable> make_table(std::initializer_list<std::string_view> entries) {
  auto t = std::make_unique<StringTable>();
  std::uint32_t used = 0, id = 0;
  for (std::string_view e : entries) {
    const auto n = static_cast<std::uint16_t>(e.size());
    std::memcpy(t->bytes + used, &n, 2);
    std::memcpy(t->bytes + used + 2, e.data(), n);
    t->offsets[id++] = used;
    used += 2 + n;
  }
  t->bytes_used = used;
  t->count.store(id, std::memory_order_release);
  return t;
}

// Reads every byte of every view a successful decode returned, so that under ASan a view that
// points outside the input or the string cache fails loudly; and checks that every event/link
// attribute range lies inside sub_attributes.
void expect_views_consistent(const SpanView& v) {
  unsigned sum = 0;
  auto touch = [&](std::string_view s) {
    EXPECT_LE(s.size(), kMaxStringLength);
    for (char c : s) sum += static_cast<unsigned char>(c);
  };
  EXPECT_FALSE(v.name.empty());
  touch(v.name);
  touch(v.status_message);
  touch(v.trace_state);
  for (const auto* list : {&v.attributes, &v.sub_attributes})
    for (const AttrView& a : *list) {
      EXPECT_TRUE(a.type >= kAttrBool && a.type <= kAttrString);
      touch(a.key);
      touch(a.string_value);
    }
  for (const EventView& e : v.events) {
    touch(e.name);
    EXPECT_LE(std::uint64_t{e.first_attr} + e.attr_count, v.sub_attributes.size());
  }
  for (const LinkView& l : v.links) {
    touch(l.trace_state);
    EXPECT_LE(std::uint64_t{l.first_attr} + l.attr_count, v.sub_attributes.size());
  }
  volatile unsigned sink = sum;
  static_cast<void>(sink);
}

// ---------------------------------------------------------------------------------------------
// (a) Random bytes as a whole segment

class RandomSegment : public ::testing::Test {
 protected:
  const std::string name_ = segment_name(test_support::unique_service_name(), 0, 0);
  Mapping map_;
  void SetUp() override {
    CreateOptions o;
    o.name = name_;
    o.layout = layout_for(1, 32);
    std::string message;
    ASSERT_EQ(create_segment(o, map_, message), SegmentError::kOk) << message;
  }
  void TearDown() override { remove_segment(name_); }
  void fill_random(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (std::uint64_t i = 0; i < map_.size(); i += 8) {
      const std::uint64_t v = rng();
      std::memcpy(map_.data() + i, &v, 8);
    }
    map_.header()->ready.store(1, std::memory_order_release);  // past the not-ready check
  }
};

TEST_F(RandomSegment, RandomBytesAreAnInvalidHeader) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    fill_random(seed);
    SegmentReader reader;
    std::string message;
    EXPECT_EQ(reader.open(name_, message), SegmentError::kInvalidHeader) << "seed " << seed;
    EXPECT_NE(message.find("magic"), std::string::npos) << message;
  }
}

TEST_F(RandomSegment, RandomBytesBehindAValidMagicAndVersionAreAnInvalidHeader) {
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    fill_random(seed);
    map_.header()->magic = kMagic;
    map_.header()->abi_major = kAbiMajor;
    SegmentReader reader;
    std::string message;
    EXPECT_EQ(reader.open(name_, message), SegmentError::kInvalidHeader) << "seed " << seed << ": " << message;
  }
}

TEST_F(RandomSegment, RandomRingDataBehindAValidHeaderIsRejectedWithoutCrashing) {
  const Layout l = layout_for(1, 32);
  for (std::uint64_t seed = 1; seed <= 50; ++seed) {
    fill_random(seed);
    SegmentHeader& h = *map_.header();
    h.magic = kMagic;
    h.abi_major = kAbiMajor;
    h.header_size = kHeaderSize;
    h.segment_size = l.segment_size;
    h.record_size = kRecordSize;
    h.ring_count = 1;
    h.ring_capacity = 32;
    h.clock_source = kClockTsc;
    h.string_table_offset = l.string_table_offset;
    h.rings_offset = l.rings_offset;
    h.ring_data_offset = l.ring_data_offset;
    h.service_name_length = 7;
    h.resource_bytes_used = kResourceBytes;  // random resource entries: parsed defensively
    auto& ring = *reinterpret_cast<RingHeader*>(map_.data() + l.rings_offset);
    ring.head.store(1000 + 32, std::memory_order_release);

    SegmentReader reader;
    std::string message;
    ASSERT_EQ(reader.open(name_, message), SegmentError::kOk) << message;
    std::uint64_t spans = 0;
    EXPECT_EQ(reader.read(0, 1000, ~0ull, [&](const SpanView&) { ++spans; }), 1032u);
    const ReaderCounters& c = reader.counters();
    EXPECT_EQ(c.records_read, 32u);
    EXPECT_EQ(c.spans_read, spans);
    EXPECT_GE(c.spans_read + c.rejected_total(), 1u);
    EXPECT_LE(c.spans_read + c.rejected_total(), 32u);
    EXPECT_LE(reader.resource().size(), 256u);
  }
}

// ---------------------------------------------------------------------------------------------
// (b) A valid segment with flipped bits in its records

class CorruptRing : public ::testing::Test {
 protected:
  static constexpr std::int64_t kSpans = 24;
  static constexpr std::uint32_t kCapacity = 64;
  TracerSession session_{1, kCapacity};
  std::vector<std::uint64_t> first_record_;  // of each span, by seq
  std::uint64_t records_ = 0;

  void SetUp() override {
    ASSERT_TRUE(session_.ok());
    for (std::int64_t seq = 0; seq < kSpans; ++seq) {
      first_record_.push_back(session_.reader().head(0));
      write_span(seq);
    }
    records_ = session_.reader().head(0);
    first_record_.push_back(records_);
  }

  // A fresh reader over the segment as it is now (no strings cached, counters zero).
  std::unique_ptr<SegmentReader> open_reader() {
    auto r = std::make_unique<SegmentReader>();
    std::string message;
    EXPECT_EQ(r->open(session_.segment(), message), SegmentError::kOk) << message;
    return r;
  }

  // Reads the whole ring; returns the seqs of the intact spans read, in order.
  std::vector<std::int64_t> read_all(SegmentReader& reader) {
    std::vector<std::int64_t> seqs;
    EXPECT_EQ(reader.read(0, 0, ~0ull,
                          [&](const SpanView& v) {
                            std::int64_t seq;
                            if (span_is_intact(v, seq)) seqs.push_back(seq);
                          }),
              records_);
    EXPECT_EQ(reader.counters().records_read, records_);
    return seqs;
  }

  std::vector<std::int64_t> all_but(std::set<std::int64_t> lost) {
    std::vector<std::int64_t> out;
    for (std::int64_t s = 0; s < kSpans; ++s)
      if (!lost.count(s)) out.push_back(s);
    return out;
  }

  Record& first(std::int64_t seq) { return session_.record(0, first_record_[seq]); }
};

TEST_F(CorruptRing, SpansAreTheSizesTheTestsAssume) {
  EXPECT_EQ(first(0).header.count, 1u);
  EXPECT_EQ(first(1).header.count, 3u);
  EXPECT_EQ(records_, 8u * 3u + 16u);
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({}));
  EXPECT_EQ(reader->counters().rejected_total(), 0u);
}

TEST_F(CorruptRing, FirstRecordOfUnknownTypeIsRejectedAndTheNextSpanRead) {
  first(3).header.type = 0x7f;
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({3}));
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], 1u);
  EXPECT_EQ(reader->counters().rejected_total(), 1u);
}

TEST_F(CorruptRing, BrokenContinuationLosesOnlyItsOwnSpan) {
  // seq 4 has three records; its first continuation claims to be the fifth. The reader drops
  // the span at the broken record, then rejects the two orphaned continuations one by one.
  ASSERT_EQ(first(4).header.count, 3u);
  session_.record(0, first_record_[4] + 1).header.index = 5;
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({4}));
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], 3u);
  EXPECT_EQ(reader->counters().spans_read, kSpans - 1u);
}

TEST_F(CorruptRing, CountReachingPastHeadIsRejected) {
  // The last span claims a second record, and one that looks right sits just past head (as a
  // producer's unpublished write would): the reader must not take it.
  first(kSpans - 1).header.count = 2;
  first(kSpans - 1).header.payload_len = kRecordPayload;
  Record& beyond = session_.record(0, records_);
  beyond.header = RecordHeader{kRecordContinuation, 1, 2, 0, 0, 0};
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({kSpans - 1}));
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], 1u);
}

TEST_F(CorruptRing, PayloadLongerThanARecordIsRejected) {
  first(0).header.payload_len = kRecordPayload + 1;
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({0}));
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], 1u);
}

TEST_F(CorruptRing, ShortFirstRecordOfAMultiRecordSpanIsRejected) {
  first(1).header.payload_len = 100;  // only the last record of a span may be partly used
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({1}));
  // The first record, then each of its two continuations on its own.
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], 3u);
}

TEST_F(CorruptRing, DecodeFailuresAreCountedByReason) {
  // Payload offsets in a one-record span: SpanFixed (64), name item "corrupt" (10 bytes), then
  // the interned seq attribute: tag at 74, key ref at 75.
  first(0).payload[74] = 0x7f;                       // unknown item tag
  first(3).payload[75] = 0xfe;                       // key id 0x7ffe: not in the table
  first(3).payload[76] = 0xff;
  std::memset(first(6).payload, 0, 16);              // zero trace id
  first(9).payload[64 + 1] = 200;                    // name longer than the bytes left
  auto reader = open_reader();
  EXPECT_EQ(read_all(*reader), all_but({0, 3, 6, 9}));
  const ReaderCounters& c = reader->counters();
  EXPECT_EQ(c.rejected[kRejectBadTag], 1u);
  EXPECT_EQ(c.rejected[kRejectBadString], 1u);
  EXPECT_EQ(c.rejected[kRejectBadField], 1u);
  EXPECT_EQ(c.rejected[kRejectTruncated], 1u);
  EXPECT_EQ(c.rejected_total(), 4u);
  EXPECT_EQ(c.spans_read, kSpans - 4u);
}

TEST_F(CorruptRing, CorruptStringTableEntryRejectsTheSpansThatUseIt) {
  auto& table = *reinterpret_cast<StringTable*>(session_.bytes() + session_.layout().string_table_offset);
  table.offsets[seq_key().ref() & 0x7fff] = kStringTableBytes - 1;  // runs off the table
  auto reader = open_reader();
  EXPECT_TRUE(read_all(*reader).empty());
  EXPECT_EQ(reader->counters().rejected[kRejectBadString], std::uint64_t{kSpans});
}

TEST_F(CorruptRing, StringTableCountBeyondItsEntriesRejectsInternedStrings) {
  auto& table = *reinterpret_cast<StringTable*>(session_.bytes() + session_.layout().string_table_offset);
  table.count.store(kStringTableEntries + 1, std::memory_order_release);
  auto reader = open_reader();
  EXPECT_TRUE(read_all(*reader).empty());
  EXPECT_EQ(reader->counters().rejected[kRejectBadString], std::uint64_t{kSpans});
}

TEST_F(CorruptRing, RandomBitFlipsNeverHideAnIntactSpan) {
  // Each trial flips one bit in each of 1–8 distinct records. With at most one flip per record,
  // no span start can turn into a continuation (type 1 -> 2 needs two bits), so every span
  // written starts exactly one reader step of its own: kSpans <= read + rejected <= records.
  std::vector<Record> pristine(records_);
  for (std::uint64_t i = 0; i < records_; ++i) pristine[i] = session_.record(0, i);
  std::mt19937_64 rng(0x5eed);
  std::uint64_t rejected_by_reason[kRejectReasonCount] = {};
  for (int trial = 0; trial < 300; ++trial) {
    for (std::uint64_t i = 0; i < records_; ++i) session_.record(0, i) = pristine[i];
    std::set<std::uint64_t> hit;
    const int flips = 1 + static_cast<int>(rng() % 8);
    while (hit.size() < static_cast<std::size_t>(flips)) hit.insert(rng() % records_);
    for (std::uint64_t r : hit) {
      auto* bytes = reinterpret_cast<std::uint8_t*>(&session_.record(0, r));
      const std::uint64_t bit = rng() % (kRecordSize * 8);
      bytes[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    }
    std::set<std::int64_t> damaged;
    for (std::int64_t seq = 0; seq < kSpans; ++seq)
      for (std::uint64_t r = first_record_[seq]; r < first_record_[seq + 1]; ++r)
        if (hit.count(r)) damaged.insert(seq);

    auto reader = open_reader();
    const std::vector<std::int64_t> seqs = read_all(*reader);
    SCOPED_TRACE(::testing::Message() << "trial " << trial);
    // Intact spans all arrive, in order; a damaged one may arrive too if the flip hit a value.
    std::vector<std::int64_t> intact_read;
    for (std::int64_t s : seqs)
      if (!damaged.count(s)) intact_read.push_back(s);
    ASSERT_EQ(intact_read, all_but(std::set<std::int64_t>(damaged.begin(), damaged.end())));
    const ReaderCounters& c = reader->counters();
    ASSERT_GE(c.spans_read + c.rejected_total(), std::uint64_t{kSpans});
    ASSERT_LE(c.spans_read + c.rejected_total(), records_);
    for (std::uint32_t k = 0; k < kRejectReasonCount; ++k) rejected_by_reason[k] += c.rejected[k];
  }
  // The trials exercised more than one way of failing.
  EXPECT_GT(rejected_by_reason[kRejectRecordHeader], 0u);
  EXPECT_GT(rejected_by_reason[kRejectBadField] + rejected_by_reason[kRejectBadString] +
                rejected_by_reason[kRejectTruncated] + rejected_by_reason[kRejectBadTag],
            0u);
  EXPECT_EQ(rejected_by_reason[kRejectRingIndex], 0u);
}

// ---------------------------------------------------------------------------------------------
// (d) Ring indexes

TEST_F(CorruptRing, HeadMoreThanARingAheadIsCountedAndNotRead) {
  session_.ring(0).head.store(kCapacity + 1, std::memory_order_release);
  auto reader = open_reader();
  EXPECT_EQ(reader->read(0, 0, ~0ull, [](const SpanView&) { FAIL() << "read a span past a corrupt head"; }), 0u);
  EXPECT_EQ(reader->counters().rejected[kRejectRingIndex], 1u);
  EXPECT_EQ(reader->counters().records_read, 0u);
  // Once the index is sane again the spans are all there.
  session_.ring(0).head.store(records_, std::memory_order_release);
  EXPECT_EQ(read_all(*reader), all_but({}));
}

TEST_F(CorruptRing, HeadFarAheadNearWrapIsCountedAndNotRead) {
  session_.ring(0).head.store(~0ull - 3, std::memory_order_release);
  auto reader = open_reader();
  EXPECT_EQ(reader->read(0, 0, ~0ull, [](const SpanView&) { FAIL(); }), 0u);
  EXPECT_EQ(reader->counters().rejected[kRejectRingIndex], 1u);
}

TEST_F(CorruptRing, HeadBehindTheReadPositionIsCountedAndNotRead) {
  auto reader = open_reader();
  EXPECT_EQ(reader->read(0, records_ + 5, ~0ull, [](const SpanView&) { FAIL(); }), records_ + 5);
  EXPECT_EQ(reader->counters().rejected[kRejectRingIndex], 1u);
}

TEST_F(CorruptRing, HeadExactlyOneRingAheadIsReadInFull) {
  // Head == from + capacity is a full ring, not corruption. Rebase the same records there.
  for (std::uint64_t i = records_; i < kCapacity; ++i) session_.record(0, i).header.type = kRecordInvalid;
  session_.ring(0).head.store(kCapacity, std::memory_order_release);
  auto reader = open_reader();
  EXPECT_EQ(reader->read(0, 0, ~0ull, [](const SpanView&) {}), std::uint64_t{kCapacity});
  EXPECT_EQ(reader->counters().rejected[kRejectRingIndex], 0u);
  EXPECT_EQ(reader->counters().spans_read, std::uint64_t{kSpans});
  EXPECT_EQ(reader->counters().rejected[kRejectRecordHeader], kCapacity - records_);
}

// ---------------------------------------------------------------------------------------------
// (c) decode_span on arbitrary bytes

class DecodeSpan : public ::testing::Test {
 protected:
  std::unique_ptr<StringTable> table_ = make_table({"span.name", "key", "", "value"});
  StringCache strings_;
  SpanView view_;
  void SetUp() override { strings_.reset(table_.get()); }
  RejectReason decode(const std::vector<std::uint8_t>& b) {
    return decode_span(b.data(), b.size(), strings_, view_);
  }
};

TEST_F(DecodeSpan, RandomBytesNeverDecodeOutOfBounds) {
  std::mt19937_64 rng(1);
  std::uint64_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(rng() % (kMaxRecordsPerSpan * kRecordPayload + 16));
    for (std::uint8_t& x : b) x = static_cast<std::uint8_t>(rng());
    const RejectReason r = decode(b);
    ASSERT_LE(r, kRejectReasonCount);
    ASSERT_NE(r, kRejectRingIndex);  // not a decode outcome
    if (r == kRejectReasonCount) {
      ++ok;
      expect_views_consistent(view_);
    }
  }
  EXPECT_EQ(ok, 0u);  // random kind/status bytes essentially never pass; all rejected
}

// Random items behind a valid SpanFixed, so the item parser itself sees the garbage.
TEST_F(DecodeSpan, RandomItemsBehindAValidFixedPartNeverDecodeOutOfBounds) {
  std::mt19937_64 rng(2);
  std::uint64_t by_reason[kRejectReasonCount + 1] = {};
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> b(sizeof(SpanFixed) + rng() % 400);
    for (std::uint8_t& x : b) x = static_cast<std::uint8_t>(rng());
    SpanFixed f{};
    f.trace_id[0] = 1;
    f.span_id[0] = 1;
    f.kind = kKindInternal;
    std::memcpy(b.data(), &f, sizeof f);
    // Bias tags toward real ones: a random byte is a valid tag only 9 times in 256.
    if (b.size() > sizeof f) b[sizeof f] = static_cast<std::uint8_t>(1 + rng() % 9);
    const RejectReason r = decode(b);
    ASSERT_LE(r, kRejectReasonCount);
    ++by_reason[r];
    if (r == kRejectReasonCount) expect_views_consistent(view_);
  }
  EXPECT_GT(by_reason[kRejectTruncated], 0u);
  EXPECT_GT(by_reason[kRejectBadTag], 0u);
  EXPECT_GT(by_reason[kRejectBadString], 0u);
}

// A span encoding built by hand, item by item, so single fields can be made invalid.
class Encoder {
 public:
  Encoder() {
    SpanFixed f{};
    f.trace_id[15] = 1;
    f.span_id[7] = 1;
    f.kind = kKindClient;
    f.start_time = 10;
    f.end_time = 20;
    put(&f, sizeof f);
  }
  Encoder& u8(std::uint8_t v) { return put(&v, 1); }
  Encoder& u16(std::uint16_t v) { return put(&v, 2); }
  Encoder& u64(std::uint64_t v) { return put(&v, 8); }
  Encoder& str(std::string_view s) { return u16(static_cast<std::uint16_t>(s.size())).put(s.data(), s.size()); }
  Encoder& interned(std::uint16_t id) { return u16(static_cast<std::uint16_t>(kStrInterned | id)); }
  Encoder& name(std::string_view s) { return u8(kItemName).str(s); }
  const std::vector<std::uint8_t>& bytes() const { return b_; }

 private:
  Encoder& put(const void* p, std::size_t n) {
    b_.insert(b_.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n);
    return *this;
  }
  std::vector<std::uint8_t> b_;
};

TEST_F(DecodeSpan, HandBuiltSpanWithInternedStringsDecodes) {
  Encoder e;
  e.u8(kItemName).interned(0);
  e.u8(kItemAttrString).interned(1).interned(3);
  e.u8(kItemAttrBool).interned(2).u8(1);
  e.u8(kItemEvent).u64(15).str("evt").u8(1).u8(4).u8(kItemAttrInt).str("n").u64(5);
  ASSERT_EQ(decode(e.bytes()), kRejectReasonCount);
  EXPECT_EQ(view_.name, "span.name");
  EXPECT_EQ(view_.name_id, 0);
  ASSERT_EQ(view_.attributes.size(), 2u);
  EXPECT_EQ(view_.attributes[0].key, "key");
  EXPECT_EQ(view_.attributes[0].key_id, 1);
  EXPECT_EQ(view_.attributes[0].string_value, "value");
  EXPECT_EQ(view_.attributes[1].key, "");  // an empty interned string is still a string
  ASSERT_EQ(view_.events.size(), 1u);
  EXPECT_EQ(view_.events[0].time_unix_ns, 15u);  // decode_span leaves raw times
  EXPECT_EQ(view_.events[0].dropped_attributes, 4u);
  ASSERT_EQ(view_.sub_attributes.size(), 1u);
  EXPECT_EQ(view_.sub_attributes[0].int_value, 5);
}

TEST_F(DecodeSpan, BoolValueOtherThanZeroOrOneIsBadField) {
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemAttrBool).str("b").u8(2).bytes()), kRejectBadField);
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemAttrBool).str("b").u8(1).bytes()), kRejectReasonCount);
}

TEST_F(DecodeSpan, InternedIdNotYetPublishedIsBadString) {
  EXPECT_EQ(decode(Encoder().u8(kItemName).interned(4).bytes()), kRejectBadString);
  EXPECT_EQ(decode(Encoder().u8(kItemName).interned(0x7fff).bytes()), kRejectBadString);
}

TEST_F(DecodeSpan, InlineStringLongerThanTheMaximumIsBadString) {
  // Checked before the bytes are: a length no producer can write is corruption, not truncation.
  EXPECT_EQ(decode(Encoder().u8(kItemName).u16(kMaxStringLength + 1).u64(0).bytes()), kRejectBadString);
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemAttrString).str("k").u16(0x7fff).bytes()), kRejectBadString);
}

TEST_F(DecodeSpan, UnknownTagsAreBadTag) {
  EXPECT_EQ(decode(Encoder().name("s").u8(0).bytes()), kRejectBadTag);
  // The first tag after the last one (2.0: the array tags follow kItemLink).
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemAttrStringArray + 1).bytes()), kRejectBadTag);
  EXPECT_EQ(decode(Encoder().name("s").u8(0xff).bytes()), kRejectBadTag);
}

TEST_F(DecodeSpan, EventAttributeThatIsNotAnAttributeIsBadTag) {
  // An event claiming one attribute whose item is a name.
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemEvent).u64(1).str("e").u8(1).u8(0).name("x").bytes()), kRejectBadTag);
}

TEST_F(DecodeSpan, EventOrLinkClaimingMoreAttributesThanFollowIsTruncated) {
  EXPECT_EQ(decode(Encoder().name("s").u8(kItemEvent).u64(1).str("e").u8(2).u8(0).u8(kItemAttrInt).str("a").u64(1).bytes()),
            kRejectTruncated);
  Encoder link;
  link.name("s").u8(kItemLink);
  for (int i = 0; i < 24; ++i) link.u8(1);
  link.u8(1).u8(0).str("").u8(1).u8(0);
  EXPECT_EQ(decode(link.bytes()), kRejectTruncated);
  link.u8(kItemAttrDouble).str("d").u64(0);
  EXPECT_EQ(decode(link.bytes()), kRejectReasonCount);
}

TEST_F(DecodeSpan, SpanWithoutANameIsBadField) {
  EXPECT_EQ(decode(Encoder().u8(kItemAttrInt).str("a").u64(1).bytes()), kRejectBadField);
  EXPECT_EQ(decode(Encoder().name("").bytes()), kRejectBadField);
}

TEST_F(DecodeSpan, EmptyAndOversizedInputsAreRejected) {
  EXPECT_EQ(decode({}), kRejectTruncated);
  EXPECT_EQ(decode(std::vector<std::uint8_t>(sizeof(SpanFixed) - 1, 1)), kRejectTruncated);
  EXPECT_EQ(decode(std::vector<std::uint8_t>(kMaxRecordsPerSpan * kRecordPayload + 1, 1)), kRejectTruncated);
}

// A span using every item type, written by the real client and copied out of its ring.
class DecodeRichSpan : public ::testing::Test {
 protected:
  // name, tracestate, two attributes, an event, a link, a status message.
  static constexpr int kTopLevelItems = 7;
  TracerSession session_{1, 32};
  std::vector<std::uint8_t> bytes_;
  StringCache strings_;
  SpanView view_;

  void SetUp() override {
    ASSERT_TRUE(session_.ok());
    static const Key kAttr("shm.test.rich.attr");
    SpanContext remote;
    ASSERT_TRUE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7", remote));
    {
      Span s("rich", remote);
      s.set_attribute(kAttr, std::int64_t{42});
      s.set_attribute("inline.key", "a string value");
      s.add_event("evt", {Attribute("n", 1), Attribute(kAttr, true)});
      s.add_link(remote, {Attribute("l", 2.5)});
      s.set_status(StatusCode::kError, "failed");
    }
    bytes_ = session_.span_bytes(0, 0);
    ASSERT_GT(bytes_.size(), kRecordPayload);  // crosses a record boundary
    strings_.reset(reinterpret_cast<const StringTable*>(session_.bytes() + session_.layout().string_table_offset));
    ASSERT_EQ(decode_span(bytes_.data(), bytes_.size(), strings_, view_), kRejectReasonCount);
    ASSERT_EQ(view_.attributes.size(), 2u);
    ASSERT_EQ(view_.events.size(), 1u);
    ASSERT_EQ(view_.links.size(), 1u);
  }
};

TEST_F(DecodeRichSpan, EveryPrefixIsRejectedOrDecodesAsTheSpanUpToAnItemBoundary) {
  int decoded = 0;
  for (std::size_t n = 0; n < bytes_.size(); ++n) {
    SCOPED_TRACE(::testing::Message() << "prefix " << n);
    const RejectReason r = decode_span(bytes_.data(), n, strings_, view_);
    if (n < sizeof(SpanFixed)) {
      EXPECT_EQ(r, kRejectTruncated);
    } else if (n == sizeof(SpanFixed)) {
      EXPECT_EQ(r, kRejectBadField);  // no name item
    } else if (r == kRejectReasonCount) {
      ++decoded;
      EXPECT_EQ(view_.name, "rich");
    } else {
      EXPECT_EQ(r, kRejectTruncated);
    }
  }
  // Exactly the prefixes that end after the 1st … 6th item decode.
  EXPECT_EQ(decoded, kTopLevelItems - 1);
}

TEST_F(DecodeRichSpan, EverySingleBitFlipDecodesOrIsRejectedWithAReason) {
  std::uint64_t rejected = 0;
  for (std::size_t bit = 0; bit < bytes_.size() * 8; ++bit) {
    std::vector<std::uint8_t> b = bytes_;
    b[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const RejectReason r = decode_span(b.data(), b.size(), strings_, view_);
    ASSERT_LE(r, kRejectReasonCount);
    if (r == kRejectReasonCount) expect_views_consistent(view_);
    else ++rejected;
  }
  EXPECT_GT(rejected, 0u);
}

TEST_F(DecodeRichSpan, EveryByteSetToExtremeValuesDecodesOrIsRejected) {
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    for (const std::uint8_t v : {0x00, 0x7f, 0x80, 0xff}) {
      std::vector<std::uint8_t> b = bytes_;
      b[i] = v;
      const RejectReason r = decode_span(b.data(), b.size(), strings_, view_);
      ASSERT_LE(r, kRejectReasonCount);
      if (r == kRejectReasonCount) expect_views_consistent(view_);
    }
  }
}

// Decode failures of single fields, each with the reason the reader counts it under.
TEST_F(DecodeRichSpan, InvalidFixedFieldsAreBadField) {
  auto with = [&](auto mutate) {
    std::vector<std::uint8_t> b = bytes_;
    SpanFixed f;
    std::memcpy(&f, b.data(), sizeof f);
    mutate(f);
    std::memcpy(b.data(), &f, sizeof f);
    return decode_span(b.data(), b.size(), strings_, view_);
  };
  EXPECT_EQ(with([](SpanFixed& f) { std::memset(f.trace_id, 0, 16); }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { std::memset(f.span_id, 0, 8); }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { f.kind = 0; }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { f.kind = kKindConsumer + 1; }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { f.status = kStatusError + 1; }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { f.end_time = f.start_time - 1; }), kRejectBadField);
  EXPECT_EQ(with([](SpanFixed& f) { std::memset(f.parent_span_id, 0, 8); }), kRejectBadField);  // has_parent set
  EXPECT_EQ(with([](SpanFixed&) {}), kRejectReasonCount);
}

}  // namespace
}  // namespace spanring::shm
