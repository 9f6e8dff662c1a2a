// fork(): the child inherits the parent's tracer state but must never write into the parent's
// rings. It is a no-op until it calls init() again, which gives it its own segment named with
// its own pid; and its id generator is reseeded so parent and child ids never collide.
#include <unistd.h>

#include <string>

#include <gmock/gmock.h>

#include "spanring/shm/segment.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

// Removes a segment at scope exit, so a failed assertion does not leak it.
struct RemoveSegment {
  std::string name;
  ~RemoveSegment() {
    if (!name.empty()) shm::remove_segment(name);
  }
};

const Key& pre_fork_key() {
  static const Key k("fork.interned.before.fork");
  return k;
}

class Fork : public TracerTest {
 protected:
  void SetUp() override {
    TracerTest::SetUp();
    Options o;
    o.rings = 2;
    ASSERT_TRUE(start_tracer(o).ok());
    { Span s(pre_fork_key()); }  // the parent's thread now owns a ring
    before_ = read_segment(segment_);
    ASSERT_EQ(before_.spans_written, 1u);
  }

  // The child part: checks it is a no-op, then inits its own segment and writes one span.
  int child_inits_and_writes() {
    if (spanring::enabled()) return 1;
    if (const std::string v = noop_violations(); !v.empty()) {
      child_note("before init, not a no-op: " + v);
      return 2;
    }
    {
      Span s(pre_fork_key());
      if (s.recording()) return 3;
    }
    Options o;
    o.service_name = service_;
    o.shm_size = kSmallSegment;
    const InitStatus st = spanring::init(o);
    if (!st.ok()) {
      child_note("init: " + st.message);
      return 4;
    }
    child_note("segment=" + st.segment);
    {
      Span s(pre_fork_key());
      if (!s.recording()) return 5;
      child_note("span_id=" + hex(s.span_id()));
      child_note("trace_id=" + hex(s.trace_id()));
    }
    const ClientCounters c = counters();
    if (c.spans_written != 1 || c.spans_dropped_no_ring != 0) return 6;
    spanring::shutdown();
    return 0;
  }

  SegmentContents before_;
};

TEST_F(Fork, ChildIsANoopUntilItInitsThenWritesItsOwnSegment) {
  const ChildResult r = run_in_child([this] { return child_inits_and_writes(); });
  RemoveSegment cleanup{note_value(r.output, "segment")};
  ASSERT_EQ(r.exit_code, 0) << r.output;

  EXPECT_THAT(cleanup.name, ::testing::StartsWith(shm::segment_name(service_, static_cast<std::uint32_t>(r.pid), 0)));
  const SegmentContents child = read_segment(cleanup.name);
  ASSERT_EQ(child.error, "");
  EXPECT_EQ(child.producer_pid, static_cast<std::uint32_t>(r.pid));
  EXPECT_EQ(child.closed, 1u);
  EXPECT_EQ(child.spans_written, 1u);
  ASSERT_EQ(child.spans.size(), 1u);
  // A Key interned before the fork still resolves in the child's segment.
  EXPECT_EQ(child.spans[0].name, pre_fork_key().text());
  EXPECT_TRUE(child.spans[0].name_interned);
  EXPECT_EQ(hex(child.spans[0].span_id), note_value(r.output, "span_id"));
}

TEST_F(Fork, ChildNeverMovesTheParentsRings) {
  const ChildResult r = run_in_child([this] { return child_inits_and_writes(); });
  RemoveSegment cleanup{note_value(r.output, "segment")};
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const SegmentContents after = read_segment(segment_);
  EXPECT_EQ(after.heads, before_.heads);
  EXPECT_EQ(after.owners, before_.owners);
  EXPECT_EQ(after.spans_written, 1u);
  EXPECT_EQ(after.spans_dropped_no_ring, 0u);
}

TEST_F(Fork, ChildAndParentGenerateDifferentIdsAfterFork) {
  const ChildResult r = run_in_child([this] { return child_inits_and_writes(); });
  RemoveSegment cleanup{note_value(r.output, "segment")};
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Without a reseed the parent's next ids would be exactly the child's first ones.
  Span parent(pre_fork_key());
  ASSERT_TRUE(parent.recording());
  EXPECT_NE(hex(parent.span_id()), note_value(r.output, "span_id"));
  EXPECT_NE(hex(parent.trace_id()), note_value(r.output, "trace_id"));
}

TEST_F(Fork, ParentKeepsTracingAfterFork) {
  const ChildResult r = run_in_child([] { return 0; });
  ASSERT_EQ(r.exit_code, 0);
  { Span s("fork.parent.after"); }
  const SegmentContents after = stop_and_read();
  EXPECT_EQ(after.spans_written, 2u);
  EXPECT_NE(after.only("fork.parent.after"), nullptr);
}

TEST_F(Fork, SpanOpenAtForkAndEndedInTheChildIsWrittenNowhere) {
  Span open("fork.open.at.fork");
  ASSERT_TRUE(open.recording());
  const ChildResult r = run_in_child([&open] {
    open.set_attribute("in.child", true);
    open.end();
    return counters().spans_written == 0 ? 0 : 1;
  });
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const SegmentContents mid = read_segment(segment_);
  EXPECT_EQ(mid.heads, before_.heads);
  open.end();
  const SegmentContents after = stop_and_read();
  ASSERT_NE(after.only("fork.open.at.fork"), nullptr);
  EXPECT_EQ(after.only("fork.open.at.fork")->attribute("in.child"), nullptr);
}

}  // namespace
}  // namespace spanring::test
