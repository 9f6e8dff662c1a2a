// The C API end to end: c_api_smoke.c (C11) writes spans through spanring.h, and this test
// reads the segment back with shm::SegmentReader and checks every field it set.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <ostream>
#include <string>

#include "spanring/shm/segment.hpp"

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

// ---------------------------------------------------------------------------------------------
// NULL for every pointer argument of every function in spanring.h. Engines reach the C API
// through FFI, where a NULL is one binding bug away: it must be a no-op (0 where the function
// returns a result), never a crash. Each call runs in a forked child (a crash there fails this
// test instead of ending the test binary) with the tracer initialised, a live span and a
// current scope, and the child then checks that the tracer still works.

// The C struct's access field: 0 is unset (the variable decides), SPANRING_ACCESS_OWNER and
// SPANRING_ACCESS_GROUP_WRITE win over the variable, as Options::access does.
class CApiAccess : public TracerTest {
 protected:
  std::uint32_t init_mode(int access) {
    spanring_options o{};
    o.service_name = service_.c_str();
    o.shm_size = kSmallSegment;
    o.access = access;
    char err[256];
    EXPECT_EQ(spanring_init(&o, err, sizeof err), 0) << err;
    const std::vector<std::string> segments = segments_of(service_);
    if (segments.size() != 1) return 0;
    struct stat st {};
    EXPECT_EQ(::stat(("/dev/shm/" + segments[0]).c_str(), &st), 0);
    return st.st_mode & 07777;  // TearDown shuts down and removes the segment
  }
};

TEST_F(CApiAccess, ZeroLeavesTheModeToTheVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", "0660");
  EXPECT_EQ(init_mode(0), 0660u);
}

TEST_F(CApiAccess, ZeroWithoutTheVariableIsOwnerOnly) { EXPECT_EQ(init_mode(SPANRING_ACCESS_DEFAULT), 0600u); }

TEST_F(CApiAccess, OwnerWinsOverTheVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", "0660");
  EXPECT_EQ(init_mode(SPANRING_ACCESS_OWNER), 0600u);
}

TEST_F(CApiAccess, GroupWriteWinsOverTheVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", "0600");
  EXPECT_EQ(init_mode(SPANRING_ACCESS_GROUP_WRITE), 0660u);
}

struct NullCase {
  const char* name;  // gtest parameter name
  // Makes the call; returns "" when what it returned and wrote is right, else what was wrong.
  std::function<std::string(spanring_span& live)> call;
};

void PrintTo(const NullCase& c, std::ostream* os) { *os << c.name; }

spanring_key c_key(const char* text) { return spanring_intern(text, std::strlen(text)); }

constexpr char kC_Traceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const NullCase kNullCases[] = {
    {"init_options", [](spanring_span&) {
       char err[64];
       // Already initialised: NULL options are read as defaults, and the answer is a code.
       const int rc = spanring_init(nullptr, err, sizeof err);
       return rc == static_cast<int>(InitCode::kAlreadyInitialized) ? std::string() : "rc " + std::to_string(rc);
     }},
    {"init_error", [](spanring_span&) {
       const int rc = spanring_init(nullptr, nullptr, 64);
       return rc == static_cast<int>(InitCode::kAlreadyInitialized) ? std::string() : "rc " + std::to_string(rc);
     }},
    {"intern_text", [](spanring_span&) {
       const spanring_key k = spanring_intern(nullptr, 5);
       return k.ref == 0 && k.length == 0 ? std::string() : std::string("not an empty key");
     }},
    {"key_inline_text", [](spanring_span& live) {
       spanring_span_set_int(&live, spanring_key_inline(nullptr, 5), 1);
       return std::string();
     }},
    {"span_start_span", [](spanring_span&) {
       spanring_span_start(nullptr, c_key("c.null"), SPANRING_KIND_INTERNAL, nullptr);
       return std::string();
     }},
    {"span_start_remote_span", [](spanring_span&) {
       const int rc = spanring_span_start_remote(nullptr, c_key("c.null"), SPANRING_KIND_SERVER, kC_Traceparent,
                                                 sizeof kC_Traceparent - 1, "foo=1", 5);
       return rc == 0 ? std::string() : "rc " + std::to_string(rc);
     }},
    {"span_start_remote_headers", [](spanring_span&) {
       spanring_span s;
       const int rc = spanring_span_start_remote(&s, c_key("c.null"), SPANRING_KIND_SERVER, nullptr, 55, nullptr, 5);
       spanring_span_end(&s);
       return rc == 0 ? std::string() : "rc " + std::to_string(rc);
     }},
    {"span_set_bool_span", [](spanring_span&) {
       spanring_span_set_bool(nullptr, c_key("c.k"), 1);
       return std::string();
     }},
    {"span_set_int_span", [](spanring_span&) {
       spanring_span_set_int(nullptr, c_key("c.k"), 1);
       return std::string();
     }},
    {"span_set_double_span", [](spanring_span&) {
       spanring_span_set_double(nullptr, c_key("c.k"), 1.5);
       return std::string();
     }},
    {"span_set_string_span", [](spanring_span&) {
       spanring_span_set_string(nullptr, c_key("c.k"), "v", 1);
       return std::string();
     }},
    {"span_set_string_value", [](spanring_span& live) {
       spanring_span_set_string(&live, c_key("c.k"), nullptr, 5);
       return std::string();
     }},
    {"span_add_event_span", [](spanring_span&) {
       spanring_span_add_event(nullptr, c_key("c.e"));
       return std::string();
     }},
    {"span_record_exception_span", [](spanring_span&) {
       spanring_span_record_exception(nullptr, "t", 1, "m", 1);
       return std::string();
     }},
    {"span_record_exception_texts", [](spanring_span& live) {
       spanring_span_record_exception(&live, nullptr, 4, nullptr, 4);
       return std::string();
     }},
    {"span_set_status_span", [](spanring_span&) {
       spanring_span_set_status(nullptr, SPANRING_STATUS_ERROR, "d", 1);
       return std::string();
     }},
    {"span_set_status_description", [](spanring_span& live) {
       spanring_span_set_status(&live, SPANRING_STATUS_ERROR, nullptr, 4);
       return std::string();
     }},
    {"span_end_span", [](spanring_span&) {
       spanring_span_end(nullptr);
       return std::string();
     }},
    {"span_traceparent_span", [](spanring_span&) {
       char out[SPANRING_TRACEPARENT_LENGTH];
       std::memset(out, '#', sizeof out);
       spanring_span_traceparent(nullptr, out);
       return out[0] == '#' ? std::string() : std::string("wrote into out");
     }},
    {"span_traceparent_out", [](spanring_span& live) {
       spanring_span_traceparent(&live, nullptr);
       return std::string();
     }},
    {"scope_push_span", [](spanring_span& live) {
       // A no-op: the current span stays, and popping what push returned keeps it.
       void* previous = spanring_scope_push(nullptr);
       char t[32], sp[16];
       if (spanring_current_ids_hex(t, sp) != 1) return std::string("push(NULL) cleared the current span");
       spanring_scope_pop(previous);
       char tp[SPANRING_TRACEPARENT_LENGTH];
       spanring_span_traceparent(&live, tp);
       if (spanring_current_ids_hex(t, sp) != 1 || std::memcmp(tp + 36, sp, 16) != 0)
         return std::string("pop(push(NULL)) changed the current span");
       return std::string();
     }},
    {"scope_pop_previous", [](spanring_span&) {
       // NULL is what push returns when there was no current span: pop(NULL) restores that.
       spanring_scope_pop(nullptr);
       char t[32], sp[16];
       return spanring_current_ids_hex(t, sp) == 0 ? std::string() : std::string("still a current span");
     }},
    {"span_set_bool_array_span", [](spanring_span&) {
       const std::uint8_t v[] = {1};
       spanring_span_set_bool_array(nullptr, c_key("c.k"), v, 1);
       return std::string();
     }},
    {"span_set_bool_array_values", [](spanring_span& live) {
       spanring_span_set_bool_array(&live, c_key("c.k"), nullptr, 3);
       return std::string();
     }},
    {"span_set_int_array_values", [](spanring_span& live) {
       spanring_span_set_int_array(&live, c_key("c.k"), nullptr, 3);
       spanring_span_set_int_array(nullptr, c_key("c.k"), nullptr, 3);
       return std::string();
     }},
    {"span_set_double_array_values", [](spanring_span& live) {
       spanring_span_set_double_array(&live, c_key("c.k"), nullptr, 3);
       spanring_span_set_double_array(nullptr, c_key("c.k"), nullptr, 3);
       return std::string();
     }},
    {"span_set_string_array_values", [](spanring_span& live) {
       spanring_span_set_string_array(&live, c_key("c.k"), nullptr, 3);
       const spanring_string with_null[] = {{nullptr, 7}, {"a", 1}};
       spanring_span_set_string_array(&live, c_key("c.k"), with_null, 2);
       spanring_span_set_string_array(nullptr, c_key("c.k"), with_null, 2);
       return std::string();
     }},
    {"span_set_start_time_span", [](spanring_span&) {
       spanring_span_set_start_time(nullptr, 1);
       return std::string();
     }},
    {"span_end_at_span", [](spanring_span&) {
       spanring_span_end_at(nullptr, 1);
       return std::string();
     }},
    {"span_add_event_with_attributes", [](spanring_span& live) {
       spanring_span_add_event_with(nullptr, c_key("c.e"), nullptr, 3, 0);
       spanring_span_add_event_with(&live, c_key("c.e"), nullptr, 3, 0);
       spanring_attribute a{};
       a.key = c_key("c.k");
       a.type = SPANRING_ATTR_STRING_ARRAY;  // NULL values with a count: dropped and counted
       a.value.array.count = 2;
       spanring_span_add_event_with(&live, c_key("c.e"), &a, 1, 0);
       a.type = 99;  // unknown type: dropped and counted
       spanring_span_add_event_with(&live, c_key("c.e"), &a, 1, 0);
       return std::string();
     }},
    {"span_add_link_context", [](spanring_span& live) {
       spanring_span_add_link(&live, nullptr, nullptr, 0);
       spanring_span_context ctx{};
       spanring_span_add_link(nullptr, &ctx, nullptr, 0);
       spanring_span_add_link(&live, &ctx, nullptr, 5);
       return std::string();
     }},
    {"span_record_exception_stacktrace_texts", [](spanring_span& live) {
       spanring_span_record_exception_stacktrace(nullptr, "t", 1, "m", 1, "s", 1);
       spanring_span_record_exception_stacktrace(&live, nullptr, 4, nullptr, 4, nullptr, 4);
       return std::string();
     }},
    {"span_tracestate_out", [](spanring_span& live) {
       const size_t n = spanring_span_tracestate(&live, nullptr, 64) + spanring_span_tracestate(nullptr, nullptr, 0);
       return n == 0 ? std::string() : "returned " + std::to_string(n);
     }},
    {"span_get_context_out", [](spanring_span& live) {
       spanring_span_context ctx;
       std::memset(&ctx, '#', sizeof ctx);
       const int rc = spanring_span_get_context(nullptr, &ctx) + spanring_span_get_context(&live, nullptr);
       return rc == 0 && ctx.trace_id[0] == 0 ? std::string() : std::string("rc or context wrong");
     }},
    {"extract_headers", [](spanring_span&) {
       spanring_span_context ctx;
       const int rc = spanring_extract(nullptr, 55, nullptr, 5, &ctx) + spanring_extract(kC_Traceparent, 55, nullptr, 0, nullptr);
       return rc == 0 ? std::string() : "rc " + std::to_string(rc);
     }},
    {"span_start_with_context_parent", [](spanring_span&) {
       spanring_span_start_with_context(nullptr, c_key("c.null"), SPANRING_KIND_INTERNAL, nullptr);
       spanring_span s;
       spanring_span_start_with_context(&s, c_key("c.null"), SPANRING_KIND_INTERNAL, nullptr);  // a new root
       spanring_span_end(&s);
       return std::string();
     }},
    {"current_ids_hex_trace", [](spanring_span&) {
       char sp[16];
       std::memset(sp, '#', sizeof sp);
       const int rc = spanring_current_ids_hex(nullptr, sp);
       return rc == 0 && sp[0] == '#' ? std::string() : "rc " + std::to_string(rc) + " or wrote span id";
     }},
    {"current_ids_hex_span", [](spanring_span&) {
       char t[32];
       std::memset(t, '#', sizeof t);
       const int rc = spanring_current_ids_hex(t, nullptr);
       return rc == 0 && t[0] == '#' ? std::string() : "rc " + std::to_string(rc) + " or wrote trace id";
     }},
};

class CApiNull : public TracerTest, public ::testing::WithParamInterface<NullCase> {};

TEST_P(CApiNull, IsANoopAndTheTracerKeepsWorking) {
  const std::string service = service_;
  const ChildResult r = run_in_child([&service] {
    spanring_options o{};
    o.service_name = service.c_str();
    o.shm_size = kSmallSegment;
    char err[256];
    if (spanring_init(&o, err, sizeof err) != 0) {
      child_note(std::string("init: ") + err);
      return 2;
    }
    child_note("segment=" + spanring::segment_name());
    spanring_span live;
    spanring_span_start(&live, c_key("c.live"), SPANRING_KIND_SERVER, nullptr);
    void* previous = spanring_scope_push(&live);
    const std::string wrong = GetParam().call(live);
    if (!wrong.empty()) {
      child_note(wrong);
      return 3;
    }
    spanring_scope_pop(previous);
    spanring_span_end(&live);
    spanring_span after;
    spanring_span_start(&after, c_key("c.after"), SPANRING_KIND_INTERNAL, nullptr);
    spanring_span_end(&after);
    const ClientCounters c = counters();
    spanring_shutdown();
    child_note("written=" + std::to_string(c.spans_written));
    return 0;
  });
  if (const std::string segment = note_value(r.output, "segment"); !segment.empty()) shm::remove_segment(segment);
  ASSERT_EQ(r.signal, 0) << GetParam().name << " crashed with signal " << r.signal << " (" << strsignal(r.signal)
                         << ")\n" << r.output;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // c.live and c.after, plus the span the case started itself, if any.
  EXPECT_GE(std::stoi(note_value(r.output, "written")), 2) << r.output;
}

INSTANTIATE_TEST_SUITE_P(EveryPointerArgument, CApiNull, ::testing::ValuesIn(kNullCases),
                         [](const ::testing::TestParamInfo<NullCase>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace spanring::test
