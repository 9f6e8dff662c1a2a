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
// BM_AgentDrainExportGrpc / BM_AgentDrainExportTls: the same drain, exported over OTLP/gRPC (to
// a raw-method gRPC receiver that decodes nothing) and over HTTPS (the discarding receiver behind
// TLS, certificates made at start by tests/agent/make_test_certs.sh), to compare with
// BM_AgentDrainExport in one run.
//
// BM_AgentSteadyState10k: an engine thread makes 10k spans/s for 2 s while the agent runs its
// normal timers; reports the agent thread's CPU use (cpu_percent) and span-end → receiver
// latency (latency_p50_ms, latency_p99_ms) measured at the receiver.
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
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

struct AgentRig {
  boost::asio::io_context io;
  // Keeps poll()/run_one_for() usable between iterations: an io_context that runs out of
  // work stops until restart().
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  sa::Agent agent;
  std::uint64_t resolved_spans = 0;
  AgentRig(const std::string& endpoint, std::chrono::milliseconds batch_timeout,
           const std::function<void(sa::HttpExportConfig&)>& tweak = {})
      : agent(io, [&] {
          sa::CoreOptions o;
          o.discovery.segment_prefix = std::string(spanring::shm::kSegmentPrefix) + service_name() + ".";
          o.drain.max_spans_per_pass = 1u << 20;
          o.batch.timeout = batch_timeout;
          o.state.remove_drained_segments = false;
          return o;
        }()) {
    sa::HttpExportConfig h;
    h.endpoint = endpoint;
    h.queue.max_batches = 1024;
    h.queue.max_spans = 1u << 22;
    h.queue.max_bytes = 1u << 30;
    if (tweak) tweak(h);
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
void drain_export(benchmark::State& state, double sampling, Transport transport = Transport::kHttp) {
  engine();
  std::filesystem::path certs;
  if (transport == Transport::kHttps) {
    if (!bench_certs().made) return state.SkipWithError("openssl cannot make certificates");
    certs = bench_certs().dir;
  }
  std::optional<spanring::bench::DiscardReceiver> http;
  std::optional<spanring::bench::DiscardGrpcReceiver> grpc;
  if (transport == Transport::kGrpc) {
    grpc.emplace();
  } else if (transport == Transport::kHttps) {
    http.emplace(spanring::bench::DiscardReceiver::OnBody{},
                 spanring::bench::DiscardReceiver::Tls{(certs / "server.pem").string(), (certs / "server-key.pem").string()});
  } else {
    http.emplace();
  }
  AgentRig rig(grpc ? grpc->endpoint() : http->endpoint(), std::chrono::milliseconds(1000), [&](sa::HttpExportConfig& h) {
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
  constexpr std::int64_t kSpans = 100'000;
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

void BM_AgentDrainExportGrpc(benchmark::State& state) { drain_export(state, 1.0, Transport::kGrpc); }
BENCHMARK(BM_AgentDrainExportGrpc)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_AgentDrainExportTls(benchmark::State& state) { drain_export(state, 1.0, Transport::kHttps); }
BENCHMARK(BM_AgentDrainExportTls)->UseManualTime()->Unit(benchmark::kMillisecond);

// The same at 1% probabilistic sampling: decode + decide for every span, export for 1%.
void BM_AgentDrainSampled1pct(benchmark::State& state) { drain_export(state, 0.01); }
BENCHMARK(BM_AgentDrainSampled1pct)->UseManualTime()->Unit(benchmark::kMillisecond);

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
