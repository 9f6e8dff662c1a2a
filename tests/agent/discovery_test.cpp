// Segment discovery against hostile or broken files, trust, and attach-time accounting: the
// agent core driven synchronously (scan_now/drain_now) over segments made by the real client
// (tests/shm/test_support.hpp) or by hand. Every segment a local user creates is untrusted.
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "agent/core/agent.hpp"
#include "agent/core/trust.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "../common/other_user.hpp"
#include "test_support.hpp"  // tests/shm: TracerSession

#if defined(__SANITIZE_ADDRESS__)
// ASan's own SIGBUS handler would otherwise take the truncation fault before the reader's.
extern "C" const char* __asan_default_options() { return "handle_sigbus=0"; }
#endif

namespace sa = spanring::agent;
namespace shm = spanring::shm;
namespace fs = std::filesystem;
using shm::test_support::TracerSession;
using namespace std::chrono_literals;

namespace {

// Takes every batch and answers each one "accepted" when the test says so.
class AcceptingExporter final : public sa::Exporter {
 public:
  bool enqueue(sa::ExportBatch b) override {
    batches.push_back(std::move(b));
    return true;
  }
  void shutdown(std::chrono::steady_clock::time_point, std::function<void()> done) override { done(); }
  std::uint64_t queued_spans() const override { return 0; }
  std::uint64_t queued_bytes() const override { return 0; }
  void answer_all() {
    while (answered < batches.size()) {
      sa::ExportResult r;
      r.outcome = sa::ExportOutcome::kAccepted;
      r.id = batches[answered].id;
      r.spans = batches[answered].spans;
      r.services = batches[answered].services;
      ++answered;
      callback(r);
    }
  }
  std::deque<sa::ExportBatch> batches;
  std::size_t answered = 0;
  sa::ResultCallback callback;
};

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

std::uint32_t unattached(const sa::Agent& agent, sa::Unattached why) {
  return agent.unattached()[static_cast<std::size_t>(why)];
}

class AgentDiscovery : public ::testing::Test {
 protected:
  // Segments of this test only: "spanring.<suite>.<test>.<pid>" and hand-made siblings.
  sa::CoreOptions options() const {
    sa::CoreOptions o;
    o.discovery.segment_prefix = prefix_;
    o.batch.max_spans = 64;
    o.not_ready_grace = 0ms;
    return o;
  }
  void attach_exporter(sa::Agent& agent) {
    auto e = std::make_unique<AcceptingExporter>();
    exporter_ = e.get();
    e->callback = agent.make_result_callback();
    agent.set_exporter(std::move(e));
  }
  // A file in /dev/shm that this test owns (removed in TearDown).
  fs::path stray(const std::string& suffix) {
    const fs::path p = fs::path("/dev/shm") / (prefix_ + suffix);
    strays_.push_back(p);
    return p;
  }
  void TearDown() override {
    for (const auto& p : strays_) fs::remove_all(p);
  }
  static void write(int n) {
    for (int i = 0; i < n; ++i) spanring::Span s("discovery_span", spanring::Span::NewRoot{});
  }

  const std::string prefix_ = std::string(shm::kSegmentPrefix) + shm::test_support::unique_service_name();
  std::vector<fs::path> strays_;
  AcceptingExporter* exporter_ = nullptr;
  boost::asio::io_context io_;
};

// Issue: a corrupt ring head with a live producer made the agent log "1 invalid record(s)
// skipped" ~950 times a second and add as many to dropped{invalid}, forever.
TEST_F(AgentDiscovery, CorruptRingHeadIsQuarantinedOnceNotCountedAsSpanDrops) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  write(5);
  sa::Agent agent(io_, options());
  attach_exporter(agent);
  agent.scan_now();
  agent.drain_now();
  agent.flush_batch();
  exporter_->answer_all();
  session.ring(0).head.store(~0ull - 7, std::memory_order_release);  // far ahead of any tail
  ::testing::internal::CaptureStderr();
  for (int pass = 0; pass < 200; ++pass) agent.drain_now();
  const std::string log = ::testing::internal::GetCapturedStderr();
  const sa::ServiceStats& st = agent.services().at(0);
  EXPECT_EQ(st.dropped[sa::kDropInvalid], 0u) << "no span is known to be behind a bad head";
  EXPECT_EQ(st.rings_quarantined, 1u);
  EXPECT_EQ(st.created, 5u);
  EXPECT_EQ(st.exported, 5u);
  EXPECT_EQ(count(log, "no longer read"), 1u) << log;
  EXPECT_EQ(count(log, "invalid record"), 0u) << log;
  EXPECT_DOUBLE_EQ(st.ring_fill, 0.0) << "a quarantined ring's garbage head is not a fill level";
}

TEST_F(AgentDiscovery, GarbageRecordsAreCountedRateLimitedThenTheRingIsQuarantined) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  sa::Agent agent(io_, options());
  attach_exporter(agent);
  agent.scan_now();
  ::testing::internal::CaptureStderr();
  std::uint64_t head = 0;
  for (int pass = 0; pass < 100; ++pass) {  // a producer publishing one invalid record per pass
    session.record(0, head).header.type = 0x7f;
    session.ring(0).head.store(++head, std::memory_order_release);
    agent.drain_now();
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  const sa::ServiceStats& st = agent.services().at(0);
  // Each record the producer wrote is a counted drop, until a whole ring's worth (64) in a row
  // without one valid span shows the producer is not writing spans at all.
  EXPECT_EQ(st.dropped[sa::kDropInvalid], 64u);
  EXPECT_EQ(st.created, 64u);
  EXPECT_EQ(st.rings_quarantined, 1u);
  EXPECT_LE(count(log, "invalid record"), 10u) << "at most the limiter's burst per minute:\n" << log;
}

// Issue: files that never become segments were retried silently forever.
TEST_F(AgentDiscovery, FilesThatNeverBecomeSegmentsAreCountedByReasonAndLoggedOnce) {
  {
    std::ofstream(stray(".empty"));  // zero length
  }
  ASSERT_EQ(::mkfifo(stray(".fifo").c_str(), 0600), 0);
  fs::create_directory(stray(".dir"));
  {
    // A full-size file whose producer never set `ready`.
    std::ofstream f(stray(".unready"), std::ios::binary);
    const std::string zeros(shm::layout_for(1, 64).segment_size, '\0');
    f << zeros;
  }
  sa::Agent agent(io_, options());
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5; ++i) agent.scan_now();  // e.g. five periodic scans
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(unattached(agent, sa::Unattached::kTooShort), 1u);
  EXPECT_EQ(unattached(agent, sa::Unattached::kNotRegular), 2u) << "a FIFO and a directory";
  EXPECT_EQ(unattached(agent, sa::Unattached::kUnready), 1u);
  EXPECT_EQ(count(log, "not attached after"), 4u) << "one line per file, not one per scan:\n" << log;
  EXPECT_EQ(count(log, "\n"), 4u) << log;
  EXPECT_TRUE(agent.services().empty());
  // A name that goes away is forgotten.
  fs::remove(fs::path("/dev/shm") / (prefix_ + ".empty"));
  agent.scan_now();
  EXPECT_EQ(unattached(agent, sa::Unattached::kTooShort), 0u);
}

TEST_F(AgentDiscovery, NotReadyFilesAreNotCountedDuringTheGracePeriod) {
  {
    std::ofstream(stray(".empty"));
  }
  sa::CoreOptions o = options();
  o.not_ready_grace = 1h;
  sa::Agent agent(io_, o);
  ::testing::internal::CaptureStderr();
  agent.scan_now();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(unattached(agent, sa::Unattached::kTooShort), 0u) << "an engine being born";
  EXPECT_EQ(count(log, prefix_), 0u) << log;
}

// Issue: a hard link named spanring.* to another file got ring tails written into it and was
// then unlinked.
TEST_F(AgentDiscovery, HardLinkToASegmentIsRefusedAndNeverUnlinked) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  write(3);
  const fs::path link = stray(".link");
  ASSERT_EQ(::link(("/dev/shm/" + session.segment()).c_str(), link.c_str()), 0);
  sa::CoreOptions o = options();
  o.discovery.segment_prefix = prefix_ + ".link";
  sa::Agent agent(io_, o);
  attach_exporter(agent);
  agent.scan_now();
  agent.drain_now();
  EXPECT_EQ(unattached(agent, sa::Unattached::kUntrusted), 1u);
  EXPECT_TRUE(agent.services().empty());
  EXPECT_EQ(session.reader().tail(0), 0u) << "nothing written into the linked file";
  EXPECT_TRUE(fs::exists(link));
}

TEST_F(AgentDiscovery, WorldWritableSegmentIsRefused) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  ASSERT_EQ(::chmod(("/dev/shm/" + session.segment()).c_str(), 0666), 0);
  sa::Agent agent(io_, options());
  agent.scan_now();
  EXPECT_EQ(unattached(agent, sa::Unattached::kUntrusted), 1u);
  EXPECT_TRUE(agent.services().empty());
}

TEST_F(AgentDiscovery, SegmentOwnedByAnotherUserThanItsLiveProducerIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the segment to another user";
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  ASSERT_EQ(::chown(("/dev/shm/" + session.segment()).c_str(), 65534, static_cast<gid_t>(-1)), 0);
  sa::Agent agent(io_, options());
  ::testing::internal::CaptureStderr();
  agent.scan_now();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(unattached(agent, sa::Unattached::kUntrusted), 1u);
  EXPECT_NE(log.find("owned by uid 65534, but its producer"), std::string::npos) << log;
}

TEST_F(AgentDiscovery, ProducerRulesDecideWhichOwnersFeedAServiceNameAndTheUidIsExported) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  write(2);
  const uid_t me = ::geteuid();
  {
    sa::CoreOptions o = options();
    o.discovery.producers = {{"AgentDiscovery.*", {me + 1}, {}}};
    sa::Agent agent(io_, o);
    agent.scan_now();
    EXPECT_EQ(unattached(agent, sa::Unattached::kRefused), 1u);
    EXPECT_TRUE(agent.services().empty());
  }
  {
    sa::CoreOptions o = options();
    o.discovery.producers = {{"AgentDiscovery.*", {me + 1}, {}}, {"*", {me}, {}}};
    sa::Agent agent(io_, o);
    attach_exporter(agent);
    agent.scan_now();
    agent.drain_now();
    agent.flush_batch();
    ASSERT_EQ(agent.services().size(), 1u);
    ASSERT_EQ(exporter_->batches.size(), 1u);
    const auto& req = exporter_->batches[0].request();
    std::int64_t uid = -1;
    for (const auto& kv : req.resource_spans(0).resource().attributes())
      if (kv.key() == "process.user.id") uid = kv.value().int_value();
    EXPECT_EQ(uid, static_cast<std::int64_t>(me));
  }
  {
    sa::CoreOptions o = options();
    o.discovery.producers = {{"other-*", {me + 1}, {}}};  // rules for other names only
    sa::Agent agent(io_, o);
    agent.scan_now();
    EXPECT_EQ(agent.services().size(), 1u);
  }
}

TEST(ProducerRules, GlobMatchesRunsAndSingleCharacters) {
  EXPECT_TRUE(sa::glob_match("*", ""));
  EXPECT_TRUE(sa::glob_match("llm-*", "llm-server"));
  EXPECT_TRUE(sa::glob_match("llm-?", "llm-a"));
  EXPECT_FALSE(sa::glob_match("llm-?", "llm-ab"));
  EXPECT_TRUE(sa::glob_match("*-server", "llm-server"));
  EXPECT_TRUE(sa::glob_match("a*b*c", "axxbyyc"));
  EXPECT_FALSE(sa::glob_match("a*b*c", "axxbyy"));
  EXPECT_FALSE(sa::glob_match("llm", "llm-server"));
  EXPECT_TRUE(sa::glob_match(std::string(100, '*') + "x", std::string(10000, 'a') + "x"));
}

TEST(ProducerRules, GroupsMatchTheSegmentGroupOrTheOwnersGroups) {
  const std::vector<sa::ProducerRule> rules = {{"svc", {}, {4242}}};
  EXPECT_TRUE(sa::producer_allowed(rules, "svc", 12345, 4242)) << "the segment's group";
  EXPECT_FALSE(sa::producer_allowed(rules, "svc", 12345, 1));
  EXPECT_TRUE(sa::producer_allowed(rules, "unrelated", 12345, 1)) << "no rule names it: as given";
  EXPECT_TRUE(sa::producer_allowed({{"svc", {}, {0}}}, "svc", 0, 1)) << "root's primary group";
}

// Issue: an engine's segment that the agent could not open yet (mode or group not set yet, or
// set later) was logged "permission denied" once and never retried.
TEST_F(AgentDiscovery, PermissionDeniedSegmentIsRetriedUntilReadable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the agent side as another user";
  const group* nogroup = ::getgrnam("nogroup");
  if (nogroup == nullptr) GTEST_SKIP() << "no 'nogroup' group on this machine";
  const gid_t gid = nogroup->gr_gid;
  if (const std::string why = spanring::test::other_user_unavailable(65534, gid); !why.empty()) GTEST_SKIP() << why;
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  write(4);
  const std::string path = "/dev/shm/" + session.segment();
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  int to_child[2], to_parent[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(to_parent), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The agent, as an unprivileged user in the segment's future group.
    ::close(to_parent[0]);
    ::close(to_child[1]);
    if (::setgroups(1, &gid) != 0 || ::setgid(gid) != 0 || ::setuid(65534) != 0) ::_exit(10);
    boost::asio::io_context io;
    sa::Agent agent(io, options());
    agent.scan_now();
    if (!agent.services().empty()) ::_exit(11);
    if (agent.unattached()[static_cast<std::size_t>(sa::Unattached::kPermission)] != 1) ::_exit(12);
    char c = 'x';
    if (::write(to_parent[1], &c, 1) != 1 || ::read(to_child[0], &c, 1) != 1) ::_exit(13);
    agent.scan_now();  // the periodic scan
    if (agent.services().size() != 1) ::_exit(14);
    if (agent.drain_now() != 4) ::_exit(15);
    ::_exit(0);
  }
  // Our copies of the child's ends: a child that exits early then reads as EOF, not a hang.
  ::close(to_parent[1]);
  ::close(to_child[0]);
  char c = 0;
  const ssize_t got = ::read(to_parent[0], &c, 1);
  if (got != 1) {
    int early = 0;
    ::waitpid(pid, &early, 0);
    ::close(to_parent[0]);
    ::close(to_child[1]);
    FAIL() << "the agent side stopped early, exit " << (WIFEXITED(early) ? WEXITSTATUS(early) : -1)
           << " (10 privileges, 11 attached while unreadable, 12 not counted)";
  }
  // What SPANRING_SHM_GROUP and SPANRING_SHM_MODE=0660 give.
  ASSERT_EQ(::chown(path.c_str(), static_cast<uid_t>(-1), gid), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0660), 0);
  ASSERT_EQ(::write(to_child[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 privileges, 11 attached while unreadable, 12 not counted, "
                                       "14 not retried, 15 spans not read";
  ::close(to_parent[0]);
  ::close(to_child[1]);
}

// Issue: a SIGBUS on a truncated segment was counted as an `invalid` span drop.
TEST_F(AgentDiscovery, TruncatedSegmentIsASegmentFaultNotInvalidSpans) {
  TracerSession session(1, 64);
  ASSERT_TRUE(session.ok());
  write(3);
  sa::Agent agent(io_, options());
  attach_exporter(agent);
  agent.scan_now();
  const int fd = ::shm_open(("/" + session.segment()).c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(session.layout().ring_data_offset)), 0);  // records gone
  ::close(fd);
  agent.drain_now();
  agent.drain_now();
  const sa::ServiceStats& st = agent.services().at(0);
  EXPECT_EQ(st.segment_faults, 1u);
  EXPECT_EQ(st.dropped[sa::kDropInvalid], 0u);
  EXPECT_EQ(st.created, st.exported + st.sampled_out + st.dropped_total());
}

// Issue: attaching to an engine writing flat out broke the per-service balance (off by 29, 942
// and 30 spans): the baseline read the heads, then spans_written, so spans published between
// the two were counted nowhere. The race needs rings that are not full at attach: an agent
// restarted on an engine whose rings its predecessor kept drained.
TEST_F(AgentDiscovery, AttachDuringFlatOutWritingKeepsTheBalance) {
  auto balanced = [](const sa::Agent& agent) {
    const sa::ServiceStats& st = const_cast<sa::Agent&>(agent).services().at(0);
    EXPECT_EQ(st.created, st.exported + st.sampled_out + st.dropped_total());
    EXPECT_EQ(st.written, st.received + st.dropped[sa::kDropInvalid]);
    EXPECT_EQ(st.received, st.exported);
  };
  auto run = [](sa::Agent& agent, AcceptingExporter& ex, std::chrono::microseconds how_long) {
    const auto end = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < end) {
      agent.drain_now();
      agent.flush_batch();
      ex.answer_all();
    }
  };
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TracerSession session(1, 4096);
    ASSERT_TRUE(session.ok());
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> created{0};
    std::thread producer([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        spanring::Span s("flat_out", spanring::Span::NewRoot{});
        created.fetch_add(1, std::memory_order_relaxed);
      }
    });
    sa::CoreOptions o = options();
    o.batch.max_spans = 512;
    {
      // The first agent attaches early and keeps the ring from filling up.
      boost::asio::io_context io;
      sa::Agent first(io, o);
      attach_exporter(first);
      first.scan_now();
      run(first, *exporter_, std::chrono::microseconds(3000 + 500 * (round % 5)));
      balanced(first);
    }
    // Its successor attaches while the producer keeps writing into a ring with room.
    boost::asio::io_context io;
    sa::Agent second(io, o);
    attach_exporter(second);
    second.scan_now();
    run(second, *exporter_, 10ms);
    stop = true;
    producer.join();
    while (second.drain_now() > 0) exporter_->answer_all();
    second.flush_batch();
    exporter_->answer_all();
    ASSERT_EQ(second.services().size(), 1u);
    balanced(second);
    EXPECT_GT(created.load(), 0u);
  }
}

// agent.drain_threads = 2 over four segments: each shard reads its own, batch ids stay unique,
// nothing commits before its batch is answered, and every ring ends committed at its head.
TEST_F(AgentDiscovery, TwoDrainThreadsShareTheSegmentsAndCommitOnlyAnsweredSpans) {
  const std::string service = prefix_.substr(std::string(shm::kSegmentPrefix).size());
  std::uint64_t written = 0;
  for (int k = 0; k < 4; ++k) {
    spanring::Options so;
    so.service_name = service;
    so.rings = 2;
    so.shm_size = 1u << 20;
    const spanring::InitStatus st = spanring::init(so);
    ASSERT_TRUE(st.ok()) << st.message;
    strays_.push_back(fs::path("/dev/shm") / st.segment);
    write(300 + 100 * k);
    written += 300 + 100 * k;
    spanring::shutdown();  // the segment stays, with its spans
  }
  sa::CoreOptions o = options();
  o.agent.drain_threads = 2;
  o.state.remove_drained_segments = false;
  sa::Agent agent(io_, o);
  attach_exporter(agent);
  agent.scan_now();
  for (int i = 0; i < 4; ++i) agent.drain_now();
  agent.flush_batch();
  std::set<std::uint64_t> ids;
  std::uint64_t spans = 0;
  for (const auto& b : exporter_->batches) {
    EXPECT_TRUE(ids.insert(b.id).second) << "batch id " << b.id << " used twice";
    spans += b.spans;
    int in_body = 0;
    const auto request = b.request();
    for (const auto& rs : request.resource_spans()) in_body += rs.scope_spans(0).spans_size();
    EXPECT_EQ(static_cast<std::uint64_t>(in_body), b.spans);
  }
  EXPECT_EQ(spans, written);
  auto tails = [&](bool at_head) {
    for (const auto& p : strays_) {
      shm::SegmentReader r;
      std::string message;
      ASSERT_EQ(r.open(p.filename().string(), message), shm::SegmentError::kOk) << message;
      for (std::uint32_t ring = 0; ring < r.ring_count(); ++ring)
        EXPECT_EQ(r.tail(ring), at_head ? r.head(ring) : 0u) << p << " ring " << ring;
    }
  };
  tails(false);  // nothing answered yet
  exporter_->answer_all();
  agent.drain_now();  // retires the answered prefix
  tails(true);
  ASSERT_EQ(agent.services().size(), 1u);
  EXPECT_EQ(agent.services()[0].exported, written);
  EXPECT_EQ(agent.services()[0].received, written);
  EXPECT_EQ(agent.services()[0].dropped_total(), 0u);
}

}  // namespace
