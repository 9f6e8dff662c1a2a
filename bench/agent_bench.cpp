// Agent benchmarks (names are checked from outside: keep them).
//
//   build/bench/spanring-bench-agent --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// BM_AgentDrainExport: one core's worth of agent work — decode ring records, convert to OTLP,
// batch (512 spans), serialize, and POST over keep-alive HTTP to a local receiver that
// discards the bodies (on another thread). Each iteration drains 100k spans (3 attributes, a
// child of a live parent) that the benchmark wrote beforehand, outside the timing.
// Counter spans_per_s is the figure the issue asks for.
//
// BM_AgentDrainEncode/threads:N: the same without HTTP (bytes discarded in process), with N
// drain threads over two engines' segments: threads:2 / threads:1 is the drain threads' gain.
//
// BM_AgentDrainExportDiskQueue: the same through the default disk queue (queue.storage: disk):
// every batch is committed to LMDB with fsync before its ring positions move, read back to be
// sent, and deleted once answered. Counter disk_bytes_per_span: what the store grows by per
// span while the backend is away (data.mdb's allocated blocks over 100k queued spans).
//
// BM_AgentExportRemote/<protocol>: a distant backend — a local receiver that answers every
// request after 50 ms — with the default config (disk queue, max_in_flight 16, batches of 512);
// .../max_in_flight:1 beside it is the one-request-at-a-time figure, :4, :8 and :32 the
// neighbours of the default. Protocols are rows of kRemoteProtocols.
//
// BM_AgentDrainExportGrpc / BM_AgentDrainExportTls: the same drain, exported over OTLP/gRPC (to
// a raw-method gRPC receiver that decodes nothing) and over HTTPS (the discarding receiver behind
// TLS, certificates made at start by tests/agent/make_test_certs.sh), to compare with
// BM_AgentDrainExport in one run.
//
// BM_AgentSteadyState10k: an engine thread makes 10k spans/s for 2 s while the agent runs its
// normal timers; reports the agent thread's CPU use (cpu_percent) and span-end → receiver
// latency (latency_p50_ms, latency_p99_ms) measured at the receiver.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <boost/asio/executor_work_guard.hpp>
#include <filesystem>
#include <functional>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "agent/core/agent.hpp"
#include "discard_grpc_receiver.hpp"
#include "discard_receiver.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/sampling/sampler.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "spanring/shm/segment.hpp"
#include "spanring/tracer.hpp"

namespace sa = spanring::agent;

namespace {

std::string service_name() { return "bench-agent-" + std::to_string(::getpid()); }

struct Engine {
  std::string segment;
  Engine() {
    spanring::Options o;
    o.service_name = service_name();
    o.rings = 2;
    o.shm_size = 256ull << 20;  // 2^20 records per ring: an iteration's spans fit without drops
    const auto st = spanring::init(o);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message.c_str());
      std::abort();
    }
    segment = st.segment;
  }
  ~Engine() {
    spanring::shutdown();
    spanring::shm::remove_segment(segment);
  }
};

Engine& engine() {
  static Engine e;
  return e;
}

const spanring::Key kName("attention_compute");
const spanring::Key kHit("cache.hit");
const spanring::Key kLayer("cache.layer");
const spanring::Key kTier("cache.tier");

void write_spans(spanring::Span& parent, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    spanring::Span s(kName, parent);
    s.set_attribute(kHit, (i & 1) != 0);
    s.set_attribute(kLayer, i);
    s.set_attribute(kTier, "hot");
  }
}

// n spans in traces of 10: a root and 9 children each, so sampling has n/10 traces to decide.
void write_traces(std::int64_t n) {
  for (std::int64_t t = 0; t < n / 10; ++t) {
    spanring::Span root(kName, spanring::Span::NewRoot{}, spanring::SpanKind::kServer);
    write_spans(root, 9);
  }
}

// A queue directory of its own, removed afterwards (under /var/tmp: a disk, not a tmpfs).
struct QueueDir {
  std::filesystem::path path = std::filesystem::path("/var/tmp") / ("spanring-bench-queue-" + std::to_string(::getpid()));
  QueueDir() { std::filesystem::remove_all(path); }
  ~QueueDir() { std::filesystem::remove_all(path); }
};

// Tunes the exporter's config beyond the rig's defaults (storage, in-flight, protocol).
using Configure = std::function<void(sa::HttpExportConfig&)>;

void memory_queue(sa::HttpExportConfig& h) {
  static const QueueDir tally;  // the memory queue's tally file, removed at exit
  h.queue.storage = sa::QueueStorage::kMemory;
  h.queue.directory = tally.path.string();
}

struct AgentRig {
  boost::asio::io_context io;
  // Keeps poll()/run_one_for() usable between iterations: an io_context that runs out of
  // work stops until restart().
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  sa::Agent agent;
  std::uint64_t resolved_spans = 0;
  AgentRig(const std::string& endpoint, std::chrono::milliseconds batch_timeout, const Configure& configure = memory_queue)
      : agent(io, [&] {
          sa::CoreOptions o;
          o.discovery.segment_prefix = std::string(spanring::shm::kSegmentPrefix) + service_name() + ".";
          o.drain.max_spans_per_pass = 1u << 20;
          o.batch.timeout = batch_timeout;
          o.agent.drain_threads = 1;  // one drain thread (BM_AgentDrainEncode measures several)
          o.state.remove_drained_segments = false;
          return o;
        }()) {
    sa::HttpExportConfig h;
    h.endpoint = endpoint;
    h.queue.max_batches = 1024;
    h.queue.max_spans = 1u << 22;
    h.queue.max_bytes = 1u << 30;
    configure(h);
    auto core_cb = agent.make_result_callback();
    agent.set_exporter(std::make_unique<sa::HttpExporter>(io, h, [this, core_cb](const sa::ExportResult& r) {
      resolved_spans += r.spans;
      core_cb(r);
    }));
  }
};

enum class Transport { kHttp, kGrpc, kHttps };

// Test certificates for the HTTPS benchmark, made on first use and removed at exit; empty when
// openssl failed.
struct BenchCerts {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("spanring-bench-certs-" + std::to_string(::getpid()));
  bool made = false;
  BenchCerts() {
    const std::string command = "bash '" SPANRING_MAKE_TEST_CERTS "' '" + dir.string() + "' >/dev/null";
    made = std::system(command.c_str()) == 0;
  }
  ~BenchCerts() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
};

const BenchCerts& bench_certs() {
  static const BenchCerts certs;
  return certs;
}

// Shared by the plain and the sampled drain benchmarks. The plain one drains children of one
// live parent; with `sampling` < 1 the spans form traces of 10 (so 1% keeps ~1% of traces).
void drain_export(benchmark::State& state, double sampling, const Configure& configure = memory_queue,
                  std::int64_t spans_per_iteration = 100'000,
                  spanring::bench::DiscardReceiver::OnBody on_body = {}, Transport transport = Transport::kHttp,
                  std::chrono::milliseconds grpc_delay = std::chrono::milliseconds(0)) {
  engine();
  std::filesystem::path certs;
  if (transport == Transport::kHttps) {
    if (!bench_certs().made) return state.SkipWithError("openssl cannot make certificates");
    certs = bench_certs().dir;
  }
  std::optional<spanring::bench::DiscardReceiver> http;
  std::optional<spanring::bench::DiscardGrpcReceiver> grpc;
  if (transport == Transport::kGrpc) {
    grpc.emplace(grpc_delay);
  } else if (transport == Transport::kHttps) {
    http.emplace(std::move(on_body),
                 spanring::bench::DiscardReceiver::Tls{(certs / "server.pem").string(), (certs / "server-key.pem").string()});
  } else {
    http.emplace(std::move(on_body));
  }
  AgentRig rig(grpc ? grpc->endpoint() : http->endpoint(), std::chrono::milliseconds(1000), [&](sa::HttpExportConfig& h) {
    configure(h);
    if (transport == Transport::kGrpc) h.protocol = sa::Protocol::kGrpc;
    if (transport == Transport::kHttps) h.tls.ca_file = (certs / "ca.pem").string();
  });
  if (sampling < 1.0) {
    sa::SamplingConfig sc;
    sc.default_strategy.type = sa::StrategyType::kProbabilistic;
    sc.default_strategy.param = sampling;
    rig.agent.set_sampler(std::make_unique<sa::Sampler>(sc));
  }
  rig.agent.scan_now();
  spanring::Span parent(kName, spanring::Span::NewRoot{});
  const std::int64_t kSpans = spans_per_iteration;
  std::uint64_t total = 0;
  for (auto _ : state) {
    if (sampling < 1.0) write_traces(kSpans);
    else write_spans(parent, kSpans);
    const auto t0 = std::chrono::steady_clock::now();
    // Done when every span is exported or sampled out.
    auto settled = [&] {
      std::uint64_t n = rig.resolved_spans;
      for (const auto& s : rig.agent.services()) n += s.sampled_out;
      return n;
    };
    const std::uint64_t target = settled() + kSpans;
    while (settled() < target) {
      if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(120))
        return state.SkipWithError("spans not settled within 120 s");
      rig.agent.drain_now();
      rig.agent.flush_batch();
      rig.io.poll();
      if (settled() < target) rig.io.run_one_for(std::chrono::milliseconds(1));
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    total += kSpans;
  }
  state.counters["spans_per_s"] = benchmark::Counter(double(total), benchmark::Counter::kIsRate);
  state.counters["wire_bytes_per_span"] = double(grpc ? grpc->bytes() : http->bytes()) / double(total);
  state.SetItemsProcessed(std::int64_t(total));
  for (const auto& s : rig.agent.services()) {
    if (s.dropped_total() != 0) state.SkipWithError("agent dropped spans");
    if (sampling < 1.0) state.counters["kept_fraction"] = double(s.exported) / double(s.received);
  }
}

void BM_AgentDrainExport(benchmark::State& state) { drain_export(state, 1.0); }
BENCHMARK(BM_AgentDrainExport)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_AgentDrainExportGrpc(benchmark::State& state) { drain_export(state, 1.0, memory_queue, 100'000, {}, Transport::kGrpc); }
BENCHMARK(BM_AgentDrainExportGrpc)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_AgentDrainExportTls(benchmark::State& state) { drain_export(state, 1.0, memory_queue, 100'000, {}, Transport::kHttps); }
BENCHMARK(BM_AgentDrainExportTls)->UseManualTime()->Unit(benchmark::kMillisecond);

// What data.mdb grows by per span with the backend away: 100k spans queued, none answered.
double disk_bytes_per_span(const std::filesystem::path& dir) {
  engine();
  const std::filesystem::path store = dir / "measure";
  std::filesystem::remove_all(store);
  double per_span = 0;
  {
    AgentRig rig("http://127.0.0.1:1/v1/traces", std::chrono::milliseconds(1000), [&](sa::HttpExportConfig& h) {
      h.queue.storage = sa::QueueStorage::kDisk;
      h.queue.directory = store.string();
      h.retry.initial_interval = std::chrono::hours(1);  // nothing leaves the store meanwhile
      h.retry.max_interval = std::chrono::hours(1);
      h.retry.max_elapsed_time = std::chrono::hours(2);
    });
    rig.agent.scan_now();
    auto allocated = [&] {
      struct stat st {};
      return ::stat((store / "data.mdb").c_str(), &st) == 0 ? double(st.st_blocks) * 512 : 0.0;
    };
    const double before = allocated();
    spanring::Span parent(kName, spanring::Span::NewRoot{});
    write_spans(parent, 100'000);
    while (rig.agent.drain_now() > 0) rig.agent.flush_batch();
    rig.agent.flush_batch();
    per_span = (allocated() - before) / 100'000;
  }
  std::filesystem::remove_all(store);
  return per_span;
}

void BM_AgentDrainExportDiskQueue(benchmark::State& state) {
  QueueDir dir;
  const double per_span = disk_bytes_per_span(dir.path);
  drain_export(state, 1.0, [&](sa::HttpExportConfig& h) {
    h.queue.storage = sa::QueueStorage::kDisk;
    h.queue.directory = (dir.path / "queue").string();
  });
  state.counters["disk_bytes_per_span"] = per_span;
}
BENCHMARK(BM_AgentDrainExportDiskQueue)->UseManualTime()->Unit(benchmark::kMillisecond);

// Protocols BM_AgentExportRemote runs over: one row each.
struct RemoteProtocol {
  const char* name;
  Transport transport;
};
const RemoteProtocol kRemoteProtocols[] = {
    {"http_protobuf", Transport::kHttp},
    {"grpc", Transport::kGrpc},
};

// The default config (disk queue in a scratch directory) against a backend 50 ms away.
void export_remote(benchmark::State& state, const RemoteProtocol& protocol, std::uint32_t max_in_flight) {
  QueueDir dir;
  drain_export(
      state, 1.0,
      [&](sa::HttpExportConfig& h) {
        h = sa::HttpExportConfig{.endpoint = h.endpoint};
        h.queue.directory = dir.path.string();
        if (max_in_flight) h.max_in_flight = max_in_flight;
      },
      // ~1-2 s per iteration: a round trip carries at most max_in_flight x 512 spans.
      max_in_flight == 0 ? 200'000 : std::max<std::int64_t>(20'000, std::int64_t{max_in_flight} * 12'500),
      [](const std::string&) { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }, protocol.transport,
      std::chrono::milliseconds(50));
}

[[maybe_unused]] const bool kRemoteRegistered = [] {
  for (const RemoteProtocol& p : kRemoteProtocols) {
    const std::string name = std::string("BM_AgentExportRemote/") + p.name;
    benchmark::RegisterBenchmark(name.c_str(), [&p](benchmark::State& s) { export_remote(s, p, 0); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    // Beside the default: one request at a time (the agent before max_in_flight), and the
    // neighbours of the default that justify it.
    for (const std::uint32_t n : {1u, 4u, 8u, 32u}) {
      benchmark::RegisterBenchmark((name + "/max_in_flight:" + std::to_string(n)).c_str(),
                                   [&p, n](benchmark::State& s) { export_remote(s, p, n); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

// The same at 1% probabilistic sampling: decode + decide for every span, export for 1%.
void BM_AgentDrainSampled1pct(benchmark::State& state) { drain_export(state, 0.01); }
BENCHMARK(BM_AgentDrainSampled1pct)->UseManualTime()->Unit(benchmark::kMillisecond);

// ---------------------------------------------------------------------------------------------
// BM_AgentDrainEncode/threads:N: drain + decode + encode with N drain threads, two engines
// (segments, so two shards can work), an exporter that discards the bytes in process (no HTTP:
// the export stage is shared and not what this measures). The same 100k spans per iteration
// for every N: compare threads:2 with threads:1 in one run.

// An engine in a child process (a process has one segment), writing spans when told to.
class ChildEngine {
 public:
  explicit ChildEngine(const std::string& service) {
    int cmd[2], ack[2];
    if (::pipe(cmd) != 0 || ::pipe(ack) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::close(cmd[1]);
      ::close(ack[0]);
      run(service, cmd[0], ack[1]);
    }
    ::close(cmd[0]);
    ::close(ack[1]);
    cmd_ = cmd[1];
    ack_ = ack[0];
    std::int64_t ready = 0;
    if (::read(ack_, &ready, sizeof ready) != sizeof ready) std::abort();  // its segment exists
  }
  ~ChildEngine() {
    // A command, not EOF: a later child inherited this pipe's write end too.
    const std::int64_t quit = -1;
    if (::write(cmd_, &quit, sizeof quit) != sizeof quit) ::kill(pid_, SIGKILL);
    ::close(cmd_);
    ::close(ack_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ChildEngine(const ChildEngine&) = delete;
  ChildEngine& operator=(const ChildEngine&) = delete;

  // Writes n spans (children of one live parent); returns once they are in the rings.
  void write(std::int64_t n) {
    if (::write(cmd_, &n, sizeof n) != sizeof n || ::read(ack_, &n, sizeof n) != sizeof n) std::abort();
  }

 private:
  [[noreturn]] static void run(const std::string& service, int cmd, int ack) {
    spanring::Options o;
    o.service_name = service;
    o.rings = 2;
    o.shm_size = 128ull << 20;
    o.access = spanring::Access::kGroupWrite;  // (0600 as root makes init warn on stderr)
    const auto st = spanring::init(o);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message.c_str());
      ::_exit(1);
    }
    std::int64_t n = 0;
    if (::write(ack, &n, sizeof n) != sizeof n) ::_exit(1);
    {
      spanring::Span parent(kName, spanring::Span::NewRoot{});
      while (::read(cmd, &n, sizeof n) == sizeof n && n >= 0) {
        write_spans(parent, n);
        if (::write(ack, &n, sizeof n) != sizeof n) break;
      }
    }
    spanring::shutdown();
    spanring::shm::remove_segment(st.segment);
    ::_exit(0);
  }
  pid_t pid_ = -1;
  int cmd_ = -1, ack_ = -1;
};

// Answers every batch at once, keeping only its size.
class DiscardExporter : public sa::Exporter {
 public:
  DiscardExporter(boost::asio::io_context& io, sa::ResultCallback cb) : io_(io), cb_(std::move(cb)) {}
  bool enqueue(sa::ExportBatch b) override {
    bytes += b.body.size();
    sa::ExportResult r;
    r.id = b.id;
    r.spans = b.spans;
    r.services = std::move(b.services);  // the agent charges each service by name
    boost::asio::post(io_, [cb = cb_, r = std::move(r)] { cb(r); });
    return true;
  }
  void shutdown(std::chrono::steady_clock::time_point, std::function<void()> done) override {
    boost::asio::post(io_, std::move(done));
  }
  std::uint64_t queued_spans() const override { return 0; }
  std::uint64_t queued_bytes() const override { return 0; }
  std::uint64_t bytes = 0;

 private:
  boost::asio::io_context& io_;
  sa::ResultCallback cb_;
};

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void BM_AgentDrainEncode(benchmark::State& state) {
  const std::string prefix = "bench-agent-enc-" + std::to_string(::getpid()) + "-";
  constexpr int kEngines = 2;
  constexpr std::int64_t kSpans = 100'000;
  std::vector<std::unique_ptr<ChildEngine>> engines;
  for (int i = 0; i < kEngines; ++i) engines.push_back(std::make_unique<ChildEngine>(prefix + std::to_string(i)));
  boost::asio::io_context io;
  sa::CoreOptions o;
  o.agent.drain_threads = static_cast<std::uint32_t>(state.range(0));
  o.discovery.segment_prefix = std::string(spanring::shm::kSegmentPrefix) + prefix;
  o.drain.max_spans_per_pass = 1u << 20;
  o.state.remove_drained_segments = false;
  sa::Agent agent(io, o);
  auto exporter = std::make_unique<DiscardExporter>(io, agent.make_result_callback());
  DiscardExporter* discard = exporter.get();
  agent.set_exporter(std::move(exporter));
  agent.scan_now();
  std::uint64_t total = 0;
  double cpu_s = 0;  // the agent's threads (the engines are other processes)
  for (auto _ : state) {
    for (auto& e : engines) e->write(kSpans / kEngines);
    const double cpu0 = process_cpu_seconds();
    auto exported = [&] {
      std::uint64_t n = 0;
      for (const auto& s : agent.services()) n += s.exported;
      return n;
    };
    const std::uint64_t target = exported() + kSpans;
    const auto t0 = std::chrono::steady_clock::now();
    while (exported() < target) {
      if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(60))
        return state.SkipWithError("spans not exported within 60 s");
      agent.drain_now();
      agent.flush_batch();
      io.poll();
      io.restart();
    }
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    cpu_s += process_cpu_seconds() - cpu0;
    total += kSpans;
  }
  state.counters["spans_per_s"] = benchmark::Counter(double(total), benchmark::Counter::kIsRate);
  state.counters["bytes_per_span"] = double(discard->bytes) / double(total);
  // CPU per span over all drain threads: flat from threads:1 to threads:2 means the work
  // divides; the wall-time ratio then depends on the cores the threads actually get.
  state.counters["cpu_ns_per_span"] = cpu_s * 1e9 / double(total);
  state.SetItemsProcessed(std::int64_t(total));
  for (const auto& s : agent.services())
    if (s.dropped_total() != 0) state.SkipWithError("agent dropped spans");
}
BENCHMARK(BM_AgentDrainEncode)->ArgName("threads")->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond);

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void BM_AgentSteadyState10k(benchmark::State& state) {
  engine();
  std::vector<double> latencies_ms;
  std::mutex mu;
  spanring::bench::DiscardReceiver receiver([&](const std::string& body) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest req;
    if (!req.ParseFromString(body)) return;
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const double now_ns = double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
    std::lock_guard lock(mu);
    for (const auto& rs : req.resource_spans())
      for (const auto& ss : rs.scope_spans())
        for (const auto& sp : ss.spans()) latencies_ms.push_back((now_ns - double(sp.end_time_unix_nano())) / 1e6);
  });
  const auto batch_timeout = std::chrono::milliseconds(200);
  for (auto _ : state) {
    AgentRig rig(receiver.endpoint(), batch_timeout);
    double cpu = 0;
    std::atomic<bool> done{false};
    std::thread agent_thread([&] {
      const double c0 = thread_cpu_seconds();
      rig.agent.start();
      while (!done.load()) rig.io.run_for(std::chrono::milliseconds(50));
      cpu = thread_cpu_seconds() - c0;
    });
    // The engine: 10k spans/s, paced in 1 ms steps of 10 spans.
    const auto t0 = std::chrono::steady_clock::now();
    {
      spanring::Span parent(kName, spanring::Span::NewRoot{});
      for (int ms = 0; ms < 2000; ++ms) {
        write_spans(parent, 10);
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(ms + 1));
      }
    }
    std::this_thread::sleep_for(batch_timeout + std::chrono::milliseconds(300));
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    done = true;
    agent_thread.join();
    state.counters["cpu_percent"] = 100.0 * cpu / wall;
  }
  std::lock_guard lock(mu);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    state.counters["latency_p50_ms"] = latencies_ms[latencies_ms.size() / 2];
    state.counters["latency_p99_ms"] = latencies_ms[latencies_ms.size() * 99 / 100];
    state.counters["spans_received"] = double(latencies_ms.size());
  }
}
BENCHMARK(BM_AgentSteadyState10k)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
