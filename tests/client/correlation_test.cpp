// Log correlation and context propagation through spans: current_ids_hex, traceparent(), and
// the parent links (local through Scope, remote through extract) read back from the segment.
#include <cstring>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace spanring::test {
namespace {

constexpr std::string_view kRemoteTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kRemoteTracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

class Correlation : public TracerTest {
 protected:
  void SetUp() override {
    TracerTest::SetUp();
    ASSERT_TRUE(start_tracer().ok());
  }

  // current_ids_hex into '#'-filled buffers; returns (ok, trace hex, span hex).
  struct Ids {
    bool ok;
    std::string trace, span;
  };
  static Ids current_ids() {
    std::string trace(32, '#'), span(16, '#');
    const bool ok = current_ids_hex(trace.data(), span.data());
    return {ok, trace, span};
  }
};

TEST_F(Correlation, CurrentIdsHexWithoutScopeReturnsFalseAndWritesNothing) {
  Span s("unscoped");
  const Ids ids = current_ids();
  EXPECT_FALSE(ids.ok);
  EXPECT_EQ(ids.trace, std::string(32, '#'));
  EXPECT_EQ(ids.span, std::string(16, '#'));
}

TEST_F(Correlation, CurrentIdsHexInScopeWritesTheSpansIds) {
  Span s("scoped");
  Scope scope(s);
  const Ids ids = current_ids();
  ASSERT_TRUE(ids.ok);
  EXPECT_EQ(ids.trace, hex(s.trace_id()));
  EXPECT_EQ(ids.span, hex(s.span_id()));
}

TEST_F(Correlation, ClosingAnInnerScopeRestoresTheOuterSpan) {
  Span outer("outer");
  Scope outer_scope(outer);
  {
    Span inner("inner");
    Scope inner_scope(inner);
    EXPECT_EQ(current_ids().span, hex(inner.span_id()));
  }
  const Ids ids = current_ids();
  ASSERT_TRUE(ids.ok);
  EXPECT_EQ(ids.span, hex(outer.span_id()));
}

TEST_F(Correlation, CurrentIdsHexIsFalseOnceTheScopedSpanHasEnded) {
  Span s("ended.in.scope");
  Scope scope(s);
  s.end();
  EXPECT_FALSE(current_ids().ok);
}

TEST_F(Correlation, TraceparentOfASpanParsesBackToItsIds) {
  Span s("outgoing", SpanKind::kClient);
  char tp[kTraceparentLength];
  s.traceparent(tp);
  SpanContext parsed;
  ASSERT_TRUE(parse_traceparent(std::string_view(tp, kTraceparentLength), parsed));
  EXPECT_EQ(parsed.trace_id, s.trace_id());
  EXPECT_EQ(parsed.span_id, s.span_id());
  EXPECT_TRUE(parsed.sampled());
  EXPECT_NE(parsed.trace_flags & kTraceFlagRandom, 0);
}

TEST_F(Correlation, ChildOfARemoteParentKeepsTheTraceAndIsMarkedRemote) {
  SpanContext remote;
  ASSERT_TRUE(extract(kRemoteTraceparent, kRemoteTracestate, remote));
  TraceId server_trace;
  SpanId server_span;
  {
    Span server("server", remote);
    server_trace = server.trace_id();
    server_span = server.span_id();
    EXPECT_EQ(server.context().trace_state_view(), kRemoteTracestate);
    char tp[kTraceparentLength];
    server.traceparent(tp);
    EXPECT_EQ(std::string_view(tp, kTraceparentLength),
              "00-4bf92f3577b34da6a3ce929d0e0e4736-" + hex(server_span) + "-01");
  }
  const SegmentContents c = stop_and_read();
  const ReadSpan* s = c.only("server");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->trace_id, bytes_of(remote.trace_id));
  EXPECT_EQ(s->trace_id, bytes_of(server_trace));
  EXPECT_EQ(s->span_id, bytes_of(server_span));
  EXPECT_EQ(s->kind, shm::kKindServer);
  EXPECT_TRUE(s->has_parent);
  EXPECT_EQ(hex(s->parent_span_id), "00f067aa0ba902b7");
  EXPECT_NE(s->span_flags & shm::kSpanFlagParentRemote, 0);
  EXPECT_NE(s->span_flags & shm::kSpanFlagHasRemote, 0);
  EXPECT_NE(s->span_flags & shm::kSpanFlagTraceRemote, 0);
  EXPECT_EQ(s->trace_state, kRemoteTracestate);
  EXPECT_EQ(s->trace_flags, kTraceFlagSampled);
}

TEST_F(Correlation, LocalChildOfARemoteChildInheritsTracestateButIsNotRemote) {
  SpanContext remote;
  ASSERT_TRUE(extract(kRemoteTraceparent, kRemoteTracestate, remote));
  {
    Span server("server", remote);
    Scope scope(server);
    Span local("local");
    EXPECT_EQ(local.context().trace_state_view(), kRemoteTracestate);
  }
  const SegmentContents c = stop_and_read();
  const ReadSpan* server = c.only("server");
  const ReadSpan* local = c.only("local");
  ASSERT_NE(server, nullptr);
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->trace_id, server->trace_id);
  EXPECT_EQ(local->parent_span_id, server->span_id);
  // Its parent is local (ParentRemote clear), but the trace came from a remote parent.
  EXPECT_EQ(local->span_flags, shm::kSpanFlagHasParent | shm::kSpanFlagHasRemote | shm::kSpanFlagTraceRemote);
  EXPECT_EQ(local->trace_state, kRemoteTracestate);
  EXPECT_EQ(local->kind, shm::kKindInternal);
}

// W3C suite test_multiple_requests_with_valid_traceparent / _without_traceparent /
// _with_illegal_traceparent: each outgoing call (a client child span) carries the same trace id
// and its own parent id.
TEST_F(Correlation, OutgoingCallsOfOneRequestShareTheTraceWithDistinctParentIds) {
  for (const std::string_view incoming : {std::string_view("00-12345678901234567890123456789012-1234567890123456-01"),
                                          std::string_view(""),
                                          std::string_view("00-00000000000000000000000000000000-1234567890123456-01")}) {
    SpanContext remote;
    const bool continued = extract(incoming, "", remote);
    Span server("server", remote);
    std::vector<std::string> sent;
    for (int i = 0; i < 3; ++i) {
      Span call("call", server, SpanKind::kClient);
      std::string tp(kTraceparentLength, '?');
      call.traceparent(tp.data());
      sent.push_back(tp);
    }
    ASSERT_EQ(sent.size(), 3u);
    for (const std::string& tp : sent) {
      EXPECT_EQ(tp.substr(3, 32), sent[0].substr(3, 32)) << incoming;
      if (continued) EXPECT_EQ(tp.substr(3, 32), "12345678901234567890123456789012");
      else EXPECT_NE(tp.substr(3, 32), "00000000000000000000000000000000") << incoming;
    }
    EXPECT_NE(sent[0].substr(36, 16), sent[1].substr(36, 16)) << incoming;
    EXPECT_NE(sent[1].substr(36, 16), sent[2].substr(36, 16)) << incoming;
    EXPECT_NE(sent[0].substr(36, 16), sent[2].substr(36, 16)) << incoming;
  }
}

TEST_F(Correlation, InvalidRemoteParentStartsANewTraceWithoutTracestate) {
  SpanContext remote;
  EXPECT_FALSE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", kRemoteTracestate, remote));
  { Span server("server", remote); }
  const SegmentContents c = stop_and_read();
  const ReadSpan* s = c.only("server");
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->has_parent);
  EXPECT_NE(hex(s->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(s->trace_state, "");
  EXPECT_EQ(c.traceparent_invalid, 1u);
}

TEST_F(Correlation, ChildSpansViaScopeGetTheParentsSpanIdAsParent) {
  {
    Span root("root");
    Scope scope(root);
    Span child("child");
    Scope child_scope(child);
    Span grandchild("grandchild");
  }
  const SegmentContents c = stop_and_read();
  const ReadSpan* root = c.only("root");
  const ReadSpan* child = c.only("child");
  const ReadSpan* grandchild = c.only("grandchild");
  ASSERT_NE(root, nullptr);
  ASSERT_NE(child, nullptr);
  ASSERT_NE(grandchild, nullptr);
  EXPECT_FALSE(root->has_parent);
  EXPECT_EQ(root->span_flags, 0);
  EXPECT_EQ(child->parent_span_id, root->span_id);
  EXPECT_EQ(grandchild->parent_span_id, child->span_id);
  EXPECT_EQ(child->trace_id, root->trace_id);
  EXPECT_EQ(grandchild->trace_id, root->trace_id);
  EXPECT_EQ(child->span_flags, shm::kSpanFlagHasParent | shm::kSpanFlagHasRemote);
}

// The local root's name travels with every span of the trace in this process (ABI 1.1), so
// the agent can tell a trace's operation from a child that arrives before its root.
TEST_F(Correlation, ChildrenCarryTheirLocalRootsName) {
  static const Key kRoot("correlation.request");
  static const Key kChild("correlation.step");
  {
    Span root(kRoot, SpanKind::kServer);
    Scope scope(root);
    Span child(kChild);
    Scope child_scope(child);
    Span grandchild("correlation.inline.leaf");
  }
  const SegmentContents c = stop_and_read();
  ASSERT_EQ(c.spans.size(), 3u);
  for (const ReadSpan& s : c.spans) EXPECT_EQ(s.root_name, "correlation.request") << s.name;
}

TEST_F(Correlation, SpanWithARemoteParentIsItsOwnLocalRoot) {
  static const Key kServer("correlation.server");
  SpanContext remote;
  ASSERT_TRUE(extract(kRemoteTraceparent, "", remote));
  {
    Span server(kServer, remote);
    Scope scope(server);
    Span local("correlation.local");
  }
  const SegmentContents c = stop_and_read();
  ASSERT_NE(c.only("correlation.server"), nullptr);
  ASSERT_NE(c.only("correlation.local"), nullptr);
  EXPECT_EQ(c.only("correlation.server")->root_name, "correlation.server");
  EXPECT_EQ(c.only("correlation.local")->root_name, "correlation.server");
}

TEST_F(Correlation, NewRootInsideAScopeNamesItself) {
  static const Key kOuter("correlation.outer");
  static const Key kFresh("correlation.fresh");
  {
    Span outer(kOuter);
    Scope scope(outer);
    Span fresh(kFresh, Span::NewRoot{});
  }
  const SegmentContents c = stop_and_read();
  ASSERT_NE(c.only("correlation.fresh"), nullptr);
  EXPECT_EQ(c.only("correlation.fresh")->root_name, "correlation.fresh");
}

TEST_F(Correlation, NewRootIgnoresTheCurrentScope) {
  {
    Span scoped("scoped");
    Scope scope(scoped);
    Span fresh("fresh", Span::NewRoot{});
  }
  const SegmentContents c = stop_and_read();
  const ReadSpan* scoped = c.only("scoped");
  const ReadSpan* fresh = c.only("fresh");
  ASSERT_NE(scoped, nullptr);
  ASSERT_NE(fresh, nullptr);
  EXPECT_FALSE(fresh->has_parent);
  EXPECT_NE(fresh->trace_id, scoped->trace_id);
}

TEST_F(Correlation, ExplicitParentWinsOverTheCurrentScope) {
  {
    Span explicit_parent("explicit.parent");
    Span scoped("scoped");
    Scope scope(scoped);
    Span child("child", explicit_parent);
  }
  const SegmentContents c = stop_and_read();
  const ReadSpan* parent = c.only("explicit.parent");
  const ReadSpan* child = c.only("child");
  ASSERT_NE(parent, nullptr);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->parent_span_id, parent->span_id);
  EXPECT_EQ(child->trace_id, parent->trace_id);
}

}  // namespace
}  // namespace spanring::test
