// The C API end to end: c_api_smoke.c (C11) writes spans through spanring.h, and this test
// reads the segment back with shm::SegmentReader and checks every field it set.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "c_api_smoke.h"
#include "spanring/shm/reader.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

std::string traceparent_of(const ReadSpan& s, const char* flags) {
  return "00-" + hex(s.trace_id) + "-" + hex(s.span_id) + "-" + flags;
}

class CApi : public TracerTest {
 protected:
  void SetUp() override {
    TracerTest::SetUp();
    c_smoke_run(service_.c_str(), kSmallSegment, &result_);
    ASSERT_EQ(result_.init_code, 0) << result_.init_error;
    const std::vector<std::string> segments = segments_of(service_);
    ASSERT_EQ(segments.size(), 1u);
    contents_ = read_segment(segments[0]);
    ASSERT_EQ(contents_.error, "");
    ASSERT_EQ(contents_.rejected, 0u);
    ASSERT_EQ(contents_.spans.size(), 6u);
    root_ = contents_.only("c.root");
    ASSERT_NE(root_, nullptr);
  }

  c_smoke_result result_{};
  SegmentContents contents_;
  const ReadSpan* root_ = nullptr;
};

TEST_F(CApi, InitSucceedsAndShutdownDisables) {
  EXPECT_EQ(std::string(result_.init_error), "");
  EXPECT_EQ(result_.enabled_after_init, 1);
  EXPECT_EQ(result_.enabled_after_shutdown, 0);
  EXPECT_EQ(contents_.service, service_);
  EXPECT_EQ(contents_.closed, 1u);
}

TEST_F(CApi, InternReturnsAnInternedRef) { EXPECT_NE(result_.root_name_ref & shm::kStrInterned, 0); }

TEST_F(CApi, WritesSpansInEndOrderAndNothingAfterShutdown) {
  const char* expected[] = {"c.child", "c.sibling", "c.root", "c.remote", "c.remote.invalid", "c.inline"};
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(contents_.spans[i].name, expected[i]) << i;
  EXPECT_EQ(contents_.spans_written, 6u);
  EXPECT_EQ(contents_.spans_dropped_full, 0u);
  EXPECT_EQ(contents_.spans_dropped_no_ring, 0u);
}

TEST_F(CApi, RootSpanCarriesKindStatusAndIds) {
  EXPECT_EQ(root_->kind, shm::kKindServer);
  EXPECT_TRUE(root_->name_interned);
  EXPECT_FALSE(root_->has_parent);
  EXPECT_EQ(root_->span_flags, 0);
  EXPECT_EQ(root_->trace_flags, kTraceFlagSampled | kTraceFlagRandom);
  // OK came first, so the later ERROR is ignored, and OK never keeps a description.
  EXPECT_EQ(root_->status, shm::kStatusOk);
  EXPECT_EQ(root_->status_message, "");
  EXPECT_EQ(std::string(result_.root_traceparent), traceparent_of(*root_, "03"));
}

TEST_F(CApi, RootSpanCarriesEachAttributeType) {
  ASSERT_EQ(root_->attributes.size(), 6u);
  const ReadAttr* flag = root_->attribute("c.flag");
  ASSERT_NE(flag, nullptr);
  EXPECT_EQ(flag->type, shm::kAttrBool);
  EXPECT_TRUE(flag->bool_value);
  const ReadAttr* count = root_->attribute("c.count");
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(count->type, shm::kAttrInt);
  EXPECT_EQ(count->int_value, -42);
  const ReadAttr* min = root_->attribute("c.min");
  ASSERT_NE(min, nullptr);
  EXPECT_EQ(min->int_value, std::numeric_limits<std::int64_t>::min());
  const ReadAttr* ratio = root_->attribute("c.ratio");
  ASSERT_NE(ratio, nullptr);
  EXPECT_EQ(ratio->type, shm::kAttrDouble);
  EXPECT_EQ(ratio->double_value, 0.25);
  const ReadAttr* label = root_->attribute("c.label");
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(label->type, shm::kAttrString);
  EXPECT_EQ(label->string_value, "h\xc3\xa9llo");
  EXPECT_TRUE(label->key_interned);
  const ReadAttr* inline_key = root_->attribute("c.inline_key");
  ASSERT_NE(inline_key, nullptr);
  EXPECT_EQ(inline_key->string_value, "v");
  EXPECT_FALSE(inline_key->key_interned);
}

TEST_F(CApi, RootSpanCarriesItsEvent) {
  ASSERT_EQ(root_->events.size(), 1u);
  EXPECT_EQ(root_->events[0].name, "c.event");
  EXPECT_TRUE(root_->events[0].attributes.empty());
  EXPECT_GE(root_->events[0].time_unix_ns, root_->start_unix_ns);
  EXPECT_LE(root_->events[0].time_unix_ns, root_->end_unix_ns);
}

TEST_F(CApi, ScopeMakesRootTheCurrentSpanUntilPopped) {
  EXPECT_EQ(result_.ids_before_push, 0);
  EXPECT_EQ(result_.ids_in_scope, 1);
  EXPECT_EQ(result_.ids_after_pop, 0);
  EXPECT_EQ(std::string(result_.scope_trace_hex), hex(root_->trace_id));
  EXPECT_EQ(std::string(result_.scope_span_hex), hex(root_->span_id));
}

TEST_F(CApi, ChildStartedInScopeIsAChildOfRootWithTheException) {
  const ReadSpan* child = contents_.only("c.child");
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->kind, shm::kKindClient);
  EXPECT_EQ(child->trace_id, root_->trace_id);
  EXPECT_TRUE(child->has_parent);
  EXPECT_EQ(child->parent_span_id, root_->span_id);
  EXPECT_EQ(child->span_flags, shm::kSpanFlagHasParent | shm::kSpanFlagHasRemote);
  EXPECT_NE(child->span_id, root_->span_id);
  EXPECT_EQ(child->status, shm::kStatusError);
  EXPECT_EQ(child->status_message, "deadline exceeded");
  ASSERT_EQ(child->events.size(), 1u);
  EXPECT_EQ(child->events[0].name, "exception");
  ASSERT_EQ(child->events[0].attributes.size(), 2u);
  EXPECT_EQ(child->events[0].attributes[0].key, "exception.type");
  EXPECT_EQ(child->events[0].attributes[0].string_value, "TimeoutError");
  EXPECT_EQ(child->events[0].attributes[1].key, "exception.message");
  EXPECT_EQ(child->events[0].attributes[1].string_value, "deadline exceeded");
  EXPECT_EQ(std::string(result_.child_traceparent), traceparent_of(*child, "03"));
  EXPECT_LE(root_->start_raw, child->start_raw);
  EXPECT_LE(child->end_raw, root_->end_raw);
}

TEST_F(CApi, ExplicitParentMakesAChild) {
  const ReadSpan* sibling = contents_.only("c.sibling");
  ASSERT_NE(sibling, nullptr);
  EXPECT_EQ(sibling->kind, shm::kKindProducer);
  EXPECT_EQ(sibling->trace_id, root_->trace_id);
  EXPECT_EQ(sibling->parent_span_id, root_->span_id);
}

TEST_F(CApi, ValidRemoteParentIsContinued) {
  EXPECT_EQ(result_.remote_valid_rc, 1);
  const ReadSpan* remote = contents_.only("c.remote");
  ASSERT_NE(remote, nullptr);
  EXPECT_EQ(remote->kind, shm::kKindServer);
  EXPECT_EQ(hex(remote->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(hex(remote->parent_span_id), "00f067aa0ba902b7");
  EXPECT_EQ(remote->span_flags, shm::kSpanFlagHasParent | shm::kSpanFlagHasRemote | shm::kSpanFlagParentRemote |
                                    shm::kSpanFlagTraceRemote);
  EXPECT_EQ(remote->trace_flags, kTraceFlagSampled);
  EXPECT_EQ(remote->trace_state, C_SMOKE_REMOTE_TRACESTATE);
  EXPECT_EQ(remote->status, shm::kStatusError);
  EXPECT_EQ(remote->status_message, "upstream failed");
  EXPECT_EQ(std::string(result_.remote_traceparent), traceparent_of(*remote, "01"));
}

TEST_F(CApi, InvalidRemoteParentStartsANewRootAndIsCounted) {
  EXPECT_EQ(result_.remote_invalid_rc, 0);
  const ReadSpan* invalid = contents_.only("c.remote.invalid");
  ASSERT_NE(invalid, nullptr);
  EXPECT_FALSE(invalid->has_parent);
  EXPECT_EQ(invalid->span_flags, 0);
  EXPECT_NE(hex(invalid->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(invalid->trace_id, root_->trace_id);
  EXPECT_EQ(invalid->trace_state, "");  // W3C: an invalid traceparent takes its tracestate with it
  EXPECT_EQ(std::string(result_.invalid_remote_traceparent), traceparent_of(*invalid, "03"));
  EXPECT_EQ(contents_.traceparent_invalid, 1u);
}

TEST_F(CApi, InlineKeyNameIsCopiedIntoTheSpan) {
  const ReadSpan* s = contents_.only("c.inline");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->name_interned);
  EXPECT_EQ(s->kind, shm::kKindConsumer);
}

}  // namespace
}  // namespace spanring::test
