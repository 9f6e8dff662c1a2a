// spanring-loadgen: a simulated LLM inference engine under a steady request rate.
//
// The parent forks one process per service (spanring has one segment per process), each child
// runs --threads request threads paced on a fixed schedule, traces every request, then reports
// its counts to the parent through a pipe. The parent prints one line per service and a total.
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "options.hpp"
#include "spanring/llm_attributes.hpp"
#include "spanring/tracer.hpp"
#include "trace_shape.hpp"

namespace spanring::loadgen {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
// Longest single sleep, so threads notice a stop request (SIGINT/SIGTERM) within this.
constexpr std::uint64_t kMaxSleepNs = 100'000'000;
// Head start for the threads of a service, so they all begin on the same schedule.
constexpr std::uint64_t kStartDelayNs = 1'000'000;

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "stored from a signal handler");

// Parent: the children to pass a stop request on to (written before the handler can see them).
pid_t g_children[kMaxServices];
std::atomic<int> g_child_count{0};

extern "C" void on_child_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

extern "C" void on_parent_signal(int) {
  const int n = g_child_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i) ::kill(g_children[i], SIGTERM);
}

void install(void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a sleeping thread wakes with EINTR and sees the stop
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

std::uint64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * kNsPerSecond + std::uint64_t(ts.tv_nsec);
}

// Sleeps until CLOCK_MONOTONIC reaches `deadline` or a stop is requested.
void sleep_until(std::uint64_t deadline) noexcept {
  while (!g_stop.load(std::memory_order_relaxed)) {
    const std::uint64_t now = now_ns();
    if (now >= deadline) return;
    const std::uint64_t wake = std::min(deadline, now + kMaxSleepNs);
    timespec ts;
    ts.tv_sec = static_cast<time_t>(wake / kNsPerSecond);
    ts.tv_nsec = static_cast<long>(wake % kNsPerSecond);
    ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  }
}

// One request thread. With a rate, request i is due at start + i/rate (an open-loop schedule:
// a late request is sent at once rather than shifting all later ones, so the achieved rate
// matches the target whenever the machine can keep up). The thread then waits out the window,
// so elapsed time is the requested duration.
void run_thread(const Shape& shape, double rate, std::uint64_t seed, std::uint64_t start, std::uint64_t end,
                RequestTally& tally) noexcept {
  Rng rng(seed);
  if (rate <= 0) {
    while (!g_stop.load(std::memory_order_relaxed) && now_ns() < end) simulate_request(shape, rng, tally);
    return;
  }
  const double interval_ns = double(kNsPerSecond) / rate;
  for (std::uint64_t i = 0;; ++i) {
    const double due = double(start) + double(i) * interval_ns;
    if (due >= double(end)) break;
    sleep_until(static_cast<std::uint64_t>(due));
    if (g_stop.load(std::memory_order_relaxed) || now_ns() >= end) break;
    simulate_request(shape, rng, tally);
  }
  sleep_until(end);
}

// What a service process sends its parent. Plain bytes over a pipe between two copies of
// this same binary, so no encoding is needed.
struct ServiceReport {
  std::uint64_t spans_created = 0;
  std::uint64_t spans_written = 0;
  std::uint64_t dropped_ring_full = 0;
  std::uint64_t dropped_no_ring = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  double elapsed_s = 0;
  char segment[256] = {};  // empty: tracing was off
};
static_assert(std::is_trivially_copyable_v<ServiceReport>);
static_assert(sizeof(ServiceReport) <= PIPE_BUF, "one atomic pipe write");

// The body of one service's process. Returns false when the run could not be carried out.
bool run_service(const Config& config, int index, ServiceReport& report) {
  const std::string& name = config.services[std::size_t(index)];
  Options options;
  options.service_name = name;
  options.shm_size = config.shm_size;
  const InitStatus st = init(options);
  if (!st.ok()) {
    std::fprintf(stderr, "spanring-loadgen: service=%s: %s (running without tracing)\n", name.c_str(),
                 st.message.c_str());
  } else {
    if (!st.message.empty()) std::fprintf(stderr, "spanring-loadgen: service=%s: %s\n", name.c_str(), st.message.c_str());
    if (!config.quiet)
      std::fprintf(stderr, "spanring-loadgen: service=%s pid=%d segment=%s threads=%d\n", name.c_str(),
                   int(::getpid()), st.segment.c_str(), config.threads);
    std::snprintf(report.segment, sizeof report.segment, "%s", st.segment.c_str());
  }
  llm::llm_keys();  // intern now, not inside the first request

  Shape shape = shape_for(config.spans_per_request, config.error_rate);
  shape.simulate_work = config.simulate_work;
  const double thread_rate = config.rate / (double(config.services.size()) * config.threads);
  const std::uint64_t start = now_ns() + kStartDelayNs;
  const std::uint64_t end = start + static_cast<std::uint64_t>(config.duration_s * double(kNsPerSecond));

  std::vector<RequestTally> tallies(std::size_t(config.threads));
  std::vector<std::thread> threads;
  bool ok = true;
  try {
    for (int t = 0; t < config.threads; ++t)
      threads.emplace_back(run_thread, std::cref(shape), thread_rate,
                           stream_seed(config.seed, std::uint64_t(index), std::uint64_t(t)), start, end,
                           std::ref(tallies[std::size_t(t)]));
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "spanring-loadgen: service=%s: cannot start thread %zu: %s\n", name.c_str(), threads.size(),
                 e.what());
    g_stop.store(true);
    ok = false;
  }
  for (std::thread& t : threads) t.join();
  const std::uint64_t finished = now_ns();
  report.elapsed_s = finished > start ? double(finished - start) / double(kNsPerSecond) : 0.0;

  for (const RequestTally& t : tallies) {
    report.spans_created += t.spans_created;
    report.requests += t.requests;
    report.errors += t.errors;
  }
  // counters() reads the segment: it must come before shutdown(), which forgets it.
  const ClientCounters c = counters();
  report.spans_written = c.spans_written;
  report.dropped_ring_full = c.spans_dropped_full;
  report.dropped_no_ring = c.spans_dropped_no_ring;
  shutdown();  // marks the segment closed: the agent drains it and removes it
  return ok;
}

bool write_all(int fd, const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= std::size_t(w);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;  // EOF: the child died before reporting
    p += r;
    n -= std::size_t(r);
  }
  return true;
}

double rate_of(std::uint64_t requests, double elapsed_s) { return elapsed_s > 0 ? double(requests) / elapsed_s : 0.0; }

void print_counts(const ServiceReport& r) {
  std::printf(" spans_created=%" PRIu64 " spans_written=%" PRIu64 " dropped_ring_full=%" PRIu64
              " dropped_no_ring=%" PRIu64 " requests=%" PRIu64 " errors=%" PRIu64 " elapsed_s=%.3f rate=%.1f",
              r.spans_created, r.spans_written, r.dropped_ring_full, r.dropped_no_ring, r.requests, r.errors,
              r.elapsed_s, rate_of(r.requests, r.elapsed_s));
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

int run(const Config& config) {
  install(on_parent_signal);
  struct Child {
    pid_t pid = -1;
    int fd = -1;
  };
  std::vector<Child> children;
  bool failed = false;
  for (int i = 0; i < int(config.services.size()); ++i) {
    int fds[2];
    if (::pipe(fds) != 0) {
      std::fprintf(stderr, "spanring-loadgen: pipe: %s\n", std::strerror(errno));
      failed = true;
      break;
    }
    std::fflush(nullptr);  // or the child would flush the parent's buffered output again
    const pid_t pid = ::fork();
    if (pid == 0) {
      install(on_child_signal);
      ::close(fds[0]);
      for (const Child& c : children) ::close(c.fd);
      ServiceReport report;
      const bool ok = run_service(config, i, report);
      const bool sent = write_all(fds[1], &report, sizeof report);
      std::fflush(nullptr);
      ::_exit(ok && sent ? 0 : 1);  // no atexit handlers or static destructors of the parent's
    }
    ::close(fds[1]);
    if (pid < 0) {
      std::fprintf(stderr, "spanring-loadgen: fork: %s\n", std::strerror(errno));
      ::close(fds[0]);
      failed = true;
      break;
    }
    children.push_back({pid, fds[0]});
    g_children[i] = pid;
    g_child_count.store(i + 1, std::memory_order_release);
  }
  if (failed) on_parent_signal(SIGTERM);  // stop the services already running

  ServiceReport total;
  std::size_t reported = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    ServiceReport r;
    const bool got = read_all(children[i].fd, &r, sizeof r);
    ::close(children[i].fd);
    int status = 0;
    while (::waitpid(children[i].pid, &status, 0) < 0 && errno == EINTR) {
    }
    const std::string& name = config.services[i];
    if (!got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "spanring-loadgen: service=%s: process %d failed (%s)%s\n", name.c_str(),
                   int(children[i].pid), describe_exit(status).c_str(), got ? "" : ", no report");
      failed = true;
      if (!got) continue;
    }
    std::printf("spanring-loadgen: service=%s", name.c_str());
    print_counts(r);
    std::printf(" segment=%s\n", r.segment[0] ? r.segment : "-");
    ++reported;
    total.spans_created += r.spans_created;
    total.spans_written += r.spans_written;
    total.dropped_ring_full += r.dropped_ring_full;
    total.dropped_no_ring += r.dropped_no_ring;
    total.requests += r.requests;
    total.errors += r.errors;
    total.elapsed_s = std::max(total.elapsed_s, r.elapsed_s);  // services ran side by side
  }
  std::printf("spanring-loadgen: total services=%zu", reported);
  print_counts(total);
  std::printf("\n");
  std::fflush(stdout);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace spanring::loadgen

int main(int argc, char** argv) {
  using namespace spanring::loadgen;
  Config config;
  std::string error;
  switch (parse_options(argc, argv, config, error)) {
    case ParseResult::kHelp: std::fputs(usage().c_str(), stdout); return 0;
    case ParseResult::kError: std::fprintf(stderr, "spanring-loadgen: %s (see --help)\n", error.c_str()); return 2;
    case ParseResult::kRun: break;
  }
  return run(config);
}
