// Producer threads write flat out while a reader thread drains concurrently, in one process
// (each side on its own mapping of the segment, as in production). Every span that arrives must
// be intact and in order, and every span written must be either read or counted as dropped.
// The suite also runs under -DSPANRING_TSAN=ON.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "spanring/shm/reader.hpp"
#include "spanring/tracer.hpp"
#include "test_support.hpp"

namespace spanring::shm {
namespace {

using test_support::TracerSession;

constexpr std::int64_t kSpansPerProducer = 100000;

// Spans vary between one and three records so continuation records cross the reader too.
std::string value_for(std::int64_t seq) {
  const std::size_t n = seq % 4 == 3 ? 200 : 8;
  std::string v(n, static_cast<char>('a' + seq % 26));
  v += std::to_string(seq);
  return v;
}

void produce(std::int64_t producer, std::int64_t count) {
  static const Key kSeq("shm.test.concurrent.seq");
  static const Key kProducer("shm.test.concurrent.producer");
  for (std::int64_t seq = 0; seq < count; ++seq) {
    Span s("concurrent");
    s.set_attribute(kProducer, producer);
    s.set_attribute(kSeq, seq);
    s.set_attribute("value", value_for(seq));
  }
}

// What the reader saw of one producer.
struct Stream {
  std::int64_t last_seq = -1;
  std::uint64_t spans = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t bad_content = 0;
};

// Checks one span against what its producer wrote and counts anything unexpected.
void check(const SpanView& v, std::vector<Stream>& streams) {
  std::int64_t producer = -1, seq = -1;
  std::string_view value;
  for (const AttrView& a : v.attributes) {
    if (a.key == "shm.test.concurrent.producer") producer = a.int_value;
    if (a.key == "shm.test.concurrent.seq") seq = a.int_value;
    if (a.key == "value") value = a.string_value;
  }
  if (producer < 0 || producer >= static_cast<std::int64_t>(streams.size())) {
    ++streams[0].bad_content;
    return;
  }
  Stream& s = streams[producer];
  ++s.spans;
  if (seq <= s.last_seq) ++s.out_of_order;  // drops leave gaps, but order never goes back
  s.last_seq = seq;
  if (v.name != "concurrent" || value != value_for(seq) || v.attributes.size() != 3) ++s.bad_content;
}

struct Params {
  std::uint32_t producers;
  std::uint32_t ring_capacity;
};

class ConcurrentDrain : public ::testing::TestWithParam<Params> {};

TEST_P(ConcurrentDrain, EverySpanIsReadIntactInOrderOrCountedAsDropped) {
  const Params p = GetParam();
  TracerSession session(p.producers, p.ring_capacity);
  ASSERT_TRUE(session.ok());
  SegmentReader& reader = session.reader();

  std::atomic<std::uint32_t> producers_done{0};
  std::vector<Stream> streams(p.producers);
  std::thread consumer([&] {
    std::vector<std::uint64_t> pos(p.producers, 0);
    auto drain_once = [&] {
      bool progressed = false;
      for (std::uint32_t r = 0; r < p.producers; ++r) {
        const std::uint64_t next = reader.read(r, pos[r], 64, [&](const SpanView& v) { check(v, streams); });
        if (next != pos[r]) {
          reader.commit(r, next);
          pos[r] = next;
          progressed = true;
        }
      }
      return progressed;
    };
    // acquire pairs with the producers' release: after it, their last head is visible, so one
    // more pass (until nothing moves) reads everything they wrote.
    while (producers_done.load(std::memory_order_acquire) < p.producers)
      if (!drain_once()) std::this_thread::yield();
    while (drain_once()) {
    }
  });
  std::vector<std::thread> producers;
  for (std::uint32_t i = 0; i < p.producers; ++i)
    producers.emplace_back([&, i] {
      produce(i, kSpansPerProducer);
      producers_done.fetch_add(1, std::memory_order_release);
    });
  for (std::thread& t : producers) t.join();
  consumer.join();

  std::uint64_t read = 0;
  for (std::uint32_t i = 0; i < p.producers; ++i) {
    SCOPED_TRACE(::testing::Message() << "producer " << i);
    EXPECT_EQ(streams[i].out_of_order, 0u);
    EXPECT_EQ(streams[i].bad_content, 0u);
    read += streams[i].spans;
  }
  // A producer may lose every span to a full ring (one that exits early leaves its ring to the
  // next thread, full), but the first spans written into the empty segment always fit.
  EXPECT_GT(read, 0u);
  RecordProperty("spans_read", std::to_string(read));
  RecordProperty("spans_dropped_full", std::to_string(reader.spans_dropped_full()));
  EXPECT_EQ(reader.counters().rejected_total(), 0u);
  EXPECT_EQ(reader.counters().spans_read, read);
  EXPECT_EQ(reader.spans_written(), read);
  EXPECT_EQ(reader.spans_dropped_no_ring(), 0u);  // one ring per producer
  EXPECT_EQ(read + reader.spans_dropped_full(), p.producers * std::uint64_t{kSpansPerProducer});
  for (std::uint32_t r = 0; r < p.producers; ++r) EXPECT_EQ(reader.tail(r), reader.head(r));
}

std::string params_name(const ::testing::TestParamInfo<Params>& info) {
  return std::to_string(info.param.producers) + "producers_" + std::to_string(info.param.ring_capacity) + "records";
}

INSTANTIATE_TEST_SUITE_P(Rings, ConcurrentDrain,
                         ::testing::Values(Params{1, 32}, Params{1, 1024}, Params{3, 64}), params_name);

}  // namespace
}  // namespace spanring::shm
