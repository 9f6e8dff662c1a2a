// The agent core's delivery rule, with an exporter the test answers by hand: a ring's tail
// moves only when every batch below it has its final answer, in FIFO order, and every span is
// accounted for.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <deque>
#include <string>

#include <gtest/gtest.h>

#include "agent/core/agent.hpp"
#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/tracer.hpp"

namespace sa = spanring::agent;

namespace {

class ManualExporter final : public sa::Exporter {
 public:
  explicit ManualExporter(bool accept = true, bool holds = false) : accept_(accept), holds_(holds) {}
  bool enqueue(sa::ExportBatch b) override {
    if (!accept_) return false;
    batches.push_back(std::move(b));
    return true;
  }
  void shutdown(std::chrono::steady_clock::time_point, std::function<void()> done) override { done(); }
  std::uint64_t queued_spans() const override { return 0; }
  std::uint64_t queued_bytes() const override { return 0; }
  bool holds_batches() const override { return holds_; }
  std::vector<sa::ServiceCount> resumed() const override { return resumed_from_disk; }
  void answer(std::size_t i, sa::ExportOutcome outcome) {
    sa::ExportResult r;
    r.outcome = outcome;
    r.id = batches[i].id;
    r.spans = batches[i].spans;
    r.services = batches[i].services;
    r.rejected_spans = outcome == sa::ExportOutcome::kAccepted ? 0 : r.spans;
    callback(r);
  }
  std::deque<sa::ExportBatch> batches;
  sa::ResultCallback callback;
  std::vector<sa::ServiceCount> resumed_from_disk;

 private:
  bool accept_;
  bool holds_;
};

class AgentCore : public ::testing::Test {
 protected:
  void SetUp() override {
    service_ = "core" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    spanring::Options o;
    o.service_name = service_;
    o.rings = 1;
    o.shm_size = 1 << 20;
    const auto st = spanring::init(o);
    ASSERT_TRUE(st.ok()) << st.message;
    segment_ = st.segment;
    std::string message;
    ASSERT_EQ(view_.open(segment_, message), spanring::shm::SegmentError::kOk) << message;
  }
  void TearDown() override {
    spanring::shutdown();
    spanring::shm::remove_segment(segment_);
  }
  sa::CoreOptions options() const {
    sa::CoreOptions o;
    o.discovery.segment_prefix = std::string(spanring::shm::kSegmentPrefix) + service_ + ".";
    o.batch.max_spans = 10;
    return o;
  }
  static void write(int n) {
    for (int i = 0; i < n; ++i) spanring::Span s("core_span", spanring::Span::NewRoot{});
  }
  std::uint64_t tail() const { return view_.tail(0); }

  std::string service_, segment_;
  spanring::shm::SegmentReader view_;  // a second view of the segment, to watch the tail
  boost::asio::io_context io_;
};

TEST_F(AgentCore, TailMovesOnlyWhenEveryEarlierBatchIsAnsweredInOrder) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>();
  ManualExporter& ex = *exporter;
  ex.callback = agent.make_result_callback();
  agent.set_exporter(std::move(exporter));
  write(30);
  agent.scan_now();
  agent.drain_now();
  ASSERT_EQ(ex.batches.size(), 3u);  // 10 spans each, one record per span
  EXPECT_EQ(tail(), 0u) << "nothing is committed before the backend answers";

  ex.answer(1, sa::ExportOutcome::kAccepted);
  EXPECT_EQ(tail(), 0u) << "batch 1 answered before batch 0: still nothing below it is safe";
  ex.answer(0, sa::ExportOutcome::kAccepted);
  EXPECT_EQ(tail(), 20u) << "batches 0 and 1 resolved: their 20 records are released";
  ex.answer(2, sa::ExportOutcome::kFailedPermanent);
  EXPECT_EQ(tail(), 30u) << "a counted drop resolves a batch too";

  const auto& st = agent.services().at(0);
  EXPECT_EQ(st.received, 30u);
  EXPECT_EQ(st.exported, 20u);
  EXPECT_EQ(st.dropped[sa::kDropExportFailed], 10u);
  EXPECT_EQ(st.created, st.exported + st.sampled_out + st.dropped_total());
}

TEST_F(AgentCore, FullQueueDropsTheBatchCountsItAndReleasesItsRecords) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>(/*accept=*/false);
  exporter->callback = agent.make_result_callback();
  agent.set_exporter(std::move(exporter));
  write(25);
  agent.scan_now();
  agent.drain_now();
  agent.flush_batch();
  EXPECT_EQ(tail(), 25u);
  const auto& st = agent.services().at(0);
  EXPECT_EQ(st.dropped[sa::kDropQueueFull], 25u);
  EXPECT_EQ(st.created, st.dropped_total());
}

TEST_F(AgentCore, ShutdownLeavesWhatTheQueueRefusedInTheRings) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>(/*accept=*/false);
  exporter->callback = agent.make_result_callback();
  agent.set_exporter(std::move(exporter));
  agent.scan_now();
  write(15);
  bool done = false;
  agent.stop(std::chrono::steady_clock::now(), [&] { done = true; });
  io_.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(tail(), 0u) << "the next agent will export these";
  EXPECT_EQ(agent.services().at(0).dropped[sa::kDropShutdown], 15u);
}

// A drain thread hands its batches on every DrainShard::kMaxClosedPerPass batches; such a
// pass is not a whole one, so the final drain at shutdown still takes everything the rings
// hold (here 2000 spans = 12 yields of 160), not 8 yielded passes' worth.
TEST_F(AgentCore, ShutdownDrainsEverythingEvenWhenPassesYield) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>();
  ManualExporter* manual = exporter.get();
  exporter->callback = agent.make_result_callback();
  agent.set_exporter(std::move(exporter));
  agent.scan_now();
  write(2000);
  bool done = false;
  agent.stop(std::chrono::steady_clock::now() + std::chrono::seconds(5), [&] { done = true; });
  std::uint64_t spans = 0;
  for (const auto& b : manual->batches) spans += b.spans;
  EXPECT_EQ(spans, 2000u);
  for (std::size_t i = 0; i < manual->batches.size(); ++i) manual->answer(i, sa::ExportOutcome::kAccepted);
  io_.run();
  EXPECT_TRUE(done);
  EXPECT_EQ(agent.services().at(0).exported, 2000u);
}

// queue.storage disk or memory: a batch the exporter holds is safe, so its records are released
// at once, whatever the backend says later (and in whatever order).
TEST_F(AgentCore, TailMovesAsSoonAsTheExporterHoldsTheBatch) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>(/*accept=*/true, /*holds=*/true);
  ManualExporter& ex = *exporter;
  ex.callback = agent.make_result_callback();
  agent.set_exporter(std::move(exporter));
  write(30);
  agent.scan_now();
  agent.drain_now();
  ASSERT_EQ(ex.batches.size(), 3u);
  EXPECT_EQ(tail(), 30u) << "every batch is in the exporter's queue: the rings need not keep it";
  ex.answer(2, sa::ExportOutcome::kAccepted);
  ex.answer(0, sa::ExportOutcome::kFailedRetriesExhausted);
  const auto& st = agent.services().at(0);
  EXPECT_EQ(st.exported, 10u);
  EXPECT_EQ(st.dropped[sa::kDropExportFailed], 10u);
  ex.answer(1, sa::ExportOutcome::kKeptInQueue);
  EXPECT_EQ(agent.services().at(0).kept, 10u) << "left on disk for the next run: neither exported nor dropped";
  EXPECT_EQ(st.created, st.exported + st.sampled_out + st.dropped_total() + st.kept);
}

// A disk queue left by an earlier run: its spans are counted once as resumed (that run counted
// them as created), and their answers close the balance.
TEST_F(AgentCore, ResumedSpansAreCountedApartAndCloseTheBalance) {
  sa::Agent agent(io_, options());
  auto exporter = std::make_unique<ManualExporter>(/*accept=*/true, /*holds=*/true);
  ManualExporter& ex = *exporter;
  ex.callback = agent.make_result_callback();
  ex.resumed_from_disk = {sa::ServiceCount{service_, 7}};
  agent.set_exporter(std::move(exporter));
  write(10);
  agent.scan_now();
  agent.drain_now();
  sa::ExportResult old;
  old.resumed = true;
  old.spans = 7;
  old.services = {sa::ServiceCount{service_, 7}};
  ex.callback(old);
  ex.answer(0, sa::ExportOutcome::kAccepted);
  const auto& st = agent.services().at(0);
  EXPECT_EQ(st.resumed, 7u);
  EXPECT_EQ(st.created, 10u);
  EXPECT_EQ(st.exported, 17u);
  EXPECT_EQ(st.created + st.resumed, st.exported + st.sampled_out + st.dropped_total() + st.kept);
}

}  // namespace
