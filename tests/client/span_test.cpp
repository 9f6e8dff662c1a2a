// Span API semantics, read back from the segment: status rules, what happens after end(),
// spans outside an initialised tracer, limits, events and links.
#include <time.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "test_support.hpp"

namespace spanring::test {
namespace {

class SpanApi : public TracerTest {
 protected:
  void SetUp() override {
    TracerTest::SetUp();
    ASSERT_TRUE(start_tracer().ok());
  }

  // Shuts down and returns the one span the test wrote.
  ReadSpan the_span() {
    contents_ = stop_and_read();
    EXPECT_EQ(contents_.spans.size(), 1u);
    return contents_.spans.empty() ? ReadSpan{} : contents_.spans[0];
  }

  SegmentContents contents_;
};

TEST_F(SpanApi, StatusOkIsFinal) {
  {
    Span s("ok.then.error");
    s.set_status(StatusCode::kOk);
    s.set_status(StatusCode::kError, "late");
    s.set_status(StatusCode::kUnset);
  }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusOk);
  EXPECT_EQ(s.status_message, "");
}

// An explicit start later than the clock's end (a caller's clock mistake) is exported as a
// zero-length span at the start, not as an end before the start.
TEST_F(SpanApi, ExplicitStartAfterTheClockEndBecomesAZeroLengthSpan) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const std::uint64_t future = std::uint64_t(ts.tv_sec + 3600) * 1'000'000'000ull;
  {
    Span s("future");
    s.set_start_time_unix_ns(future);
  }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.start_unix_ns, future);
  EXPECT_EQ(s.end_unix_ns, future);
}

TEST_F(SpanApi, RecordExceptionCutsALongStacktraceToTheRoomLeft) {
  const std::string trace(5000, 't');
  {
    Span s("exc");
    s.set_attribute("k", std::string_view(std::string(200, 'v')));
    s.record_exception("Type", "message", trace);
  }
  const ReadSpan s = the_span();
  ASSERT_EQ(s.events.size(), 1u);
  ASSERT_EQ(s.events[0].attributes.size(), 3u);
  EXPECT_EQ(s.events[0].attributes[2].key, "exception.stacktrace");
  EXPECT_GT(s.events[0].attributes[2].string_value.size(), 400u);
  EXPECT_LT(s.events[0].attributes[2].string_value.size(), 1024u);
  EXPECT_EQ(s.status, shm::kStatusError);
  EXPECT_EQ(s.status_message, "message");  // the description still fits after the cut
  EXPECT_EQ(s.dropped_events, 0u);
}

TEST_F(SpanApi, StatusOkDropsItsDescription) {
  { Span("ok").set_status(StatusCode::kOk, "all good"); }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusOk);
  EXPECT_EQ(s.status_message, "");
}

TEST_F(SpanApi, StatusUnsetDropsItsDescription) {
  { Span("unset").set_status(StatusCode::kUnset, "nothing"); }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusUnset);
  EXPECT_EQ(s.status_message, "");
}

TEST_F(SpanApi, StatusErrorKeepsItsDescription) {
  { Span("error").set_status(StatusCode::kError, "boom"); }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusError);
  EXPECT_EQ(s.status_message, "boom");
}

// An ERROR description must not survive a later OK (OK carries no description).
TEST_F(SpanApi, StatusOkAfterErrorDropsTheErrorDescription) {
  {
    Span s("error.then.ok");
    s.set_status(StatusCode::kError, "boom");
    s.set_status(StatusCode::kOk);
  }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusOk);
  EXPECT_EQ(s.status_message, "");
}

TEST_F(SpanApi, NewErrorDescriptionReplacesTheOld) {
  {
    Span s("error.twice");
    s.set_status(StatusCode::kError, "first");
    s.set_status(StatusCode::kError, "second");
  }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusError);
  EXPECT_EQ(s.status_message, "second");
}

TEST_F(SpanApi, RecordExceptionAddsTheEventAndSetsError) {
  { Span("failing").record_exception("ValueError", "bad token"); }
  const ReadSpan s = the_span();
  EXPECT_EQ(s.status, shm::kStatusError);
  EXPECT_EQ(s.status_message, "bad token");
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_EQ(s.events[0].name, "exception");
  ASSERT_EQ(s.events[0].attributes.size(), 2u);
  EXPECT_EQ(s.events[0].attributes[0].key, "exception.type");
  EXPECT_EQ(s.events[0].attributes[0].string_value, "ValueError");
  EXPECT_EQ(s.events[0].attributes[1].key, "exception.message");
  EXPECT_EQ(s.events[0].attributes[1].string_value, "bad token");
}

TEST_F(SpanApi, CallsOnAnEndedSpanAreIgnored) {
  Span s("ended");
  s.set_attribute("before", 1);
  s.end();
  EXPECT_FALSE(s.recording());
  s.set_attribute("after", 2);
  s.add_event("after.event");
  s.set_status(StatusCode::kError, "after");
  s.end();
  EXPECT_EQ(counters().spans_written, 1u);
  const ReadSpan r = the_span();
  ASSERT_EQ(r.attributes.size(), 1u);
  EXPECT_EQ(r.attributes[0].key, "before");
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(r.status, shm::kStatusUnset);
}

TEST_F(SpanApi, DestructorEndsTheSpanOnce) {
  {
    Span s("raii");
    EXPECT_TRUE(s.recording());
  }
  EXPECT_EQ(counters().spans_written, 1u);
  EXPECT_EQ(the_span().name, "raii");
}

TEST_F(SpanApi, SpanStartedBeforeShutdownAndEndedAfterIsDroppedWithoutACount) {
  Span s("open.at.shutdown");
  ASSERT_TRUE(s.recording());
  spanring::shutdown();
  s.end();
  const SegmentContents c = read_segment(segment_);
  EXPECT_TRUE(c.spans.empty());
  EXPECT_EQ(c.spans_written, 0u);
  EXPECT_EQ(c.spans_dropped_no_ring, 0u);
  EXPECT_EQ(c.spans_dropped_full, 0u);
}

TEST_F(SpanApi, AttributesThatDoNotFitAreDroppedAndCounted) {
  constexpr int kAttributes = 100;  // 12 encoded bytes each: about 80 fit in a 1 KiB span
  {
    Span s("crowded");
    for (int i = 0; i < kAttributes; ++i) s.set_attribute("k", i);
  }
  const ReadSpan s = the_span();
  EXPECT_GT(s.dropped_attributes, 0u);
  EXPECT_EQ(s.attributes.size() + s.dropped_attributes, std::size_t{kAttributes});
  for (std::size_t i = 0; i < s.attributes.size(); ++i) EXPECT_EQ(s.attributes[i].int_value, std::int64_t(i));
}

// The span's dropped counts are u16 in the record (abi.hpp SpanFixed): past 65,535 they stay
// there ("at least this many") instead of wrapping to a small, wrong number.
constexpr std::uint32_t kDroppedCountMax = std::numeric_limits<std::uint16_t>::max();
constexpr int kManyCalls = 70'000;

TEST_F(SpanApi, DroppedAttributesCountSaturatesInsteadOfWrapping) {
  static const Key kKey("many");
  {
    Span s("many.attributes");
    for (int i = 0; i < kManyCalls; ++i) s.set_attribute(kKey, i);
  }
  const ReadSpan s = the_span();
  EXPECT_GT(s.attributes.size(), 0u);
  EXPECT_EQ(s.dropped_attributes, kDroppedCountMax);
}

TEST_F(SpanApi, DroppedEventsCountSaturatesInsteadOfWrapping) {
  static const Key kName("many.event");
  {
    Span s("many.events");
    for (int i = 0; i < kManyCalls; ++i) s.add_event(kName);
  }
  const ReadSpan s = the_span();
  EXPECT_GT(s.events.size(), 0u);
  EXPECT_EQ(s.dropped_events, kDroppedCountMax);
}

TEST_F(SpanApi, DroppedLinksCountSaturatesInsteadOfWrapping) {
  SpanContext linked;
  ASSERT_TRUE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", linked));
  {
    Span s("many.links");
    for (int i = 0; i < kManyCalls; ++i) s.add_link(linked);
  }
  const ReadSpan s = the_span();
  EXPECT_GT(s.links.size(), 0u);
  EXPECT_EQ(s.dropped_links, kDroppedCountMax);
}

// An event's attribute count and dropped count are u8: with more attributes than fit and more
// than 255 dropped, the count written must still be the number written (a wrong count would
// make the reader take the event's attributes for the span's), and dropped stays at 255.
template <std::size_t... I>
void add_event_with_attributes(Span& s, const Key& name, const Key& key, std::index_sequence<I...>) {
  s.add_event(name, {Attribute(key, static_cast<std::int64_t>(I))...});
}

TEST_F(SpanApi, EventWithMoreThan255DroppedAttributesKeepsItsCountRight) {
  static const Key kName("crowded.event");
  static const Key kKey("n");
  constexpr std::size_t kAttributes = 400;  // 11 bytes each: fewer than 100 fit
  {
    Span s("crowded.event.span");
    add_event_with_attributes(s, kName, kKey, std::make_index_sequence<kAttributes>{});
  }
  const ReadSpan s = the_span();
  EXPECT_EQ(contents_.rejected, 0u);
  EXPECT_TRUE(s.attributes.empty());
  ASSERT_EQ(s.events.size(), 1u);
  const ReadEvent& e = s.events[0];
  ASSERT_GT(e.attributes.size(), 0u);
  EXPECT_GT(kAttributes - e.attributes.size(), 255u);  // the case this test is about
  EXPECT_EQ(e.dropped_attributes, 255u);
  for (std::size_t i = 0; i < e.attributes.size(); ++i) EXPECT_EQ(e.attributes[i].int_value, std::int64_t(i));
}

TEST_F(SpanApi, SpanSpreadOverSeveralRecordsReadsBackWhole) {
  const std::string big(700, 'x');
  {
    Span s("big");
    s.set_attribute("payload", big);
  }
  const ReadSpan s = the_span();
  ASSERT_NE(s.attribute("payload"), nullptr);
  EXPECT_EQ(s.attribute("payload")->string_value, big);
  EXPECT_GT(contents_.heads[s.ring], 1u);  // more than one record
}

TEST_F(SpanApi, EventCarriesItsAttributes) {
  {
    Span s("with.event");
    s.add_event("tokens", {Attribute("n", 42), Attribute("text", "hi"), Attribute("p", 0.5), Attribute("ok", true)});
  }
  const ReadSpan s = the_span();
  ASSERT_EQ(s.events.size(), 1u);
  const ReadEvent& e = s.events[0];
  EXPECT_EQ(e.name, "tokens");
  ASSERT_EQ(e.attributes.size(), 4u);
  EXPECT_EQ(e.attributes[0].int_value, 42);
  EXPECT_EQ(e.attributes[1].string_value, "hi");
  EXPECT_EQ(e.attributes[2].double_value, 0.5);
  EXPECT_TRUE(e.attributes[3].bool_value);
  EXPECT_EQ(e.dropped_attributes, 0u);
}

TEST_F(SpanApi, LinkCarriesTheLinkedContext) {
  SpanContext linked;
  ASSERT_TRUE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=1", linked));
  {
    Span s("batch");
    s.add_link(linked, {Attribute("request", 7)});
  }
  const ReadSpan s = the_span();
  ASSERT_EQ(s.links.size(), 1u);
  EXPECT_EQ(hex(s.links[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(hex(s.links[0].span_id), "00f067aa0ba902b7");
  EXPECT_EQ(s.links[0].trace_state, "a=1");
  EXPECT_NE(s.links[0].flags & shm::kSpanFlagParentRemote, 0);
  ASSERT_EQ(s.links[0].attributes.size(), 1u);
  EXPECT_EQ(s.links[0].attributes[0].int_value, 7);
}

class SpanKindRoundTrip : public SpanApi, public ::testing::WithParamInterface<SpanKind> {};

TEST_P(SpanKindRoundTrip, KindIsWrittenAsOtlpValue) {
  { Span s("kind", GetParam()); }
  EXPECT_EQ(the_span().kind, static_cast<std::uint8_t>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(AllKinds, SpanKindRoundTrip,
                         ::testing::Values(SpanKind::kInternal, SpanKind::kServer, SpanKind::kClient,
                                           SpanKind::kProducer, SpanKind::kConsumer));

// ---------------------------------------------------------------------------------------------

class SpanWithoutTracer : public TracerTest {};

TEST_F(SpanWithoutTracer, SpanBuiltBeforeInitRecordsNothingEvenIfEndedAfter) {
  expect_tracer_is_a_noop();
  Span early("before.init");
  EXPECT_FALSE(early.recording());
  ASSERT_TRUE(start_tracer().ok());
  early.set_attribute("k", 1);
  early.end();
  EXPECT_EQ(counters().spans_written, 0u);
  { Span later("after.init"); }
  const SegmentContents c = stop_and_read();
  ASSERT_EQ(c.spans.size(), 1u);
  EXPECT_EQ(c.spans[0].name, "after.init");
}

TEST_F(SpanWithoutTracer, EveryCallIsANoopAfterShutdown) {
  ASSERT_TRUE(start_tracer().ok());
  { Span s("while.on"); }
  spanring::shutdown();
  expect_tracer_is_a_noop();
  EXPECT_EQ(read_segment(segment_).spans_written, 1u);
}

}  // namespace
}  // namespace spanring::test
