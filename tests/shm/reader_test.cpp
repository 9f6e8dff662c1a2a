// The reader against the real producer, in one process: the client writes spans into its
// segment, a SegmentReader on a second mapping of the same segment drains them. Ring behaviour
// (wrap-around, full ring, continuation records) and every item type of the span encoding.
#include "spanring/shm/reader.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "spanring/span_context.hpp"
#include "spanring/tracer.hpp"
#include "test_support.hpp"

namespace spanring::shm {
namespace {

using test_support::drain;
using test_support::OwnedSpan;
using test_support::TracerSession;

// The smallest ring a segment may have: 32 records (two largest spans, rounded up).
constexpr std::uint32_t kSmallRing = 32;

const Key& seq_key() {
  static const Key k("shm.test.seq");
  return k;
}

// A span of exactly one record: SpanFixed, name "one" and the seq attribute (81 bytes).
void write_one_record_span(std::int64_t seq) {
  Span s("one", SpanKind::kInternal);
  s.set_attribute(seq_key(), seq);
}

std::string payload_for(std::int64_t seq) {
  std::string p(250, static_cast<char>('a' + seq % 26));
  p += std::to_string(seq);
  return p;
}

// A span of exactly three records: 64 + 6 + 12 + ~265 bytes.
void write_three_record_span(std::int64_t seq) {
  Span s("three", SpanKind::kInternal);
  s.set_attribute(seq_key(), seq);
  s.set_attribute("payload", payload_for(seq));
}

std::uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

std::unique_ptr<SpanContext> remote_parent() {
  auto ctx = std::make_unique<SpanContext>();
  EXPECT_TRUE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                      *ctx));
  return ctx;
}

// ---------------------------------------------------------------------------------------------
// Ring behaviour

TEST(RingReader, OneAndThreeRecordSpansHaveTheSizesTheTestsAssume) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  write_one_record_span(0);
  EXPECT_EQ(session.reader().head(0), 1u);
  write_three_record_span(1);
  EXPECT_EQ(session.reader().head(0), 4u);
  EXPECT_EQ(session.record(0, 1).header.count, 3u);
}

TEST(RingReader, WrapAroundReturnsEverySpanInOrderWithItsContent) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  SegmentReader& reader = session.reader();
  std::int64_t next_write = 0, next_read = 0;
  std::uint64_t records = 0, straddling = 0;
  // Every third span has three records: the pattern repeats every 5 records, prime to the ring
  // size, so three-record spans start at every slot, including the last two, and straddle the
  // end of the ring.
  auto is_three = [](std::int64_t seq) { return seq % 3 == 2; };
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 7; ++i, ++next_write) {
      if (is_three(next_write)) {
        if ((records % kSmallRing) + 3 > kSmallRing) ++straddling;
        write_three_record_span(next_write);
        records += 3;
      } else {
        write_one_record_span(next_write);
        records += 1;
      }
    }
    for (const OwnedSpan& s : drain(reader, 0)) {
      ASSERT_EQ(s.int_attribute("shm.test.seq"), next_read);
      if (is_three(next_read)) {
        EXPECT_EQ(s.name, "three");
        const test_support::OwnedAttr* p = s.attribute("payload");
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(p->string_value, payload_for(next_read));
      } else {
        EXPECT_EQ(s.name, "one");
        EXPECT_EQ(s.attributes.size(), 1u);
      }
      ++next_read;
    }
    ASSERT_EQ(next_read, next_write) << "round " << round;
  }
  EXPECT_GT(straddling, 0u);  // the test really crossed the ring's end mid-span
  EXPECT_EQ(reader.head(0), records);
  EXPECT_EQ(reader.counters().spans_read, 140u);
  EXPECT_EQ(reader.counters().records_read, records);
  EXPECT_EQ(reader.counters().rejected_total(), 0u);
  EXPECT_EQ(reader.spans_written(), 140u);
  EXPECT_EQ(reader.spans_dropped_full(), 0u);
}

TEST(RingReader, FullRingDropsNewSpansAndCountsThemExactly) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  for (std::int64_t i = 0; i < kSmallRing + 5; ++i) write_one_record_span(i);

  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), kSmallRing);
  for (std::int64_t i = 0; i < kSmallRing; ++i) EXPECT_EQ(spans[i].int_attribute("shm.test.seq"), i);
  EXPECT_EQ(session.reader().spans_written(), kSmallRing);
  EXPECT_EQ(session.reader().spans_dropped_full(), 5u);
  const ClientCounters c = counters();
  EXPECT_EQ(c.spans_written, kSmallRing);
  EXPECT_EQ(c.spans_dropped_full, 5u);
}

TEST(RingReader, FullRingDropsAMultiRecordSpanWholeButTakesSmallerOnesThatFit) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  for (std::int64_t i = 0; i < 10; ++i) write_three_record_span(i);  // 30 of 32 records
  write_three_record_span(10);  // needs 3: dropped
  write_one_record_span(11);    // 31
  write_one_record_span(12);    // 32
  write_one_record_span(13);    // dropped

  std::vector<std::int64_t> seqs;
  for (const OwnedSpan& s : drain(session.reader(), 0)) seqs.push_back(s.int_attribute("shm.test.seq"));
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12}));
  EXPECT_EQ(session.reader().spans_dropped_full(), 2u);
  EXPECT_EQ(session.reader().spans_written(), 12u);
}

TEST(RingReader, FullRingTakesSpansAgainOnlyAfterTheReaderCommits) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  SegmentReader& reader = session.reader();
  for (std::int64_t i = 0; i < kSmallRing; ++i) write_one_record_span(i);

  std::uint64_t seen = 0;
  const std::uint64_t pos = reader.read(0, 0, ~0ull, [&](const SpanView&) { ++seen; });
  EXPECT_EQ(seen, kSmallRing);
  write_one_record_span(100);  // read but not committed: the slots are not free yet
  EXPECT_EQ(reader.spans_dropped_full(), 1u);

  reader.commit(0, pos);
  write_one_record_span(101);
  const std::vector<OwnedSpan> spans = drain(reader, 0);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].int_attribute("shm.test.seq"), 101);
  EXPECT_EQ(reader.spans_dropped_full(), 1u);
}

TEST(RingReader, ReadStopsAtSpanBoundariesWhenLimited) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  SegmentReader& reader = session.reader();
  for (std::int64_t i = 0; i < 3; ++i) write_three_record_span(i);

  std::vector<std::int64_t> seqs;
  auto collect = [&](const SpanView& v) {
    for (const AttrView& a : v.attributes)
      if (a.key == "shm.test.seq") seqs.push_back(a.int_value);
  };
  // A limit of one record still yields the whole span it starts, never half of one.
  std::uint64_t pos = reader.read(0, 0, 1, collect);
  EXPECT_EQ(pos, 3u);
  pos = reader.read(0, pos, 4, collect);
  EXPECT_EQ(pos, 9u);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{0, 1, 2}));
  EXPECT_EQ(reader.read(0, pos, 4, collect), 9u);  // nothing new
}

TEST(RingReader, ReadOfARingThatDoesNotExistReturnsItsStart) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  write_one_record_span(0);
  EXPECT_EQ(session.reader().read(1, 0, ~0ull, [](const SpanView&) { FAIL(); }), 0u);
}

TEST(RingReader, InitAfterShutdownCreatesANewReadableSegment) {
  Options o;
  o.service_name = test_support::unique_service_name();
  o.shm_size = layout_for(1, kSmallRing).segment_size;
  o.rings = 1;
  std::vector<std::string> segments;
  struct Cleanup {  // an early ASSERT must not leave the tracer on for the next test
    std::vector<std::string>& names;
    ~Cleanup() {
      shutdown();
      for (const std::string& n : names) remove_segment(n);
    }
  } cleanup{segments};

  const InitStatus first = init(o);
  ASSERT_TRUE(first.ok()) << first.message;
  segments.push_back(first.segment);
  write_one_record_span(1);
  shutdown();
  const InitStatus second = init(o);
  ASSERT_TRUE(second.ok()) << second.message;
  segments.push_back(second.segment);
  EXPECT_NE(second.segment, first.segment);
  write_one_record_span(2);

  SegmentReader reader;
  std::string message;
  ASSERT_EQ(reader.open(second.segment, message), SegmentError::kOk) << message;
  const std::vector<OwnedSpan> spans = drain(reader, 0);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].int_attribute("shm.test.seq"), 2);
  EXPECT_FALSE(reader.closed());
  shutdown();
  EXPECT_TRUE(reader.closed());
}

// ---------------------------------------------------------------------------------------------
// Continuation records and the span size limit

TEST(SpanEncoding, SpanOfManyAttributesSpansSeveralRecordsAndDecodesIntact) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("many-attributes");
    for (int i = 0; i < 12; ++i) {
      const std::string key = "key." + std::to_string(i);
      switch (i % 4) {
        case 0: s.set_attribute(key, std::string(40, static_cast<char>('A' + i))); break;
        case 1: s.set_attribute(key, std::int64_t{1} << (i * 4)); break;
        case 2: s.set_attribute(key, i * 0.5); break;
        case 3: s.set_attribute(key, i % 8 == 3); break;
      }
    }
  }
  const std::uint32_t count = session.record(0, 0).header.count;
  EXPECT_GE(count, 3u);
  EXPECT_EQ(session.reader().head(0), count);
  for (std::uint32_t k = 1; k < count; ++k) {
    EXPECT_EQ(session.record(0, k).header.type, kRecordContinuation);
    EXPECT_EQ(session.record(0, k).header.index, k);
  }

  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  EXPECT_EQ(s.name, "many-attributes");
  ASSERT_EQ(s.attributes.size(), 12u);
  EXPECT_EQ(s.dropped_attributes, 0u);
  for (int i = 0; i < 12; ++i) {
    const test_support::OwnedAttr& a = s.attributes[i];
    EXPECT_EQ(a.key, "key." + std::to_string(i));
    switch (i % 4) {
      case 0: EXPECT_EQ(a.type, kAttrString); EXPECT_EQ(a.string_value, std::string(40, static_cast<char>('A' + i))); break;
      case 1: EXPECT_EQ(a.type, kAttrInt); EXPECT_EQ(a.int_value, std::int64_t{1} << (i * 4)); break;
      case 2: EXPECT_EQ(a.type, kAttrDouble); EXPECT_EQ(a.double_value, i * 0.5); break;
      case 3: EXPECT_EQ(a.type, kAttrBool); EXPECT_EQ(a.bool_value, i % 8 == 3); break;
    }
  }
}

TEST(SpanEncoding, SpanOverTheSizeLimitDropsAttributesAndStillDecodes) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  // 64 + 6 bytes of name item, then 41-byte attributes: 23 fit in kMaxSpanBytes, 17 do not.
  {
    Span s("big");
    for (int i = 0; i < 40; ++i) {
      char key[8];
      std::snprintf(key, sizeof key, "key_%02d", i);
      s.set_attribute(std::string_view(key), std::string(30, static_cast<char>('a' + i % 26)));
    }
  }
  EXPECT_EQ(session.reader().head(0), kMaxRecordsPerSpan);
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  EXPECT_EQ(s.name, "big");
  ASSERT_EQ(s.attributes.size(), 23u);
  EXPECT_EQ(s.dropped_attributes, 17u);
  for (int i = 0; i < 23; ++i) EXPECT_EQ(s.attributes[i].string_value, std::string(30, static_cast<char>('a' + i % 26)));
}

TEST(SpanEncoding, StringLongerThanTheSpanLimitIsDroppedAndCounted) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("long-value");
    s.set_attribute("huge", std::string(5000, 'x'));
    s.set_attribute("after", std::int64_t{7});
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].dropped_attributes, 1u);
  ASSERT_EQ(spans[0].attributes.size(), 1u);
  EXPECT_EQ(spans[0].int_attribute("after"), 7);
}

TEST(SpanEncoding, StringUpToTheLimitIsKeptWhole) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  // 64 + 6 (name) + 1 + 2 + 1 (key) + 2 = 76 bytes of overhead: 948 bytes of value fit exactly.
  {
    Span s("max");
    s.set_attribute("v", std::string(948, 'v'));
  }
  EXPECT_EQ(session.reader().head(0), kMaxRecordsPerSpan);
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].dropped_attributes, 0u);
  ASSERT_NE(spans[0].attribute("v"), nullptr);
  EXPECT_EQ(spans[0].attribute("v")->string_value, std::string(948, 'v'));
}

// A span name longer than the room left in the span buffer. Disabled: Span::start writes the
// kItemName tag, then put_str refuses the name and the tag stays behind without its string, so
// the reader rejects the whole span (kRejectTruncated) — or worse, reads the following items as
// the name's length. See the report: client/include/spanring/tracer.hpp, Span::start.
TEST(SpanEncoding, OverlongSpanNameIsCutAndTheSpanStillDecodes) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s(std::string(2000, 'n'));
    s.set_attribute("k", std::int64_t{1});
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  EXPECT_EQ(session.reader().counters().rejected_total(), 0u);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_FALSE(spans[0].name.empty());
  EXPECT_EQ(spans[0].name.find_first_not_of('n'), std::string::npos);
}

// A default-constructed string_view (data() == nullptr) as a value. Disabled: Span::put_str
// calls memcpy(dst, nullptr, 0), which is undefined behaviour and aborts the -DSPANRING_ASAN=ON
// build (UBSan "null pointer passed as argument 2"); other builds pass by luck. See the report:
// client/include/spanring/tracer.hpp, Span::put_str.
TEST(SpanEncoding, DefaultConstructedEmptyStringIsAnEmptyValue) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("empty-view");
    s.set_attribute("empty", std::string_view());
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  ASSERT_NE(spans[0].attribute("empty"), nullptr);
  EXPECT_EQ(spans[0].attribute("empty")->string_value, "");
}

// ---------------------------------------------------------------------------------------------
// Item types

TEST(SpanEncoding, InternedAndInlineKeysBothDecode) {
  static const Key kInterned("shm.test.interned");
  static const Key kName("shm.test.span_name");
  static const Key kValue("shm.test.interned_value");
  const Key inline_key = Key::inline_text("shm.test.inline");
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  ASSERT_NE(kInterned.ref(), 0);
  EXPECT_EQ(inline_key.ref(), 0);
  {
    Span s(kName);
    s.set_attribute(kInterned, std::int64_t{7});
    s.set_attribute(inline_key, std::int64_t{8});
    s.set_attribute("shm.test.plain", std::int64_t{9});
    s.set_attribute(inline_key, kValue);
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  EXPECT_EQ(s.name, "shm.test.span_name");
  EXPECT_EQ(s.name_id, kName.ref() & 0x7fff);
  ASSERT_EQ(s.attributes.size(), 4u);
  EXPECT_EQ(s.attributes[0].key, "shm.test.interned");
  EXPECT_EQ(s.attributes[0].key_id, kInterned.ref() & 0x7fff);
  EXPECT_EQ(s.attributes[0].int_value, 7);
  EXPECT_EQ(s.attributes[1].key, "shm.test.inline");
  EXPECT_EQ(s.attributes[1].key_id, -1);
  EXPECT_EQ(s.attributes[1].int_value, 8);
  EXPECT_EQ(s.attributes[2].key, "shm.test.plain");
  EXPECT_EQ(s.attributes[2].key_id, -1);
  EXPECT_EQ(s.attributes[2].int_value, 9);
  EXPECT_EQ(s.attributes[3].type, kAttrString);
  EXPECT_EQ(s.attributes[3].string_value, "shm.test.interned_value");
}

TEST(SpanEncoding, AttributeValuesRoundTripAtTheirExtremes) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("extremes");
    s.set_attribute("min", std::numeric_limits<std::int64_t>::min());
    s.set_attribute("max", std::numeric_limits<std::int64_t>::max());
    s.set_attribute("neg_zero", -0.0);
    s.set_attribute("inf", std::numeric_limits<double>::infinity());
    s.set_attribute("nan", std::numeric_limits<double>::quiet_NaN());
    s.set_attribute("denorm", std::numeric_limits<double>::denorm_min());
    s.set_attribute("empty", "");
    s.set_attribute("utf8", "κλειδί \xf0\x9f\x94\x91");
    s.set_attribute("nul", std::string_view("a\0b", 3));
    s.set_attribute("t", true);
    s.set_attribute("f", false);
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  EXPECT_EQ(s.int_attribute("min"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(s.int_attribute("max"), std::numeric_limits<std::int64_t>::max());
  ASSERT_NE(s.attribute("neg_zero"), nullptr);
  EXPECT_TRUE(std::signbit(s.attribute("neg_zero")->double_value));
  EXPECT_EQ(s.attribute("inf")->double_value, std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(s.attribute("nan")->double_value));
  EXPECT_EQ(s.attribute("denorm")->double_value, std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(s.attribute("empty")->type, kAttrString);
  EXPECT_EQ(s.attribute("empty")->string_value, "");
  EXPECT_EQ(s.attribute("utf8")->string_value, "κλειδί \xf0\x9f\x94\x91");
  EXPECT_EQ(s.attribute("nul")->string_value, std::string("a\0b", 3));
  EXPECT_EQ(s.attribute("t")->type, kAttrBool);
  EXPECT_TRUE(s.attribute("t")->bool_value);
  EXPECT_FALSE(s.attribute("f")->bool_value);
}

TEST(SpanEncoding, EveryKindAndTimesDecode) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  const std::uint64_t before = realtime_ns();
  for (SpanKind k : {SpanKind::kInternal, SpanKind::kServer, SpanKind::kClient, SpanKind::kProducer, SpanKind::kConsumer})
    Span s("kind", k);
  const std::uint64_t after = realtime_ns();
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 5u);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    EXPECT_EQ(spans[i].kind, i + 1);
    EXPECT_FALSE(spans[i].has_parent);
    EXPECT_LE(spans[i].start_unix_ns, spans[i].end_unix_ns);
    // Unit sanity only (ns since the epoch, not raw ticks); the margin is not a timing claim.
    EXPECT_GT(spans[i].start_unix_ns + 60'000'000'000ull, before);
    EXPECT_LT(spans[i].end_unix_ns, after + 60'000'000'000ull);
  }
}

TEST(SpanEncoding, EventsDecodeWithTheirAttributes) {
  static const Key kEventName("shm.test.event");
  static const Key kEventKey("shm.test.event_key");
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("with-events");
    s.add_event("first", {Attribute("n", 1), Attribute(kEventKey, "v")});
    s.add_event(kEventName);
    s.add_event("third", {Attribute("d", 2.5), Attribute("b", true)});
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  ASSERT_EQ(s.events.size(), 3u);
  EXPECT_EQ(s.events[0].name, "first");
  ASSERT_EQ(s.events[0].attributes.size(), 2u);
  EXPECT_EQ(s.events[0].attributes[0].key, "n");
  EXPECT_EQ(s.events[0].attributes[0].int_value, 1);
  EXPECT_EQ(s.events[0].attributes[1].key, "shm.test.event_key");
  EXPECT_EQ(s.events[0].attributes[1].key_id, kEventKey.ref() & 0x7fff);
  EXPECT_EQ(s.events[0].attributes[1].string_value, "v");
  EXPECT_EQ(s.events[1].name, "shm.test.event");
  EXPECT_TRUE(s.events[1].attributes.empty());
  EXPECT_EQ(s.events[2].name, "third");
  ASSERT_EQ(s.events[2].attributes.size(), 2u);
  EXPECT_EQ(s.events[2].attributes[0].double_value, 2.5);
  EXPECT_TRUE(s.events[2].attributes[1].bool_value);
  EXPECT_TRUE(s.attributes.empty());  // event attributes stay with their event
  for (const test_support::OwnedEvent& e : s.events) {
    EXPECT_EQ(e.dropped_attributes, 0u);
    EXPECT_GE(e.time_unix_ns, s.start_unix_ns);
    EXPECT_LE(e.time_unix_ns, s.end_unix_ns);
  }
}

TEST(SpanEncoding, LinksDecodeWithTheirAttributesAndTracestate) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  const std::unique_ptr<SpanContext> remote = remote_parent();
  SpanContext local;
  {
    Span other("other");
    local = other.context();
    Span s("with-links");
    s.add_link(*remote, {Attribute("link.n", 3)});
    s.add_link(local);
  }
  std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 2u);
  const OwnedSpan& s = spans[0];  // ended first
  EXPECT_EQ(s.name, "with-links");
  ASSERT_EQ(s.links.size(), 2u);
  EXPECT_EQ(s.links[0].trace_id, test_support::as_array(remote->trace_id.bytes));
  EXPECT_EQ(s.links[0].span_id, test_support::as_array(remote->span_id.bytes));
  EXPECT_EQ(s.links[0].trace_flags, kTraceFlagSampled);
  EXPECT_EQ(s.links[0].flags, kSpanFlagHasRemote | kSpanFlagParentRemote);
  EXPECT_EQ(s.links[0].trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  ASSERT_EQ(s.links[0].attributes.size(), 1u);
  EXPECT_EQ(s.links[0].attributes[0].key, "link.n");
  EXPECT_EQ(s.links[0].attributes[0].int_value, 3);
  EXPECT_EQ(s.links[1].span_id, test_support::as_array(local.span_id.bytes));
  EXPECT_EQ(s.links[1].trace_id, spans[1].trace_id);
  EXPECT_EQ(s.links[1].flags, kSpanFlagHasRemote);  // a local span: is-remote known, false
  EXPECT_TRUE(s.links[1].attributes.empty());
  EXPECT_TRUE(s.links[1].trace_state.empty());
}

TEST(SpanEncoding, ErrorStatusKeepsItsMessage) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("failing");
    s.set_status(StatusCode::kError, "out of KV cache");
  }
  {
    Span s("fine");
    s.set_status(StatusCode::kOk, "ignored with OK");
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].status, kStatusError);
  EXPECT_EQ(spans[0].status_message, "out of KV cache");
  EXPECT_EQ(spans[1].status, kStatusOk);
  EXPECT_EQ(spans[1].status_message, "");
}

TEST(SpanEncoding, RecordedExceptionIsAnEventAndAnErrorStatus) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span s("throws");
    s.record_exception("std::bad_alloc", "no memory");
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].status, kStatusError);
  EXPECT_EQ(spans[0].status_message, "no memory");
  ASSERT_EQ(spans[0].events.size(), 1u);
  EXPECT_EQ(spans[0].events[0].name, "exception");
  ASSERT_EQ(spans[0].events[0].attributes.size(), 2u);
  EXPECT_EQ(spans[0].events[0].attributes[0].key, "exception.type");
  EXPECT_EQ(spans[0].events[0].attributes[0].string_value, "std::bad_alloc");
  EXPECT_EQ(spans[0].events[0].attributes[1].key, "exception.message");
  EXPECT_EQ(spans[0].events[0].attributes[1].string_value, "no memory");
}

TEST(SpanEncoding, RemoteParentGivesTraceIdParentFlagsAndTracestate) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  const std::unique_ptr<SpanContext> remote = remote_parent();
  { Span s("server", *remote); }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 1u);
  const OwnedSpan& s = spans[0];
  EXPECT_EQ(s.trace_id, test_support::as_array(remote->trace_id.bytes));
  EXPECT_TRUE(s.has_parent);
  EXPECT_EQ(s.parent_span_id, test_support::as_array(remote->span_id.bytes));
  EXPECT_EQ(s.kind, kKindServer);
  EXPECT_EQ(s.trace_flags, kTraceFlagSampled);
  EXPECT_EQ(s.otlp_flags, 0x301u);  // sampled, parent is-remote known and true
  EXPECT_NE(s.span_flags & kSpanFlagTraceRemote, 0);
  EXPECT_EQ(s.trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

TEST(SpanEncoding, LocalChildInheritsTracestateAndMarksItsParentLocal) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  const std::unique_ptr<SpanContext> remote = remote_parent();
  {
    Span server("server", *remote);
    Scope scope(server);
    Span child("child");
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 2u);
  const OwnedSpan& child = spans[0];
  const OwnedSpan& server = spans[1];
  EXPECT_EQ(child.name, "child");
  EXPECT_EQ(child.trace_id, server.trace_id);
  EXPECT_EQ(child.parent_span_id, server.span_id);
  EXPECT_EQ(child.trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  EXPECT_EQ(child.otlp_flags, 0x101u);  // sampled, parent is-remote known and false
  EXPECT_NE(child.span_flags & kSpanFlagTraceRemote, 0);  // the trace still came from outside
}

TEST(SpanEncoding, LocalRootTraceIsNotMarkedRemote) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span root("root");
    Span child("child", root);
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].span_flags, kSpanFlagHasParent | kSpanFlagHasRemote);
  EXPECT_EQ(spans[1].span_flags, 0u);
}

TEST(SpanEncoding, DescendantsCarryTheirLocalRootsInternedName) {
  static const Key kRoot("shm.test.root_operation");
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  {
    Span root(kRoot, SpanKind::kServer);
    Scope scope(root);
    Span child("child");
    Scope inner(child);
    Span grandchild("grandchild");
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 3u);
  for (const OwnedSpan& s : spans) {
    SCOPED_TRACE(s.name);
    EXPECT_EQ(s.root_name, "shm.test.root_operation");
    EXPECT_EQ(s.root_name_id, kRoot.ref() & 0x7fff);
  }
}

TEST(SpanEncoding, LocalRootWithAnInlineNameNamesOnlyItself) {
  TracerSession session(1, kSmallRing);
  ASSERT_TRUE(session.ok());
  const std::unique_ptr<SpanContext> remote = remote_parent();
  {
    Span root("inline-root");
    Span child("child", root);
    Span entry("entry", *remote);  // a remote parent makes a local root too
  }
  const std::vector<OwnedSpan> spans = drain(session.reader(), 0);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].name, "entry");
  EXPECT_EQ(spans[0].root_name, "entry");
  EXPECT_EQ(spans[1].name, "child");
  EXPECT_EQ(spans[1].root_name, "");  // the root's inline text is not in the child's record
  EXPECT_EQ(spans[1].root_name_id, -1);
  EXPECT_EQ(spans[2].root_name, "inline-root");
  EXPECT_EQ(spans[2].root_name_id, -1);
}

}  // namespace
// A span whose end tick lies past a TSC jump the reader's anchors saw (a snapshot restore
// between start and end): marked, counted, and it never ends before it starts nor lasts the
// jump's billion ticks.
TEST(RingReader, ASpanStraddlingATscJumpIsMarkedCountedAndKeepsASaneDuration) {
  if (!cpu_has_invariant_tsc()) GTEST_SKIP() << "no invariant TSC on this CPU: spans record CLOCK_MONOTONIC, which does not jump";
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  ASSERT_EQ(session.reader().header().clock_source, kClockTsc);
  { Span s("straddles"); }
  constexpr std::uint64_t kJump = 1'000'000'000'000ull;  // ticks: minutes at any TSC rate
  SpanFixed f;
  std::memcpy(&f, session.record(0, 0).payload, sizeof f);
  f.end_time = f.start_time + kJump + 1000;  // ended 1000 ticks after it started, past the jump
  std::memcpy(session.record(0, 0).payload, &f, sizeof f);
  // The reader's next anchor sees the TSC ahead of MONOTONIC_RAW by the jump.
  ClockAnchor after = sample_clock_anchor(3);
  after.tsc += kJump;
  session.reader().clock().add_anchor(after);
  ASSERT_EQ(session.reader().clock().discontinuities(), 1u);
  int spans = 0;
  session.reader().read(0, 0, 64, [&](const SpanView& v) {
    ++spans;
    EXPECT_TRUE(v.clock_discontinuity);
    EXPECT_GE(v.end_unix_ns, v.start_unix_ns);
    EXPECT_LT(v.end_unix_ns - v.start_unix_ns, 1'000'000'000u) << "a duration of the jump's size";
  });
  EXPECT_EQ(spans, 1);
  EXPECT_EQ(session.reader().counters().clock_discontinuity_spans, 1u);
}

}  // namespace spanring::shm
