// Threads and rings: a thread claims a ring on its first span and keeps it until it exits;
// threads beyond the ring count drop (and count) every span without blocking, and retry their
// claim only when a ring is released, or every 256 drops in case an owner died.
#include <barrier>
#include <cstdint>
#include <latch>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "spanring/shm/segment.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

const Key& span_name() {
  static const Key k("ring.claim.span");
  return k;
}
const Key& thread_key() {
  static const Key k("thread");
  return k;
}
const Key& seq_key() {
  static const Key k("seq");
  return k;
}

void write_spans(std::int64_t thread, int count) {
  for (int n = 0; n < count; ++n) {
    Span s(span_name());
    s.set_attribute(thread_key(), thread);
    s.set_attribute(seq_key(), n);
  }
}

// A tid that cannot belong to any live thread: above the largest pid_max Linux allows (2^22).
constexpr std::uint32_t kDeadTid = (1u << 22) + 7;

class RingClaim : public TracerTest {
 protected:
  void start_with_rings(std::uint32_t rings) {
    Options o;
    o.rings = rings;
    ASSERT_TRUE(start_tracer(o).ok());
  }

  // Overwrites ring `r`'s owner, as a thread that died without releasing it would leave it.
  void set_owner(std::uint32_t r, std::uint32_t tid) {
    shm::Mapping m;
    std::string message;
    ASSERT_EQ(shm::attach_segment(segment_, m, message), shm::SegmentError::kOk) << message;
    auto* rings = reinterpret_cast<shm::RingHeader*>(m.data() + m.header()->rings_offset);
    rings[r].owner_tid.store(tid, std::memory_order_release);
  }
};

constexpr int kThreads = 6;
constexpr std::uint32_t kRings = 2;
constexpr int kSpansPerThread = 600;  // > 256: ringless threads also take the periodic retry

TEST_F(RingClaim, ThreadsBeyondTheRingCountDropEverySpanAndCountIt) {
  start_with_rings(kRings);
  std::barrier all_alive(kThreads);
  std::barrier all_written(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      all_alive.arrive_and_wait();
      write_spans(i, kSpansPerThread);
      // Nobody exits (and releases its ring) before every thread has written all its spans.
      all_written.arrive_and_wait();
    });
  }
  for (std::thread& t : threads) t.join();

  const ClientCounters c = counters();
  EXPECT_EQ(c.spans_written, kRings * kSpansPerThread);
  EXPECT_EQ(c.spans_dropped_no_ring, (kThreads - kRings) * kSpansPerThread);
  EXPECT_EQ(c.spans_dropped_full, 0u);
  EXPECT_EQ(c.spans_written + c.spans_dropped_no_ring, std::uint64_t{kThreads} * kSpansPerThread);

  // Exactly two threads got a ring, one each, and every span of theirs is in it, in order.
  const SegmentContents seg = stop_and_read();
  ASSERT_EQ(seg.spans.size(), kRings * kSpansPerThread);
  std::map<std::int64_t, std::vector<std::int64_t>> seqs;
  std::map<std::int64_t, std::set<std::uint32_t>> rings;
  for (const ReadSpan& s : seg.spans) {
    ASSERT_NE(s.attribute("thread"), nullptr);
    ASSERT_NE(s.attribute("seq"), nullptr);
    seqs[s.attribute("thread")->int_value].push_back(s.attribute("seq")->int_value);
    rings[s.attribute("thread")->int_value].insert(s.ring);
  }
  ASSERT_EQ(seqs.size(), kRings);
  std::set<std::uint32_t> used;
  for (const auto& [thread, list] : seqs) {
    ASSERT_EQ(list.size(), std::size_t{kSpansPerThread}) << "thread " << thread;
    for (int n = 0; n < kSpansPerThread; ++n) EXPECT_EQ(list[n], n) << "thread " << thread;
    ASSERT_EQ(rings[thread].size(), 1u);
    used.insert(*rings[thread].begin());
  }
  EXPECT_EQ(used.size(), kRings);
}

TEST_F(RingClaim, ThreadExitReleasesItsRingForTheNextThread) {
  start_with_rings(kRings);
  std::barrier both_hold_a_ring(kRings);
  std::vector<std::thread> threads;
  for (std::uint32_t i = 0; i < kRings; ++i) {
    threads.emplace_back([&, i] {
      write_spans(i, 1);
      both_hold_a_ring.arrive_and_wait();
    });
  }
  for (std::thread& t : threads) t.join();

  const SegmentContents after_exit = read_segment(segment_);
  EXPECT_EQ(after_exit.owners, std::vector<std::uint32_t>(kRings, 0u));
  EXPECT_EQ(after_exit.ring_release_generation, kRings);

  std::thread late([] { write_spans(99, 10); });
  late.join();
  const ClientCounters c = counters();
  EXPECT_EQ(c.spans_written, kRings + 10);
  EXPECT_EQ(c.spans_dropped_no_ring, 0u);
}

TEST_F(RingClaim, RinglessThreadRetriesItsClaimWhenARingIsReleased) {
  start_with_rings(1);
  std::latch owner_has_ring(1);
  std::latch owner_may_exit(1);
  std::thread owner([&] {
    write_spans(1, 1);
    owner_has_ring.count_down();
    owner_may_exit.wait();
  });
  owner_has_ring.wait();

  // This thread has no ring: its spans are dropped, and with nothing released it does not
  // get one however often it tries.
  write_spans(0, 3);
  EXPECT_EQ(counters().spans_dropped_no_ring, 3u);
  EXPECT_EQ(counters().spans_written, 1u);
  const std::uint64_t generation = read_segment(segment_).ring_release_generation;

  owner_may_exit.count_down();
  owner.join();
  EXPECT_EQ(read_segment(segment_).ring_release_generation, generation + 1);

  // The next drop notices the new generation and claims the ring; the span after is written.
  write_spans(0, 1);
  EXPECT_EQ(counters().spans_dropped_no_ring, 4u);
  write_spans(0, 1);
  EXPECT_EQ(counters().spans_written, 2u);
  EXPECT_EQ(counters().spans_dropped_no_ring, 4u);
}

TEST_F(RingClaim, RingLeftByADeadOwnerIsReclaimedOnTheFirstSpan) {
  start_with_rings(1);
  set_owner(0, kDeadTid);
  std::thread t([] { write_spans(0, 1); });
  t.join();
  EXPECT_EQ(counters().spans_written, 1u);
  EXPECT_EQ(counters().spans_dropped_no_ring, 0u);
}

TEST_F(RingClaim, RinglessThreadReclaimsARingWhoseOwnerDiedWithin256Drops) {
  start_with_rings(1);
  std::latch owner_has_ring(1);
  std::latch owner_may_exit(1);
  std::thread owner([&] {
    write_spans(1, 1);
    owner_has_ring.count_down();
    owner_may_exit.wait();
  });
  owner_has_ring.wait();
  std::thread ringless([&] {
    write_spans(0, 1);  // claims nothing: the owner is alive
    // The owner "dies" without releasing: no generation change tells the ringless thread.
    set_owner(0, kDeadTid);
    write_spans(0, 254);
    const ClientCounters before = counters();
    write_spans(0, 1);  // 256th drop since the last claim attempt: retries and reclaims
    write_spans(0, 1);
    const ClientCounters after = counters();
    EXPECT_EQ(before.spans_dropped_no_ring, 255u);
    EXPECT_EQ(after.spans_dropped_no_ring, 256u);
    EXPECT_EQ(after.spans_written, 2u);
  });
  ringless.join();
  owner_may_exit.count_down();
  owner.join();
}

// A thread still holding a ring of an earlier (shut down) segment gives it up when it starts
// its first span in the new one; that must not count as a release in the new segment, whose
// ringless threads would otherwise retry their claim for nothing.
TEST_F(RingClaim, GivingUpARingOfAnEarlierSegmentIsNotAReleaseInTheNewOne) {
  start_with_rings(1);
  write_spans(0, 1);  // this thread owns ring 0 of the first segment
  spanring::shutdown();
  start_with_rings(1);
  write_spans(0, 1);
  EXPECT_EQ(counters().spans_written, 1u);
  EXPECT_EQ(read_segment(segment_).ring_release_generation, 0u);
}

}  // namespace
}  // namespace spanring::test
