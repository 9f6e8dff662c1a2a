// Producer and reader in separate processes, as an engine and the agent run: the producer
// (spanring-test-producer) writes flat out from several threads while the reader
// (spanring-test-reader) drains concurrently and checks every span. This test starts both with
// fork/exec, sequences them through their stdin/stdout, and asserts on what they report.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "spanring/shm/segment.hpp"

namespace spanring::test {
namespace {

constexpr int kLineTimeoutMs = 20'000;  // a helper that says nothing for this long is stuck

// A helper process with pipes on its stdin and stdout. Killed and reaped on destruction if
// still running, so a failing test leaves no process behind.
class Process {
 public:
  Process(const char* path, const std::vector<std::string>& args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(path));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(path, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }

  ~Process() {
    close_stdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  bool write(std::string_view s) { return ::write(stdin_, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }

  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  // Next line of stdout without the newline; "" on EOF or after kLineTimeoutMs of silence.
  std::string read_line() {
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, kLineTimeoutMs) <= 0) return "";
      char buf[4096];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // key=value lines up to "end" (or EOF).
  std::map<std::string, std::string> read_report() {
    std::map<std::string, std::string> kv;
    for (std::string line = read_line(); !line.empty() && line != "end"; line = read_line()) {
      const auto eq = line.find('=');
      if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return kv;
  }

  // Waits for exit; returns the wait status.
  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
  bool reaped_ = false;
  std::string buffer_;
};

struct RemoveSegment {
  std::string name;
  ~RemoveSegment() {
    if (!name.empty()) shm::remove_segment(name);
  }
};

// "a=1 b=2" → {a: 1, b: 2}
std::map<std::string, std::uint64_t> parse_fields(const std::string& line) {
  std::map<std::string, std::uint64_t> out;
  std::istringstream in(line);
  std::string field;
  while (in >> field) {
    const auto eq = field.find('=');
    if (eq != std::string::npos) out[field.substr(0, eq)] = std::stoull(field.substr(eq + 1));
  }
  return out;
}

std::uint64_t number(const std::map<std::string, std::string>& report, const std::string& key) {
  const auto it = report.find(key);
  EXPECT_NE(it, report.end()) << "reader did not report " << key;
  return it == report.end() ? ~0ull : std::stoull(it->second);
}

std::string service_for_test() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string s = std::string("mp.") + info->name() + "." + std::to_string(::getpid());
  for (char& c : s)
    if (c == '/') c = '.';
  return s;
}

std::string report_text(const std::map<std::string, std::string>& report) {
  std::string s;
  for (const auto& [k, v] : report) s += k + "=" + v + " ";
  return s;
}

// Starts a producer and reads its segment name.
struct Producer {
  Producer(const std::vector<std::string>& args) : process(SPANRING_TEST_PRODUCER, args) {
    const std::string line = process.read_line();
    if (line.rfind("segment=", 0) == 0) segment.name = line.substr(8);
  }
  Process process;
  RemoveSegment segment;
};

void expect_no_errors(const std::map<std::string, std::string>& report) {
  EXPECT_EQ(number(report, "rejected"), 0u) << report_text(report);
  EXPECT_EQ(number(report, "checksum_errors"), 0u) << report_text(report);
  EXPECT_EQ(number(report, "seq_errors"), 0u) << report_text(report);
  EXPECT_EQ(number(report, "attr_errors"), 0u) << report_text(report);
}

// ---------------------------------------------------------------------------------------------

struct StressCase {
  const char* name;
  int threads;
  int spans_per_thread;
  int rings;
  std::uint64_t shm_size;
};

void PrintTo(const StressCase& c, std::ostream* os) { *os << c.name; }

class Stress : public ::testing::TestWithParam<StressCase> {};

TEST_P(Stress, ConcurrentReaderAccountsForEverySpanTheProducerEnded) {
  const StressCase& sc = GetParam();
  Producer producer({service_for_test(), std::to_string(sc.threads), std::to_string(sc.spans_per_thread), "--rings",
                     std::to_string(sc.rings), "--shm-size", std::to_string(sc.shm_size)});
  ASSERT_TRUE(producer.process.started());
  ASSERT_NE(producer.segment.name, "");

  Process reader(SPANRING_TEST_READER, {producer.segment.name});
  ASSERT_TRUE(reader.started());
  ASSERT_EQ(reader.read_line(), "ready");

  ASSERT_TRUE(producer.process.write("g"));
  const std::map<std::string, std::uint64_t> produced = parse_fields(producer.process.read_line());
  const int producer_status = producer.process.wait();
  ASSERT_TRUE(WIFEXITED(producer_status) && WEXITSTATUS(producer_status) == 0) << producer_status;

  reader.close_stdin();  // the producer has exited: the reader drains the rest and reports
  const std::map<std::string, std::string> report = reader.read_report();
  const int reader_status = reader.wait();
  EXPECT_TRUE(WIFEXITED(reader_status) && WEXITSTATUS(reader_status) == 0) << report_text(report);
  expect_no_errors(report);

  const std::uint64_t attempted = std::uint64_t(sc.threads) * sc.spans_per_thread;
  ASSERT_EQ(produced.at("attempted"), attempted);
  const std::uint64_t read = number(report, "read");
  const std::uint64_t written = number(report, "written");
  const std::uint64_t dropped_full = number(report, "dropped_full");
  const std::uint64_t dropped_no_ring = number(report, "dropped_no_ring");
  EXPECT_EQ(read, written);
  EXPECT_EQ(attempted, read + dropped_full + dropped_no_ring) << report_text(report);
  // The producer's own counters and the segment's agree.
  EXPECT_EQ(produced.at("written"), written);
  EXPECT_EQ(produced.at("dropped_full"), dropped_full);
  EXPECT_EQ(produced.at("dropped_no_ring"), dropped_no_ring);
  EXPECT_EQ(number(report, "closed"), 1u);
  if (sc.threads <= sc.rings) {
    EXPECT_EQ(dropped_no_ring, 0u);
    EXPECT_EQ(number(report, "threads_seen"), std::uint64_t(sc.threads));
  }
  std::printf("[   INFO   ] %s: read %" PRIu64 ", dropped_full %" PRIu64 ", dropped_no_ring %" PRIu64 "\n", sc.name,
              read, dropped_full, dropped_no_ring);
}

INSTANTIATE_TEST_SUITE_P(
    Processes, Stress,
    ::testing::Values(StressCase{"OneRingPerThread", 4, 100'000, 4, 4u << 20},
                      StressCase{"MoreThreadsThanRings", 6, 20'000, 4, 4u << 20},
                      // 256-record rings: the producer outruns the reader, so rings fill.
                      StressCase{"SmallRings", 4, 50'000, 4, 256u << 10}),
    [](const ::testing::TestParamInfo<StressCase>& p) { return std::string(p.param.name); });

// ---------------------------------------------------------------------------------------------

TEST(ProducerKilled, ReaderDrainsEveryCompletedSpanAfterSigkillMidRun) {
  constexpr int kThreads = 4;
  Producer producer({service_for_test(), std::to_string(kThreads), "0" /* until killed */, "--rings",
                     std::to_string(kThreads), "--shm-size", std::to_string(1u << 20)});
  ASSERT_TRUE(producer.process.started());
  ASSERT_NE(producer.segment.name, "");
  Process reader(SPANRING_TEST_READER, {producer.segment.name, "--progress", "20000"});
  ASSERT_EQ(reader.read_line(), "ready");
  ASSERT_TRUE(producer.process.write("g"));

  // Kill while the producer is writing flat out and the reader is draining.
  ASSERT_EQ(reader.read_line().rfind("progress=", 0), 0u);
  ASSERT_EQ(::kill(producer.process.pid(), SIGKILL), 0);
  const int producer_status = producer.process.wait();
  ASSERT_TRUE(WIFSIGNALED(producer_status) && WTERMSIG(producer_status) == SIGKILL);

  reader.close_stdin();
  const std::map<std::string, std::string> report = reader.read_report();
  const int reader_status = reader.wait();
  EXPECT_TRUE(WIFEXITED(reader_status) && WEXITSTATUS(reader_status) == 0) << report_text(report);
  expect_no_errors(report);

  const std::uint64_t read = number(report, "read");
  const std::uint64_t written = number(report, "written");
  EXPECT_GE(read, 20'000u);
  // spans_written is stored just after head, so a kill between the two leaves each ring at
  // most one span ahead of its count.
  EXPECT_LE(written, read) << report_text(report);
  EXPECT_LE(read, written + number(report, "rings")) << report_text(report);
  EXPECT_EQ(number(report, "closed"), 0u);  // killed: never marked closed
}

TEST(ProducerKilled, EverySpanWrittenBeforeTheCrashIsReadAfterIt) {
  constexpr int kThreads = 3, kSpans = 1000;
  Producer producer({service_for_test(), std::to_string(kThreads), std::to_string(kSpans), "--rings",
                     std::to_string(kThreads), "--shm-size", std::to_string(4u << 20), "--hold"});
  ASSERT_TRUE(producer.process.started());
  ASSERT_NE(producer.segment.name, "");
  ASSERT_TRUE(producer.process.write("g"));
  const std::map<std::string, std::uint64_t> produced = parse_fields(producer.process.read_line());
  ASSERT_EQ(produced.at("written"), std::uint64_t(kThreads) * kSpans);
  ASSERT_EQ(::kill(producer.process.pid(), SIGKILL), 0);
  producer.process.wait();

  // No reader ran while the producer lived: everything is still in the segment.
  Process reader(SPANRING_TEST_READER, {producer.segment.name});
  ASSERT_EQ(reader.read_line(), "ready");
  reader.close_stdin();
  const std::map<std::string, std::string> report = reader.read_report();
  EXPECT_EQ(WEXITSTATUS(reader.wait()), 0) << report_text(report);
  expect_no_errors(report);
  EXPECT_EQ(number(report, "read"), std::uint64_t(kThreads) * kSpans);
  EXPECT_EQ(number(report, "written"), std::uint64_t(kThreads) * kSpans);
  EXPECT_EQ(number(report, "closed"), 0u);
}

}  // namespace
}  // namespace spanring::test
