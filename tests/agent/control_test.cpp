// The control socket (agent/control), the tap exporter, and what spanringctl renders with:
// the console exporter's trace filter and the Chrome trace-event converter.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "agent/control/control_server.hpp"
#include "agent/control/protocol.hpp"
#include "agent/control/status.hpp"
#include "agent/control/tap_exporter.hpp"
#include "agent/sinks/chrome_trace.hpp"
#include "agent/sinks/console_exporter.hpp"

namespace spanring::agent::control {
namespace {

namespace trace = opentelemetry::proto::trace::v1;
using namespace std::chrono_literals;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("spanring-control-test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    options_.path = (dir_ / "spanring-agent.sock").string();
  }
  void TearDown() override {
    server_.reset();
    for (int fd : fds_) ::close(fd);
    std::filesystem::remove_all(dir_);
  }

  void start(std::function<std::string()> status = [] { return std::string("status text\n"); }) {
    server_ = std::make_unique<ControlServer>(io_, options_, std::move(status));
    const Status st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
  }

  void turn() {
    io_.restart();
    io_.poll();
  }

  int connect_client(std::string_view request) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", options_.path.c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    fds_.push_back(fd);
    if (!request.empty()) {
      EXPECT_EQ(::write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    }
    return fd;
  }

  // Reads `n` bytes (or to EOF when n == 0), turning the io_context meanwhile.
  std::string read_client(int fd, std::size_t n) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((n == 0 || out.size() < n) && std::chrono::steady_clock::now() < deadline) {
      turn();
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 5) <= 0) continue;
      char buf[65536];
      const ssize_t r = ::read(fd, buf, n == 0 ? sizeof buf : std::min(sizeof buf, n - out.size()));
      if (r <= 0) break;
      out.append(buf, static_cast<std::size_t>(r));
    }
    return out;
  }

  void turn_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      turn();
      std::this_thread::sleep_for(1ms);
    }
  }

  boost::asio::io_context io_;
  std::filesystem::path dir_;
  ServerOptions options_;
  std::unique_ptr<ControlServer> server_;
  std::vector<int> fds_;
};

TEST_F(ControlServerTest, StatusAnswersTheCallbackTextThenCloses) {
  start();
  const int fd = connect_client("status\n");
  EXPECT_EQ(read_client(fd, 0), "status text\n");
}

TEST_F(ControlServerTest, SocketIsOwnerAndGroupOnly) {
  ::umask(0);  // whatever the umask, the socket is 0660
  start();
  ::umask(022);
  struct stat st;
  ASSERT_EQ(::stat(options_.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ControlServerTest, UnknownRequestGetsAnErrorNamingIt) {
  start();
  const int fd = connect_client("reboot\n");
  EXPECT_EQ(read_client(fd, 0), "error: unknown request \"reboot\" (expected status or tap)\n");
  EXPECT_EQ(server_->counters().refused, 1u);
}

TEST_F(ControlServerTest, StaleSocketIsReplacedAndAnyOtherFileRefused) {
  {
    ControlServer first(io_, options_, [] { return std::string(); });
    ASSERT_TRUE(first.start().ok());
    // A crashed agent leaves its socket file: simulate by keeping the file after close.
    ::link(options_.path.c_str(), (dir_ / "keep").c_str());
  }
  std::filesystem::rename(dir_ / "keep", options_.path);
  start();  // replaces the stale socket
  const int fd = connect_client("status\n");
  EXPECT_EQ(read_client(fd, 0), "status text\n");
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(options_.path)) << "stop() removes the socket";

  std::ofstream(options_.path) << "not a socket";
  ControlServer blocked(io_, options_, [] { return std::string(); });
  const Status st = blocked.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(options_.path), std::string::npos) << st.message();
}

TEST_F(ControlServerTest, TapReceivesPublishedBatchesOnlyWhileConnected) {
  start();
  EXPECT_FALSE(server_->tapping());
  const int fd = connect_client("tap\n");
  turn_until([&] { return server_->tapping(); });
  ASSERT_TRUE(server_->tapping());
  server_->publish("hello", 3);
  const std::string frame = read_client(fd, kFrameHeaderBytes + 5);
  ASSERT_EQ(frame.size(), kFrameHeaderBytes + 5);
  EXPECT_EQ(frame[0], kFrameBatch);
  EXPECT_EQ(frame_length(frame.data()), 5u);
  EXPECT_EQ(frame.substr(kFrameHeaderBytes), "hello");
  ::close(fd);
  fds_.clear();
  turn_until([&] { return !server_->tapping(); });
  EXPECT_FALSE(server_->tapping()) << "a client that left costs nothing any more";
}

TEST_F(ControlServerTest, SlowClientLosesBatchesWithACountAndNeverBlocksTheAgent) {
  options_.max_client_bytes = 2u << 20;
  start();
  const int fd = connect_client("tap\n");
  turn_until([&] { return server_->tapping(); });
  // The client does not read: 1 MiB frames fill the socket buffer, the first stays queued.
  const std::string mib(1u << 20, 'x');
  for (int i = 0; i < 5; ++i) {
    server_->publish(mib, 10);  // returns at once: nothing here waits for the client
    turn();
  }
  EXPECT_EQ(server_->counters().spans_lost, 40u);
  // Once it reads, it gets the first batch, then how many spans it missed.
  const std::string first = read_client(fd, kFrameHeaderBytes + mib.size());
  ASSERT_EQ(first.size(), kFrameHeaderBytes + mib.size());
  EXPECT_EQ(first[0], kFrameBatch);
  const std::string lost = read_client(fd, kFrameHeaderBytes + 8);
  ASSERT_EQ(lost.size(), kFrameHeaderBytes + 8);
  EXPECT_EQ(lost[0], kFrameLost);
  EXPECT_EQ(decode_u64(std::string_view(lost).substr(kFrameHeaderBytes)), 40u);
}

TEST_F(ControlServerTest, ConnectionsOverTheLimitAreClosed) {
  options_.max_clients = 1;
  start();
  const int a = connect_client("tap\n");
  turn_until([&] { return server_->tapping(); });
  const int b = connect_client("status\n");
  EXPECT_EQ(read_client(b, 0), "") << "closed without an answer";
  (void)a;
  EXPECT_GE(server_->counters().refused, 1u);
}

TEST(Status, ShowsExporterSamplingAndConfigLoad) {
  boost::asio::io_context io;
  AgentConfig config;
  config.discovery.segment_prefix = "spanring.status-test-none.";
  config.sampling = YAML::Load("default_strategy: {type: probabilistic, param: 0.25}");
  config.source = "/etc/spanring/agent.yaml";
  CoreOptions core;
  core.discovery = config.discovery;
  Agent agent(io, core);
  ConfigWatch watch("");
  watch.begin_load();
  watch.loaded(true);
  StatusContext c;
  c.version = "9.9.9";
  c.started_at = std::chrono::system_clock::now() - 90s;
  c.config = &config;
  c.watch = &watch;
  c.socket_path = "/run/spanring-agent/spanring-agent.sock";
  RateWindow rates;
  const std::string text = render_status(agent, c, rates);
  EXPECT_NE(text.find("spanring-agent 9.9.9, up 1m3"), std::string::npos) << text;
  EXPECT_NE(text.find("config: /etc/spanring/agent.yaml"), std::string::npos) << text;
  EXPECT_NE(text.find("reloads: 0 ok, 0 failed"), std::string::npos) << text;
  EXPECT_NE(text.find("engines attached: 0"), std::string::npos) << text;
  EXPECT_NE(text.find("exporter: otlp -> http://localhost:4318/v1/traces"), std::string::npos) << text;
  EXPECT_NE(text.find("last error: none"), std::string::npos) << text;
  EXPECT_NE(text.find("param: 0.25"), std::string::npos) << "the sampling section in force:\n" << text;
}

// ---- the tap exporter -----------------------------------------------------------------------

class FakeExporter final : public Exporter {
 public:
  explicit FakeExporter(bool accept) : accept_(accept) {}
  bool enqueue(ExportBatch) override { return accept_ && ++accepted_ > 0; }
  void shutdown(std::chrono::steady_clock::time_point, std::function<void()> done) override { done(); }
  std::uint64_t queued_spans() const override { return 7; }
  std::uint64_t queued_bytes() const override { return 8; }
  std::size_t queued_batches() const override { return 9; }
  std::size_t in_flight() const override { return 3; }
  std::uint64_t corrupt_records() const override { return 2; }
  bool holds_batches() const override { return true; }
  void sync() override { ++syncs_; }
  std::vector<ServiceCount> resumed() const override { return {ServiceCount{"a", 5}}; }
  std::vector<ServiceCount> lost_by_earlier_run() const override { return {ServiceCount{"b", 6}}; }
  int accepted_ = 0;
  int syncs_ = 0;

 private:
  bool accept_;
};

// Regression: the tap forwarded only enqueue/shutdown/queued_*, so with spanringctl's tap in
// place the agent saw holds_batches() == false and kept every span in the rings until the
// backend answered (a backend outage filled the engines' rings despite the disk queue).
TEST(TapExporter, ForwardsEveryQueryAndSyncToTheExporterItWraps) {
  boost::asio::io_context io;
  ControlServer server(io, ServerOptions{}, [] { return std::string(); });  // never started
  auto inner = std::make_unique<FakeExporter>(true);
  FakeExporter* fake = inner.get();
  auto tap = make_tap_exporter(std::move(inner), server);
  EXPECT_TRUE(tap->holds_batches());
  tap->sync();
  EXPECT_EQ(fake->syncs_, 1);
  EXPECT_EQ(tap->queued_batches(), 9u);
  EXPECT_EQ(tap->in_flight(), 3u);
  EXPECT_EQ(tap->corrupt_records(), 2u);
  EXPECT_EQ(tap->resumed(), (std::vector<ServiceCount>{ServiceCount{"a", 5}}));
  EXPECT_EQ(tap->lost_by_earlier_run(), (std::vector<ServiceCount>{ServiceCount{"b", 6}}));
}

ExportBatch one_span_batch(const std::string& name) {
  ExportTraceServiceRequest req;
  req.add_resource_spans()->add_scope_spans()->add_spans()->set_name(name);
  return ExportBatch(req, 1);
}

TEST_F(ControlServerTest, TapExporterCopiesOnlyAcceptedBatchesAndOnlyWhileTapped) {
  start();
  auto inner = std::make_unique<FakeExporter>(true);
  FakeExporter* fake = inner.get();
  auto tap = make_tap_exporter(std::move(inner), *server_);
  EXPECT_TRUE(tap->enqueue(one_span_batch("untapped")));
  EXPECT_EQ(server_->counters().batches_published, 0u) << "nobody tapping: no copy";
  EXPECT_EQ(fake->accepted_, 1);
  EXPECT_EQ(tap->queued_spans(), 7u);

  const int fd = connect_client("tap\n");
  turn_until([&] { return server_->tapping(); });
  EXPECT_TRUE(tap->enqueue(one_span_batch("tapped")));
  EXPECT_EQ(fake->accepted_, 2) << "the export still gets the batch";
  const std::string header = read_client(fd, kFrameHeaderBytes);
  ASSERT_EQ(header.size(), kFrameHeaderBytes);
  ExportTraceServiceRequest got;
  ASSERT_TRUE(got.ParseFromString(read_client(fd, frame_length(header.data()))));
  EXPECT_EQ(got.resource_spans(0).scope_spans(0).spans(0).name(), "tapped");

  auto refusing = make_tap_exporter(std::make_unique<FakeExporter>(false), *server_);
  EXPECT_FALSE(refusing->enqueue(one_span_batch("refused")));
  EXPECT_EQ(server_->counters().batches_published, 1u) << "a batch the queue refused is not shown";
}

// ---- console filter (spanringctl tail) ------------------------------------------------------

trace::Span span(const std::string& trace_id, const std::string& id, const std::string& parent, std::uint64_t start,
                 std::uint64_t end, bool error = false) {
  trace::Span s;
  s.set_trace_id(trace_id);
  s.set_span_id(id);
  s.set_parent_span_id(parent);
  s.set_name("op-" + id);
  s.set_start_time_unix_nano(start);
  s.set_end_time_unix_nano(end);
  if (error) s.mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  return s;
}

TEST(ConsoleKeep, FilterSeesWholeTracesAndDropsOnlyThose) {
  boost::asio::io_context io;
  std::FILE* out = std::tmpfile();
  ConsoleOptions o;
  o.out = out;
  o.max_traces = 0;
  o.hold = 0ms;
  o.keep = [](const TraceFacts& t) { return t.has_error && t.duration_ns >= 1000; };
  auto console = make_console_exporter(io, nullptr, o);
  ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  const std::string t1(16, '\x01'), t2(16, '\x02'), t3(16, '\x03');
  // t1: slow, error in a child → kept; t2: slow, no error; t3: error, too short.
  *ss->add_spans() = span(t1, "a0000001", "", 0, 5000);
  *ss->add_spans() = span(t1, "a0000002", "a0000001", 100, 200, true);
  *ss->add_spans() = span(t2, "b0000001", "", 0, 5000);
  *ss->add_spans() = span(t3, "c0000001", "", 0, 10, true);
  ASSERT_TRUE(console->enqueue(ExportBatch(req, 4)));
  bool done = false;
  io.run_for(100ms);
  console->shutdown(std::chrono::steady_clock::now(), [&] { done = true; });
  io.restart();
  io.run_for(100ms);
  ASSERT_TRUE(done);
  std::rewind(out);
  std::string text(1 << 16, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  EXPECT_NE(text.find("trace 01010101"), std::string::npos) << text;
  EXPECT_NE(text.find("op-a0000002"), std::string::npos) << "the whole trace, not just the error span";
  EXPECT_EQ(text.find("trace 02020202"), std::string::npos) << text;
  EXPECT_EQ(text.find("trace 03030303"), std::string::npos) << text;
}

// ---- Chrome trace-event JSON (spanringctl dump --format chrome-json) ------------------------

TEST(ChromeTrace, SpansBecomeNestedCompleteEventsPerProcess) {
  ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("llm \"server\"");
  attr = rs->mutable_resource()->add_attributes();
  attr->set_key("process.pid");
  attr->mutable_value()->set_int_value(4242);
  auto* ss = rs->add_scope_spans();
  const std::string t(16, '\x07');
  const std::uint64_t base = 1'700'000'000'000'000'000ull;
  // Two overlapping requests (not nested) and a child of the first.
  *ss->add_spans() = span(t, "r1r1r1r1", "", base, base + 10'000);
  *ss->add_spans() = span(t, "c1c1c1c1", "r1r1r1r1", base + 1'000, base + 2'500, true);
  *ss->add_spans() = span(t, "r2r2r2r2", "", base + 5'000, base + 20'000);
  ChromeTraceBuilder builder;
  builder.add(req);
  const std::string json = builder.json();

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  std::map<std::string, std::pair<std::int64_t, double>> by_name;  // name → (tid, ts)
  std::string process_name;
  for (simdjson::dom::element e : doc["traceEvents"].get_array()) {
    const std::string_view ph = e["ph"].get_string();
    EXPECT_EQ(e["pid"].get_int64().value(), 4242);
    if (ph == "M") {
      if (e["name"].get_string().value() == "process_name") process_name = std::string(e["args"]["name"].get_string().value());
      continue;
    }
    ASSERT_EQ(ph, "X");
    const std::string name(e["name"].get_string().value());
    by_name[name] = {e["tid"].get_int64().value(), e["ts"].get_double().value()};
    EXPECT_EQ(e["args"]["trace_id"].get_string().value(), "07070707070707070707070707070707");
    if (name == "op-c1c1c1c1") {
      EXPECT_EQ(e["dur"].get_double().value(), 1.5);
      EXPECT_EQ(e["args"]["status"].get_string().value(), "ERROR");
    }
  }
  EXPECT_EQ(process_name, "llm \"server\" (pid 4242)");
  ASSERT_EQ(by_name.size(), 3u);
  EXPECT_EQ(by_name["op-r1r1r1r1"].second, 0.0) << "timestamps start at the earliest span";
  EXPECT_EQ(by_name["op-c1c1c1c1"].second, 1.0);
  EXPECT_EQ(by_name["op-c1c1c1c1"].first, by_name["op-r1r1r1r1"].first) << "a child nests in its parent's lane";
  EXPECT_NE(by_name["op-r2r2r2r2"].first, by_name["op-r1r1r1r1"].first) << "overlapping requests get separate lanes";
}

TEST(ChromeTrace, KeepsAtMostMaxSpansAndCountsTheRest) {
  ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < 5; ++i) *ss->add_spans() = span(std::string(16, 'x'), std::to_string(10000000 + i), "", i, i + 1);
  ChromeTraceBuilder builder(3);
  builder.add(req);
  EXPECT_EQ(builder.spans(), 3u);
  EXPECT_EQ(builder.over_limit(), 2u);
}

}  // namespace
}  // namespace spanring::agent::control
