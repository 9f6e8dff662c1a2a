// The complete C API (c_api_full.c): arrays, explicit times, event attributes, links,
// exceptions with stack traces, tracestate read back, children of a context. Reads the
// segment back field by field.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "c_api_full.h"
#include "test_support.hpp"

namespace spanring::test {
namespace {

class CApiFull : public TracerTest {
 protected:
  void SetUp() override {
    TracerTest::SetUp();
    c_full_run(service_.c_str(), kSmallSegment, &result_);
    ASSERT_EQ(result_.init_code, 0) << result_.init_error;
    const std::vector<std::string> segments = segments_of(service_);
    ASSERT_EQ(segments.size(), 1u);
    contents_ = read_segment(segments[0]);
    ASSERT_EQ(contents_.error, "");
    ASSERT_EQ(contents_.rejected, 0u);
    server_ = contents_.only("c.full.server");
    child_ = contents_.only("c.full.child");
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(child_, nullptr);
  }

  c_full_result result_{};
  SegmentContents contents_;
  const ReadSpan* server_ = nullptr;
  const ReadSpan* child_ = nullptr;
};

TEST_F(CApiFull, TracestateOfTheSpanCanBeReadToForwardIt) {
  EXPECT_EQ(result_.tracestate_length, sizeof(C_FULL_TRACESTATE) - 1);
  EXPECT_EQ(std::string(result_.tracestate), C_FULL_TRACESTATE);
  // A short buffer gets a prefix, and the full length is returned so the caller can retry.
  EXPECT_EQ(result_.tracestate_short_length, sizeof(C_FULL_TRACESTATE) - 1);
  EXPECT_EQ(std::string(result_.tracestate_short), "rojo");
  EXPECT_EQ(server_->trace_state, C_FULL_TRACESTATE);
}

TEST_F(CApiFull, ArraysOfEachTypeArriveElementByElement) {
  const ReadAttr* bools = server_->attribute("c.bools");
  ASSERT_NE(bools, nullptr);
  EXPECT_EQ(bools->type, shm::kAttrBoolArray);
  ASSERT_EQ(bools->elements.size(), 3u);
  EXPECT_TRUE(bools->elements[0].bool_value);
  EXPECT_FALSE(bools->elements[1].bool_value);
  EXPECT_TRUE(bools->elements[2].bool_value);  // any non-zero byte is true
  const ReadAttr* ints = server_->attribute("c.ints");
  ASSERT_NE(ints, nullptr);
  ASSERT_EQ(ints->elements.size(), 3u);
  EXPECT_EQ(ints->elements[0].int_value, -1);
  EXPECT_EQ(ints->elements[2].int_value, std::numeric_limits<std::int64_t>::max());
  const ReadAttr* doubles = server_->attribute("c.doubles");
  ASSERT_NE(doubles, nullptr);
  EXPECT_FALSE(doubles->key_interned);
  ASSERT_EQ(doubles->elements.size(), 2u);
  EXPECT_EQ(doubles->elements[1].double_value, -2.25);
  const ReadAttr* reasons = server_->attribute("gen_ai.response.finish_reasons");
  ASSERT_NE(reasons, nullptr);
  EXPECT_EQ(reasons->type, shm::kAttrStringArray);
  ASSERT_EQ(reasons->elements.size(), 3u);
  EXPECT_EQ(reasons->elements[0].string_value, "stop");
  EXPECT_EQ(reasons->elements[1].string_value, "length");
  EXPECT_EQ(reasons->elements[2].string_value, "");
  const ReadAttr* empty = server_->attribute("c.empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->type, shm::kAttrIntArray);
  EXPECT_TRUE(empty->elements.empty());
  EXPECT_EQ(server_->dropped_attributes, 0u);
}

TEST_F(CApiFull, ExplicitTimesAreExportedAsGiven) {
  EXPECT_EQ(server_->start_unix_ns, C_FULL_START_NS);
  EXPECT_EQ(server_->end_unix_ns, C_FULL_END_NS);
  ASSERT_GE(server_->events.size(), 1u);
  EXPECT_EQ(server_->events[0].time_unix_ns, C_FULL_EVENT_NS);
}

TEST_F(CApiFull, EventCarriesItsAttributesIncludingAnArray) {
  ASSERT_EQ(server_->events.size(), 2u);
  const ReadEvent& e = server_->events[0];
  EXPECT_EQ(e.name, "c.first_token");
  ASSERT_EQ(e.attributes.size(), 3u);
  EXPECT_EQ(e.attributes[0].key, "c.token");
  EXPECT_EQ(e.attributes[0].int_value, 17);
  EXPECT_EQ(e.attributes[1].string_value, "hi");
  ASSERT_EQ(e.attributes[2].elements.size(), 2u);
  EXPECT_EQ(e.attributes[2].elements[1].string_value, "length");
  EXPECT_EQ(e.dropped_attributes, 0u);
}

TEST_F(CApiFull, LinkCarriesTheExtractedContextAndItsAttributes) {
  EXPECT_EQ(result_.extract_rc, 1);
  ASSERT_EQ(server_->links.size(), 1u);
  const ReadLink& l = server_->links[0];
  EXPECT_EQ(hex(l.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(hex(l.span_id), "00f067aa0ba902b7");
  EXPECT_EQ(l.trace_state, "a=1");
  EXPECT_EQ(l.flags, shm::kSpanFlagHasRemote | shm::kSpanFlagParentRemote);
  ASSERT_EQ(l.attributes.size(), 1u);
  EXPECT_EQ(l.attributes[0].key, "c.batch.index");
  EXPECT_EQ(l.attributes[0].int_value, 3);
}

TEST_F(CApiFull, ExceptionEventHasTypeMessageStacktraceAndStatusError) {
  ASSERT_EQ(server_->events.size(), 2u);
  const ReadEvent& e = server_->events[1];
  EXPECT_EQ(e.name, "exception");
  ASSERT_EQ(e.attributes.size(), 3u);
  EXPECT_EQ(e.attributes[0].key, "exception.type");
  EXPECT_EQ(e.attributes[0].string_value, "ValueError");
  EXPECT_EQ(e.attributes[1].key, "exception.message");
  EXPECT_EQ(e.attributes[1].string_value, "bad token");
  EXPECT_EQ(e.attributes[2].key, "exception.stacktrace");
  EXPECT_EQ(e.attributes[2].string_value, "at f()\nat g()");
  EXPECT_EQ(server_->status, shm::kStatusError);
  EXPECT_EQ(server_->status_message, "bad token");
}

TEST_F(CApiFull, ChildOfAnEndedSpansContextIsItsLocalChild) {
  EXPECT_EQ(result_.context_rc, 1);
  EXPECT_EQ(child_->trace_id, server_->trace_id);
  EXPECT_TRUE(child_->has_parent);
  EXPECT_EQ(child_->parent_span_id, server_->span_id);
  EXPECT_EQ(child_->span_flags & shm::kSpanFlagParentRemote, 0);  // a span of this process
  EXPECT_EQ(child_->trace_state, C_FULL_TRACESTATE);             // inherited through the context
}

}  // namespace
}  // namespace spanring::test
