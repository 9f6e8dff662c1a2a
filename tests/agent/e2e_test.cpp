// End to end: real engine processes (spanring-loadgen) + the real spanring-agent binary + an
// OTLP/HTTP receiver in this process that decodes with the generated protobuf classes.
//
// Each test uses its own segment prefix (service names "e2e<pid><n>-…"), so tests can run in
// parallel with each other and with anything else on the machine.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../common/other_user.hpp"
#include "otlp_receiver.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

class Process {
 public:
  Process() = default;
  Process(std::vector<std::string> argv, const fs::path& out, const fs::path& err, std::vector<std::string> env = {}) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // own group: kill the whole tree
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    for (auto& e : env) envs.push_back(e);
    std::vector<char*> envp;
    for (auto& e : envs) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, &attr, args.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  void signal_group(int sig) { ::kill(-pid_, sig); }
  // Waits for exit; returns the exit code, 128+signal, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

struct ServiceCounts {
  std::uint64_t created = 0, resumed = 0, received = 0, exported = 0, sampled_out = 0, dropped = 0, kept = 0;
  std::map<std::string, std::uint64_t> dropped_by_reason;
};

// Parses the agent's exit summary lines: "spanring-agent: service=S created=… dropped_x=…".
std::map<std::string, ServiceCounts> parse_summary(const std::string& log) {
  std::map<std::string, ServiceCounts> out;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("spanring-agent: service=", 0) != 0) continue;
    std::istringstream fields(line.substr(16));
    std::string kv, service;
    ServiceCounts c;
    while (fields >> kv) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) continue;
      const std::string k = kv.substr(0, eq), v = kv.substr(eq + 1);
      if (k == "service") service = v;
      else if (k == "created") c.created = std::stoull(v);
      else if (k == "received") c.received = std::stoull(v);
      else if (k == "exported") c.exported = std::stoull(v);
      else if (k == "sampled_out") c.sampled_out = std::stoull(v);
      else if (k == "dropped") c.dropped = std::stoull(v);
      else if (k == "resumed") c.resumed = std::stoull(v);
      else if (k == "kept") c.kept = std::stoull(v);
      else if (k.rfind("dropped_", 0) == 0) c.dropped_by_reason[k.substr(8)] = std::stoull(v);
    }
    out[service] = c;
  }
  return out;
}

// Parses loadgen's per-service lines: "spanring-loadgen: service=S spans_created=N
// spans_written=W …"; `written` picks the spans that reached the rings (the rest the engine
// dropped, ring full, and counted).
std::map<std::string, std::uint64_t> parse_loadgen(const std::string& text, bool written = false) {
  std::map<std::string, std::uint64_t> out;
  const std::regex re(R"(spanring-loadgen: service=(\S+) spans_created=(\d+) spans_written=(\d+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = std::stoull((*it)[written ? 3 : 2]);
  return out;
}

class EndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    tag_ = "e2e" + std::to_string(::getpid()) + "x" + std::to_string(++n);
    dir_ = fs::temp_directory_path() / ("spanring-" + tag_);
    fs::create_directories(dir_ / "queue");
    // Tests that run the agent as another user need to make the store in it.
    fs::permissions(dir_ / "queue", fs::perms::all);
  }
  void TearDown() override {
    // Segments a failed test left behind.
    for (const auto& e : fs::directory_iterator("/dev/shm"))
      if (e.path().filename().string().rfind("spanring." + tag_, 0) == 0) fs::remove(e.path());
    fs::remove(fs::path("/dev/shm") / ("spanring-agent." + tag_ + "-lock"));  // the agent's lock file
    if (HasFailure() || std::getenv("SPANRING_E2E_KEEP")) {
      std::printf("logs kept in %s\n", dir_.c_str());
      return;
    }
    fs::remove_all(dir_);
  }

  std::string service(const std::string& name) const { return tag_ + "-" + name; }

  // Writes the agent config; `extra` is appended (YAML), `queue` goes into the queue section
  // (indented keys), whose directory is the test's own, and `otlp` into exporter.otlp (its
  // `retry:`, if any, replaces the tests' fast one).
  fs::path write_config(const std::string& endpoint, const std::string& extra = {}, const std::string& queue = {},
                        const std::string& otlp = {}) {
    const fs::path p = dir_ / "agent.yaml";
    std::ofstream f(p);
    f << "discovery:\n  segment_prefix: spanring." << tag_ << "-\n  scan_interval: 100ms\n"
      << "exporter:\n  type: otlp\n  otlp:\n    endpoint: " << endpoint << "\n"
      << (otlp.find("retry:") == std::string::npos
              ? "    retry: {enabled: true, initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 10m}\n"
              : "")
      << otlp
      << "batch:\n  max_spans: 256\n  timeout: 100ms\n"
      << "metrics:\n  listen: \"\"\n"
      << "shutdown:\n  deadline: 5s\n"
      << "queue:\n  directory: " << (dir_ / "queue").string() << "\n" << queue
      << extra;
    return p;
  }

  std::unique_ptr<Process> start_agent(const fs::path& config, const std::string& name = "agent",
                                       std::vector<std::string> env = {}, std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = prefix;
    for (const std::string& a : {std::string(SPANRING_AGENT_BIN), std::string("--config"), config.string()}) argv.push_back(a);
    auto p = std::make_unique<Process>(argv, dir_ / (name + ".out"), dir_ / (name + ".err"), std::move(env));
    // Started when it logs so; a crash or a config error shows in the log.
    for (int i = 0; i < 200 && read_file(dir_ / (name + ".err")).find("spanring-agent started") == std::string::npos; ++i)
      std::this_thread::sleep_for(10ms);
    return p;
  }

  std::map<std::string, std::uint64_t> run_loadgen(std::vector<std::string> args, const std::string& name = "loadgen") {
    args.insert(args.begin(), SPANRING_LOADGEN_BIN);
    Process p(args, dir_ / (name + ".out"), dir_ / (name + ".err"));
    EXPECT_EQ(p.wait(60s), 0) << read_file(dir_ / (name + ".err"));
    return parse_loadgen(read_file(dir_ / (name + ".out")));
  }

  std::map<std::string, ServiceCounts> stop_agent(Process& agent, const std::string& name = "agent") {
    agent.signal_group(SIGTERM);
    EXPECT_EQ(agent.wait(30s), 0) << read_file(dir_ / (name + ".err"));
    return parse_summary(read_file(dir_ / (name + ".err")));
  }

  static std::uint64_t total(const std::map<std::string, std::uint64_t>& m) {
    std::uint64_t t = 0;
    for (const auto& [k, v] : m) t += v;
    return t;
  }

  static bool wait_for_spans(const spanring::test::OtlpReceiver& r, std::size_t n, std::chrono::seconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (r.span_count() >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return r.span_count() >= n;
  }

  bool segments_left() const {
    for (const auto& e : fs::directory_iterator("/dev/shm"))
      if (e.path().filename().string().rfind("spanring." + tag_, 0) == 0) return true;
    return false;
  }

  void backend_outage_loses_nothing(const std::string& rate, int seconds);

  std::string tag_;
  fs::path dir_;
};

std::string hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) s += d[c >> 4], s += d[c & 15];
  return s;
}

std::string resource_value(const opentelemetry::proto::resource::v1::Resource& r, const std::string& key) {
  for (const auto& kv : r.attributes())
    if (kv.key() == key) {
      if (kv.value().has_int_value()) return std::to_string(kv.value().int_value());
      return kv.value().string_value();
    }
  return "<missing>";
}

TEST_F(EndToEnd, EverySpanArrivesWithItsFieldsParentLinksAndResource) {
  spanring::test::OtlpReceiver receiver;
  auto agent = start_agent(write_config(receiver.endpoint()));
  const auto created = run_loadgen({"--service", service("llm"), "--service", service("kv"), "--rate", "200",
                                    "--duration", "1", "--error-rate", "0.2", "--quiet"});
  const std::uint64_t expected = total(created);
  ASSERT_GT(expected, 1000u);
  ASSERT_TRUE(wait_for_spans(receiver, expected, 30s)) << receiver.span_count() << " of " << expected;

  std::set<std::string> ids;
  std::map<std::string, std::set<std::string>> trace_spans;
  std::map<std::string, std::uint64_t> per_service;
  std::size_t roots = 0, errors = 0;
  for (const auto& rs : receiver.spans()) {
    const auto& s = rs.span;
    ASSERT_EQ(s.trace_id().size(), 16u);
    ASSERT_EQ(s.span_id().size(), 8u);
    ASSERT_FALSE(s.name().empty());
    ASSERT_LE(s.start_time_unix_nano(), s.end_time_unix_nano());
    ASSERT_TRUE(ids.insert(hex(s.span_id())).second) << "duplicate span " << hex(s.span_id());
    trace_spans[hex(s.trace_id())].insert(hex(s.span_id()));
    ++per_service[resource_value(rs.resource, "service.name")];
    EXPECT_EQ(resource_value(rs.resource, "telemetry.sdk.name"), "spanring");
    EXPECT_EQ(resource_value(rs.resource, "telemetry.sdk.language"), "cpp");
    EXPECT_NE(resource_value(rs.resource, "service.instance.id"), "<missing>");
    EXPECT_NE(resource_value(rs.resource, "host.name"), "<missing>");
    EXPECT_NE(resource_value(rs.resource, "process.pid"), "<missing>");
    EXPECT_EQ(rs.scope.name(), "spanring");
    if (s.parent_span_id().empty()) {
      ++roots;
      EXPECT_EQ(s.name(), "llm_inference");
      EXPECT_EQ(s.kind(), opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
      bool has_model = false;
      for (const auto& kv : s.attributes()) has_model |= kv.key() == "gen_ai.request.model";
      EXPECT_TRUE(has_model);
      // W3C flags: sampled + random; the parent-is-remote bits are absent for a root.
      EXPECT_EQ(s.flags() & 0xff, 0x03u);
    } else {
      EXPECT_EQ(s.flags(), 0x103u);  // local parent: is-remote known and false
    }
    if (s.status().code() == opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR && s.parent_span_id().empty()) {
      ++errors;  // a failed request: its root carries the exception event
      bool has_exception = false;
      for (const auto& e : s.events()) has_exception |= e.name() == "exception";
      EXPECT_TRUE(has_exception);
    }
  }
  // Parent links: every parent is a span of the same trace that also arrived.
  for (const auto& rs : receiver.spans()) {
    if (rs.span.parent_span_id().empty()) continue;
    EXPECT_TRUE(trace_spans[hex(rs.span.trace_id())].count(hex(rs.span.parent_span_id())))
        << rs.span.name() << " has a parent that never arrived";
  }
  EXPECT_GT(roots, 0u);
  EXPECT_GT(errors, 0u);
  EXPECT_EQ(ids.size(), expected);
  for (const auto& [svc, n] : created) EXPECT_EQ(per_service[svc], n) << svc;

  const auto summary = stop_agent(*agent);
  for (const auto& [svc, n] : created) {
    ASSERT_TRUE(summary.count(svc)) << svc;
    const ServiceCounts& c = summary.at(svc);
    EXPECT_EQ(c.created, n);
    EXPECT_EQ(c.exported, n);
    EXPECT_EQ(c.created, c.exported + c.sampled_out + c.dropped) << svc;  // accounting closes
  }
  EXPECT_FALSE(segments_left()) << "drained segments of exited engines are removed";
}

TEST_F(EndToEnd, BackendAnswering503ForAWhileLosesNothing) {
  spanring::test::OtlpReceiver receiver;
  receiver.fail_next(6, 503);
  auto agent = start_agent(write_config(receiver.endpoint()));
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "100", "--duration", "1", "--quiet"});
  const std::uint64_t expected = total(created);
  ASSERT_TRUE(wait_for_spans(receiver, expected, 30s)) << receiver.span_count() << " of " << expected;
  EXPECT_GE(receiver.post_count(), 7u);
  const auto summary = stop_agent(*agent);
  const ServiceCounts& c = summary.at(service("llm"));
  EXPECT_EQ(c.exported, expected);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(receiver.span_count(), expected);
}

TEST_F(EndToEnd, BackendDownLongerThanTheQueueHoldsDropsAreCountedExactly) {
  spanring::test::OtlpReceiver receiver;
  receiver.stop();  // backend down for the whole run
  auto agent = start_agent(write_config(receiver.endpoint(), {},
                                        "  max_batches: 2\n  max_spans: 512\n  max_bytes: 1MiB\n"));
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "300", "--duration", "1", "--quiet"});
  const std::uint64_t n = total(created);
  std::this_thread::sleep_for(500ms);
  receiver.start();  // the backend comes back: what is still queued gets through
  std::this_thread::sleep_for(1500ms);
  const auto summary = stop_agent(*agent);
  ServiceCounts c = summary.at(service("llm"));
  EXPECT_EQ(c.created, n);
  EXPECT_GT(c.dropped_by_reason["queue_full"], 0u);
  EXPECT_EQ(c.exported, receiver.span_count());
  EXPECT_EQ(c.created, c.exported + c.dropped) << "every span is exported or dropped with a reason";
}

TEST_F(EndToEnd, AgentStartedAfterTheEngineExportsWhatItLeft) {
  spanring::test::OtlpReceiver receiver;
  const auto created = run_loadgen({"--service", service("early"), "--rate", "200", "--duration", "0.5", "--quiet"});
  const std::uint64_t expected = total(created);
  ASSERT_TRUE(segments_left());
  auto agent = start_agent(write_config(receiver.endpoint()));
  ASSERT_TRUE(wait_for_spans(receiver, expected, 30s)) << receiver.span_count() << " of " << expected;
  const auto summary = stop_agent(*agent);
  EXPECT_EQ(summary.at(service("early")).exported, expected);
  EXPECT_EQ(receiver.span_count(), expected);
  EXPECT_FALSE(segments_left());
}

TEST_F(EndToEnd, AgentKilledAndRestartedWhileEnginesRunLosesNoSpan) {
  spanring::test::OtlpReceiver receiver;
  receiver.set_delay(100ms);  // keep batches in flight when the kill comes
  const fs::path config = write_config(receiver.endpoint(), {}, {}, "    max_in_flight: 4\n");
  auto agent = start_agent(config, "agent1");
  Process loadgen({SPANRING_LOADGEN_BIN, "--service", service("llm"), "--rate", "100", "--duration", "2", "--quiet"},
                  dir_ / "loadgen.out", dir_ / "loadgen.err");
  std::this_thread::sleep_for(700ms);
  agent->signal_group(SIGKILL);
  EXPECT_EQ(agent->wait(5s), 128 + SIGKILL);
  std::this_thread::sleep_for(300ms);
  auto agent2 = start_agent(config, "agent2");
  ASSERT_EQ(loadgen.wait(60s), 0);
  // While no agent ran, the engine's ring may have filled: those spans were dropped and
  // counted by the engine. Every span that reached the ring must arrive.
  const std::uint64_t expected = total(parse_loadgen(read_file(dir_ / "loadgen.out"), true));
  receiver.set_delay(0ms);
  ASSERT_TRUE(wait_for_spans(receiver, expected, 30s));
  std::this_thread::sleep_for(300ms);
  stop_agent(*agent2, "agent2");
  std::set<std::string> unique;
  for (const auto& rs : receiver.spans()) unique.insert(hex(rs.span.span_id()));
  EXPECT_EQ(unique.size(), expected) << "every span arrives at least once";
  // What a SIGKILL can duplicate: the batches in flight (max_in_flight 4 of batch.max_spans 256)
  // whose answer the dead agent never processed.
  EXPECT_LE(receiver.span_count() - unique.size(), 4u * 256);
  EXPECT_FALSE(segments_left());
}

std::set<std::string> unique_span_ids(const spanring::test::OtlpReceiver& r) {
  std::set<std::string> ids;
  for (const auto& rs : r.spans()) ids.insert(hex(rs.span.span_id()));
  return ids;
}

bool wait_for_unique_spans(const spanring::test::OtlpReceiver& r, std::size_t n, std::chrono::seconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (unique_span_ids(r).size() < n && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(100ms);
  return unique_span_ids(r).size() >= n;
}

// The issue's outage: the backend is down while the engine writes `rate` requests/s (12 spans
// each) for `seconds`, then comes back. With the disk queue the rings keep draining, so the
// engine drops nothing, and every span arrives once the backend is up.
void EndToEnd::backend_outage_loses_nothing(const std::string& rate, int seconds) {
  spanring::test::OtlpReceiver receiver;
  receiver.stop();
  auto agent = start_agent(write_config(receiver.endpoint()));
  Process loadgen({SPANRING_LOADGEN_BIN, "--service", service("llm"), "--rate", rate, "--duration",
                   std::to_string(seconds), "--quiet"},
                  dir_ / "loadgen.out", dir_ / "loadgen.err");
  ASSERT_EQ(loadgen.wait(std::chrono::seconds(seconds + 60)), 0) << read_file(dir_ / "loadgen.err");
  const std::string out = read_file(dir_ / "loadgen.out");
  const std::uint64_t created = total(parse_loadgen(out));
  EXPECT_EQ(total(parse_loadgen(out, true)), created) << "the engine dropped spans: " << out;
  EXPECT_EQ(receiver.span_count(), 0u);
  const auto up = std::chrono::steady_clock::now();
  receiver.start();
  ASSERT_TRUE(wait_for_spans(receiver, created, std::chrono::seconds(60 + seconds)))
      << receiver.span_count() << " of " << created;
  std::printf("outage of %d s: %llu spans created, all delivered %.1f s after the backend came back\n", seconds,
              static_cast<unsigned long long>(created),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - up).count());
  const auto summary = stop_agent(*agent);
  const ServiceCounts& c = summary.at(service("llm"));
  EXPECT_EQ(c.created, created);
  EXPECT_EQ(c.exported, created);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(receiver.span_count(), created);
  EXPECT_EQ(unique_span_ids(receiver).size(), created);
}

TEST_F(EndToEnd, DiskQueueRidesOutABackendDownForSecondsAndLosesNothing) { backend_outage_loses_nothing("300", 4); }

// The issue's figure (60 s at 5k spans/s): opt-in, ~90 s.
TEST_F(EndToEnd, DiskQueueRidesOutABackendDownForSixtySecondsAt5kSpansPerSecond) {
  if (!std::getenv("SPANRING_SOAK")) GTEST_SKIP() << "opt-in soak test (~90 s): set SPANRING_SOAK=1";
  backend_outage_loses_nothing("420", 60);  // 420 requests/s x ~12 spans = ~5k spans/s
}

// The issue's measurement: 3.6k spans/s, 30 % of requests failing, the default backoff (1 s
// first wait). When the rings were the only buffer, a batch waiting for its retry held every
// span read after it in the rings, and 72-75 % were dropped (ring_full).
TEST_F(EndToEnd, BackendFailingThirtyPercentOfRequestsLosesNothing) {
  spanring::test::OtlpReceiver receiver;
  receiver.fail_30_percent(true);
  auto agent = start_agent(write_config(receiver.endpoint(), {}, {}, "    retry: {initial_interval: 1s}\n"));
  Process loadgen({SPANRING_LOADGEN_BIN, "--service", service("llm"), "--rate", "300", "--duration", "3", "--quiet"},
                  dir_ / "loadgen.out", dir_ / "loadgen.err");
  ASSERT_EQ(loadgen.wait(60s), 0) << read_file(dir_ / "loadgen.err");
  const std::string out = read_file(dir_ / "loadgen.out");
  const std::uint64_t created = total(parse_loadgen(out));
  EXPECT_EQ(total(parse_loadgen(out, true)), created) << "the engine dropped spans: " << out;
  ASSERT_TRUE(wait_for_spans(receiver, created, 60s)) << receiver.span_count() << " of " << created;
  const auto summary = stop_agent(*agent);
  const ServiceCounts& c = summary.at(service("llm"));
  EXPECT_EQ(c.created, created);
  EXPECT_EQ(c.exported, created);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(receiver.span_count(), created) << "failed requests are not stored: no duplicates";
  EXPECT_EQ(unique_span_ids(receiver).size(), created);
  const std::size_t failed = receiver.post_count() - receiver.requests().size();
  EXPECT_GT(failed, 0u);
  EXPECT_LE(failed, (receiver.post_count() * 3 + 9) / 10) << "3 of every 10 POSTs fail";
}

// SIGKILL twice: once while the backend fails 30 % of requests and answers slowly (batches in
// flight), once in the middle of an outage (batches on disk, none delivered). The engine runs
// throughout. Each successor resumes the disk queue; nothing is lost, and each kill duplicates
// at most the batches in flight (max_in_flight 4 x batch.max_spans 256).
TEST_F(EndToEnd, AgentKilledDuringFailuresAndDuringAnOutageLosesNothingAndDuplicatesAtMostInFlight) {
  spanring::test::OtlpReceiver receiver;
  receiver.fail_30_percent(true);
  receiver.set_delay(100ms);
  const fs::path config = write_config(receiver.endpoint(), {}, {}, "    max_in_flight: 4\n");
  auto agent1 = start_agent(config, "agent1");
  Process loadgen({SPANRING_LOADGEN_BIN, "--service", service("llm"), "--rate", "200", "--duration", "5", "--quiet"},
                  dir_ / "loadgen.out", dir_ / "loadgen.err");
  std::this_thread::sleep_for(1200ms);
  agent1->signal_group(SIGKILL);
  EXPECT_EQ(agent1->wait(5s), 128 + SIGKILL);
  auto agent2 = start_agent(config, "agent2");
  std::this_thread::sleep_for(800ms);
  receiver.stop();  // the outage
  std::this_thread::sleep_for(1200ms);
  agent2->signal_group(SIGKILL);
  EXPECT_EQ(agent2->wait(5s), 128 + SIGKILL);
  auto agent3 = start_agent(config, "agent3");
  std::this_thread::sleep_for(800ms);
  receiver.start();
  ASSERT_EQ(loadgen.wait(60s), 0);
  const std::string out = read_file(dir_ / "loadgen.out");
  const std::uint64_t written = total(parse_loadgen(out, true));
  EXPECT_EQ(written, total(parse_loadgen(out))) << "the rings overflowed: " << out;
  ASSERT_TRUE(wait_for_unique_spans(receiver, written, 60s)) << unique_span_ids(receiver).size() << " of " << written;
  std::this_thread::sleep_for(300ms);
  const auto summary = stop_agent(*agent3, "agent3");
  EXPECT_EQ(unique_span_ids(receiver).size(), written) << "every span arrives at least once";
  EXPECT_LE(receiver.span_count() - written, 2u * 4 * 256);
  const ServiceCounts& c = summary.at(service("llm"));
  EXPECT_GT(c.resumed, 0u) << "agent3 resumed what agent2 queued during the outage";
  EXPECT_EQ(c.created + c.resumed, c.exported + c.sampled_out + c.dropped + c.kept) << "agent3's accounting closes";
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_FALSE(segments_left());
}

// queue.storage memory: a SIGKILL loses what was queued, and the next start says how much.
TEST_F(EndToEnd, MemoryQueueLostToASigkillIsCountedByTheNextStartExactly) {
  spanring::test::OtlpReceiver receiver;
  receiver.stop();
  const fs::path config = write_config(receiver.endpoint(), {}, "  storage: memory\n");
  auto agent1 = start_agent(config, "agent1");
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "100", "--duration", "1", "--quiet"});
  const std::uint64_t written = total(parse_loadgen(read_file(dir_ / "loadgen.out"), true));
  ASSERT_EQ(written, total(created));
  std::this_thread::sleep_for(500ms);  // every span read and queued (batch.timeout 100ms)
  agent1->signal_group(SIGKILL);
  EXPECT_EQ(agent1->wait(5s), 128 + SIGKILL);
  receiver.start();
  auto agent2 = start_agent(config, "agent2");
  std::this_thread::sleep_for(500ms);
  const auto summary = stop_agent(*agent2, "agent2");
  ServiceCounts c = summary.at(service("llm"));
  EXPECT_EQ(c.dropped_by_reason["agent_crash"] + receiver.span_count(), written)
      << "every span is either delivered or counted as lost";
  EXPECT_GT(c.dropped_by_reason["agent_crash"], 0u);
  EXPECT_EQ(c.created + c.resumed, c.exported + c.sampled_out + c.dropped + c.kept);
}

TEST_F(EndToEnd, EngineKilledMidRunLeavesItsCompletedSpansToTheAgent) {
  spanring::test::OtlpReceiver receiver;
  auto agent = start_agent(write_config(receiver.endpoint()));
  Process loadgen({SPANRING_LOADGEN_BIN, "--service", service("victim"), "--rate", "500", "--duration", "10", "--quiet"},
                  dir_ / "loadgen.out", dir_ / "loadgen.err");
  std::this_thread::sleep_for(800ms);
  loadgen.signal_group(SIGKILL);  // the engine dies without shutting down
  loadgen.wait(5s);
  // The agent notices the death, drains the rest, exports it and removes the segment.
  for (int i = 0; i < 300 && segments_left(); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(segments_left());
  const auto summary = stop_agent(*agent);
  ServiceCounts c = summary.at(service("victim"));
  EXPECT_GT(c.exported, 0u);
  // Every span the engine finished (created, as counted in its segment) was exported.
  EXPECT_EQ(c.exported, c.created - c.dropped);
  EXPECT_EQ(c.dropped_by_reason["invalid"], 0u);
  EXPECT_EQ(receiver.span_count(), c.exported);
}

}  // namespace

namespace {

// Groups received spans by trace: every exported trace must be complete (a root, and every
// parent present), which is what "no partial traces" means at the receiver.
void expect_complete_traces(const spanring::test::OtlpReceiver& receiver, std::size_t& traces) {
  std::map<std::string, std::set<std::string>> spans_of;
  std::map<std::string, std::vector<std::string>> parents_of;
  std::map<std::string, int> roots;
  for (const auto& rs : receiver.spans()) {
    const std::string t = hex(rs.span.trace_id());
    spans_of[t].insert(hex(rs.span.span_id()));
    if (rs.span.parent_span_id().empty()) ++roots[t];
    else parents_of[t].push_back(hex(rs.span.parent_span_id()));
  }
  for (const auto& [t, ids] : spans_of) {
    EXPECT_EQ(roots[t], 1) << "trace " << t << " arrived without its root";
    for (const auto& p : parents_of[t]) EXPECT_TRUE(ids.count(p)) << "trace " << t << " is missing span " << p;
  }
  traces = spans_of.size();
}

TEST_F(EndToEnd, TenPercentSamplingExportsWholeTracesAndTheAccountingCloses) {
  spanring::test::OtlpReceiver receiver;
  auto agent = start_agent(write_config(receiver.endpoint(),
                                        "sampling:\n  default_strategy:\n    type: probabilistic\n    param: 0.1\n"));
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "400", "--duration", "1", "--quiet"});
  const std::uint64_t n = total(created);
  std::this_thread::sleep_for(1500ms);
  const auto summary = stop_agent(*agent);
  const ServiceCounts& c = summary.at(service("llm"));
  EXPECT_EQ(c.created, n);
  EXPECT_EQ(c.created, c.exported + c.sampled_out + c.dropped);
  EXPECT_EQ(c.exported, receiver.span_count());
  std::size_t traces = 0;
  expect_complete_traces(receiver, traces);
  // 400 traces at p = 0.1: the kept count is binomial(400, 0.1), mean 40, sigma 6.
  EXPECT_GT(traces, 10u);
  EXPECT_LT(traces, 80u);
  for (const auto& rs : receiver.spans()) {
    EXPECT_NE(rs.span.trace_state().find("ot=th:e666"), std::string::npos) << rs.span.trace_state();
    if (!rs.span.parent_span_id().empty()) continue;
    bool type = false, param = false;
    for (const auto& kv : rs.span.attributes()) {
      type |= kv.key() == "sampler.type" && kv.value().string_value() == "probabilistic";
      param |= kv.key() == "sampler.param" && kv.value().double_value() == 0.1;
    }
    EXPECT_TRUE(type && param) << "root spans carry Jaeger's sampler.type/param";
  }
}

TEST_F(EndToEnd, ReloadKeepsTheRunningConfigOnErrorAndAppliesAValidOne) {
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint(),
                                       "sampling:\n  default_strategy:\n    type: probabilistic\n    param: 0.0\n");
  auto agent = start_agent(config);
  // Invalid: the probability is out of range. The agent says where, and keeps dropping all.
  {
    std::string text = read_file(config);
    text.replace(text.find("param: 0.0"), 10, "param: 1.5");
    std::ofstream(config) << text;
  }
  agent->signal_group(SIGHUP);
  std::string err;
  for (int i = 0; i < 200 && (err = read_file(dir_ / "agent.err")).find("reload rejected") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_NE(err.find("reload rejected"), std::string::npos);
  EXPECT_NE(err.find("agent.yaml:"), std::string::npos) << err;
  EXPECT_NE(err.find("1.5"), std::string::npos) << err;
  run_loadgen({"--service", service("a"), "--rate", "200", "--duration", "0.3", "--quiet"}, "loadgen1");
  std::this_thread::sleep_for(1200ms);
  EXPECT_EQ(receiver.span_count(), 0u) << "the old config (drop everything) stayed in force";
  // Valid: keep everything from now on.
  {
    std::string text = read_file(config);
    text.replace(text.find("param: 1.5"), 10, "param: 1.0");
    std::ofstream(config) << text;
  }
  agent->signal_group(SIGHUP);
  for (int i = 0; i < 200 && read_file(dir_ / "agent.err").find("SIGHUP: reloaded") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  const auto created = run_loadgen({"--service", service("b"), "--rate", "200", "--duration", "0.3", "--quiet"}, "loadgen2");
  ASSERT_TRUE(wait_for_spans(receiver, total(created), 20s));
  const auto summary = stop_agent(*agent);
  EXPECT_EQ(summary.at(service("b")).exported, total(created));
  EXPECT_EQ(summary.at(service("a")).exported, 0u);
  EXPECT_EQ(summary.at(service("a")).sampled_out, summary.at(service("a")).created);
}

// The same export, decoded by the official OpenTelemetry JS code (../shared/tools/otlp-sink),
// when Node and the sink's packages are available.
TEST_F(EndToEnd, IndependentOtlpSinkDecodesTheExport) {
  const fs::path sink_dir = SPANRING_OTLP_SINK_DIR;
  if (!fs::exists(sink_dir / "node_modules")) GTEST_SKIP() << "otlp-sink not installed at " << sink_dir << " (needs node + npm ci)";
  Process sink({"/usr/bin/env", "node", (sink_dir / "sink.mjs").string(), "--http-port", "0", "--grpc-port", "off", "--out",
                (dir_ / "spans.jsonl").string()},
               dir_ / "sink.out", dir_ / "sink.err");
  std::string ready;
  for (int i = 0; i < 500 && (ready = read_file(dir_ / "sink.err")).find("\"ready\":true") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ready, m, std::regex(R"re("http":(\d+))re"))) << ready;
  auto agent = start_agent(write_config("http://127.0.0.1:" + m[1].str() + "/v1/traces"));
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "100", "--duration", "0.5", "--quiet"});
  std::this_thread::sleep_for(1500ms);
  const auto summary = stop_agent(*agent);
  ASSERT_EQ(summary.at(service("llm")).exported, total(created));
  Process check({"/usr/bin/env", "node", (sink_dir / "check.mjs").string(), (dir_ / "spans.jsonl").string(),
                 "--expect-spans", std::to_string(total(created)), "--service", service("llm"), "--require-parent-links"},
                dir_ / "check.out", dir_ / "check.err");
  EXPECT_EQ(check.wait(60s), 0) << read_file(dir_ / "check.out") << read_file(dir_ / "check.err");
}

// The same check over every protocol × {plain, TLS, mutual TLS}: the sink serves OTLP/HTTP
// (protobuf and JSON) and OTLP/gRPC, with its own test certificates (make-test-certs.sh) and a
// required header, so TLS, the client certificate and the headers are all checked by code that
// is not ours.
struct SinkCase {
  std::string protocol;  // exporter.otlp.protocol
  std::string security;  // plain | tls | mtls
};

void PrintTo(const SinkCase& c, std::ostream* os) { *os << c.protocol << " " << c.security; }

class IndependentOtlpSink : public EndToEnd, public ::testing::WithParamInterface<SinkCase> {};

TEST_P(IndependentOtlpSink, DecodesTheExport) {
  const SinkCase c = GetParam();
#ifdef SPANRING_UNDER_TSAN
  if (c.protocol == "grpc")
    GTEST_SKIP() << "ThreadSanitizer build: Debian's gRPC libraries are not instrumented, so the agent's gRPC calls "
                    "report false races; this case runs in the normal build";
#endif
  const fs::path sink_dir = SPANRING_OTLP_SINK_DIR;
  if (!fs::exists(sink_dir / "node_modules")) GTEST_SKIP() << "otlp-sink not installed at " << sink_dir << " (needs node >= 20.6 + npm ci)";
  std::vector<std::string> argv{"/usr/bin/env", "node", (sink_dir / "sink.mjs").string(), "--http-port", "0", "--grpc-port", "0",
                                "--out", (dir_ / "spans.jsonl").string(), "--require-header", "X-Api-Key: secret"};
  std::string tls_keys;
  if (c.security != "plain") {
    // The sink's own generator; idempotent, so concurrent tests share one set.
    const fs::path certs = sink_dir / "test-certs";
    Process make({"/usr/bin/env", "bash", (sink_dir / "make-test-certs.sh").string(), certs.string()}, dir_ / "certs.out",
                 dir_ / "certs.err");
    if (make.wait(60s) != 0) GTEST_SKIP() << "make-test-certs.sh failed (openssl missing?): " << read_file(dir_ / "certs.err");
    for (const std::string& a : {std::string("--tls-cert"), (certs / "server.pem").string(), std::string("--tls-key"),
                                 (certs / "server-key.pem").string()})
      argv.push_back(a);
    tls_keys = "    tls:\n      ca_file: " + (certs / "ca.pem").string() + "\n";
    if (c.security == "mtls") {
      argv.push_back("--tls-client-ca");
      argv.push_back((certs / "ca.pem").string());
      tls_keys += "      cert_file: " + (certs / "client.pem").string() + "\n      key_file: " +
                  (certs / "client-key.pem").string() + "\n";
    }
  }
  Process sink(argv, dir_ / "sink.out", dir_ / "sink.err");
  std::string ready;
  for (int i = 0; i < 500 && (ready = read_file(dir_ / "sink.err")).find("\"ready\":true") == std::string::npos; ++i)
    std::this_thread::sleep_for(20ms);
  std::smatch m;
  const bool grpc = c.protocol == "grpc";
  ASSERT_TRUE(std::regex_search(ready, m, std::regex(grpc ? R"re("grpc":(\d+))re" : R"re("http":(\d+))re"))) << ready;
  const std::string scheme = c.security == "plain" ? "http://" : "https://";
  const std::string endpoint = scheme + "127.0.0.1:" + m[1].str() + (grpc ? "" : "/v1/traces");
  auto agent = start_agent(write_config(endpoint, {}, {},
                                        "    protocol: " + c.protocol + "\n    headers: {X-Api-Key: secret}\n" + tls_keys));
  const auto created = run_loadgen({"--service", service("llm"), "--rate", "100", "--duration", "0.3", "--quiet"});
  const auto summary = stop_agent(*agent);  // SIGTERM drains the rings and flushes: no wait needed
  ASSERT_EQ(summary.at(service("llm")).exported, total(created)) << read_file(dir_ / "agent.err");
  Process check({"/usr/bin/env", "node", (sink_dir / "check.mjs").string(), (dir_ / "spans.jsonl").string(),
                 "--expect-spans", std::to_string(total(created)), "--service", service("llm"), "--require-parent-links"},
                dir_ / "check.out", dir_ / "check.err");
  EXPECT_EQ(check.wait(60s), 0) << read_file(dir_ / "check.out") << read_file(dir_ / "check.err");
}

INSTANTIATE_TEST_SUITE_P(
    EveryProtocol, IndependentOtlpSink,
    ::testing::Values(SinkCase{"grpc", "plain"}, SinkCase{"grpc", "tls"}, SinkCase{"grpc", "mtls"},
                      SinkCase{"http/protobuf", "tls"}, SinkCase{"http/protobuf", "mtls"}, SinkCase{"http/json", "plain"},
                      SinkCase{"http/json", "tls"}, SinkCase{"http/json", "mtls"}),
    [](const ::testing::TestParamInfo<SinkCase>& p) {
      std::string name = p.param.protocol + "_" + p.param.security;
      for (char& ch : name)
        if (ch == '/') ch = '_';
      return name;
    });

}  // namespace

namespace {

TEST_F(EndToEnd, SegmentOfAnotherAbiVersionIsSkippedWithOneLogLine) {
  // A segment from a future producer: valid magic, ABI major 3, marked ready.
  const std::string name = "spanring." + tag_ + "-future.1";
  {
    std::vector<char> bytes(64 * 1024, 0);
    const std::uint64_t magic = 0x31474e49524e5053ull;
    const std::uint16_t major = 3;
    const std::uint32_t ready = 1;
    std::memcpy(bytes.data(), &magic, 8);
    std::memcpy(bytes.data() + 8, &major, 2);
    std::memcpy(bytes.data() + 2624, &ready, 4);  // offsetof(SegmentHeader, ready) in ABI 1 and 2
    std::ofstream(fs::path("/dev/shm") / name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }
  spanring::test::OtlpReceiver receiver;
  auto agent = start_agent(write_config(receiver.endpoint()));
  std::this_thread::sleep_for(600ms);  // several scans (scan_interval 100ms)
  stop_agent(*agent);
  const std::string log = read_file(dir_ / "agent.err");
  std::size_t lines = 0;
  for (std::size_t at = log.find("skipping segment " + name); at != std::string::npos;
       at = log.find("skipping segment " + name, at + 1))
    ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_NE(log.find("ABI major 3"), std::string::npos) << log;
  EXPECT_TRUE(fs::exists(fs::path("/dev/shm") / name)) << "a segment the agent cannot read is left alone";
}

}  // namespace

namespace {

const opentelemetry::proto::common::v1::AnyValue* attr(const google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>& kvs,
                                                      const std::string& key) {
  const opentelemetry::proto::common::v1::AnyValue* found = nullptr;
  for (const auto& kv : kvs)
    if (kv.key() == key) {
      EXPECT_EQ(found, nullptr) << "key " << key << " repeated";
      found = &kv.value();
    }
  return found;
}

TEST_F(EndToEnd, EveryFieldOfASpanArrivesAsWritten) {
  spanring::test::OtlpReceiver receiver;
  auto agent = start_agent(write_config(receiver.endpoint()));
  Process engine({SPANRING_FIELD_ENGINE_BIN, service("fields")}, dir_ / "engine.out", dir_ / "engine.err");
  ASSERT_EQ(engine.wait(30s), 0) << read_file(dir_ / "engine.err");
  std::map<std::string, std::string> wrote;
  {
    std::istringstream in(read_file(dir_ / "engine.out"));
    std::string kv;
    while (in >> kv) wrote[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  }
  ASSERT_TRUE(wait_for_spans(receiver, 4, 20s));
  stop_agent(*agent);
  const std::uint64_t t0 = std::stoull(wrote["t0"]), t1 = std::stoull(wrote["t1"]);
  std::map<std::string, spanring::test::ReceivedSpan> by_id;
  for (const auto& rs : receiver.spans()) by_id[hex(rs.span.span_id())] = rs;
  ASSERT_EQ(by_id.size(), 4u);

  const auto& root = by_id.at(wrote["root"]);
  const auto& s = root.span;
  EXPECT_EQ(s.name(), "field_root");
  EXPECT_EQ(s.kind(), opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(hex(s.trace_id()), "4bf92f3577b34da6a3ce929d0e0e4736");  // continued from the remote parent
  EXPECT_EQ(hex(s.parent_span_id()), "00f067aa0ba902b7");
  EXPECT_EQ(s.trace_state(), "vendor=abc,other=x");
  EXPECT_EQ(s.flags(), 0x301u);  // sampled; parent is remote (bits 8 and 9)
  EXPECT_GE(s.start_time_unix_nano(), t0 - 20'000) << "times are Unix ns, within 20 us of CLOCK_REALTIME";
  EXPECT_LE(s.end_time_unix_nano(), t1 + 20'000);
  EXPECT_LE(s.start_time_unix_nano(), s.end_time_unix_nano());
  ASSERT_NE(attr(s.attributes(), "attr.bool"), nullptr);
  EXPECT_TRUE(attr(s.attributes(), "attr.bool")->bool_value());
  EXPECT_EQ(attr(s.attributes(), "attr.int")->int_value(), 43);  // last value of a repeated key
  EXPECT_EQ(attr(s.attributes(), "attr.double")->double_value(), 2.5);
  EXPECT_EQ(attr(s.attributes(), "attr.string")->string_value(), "hello \xc3\xa9");
  EXPECT_EQ(attr(s.attributes(), "llm.interned_key")->int_value(), 7);
  EXPECT_EQ(s.dropped_attributes_count(), 0u);
  ASSERT_EQ(s.events_size(), 2);
  EXPECT_EQ(s.events(0).name(), "token.first");
  EXPECT_EQ(attr(s.events(0).attributes(), "token.index")->int_value(), 1);
  EXPECT_EQ(attr(s.events(0).attributes(), "token.text")->string_value(), "Hi");
  EXPECT_GE(s.events(0).time_unix_nano(), s.start_time_unix_nano());
  EXPECT_LE(s.events(0).time_unix_nano(), s.end_time_unix_nano());
  EXPECT_EQ(s.events(1).name(), "exception");
  EXPECT_EQ(attr(s.events(1).attributes(), "exception.type")->string_value(), "OutOfMemory");
  EXPECT_EQ(attr(s.events(1).attributes(), "exception.message")->string_value(), "kv cache exhausted");
  ASSERT_EQ(s.links_size(), 1);
  EXPECT_EQ(hex(s.links(0).trace_id()), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(hex(s.links(0).span_id()), "b7ad6b7169203331");
  EXPECT_EQ(s.links(0).trace_state(), "lk=1");
  EXPECT_EQ(s.links(0).flags(), 0x301u);
  EXPECT_EQ(attr(s.links(0).attributes(), "link.reason")->string_value(), "batch");
  EXPECT_EQ(s.status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s.status().message(), "kv cache exhausted");
  EXPECT_EQ(resource_value(root.resource, "deployment.environment"), "e2e");
  EXPECT_EQ(resource_value(root.resource, "service.name"), service("fields"));

  const auto& child = by_id.at(wrote["child"]).span;
  EXPECT_EQ(child.name(), "field_child");
  EXPECT_EQ(child.kind(), opentelemetry::proto::trace::v1::Span::SPAN_KIND_CLIENT);
  EXPECT_EQ(child.trace_id(), s.trace_id());
  EXPECT_EQ(hex(child.parent_span_id()), wrote["root"]);
  EXPECT_EQ(child.trace_state(), "vendor=abc,other=x");  // inherited
  EXPECT_EQ(child.flags(), 0x101u);                      // local parent
  EXPECT_EQ(child.status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK);
  EXPECT_TRUE(child.status().message().empty());

  const auto& big = by_id.at(wrote["big"]).span;
  EXPECT_GT(big.dropped_attributes_count(), 0u) << "what did not fit is reported, never silently lost";
  EXPECT_EQ(std::uint32_t(big.attributes_size()) + big.dropped_attributes_count(), 10u);
  for (const auto& kv : big.attributes()) EXPECT_EQ(kv.value().string_value(), std::string(200, 'v'));

  // ABI 2.0: arrays arrive as OTLP ArrayValue, explicit times as given.
  const auto& arrays = by_id.at(wrote["arrays"]).span;
  EXPECT_EQ(arrays.start_time_unix_nano(), 1'700'000'000'000'000'001ull);
  EXPECT_EQ(arrays.end_time_unix_nano(), 1'700'000'000'000'000'003ull);
  const auto* reasons = attr(arrays.attributes(), "gen_ai.response.finish_reasons");
  ASSERT_NE(reasons, nullptr);
  ASSERT_EQ(reasons->array_value().values_size(), 2);
  EXPECT_EQ(reasons->array_value().values(0).string_value(), "stop");
  EXPECT_EQ(reasons->array_value().values(1).string_value(), "length");
  ASSERT_EQ(attr(arrays.attributes(), "arr.int")->array_value().values_size(), 2);
  EXPECT_EQ(attr(arrays.attributes(), "arr.int")->array_value().values(1).int_value(), -2);
  EXPECT_EQ(attr(arrays.attributes(), "arr.double")->array_value().values(0).double_value(), 0.5);
  EXPECT_TRUE(attr(arrays.attributes(), "arr.bool")->array_value().values(0).bool_value());
  EXPECT_FALSE(attr(arrays.attributes(), "arr.bool")->array_value().values(1).bool_value());
  ASSERT_EQ(arrays.events_size(), 2);
  EXPECT_EQ(arrays.events(0).time_unix_nano(), 1'700'000'000'000'000'002ull);
  EXPECT_EQ(attr(arrays.events(0).attributes(), "ev.list")->array_value().values(0).int_value(), 1);
  EXPECT_EQ(attr(arrays.events(1).attributes(), "exception.stacktrace")->string_value(), "Traceback:\n  f()");
  EXPECT_EQ(arrays.status().code(), opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
}

TEST_F(EndToEnd, InvalidConfigAtStartExitsNonZeroNamingFileLineAndValue) {
  const fs::path config = dir_ / "bad.yaml";
  std::ofstream(config) << "exporter:\n  type: otlp\nsampling:\n  strategies:\n    - service: x\n      type: probabilistic\n      param: 1.5\n";
  Process agent({SPANRING_AGENT_BIN, "--config", config.string()}, dir_ / "bad.out", dir_ / "bad.err");
  EXPECT_EQ(agent.wait(10s), 1);
  const std::string err = read_file(dir_ / "bad.err");
  EXPECT_NE(err.find("bad.yaml:7:"), std::string::npos) << err;
  EXPECT_NE(err.find("1.5"), std::string::npos) << err;
}

TEST_F(EndToEnd, ChangingTheConfigFileReloadsItWithoutASignal) {
  spanring::test::OtlpReceiver receiver;
  const fs::path config =
      write_config(receiver.endpoint(), "sampling:\n  default_strategy:\n    type: probabilistic\n    param: 0.0\n");
  auto agent = start_agent(config);
  std::this_thread::sleep_for(1100ms);  // a later mtime than the first load
  {
    std::string text = read_file(config);
    text.replace(text.find("param: 0.0"), 10, "param: 1.0");
    std::ofstream(config) << text;
  }
  std::string err;
  for (int i = 0; i < 500 && (err = read_file(dir_ / "agent.err")).find("config file changed: reloaded") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_NE(err.find("config file changed: reloaded"), std::string::npos) << err;
  const auto created = run_loadgen({"--service", service("after"), "--rate", "100", "--duration", "0.3", "--quiet"});
  EXPECT_TRUE(wait_for_spans(receiver, total(created), 20s));
  stop_agent(*agent);
}

// ---- configuration input (issue 8 §4) and the lock file (§2) ------------------------------------

// A reload to a strategies file that is a FIFO used to block the agent's only thread in open():
// /healthz stopped answering and draining stopped. Now the reload is rejected at once, naming
// the key, and spans keep flowing.
TEST_F(EndToEnd, ReloadToAFifoIsRejectedAndDrainingGoesOn) {
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint());
  auto agent = start_agent(config);
  const fs::path fifo = dir_ / "strategies.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::ofstream(config, std::ios::app) << "sampling:\n  strategies_file: " << fifo.string() << "\n";
  agent->signal_group(SIGHUP);
  std::string err;
  for (int i = 0; i < 300 && (err = read_file(dir_ / "agent.err")).find("reload rejected") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_NE(err.find("sampling.strategies_file: " + fifo.string() + " is a FIFO"), std::string::npos) << err;
  const auto created = run_loadgen({"--service", service("fifo"), "--rate", "200", "--duration", "0.3", "--quiet"});
  EXPECT_TRUE(wait_for_spans(receiver, total(created), 10s)) << "draining stopped";
  const auto summary = stop_agent(*agent);
  EXPECT_EQ(summary.at(service("fifo")).exported, total(created));
}

TEST_F(EndToEnd, StrategiesFileThatIsADeviceStopsTheStartNamingTheKey) {
  const fs::path config = write_config("http://127.0.0.1:9/v1/traces", "sampling:\n  strategies_file: /dev/zero\n");
  Process check({SPANRING_AGENT_BIN, "--config", config.string(), "--check-config"}, dir_ / "check.out", dir_ / "check.err");
  EXPECT_EQ(check.wait(10s), 1);
  const std::string err = read_file(dir_ / "check.err");
  EXPECT_NE(err.find("agent.yaml:19:20: sampling.strategies_file: /dev/zero is a character device"), std::string::npos)
      << err;
}

// `retry.initial_interval: 500us` passed --check-config, then the agent exited at start with
// "initial_backoff: must be > 0 ms". Sub-millisecond exporter durations now reach the exporter.
TEST_F(EndToEnd, SubMillisecondRetryIntervalStartsTheAgent) {
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint());
  {
    std::string text = read_file(config);
    text.replace(text.find("initial_interval: 50ms"), 22, "initial_interval: 500us");
    text.insert(text.find("    retry:"), "    timeout: 800us\n");
    std::ofstream(config) << text;
  }
  Process check({SPANRING_AGENT_BIN, "--config", config.string(), "--check-config"}, dir_ / "check.out", dir_ / "check.err");
  EXPECT_EQ(check.wait(10s), 0) << read_file(dir_ / "check.err");
  auto agent = start_agent(config);
  const std::string err = read_file(dir_ / "agent.err");
  EXPECT_NE(err.find("spanring-agent started"), std::string::npos) << err;
  stop_agent(*agent);
}

// An https:// OTEL_EXPORTER_OTLP_ENDPOINT used to be warned about, then the agent exported to
// http://localhost:4318 while --check-config said "valid".
TEST_F(EndToEnd, UnusableOtelEndpointFailsCheckConfigNamingTheVariable) {
  const fs::path config = dir_ / "minimal.yaml";
  std::ofstream(config) << "discovery:\n  segment_prefix: spanring." << tag_ << "-\nmetrics:\n  listen: \"\"\n";
  Process check({SPANRING_AGENT_BIN, "--config", config.string(), "--check-config"}, dir_ / "check.out",
                dir_ / "check.err", {"OTEL_EXPORTER_OTLP_ENDPOINT=htps://collector:4318", "OTEL_TRACES_SAMPLER=always_on"});
  EXPECT_EQ(check.wait(10s), 1);
  const std::string err = read_file(dir_ / "check.err");
  EXPECT_NE(err.find("OTEL_EXPORTER_OTLP_ENDPOINT: expected a URL like"), std::string::npos) << err;
  EXPECT_NE(err.find("OTEL_TRACES_SAMPLER is not supported"), std::string::npos) << err;
}

// TLS settings that cannot work stop --check-config with the key (or the variable) named.
TEST_F(EndToEnd, UnusableTlsSettingsFailCheckConfigNamingTheKey) {
  const fs::path config = dir_ / "tls.yaml";
  std::ofstream(config) << "exporter:\n  otlp:\n    protocol: grpc\n    endpoint: https://collector:4317\n"
                           "    tls:\n      cert_file: " << (dir_ / "tls.yaml").string() << "\n";
  Process check({SPANRING_AGENT_BIN, "--config", config.string(), "--check-config"}, dir_ / "check.out",
                dir_ / "check.err", {"OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem"});
  EXPECT_EQ(check.wait(10s), 1);
  const std::string err = read_file(dir_ / "check.err");
  EXPECT_NE(err.find("exporter.otlp.tls.cert_file: a client certificate needs exporter.otlp.tls.key_file too"),
            std::string::npos) << err;
  EXPECT_NE(err.find("exporter.otlp.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file or directory "
                     "(set by OTEL_EXPORTER_OTLP_CERTIFICATE)"),
            std::string::npos) << err;
}

// Under systemd the lock lives in $RUNTIME_DIRECTORY, never in /dev/shm.
TEST_F(EndToEnd, LockLivesInTheRuntimeDirectory) {
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint());
  const fs::path runtime = dir_ / "run";
  fs::create_directories(runtime);
  auto agent = start_agent(config, "agent", {"RUNTIME_DIRECTORY=" + runtime.string()});
  EXPECT_NE(read_file(dir_ / "agent.err").find("spanring-agent started"), std::string::npos) << read_file(dir_ / "agent.err");
  EXPECT_TRUE(fs::exists(runtime / ("spanring-agent." + tag_ + "-lock")));
  EXPECT_FALSE(fs::exists("/dev/shm/spanring-agent." + tag_ + "-lock"));
  stop_agent(*agent);
}

class EndToEndOtherUser : public EndToEnd {
 protected:
  void SetUp() override {
    EndToEnd::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the agent as another user (uid 65534)";
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/setpriv to drop privileges";
    if (const std::string why = spanring::test::other_user_unavailable(65534, 65534, {SPANRING_AGENT_BIN}); !why.empty())
      GTEST_SKIP() << why;
    fs::permissions(dir_, fs::perms::all, fs::perm_options::add);  // the agent as uid 65534 writes its logs here
    lock_ = "/dev/shm/spanring-agent." + tag_ + "-lock";
  }
  void TearDown() override {
    if (!lock_.empty()) fs::remove(lock_);
    EndToEnd::TearDown();
  }
  // A lock file left by an earlier run as root.
  void stale_root_lock(fs::perms mode) {
    std::ofstream(lock_).put('\0');
    fs::permissions(lock_, mode);
  }
  const std::vector<std::string> as_nobody_{"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  std::string lock_;
};

TEST_F(EndToEndOtherUser, UnreadableLockOfAnotherUserIsNamedWithItsOwnerAndTheFix) {
  stale_root_lock(fs::perms::owner_read | fs::perms::owner_write);
  const fs::path config = write_config("http://127.0.0.1:9/v1/traces");
  Process agent([&] {
    auto argv = as_nobody_;
    argv.insert(argv.end(), {SPANRING_AGENT_BIN, "--config", config.string()});
    return argv;
  }(), dir_ / "agent.out", dir_ / "agent.err");
  EXPECT_EQ(agent.wait(10s), 1);
  const std::string err = read_file(dir_ / "agent.err");
  EXPECT_NE(err.find(lock_ + ": it belongs to root (uid 0"), std::string::npos) << err;
  EXPECT_NE(err.find("remove it (rm " + lock_ + ")"), std::string::npos) << err;
}

// A readable stale lock is harmless: flock() works on a read-only descriptor.
TEST_F(EndToEndOtherUser, ReadableLockOfAnotherUserDoesNotStopTheStart) {
  stale_root_lock(fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint());
  auto agent = start_agent(config, "agent", {}, as_nobody_);
  const std::string err = read_file(dir_ / "agent.err");
  EXPECT_NE(err.find("spanring-agent started"), std::string::npos) << err;
  stop_agent(*agent);
}

}  // namespace

// Issue: the README's non-root deployment (agent as its own user, engines with
// SPANRING_SHM_MODE=0660 in the agent's group) left 5 of 6 engines started while the agent ran
// unread ("permission denied", never retried), and an engine in a supplementary group made a
// segment the agent could not read. Users here are bare uids/gids (no passwd entries needed).
TEST_F(EndToEnd, UnprivilegedAgentDrainsEnginesOfOtherUsersStartedBeforeDuringAndAfterIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the agent and engines as other users";
  if (!fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "no /usr/bin/setpriv (util-linux) to switch users";
  for (const uid_t uid : {61000, 61001})
    if (const std::string why = spanring::test::other_user_unavailable(uid, uid, {SPANRING_AGENT_BIN, SPANRING_LOADGEN_BIN});
        !why.empty())
      GTEST_SKIP() << why;
  const std::string agent_ids = "61000", group = "61000";
  auto as_user = [&](const std::string& uid, std::vector<std::string> argv) {
    std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=" + uid, "--regid=" + uid,
                                    "--groups=" + group, "--"};  // the agent's group, supplementary
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  };
  {
    Process probe(as_user("61001", {"/bin/true"}), dir_ / "probe.out", dir_ / "probe.err");
    if (probe.wait(10s) != 0) GTEST_SKIP() << "setpriv cannot switch users here: " << read_file(dir_ / "probe.err");
  }
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  spanring::test::OtlpReceiver receiver;
  const fs::path config = write_config(receiver.endpoint());
  const std::vector<std::string> engine_env = {"SPANRING_SHM_MODE=0660", "SPANRING_SHM_GROUP=" + group};
  auto engine = [&](const std::string& uid, const std::string& name, const char* seconds) {
    return std::make_unique<Process>(
        as_user(uid, {SPANRING_LOADGEN_BIN, "--service", service(name), "--rate", "100", "--duration", seconds, "--quiet"}),
        dir_ / (name + ".out"), dir_ / (name + ".err"), engine_env);
  };
  auto before = engine("61001", "before", "2");
  std::this_thread::sleep_for(300ms);
  auto agent = std::make_unique<Process>(as_user(agent_ids, {SPANRING_AGENT_BIN, "--config", config.string()}),
                                         dir_ / "agent.out", dir_ / "agent.err");
  for (int i = 0; i < 200 && read_file(dir_ / "agent.err").find("spanring-agent started") == std::string::npos; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_NE(read_file(dir_ / "agent.err").find("spanring-agent started"), std::string::npos) << read_file(dir_ / "agent.err");
  std::vector<std::unique_ptr<Process>> during;
  for (int i = 0; i < 6; ++i) {  // the issue's six engines, started while the agent runs
    during.push_back(engine(std::to_string(61002 + i), "during" + std::to_string(i), "1"));
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(before->wait(60s), 0) << read_file(dir_ / "before.err");
  for (int i = 0; i < 6; ++i) ASSERT_EQ(during[i]->wait(60s), 0) << read_file(dir_ / ("during" + std::to_string(i) + ".err"));
  auto after = engine("61009", "after", "0.5");  // after the others are gone
  ASSERT_EQ(after->wait(60s), 0) << read_file(dir_ / "after.err");

  std::uint64_t expected = 0;
  for (const std::string name : {"before", "during0", "during1", "during2", "during3", "during4", "during5", "after"})
    expected += total(parse_loadgen(read_file(dir_ / (name + ".out")), /*written=*/true));
  ASSERT_GT(expected, 1000u);
  EXPECT_TRUE(wait_for_spans(receiver, expected, 30s)) << receiver.span_count() << " of " << expected << "\n"
                                                       << read_file(dir_ / "agent.err");
  const auto summary = stop_agent(*agent);
  EXPECT_EQ(receiver.span_count(), expected);
  EXPECT_EQ(summary.size(), 8u) << "every engine's service was attached";
  const std::string log = read_file(dir_ / "agent.err");
  EXPECT_EQ(log.find("permission denied"), std::string::npos) << log;
}
