// What the control socket's tap costs the export path (issue 12): a batch handed to the
// exporter directly, through the TapExporter with nobody tapping (the normal case: one branch),
// and with a spanringctl client tapping (serialize once, queue a shared copy; the client here
// does not read, so after its 16 MiB buffer each copy is dropped and counted, as for a slow
// client). Batches of 512 spans like the agent's default batch.max_spans; each iteration
// builds the batch (same cost in every variant), so compare the differences.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <string>

#include "agent/control/control_server.hpp"
#include "agent/control/tap_exporter.hpp"

namespace sa = spanring::agent;
namespace ctl = spanring::agent::control;

namespace {

class DiscardExporter final : public sa::Exporter {
 public:
  bool enqueue(sa::ExportBatch batch) override {
    benchmark::DoNotOptimize(batch.spans);
    return true;
  }
  void shutdown(std::chrono::steady_clock::time_point, std::function<void()> done) override { done(); }
  std::uint64_t queued_spans() const override { return 0; }
  std::uint64_t queued_bytes() const override { return 0; }
};

sa::ExportBatch make_batch() {
  sa::ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < 512; ++i) {
    auto* s = ss->add_spans();
    s->set_trace_id(std::string(16, static_cast<char>(i)));
    s->set_span_id(std::string(8, static_cast<char>(i)));
    s->set_name("cache_lookup");
    s->set_start_time_unix_nano(1700000000000000000ull + static_cast<std::uint64_t>(i));
    s->set_end_time_unix_nano(1700000000000001000ull + static_cast<std::uint64_t>(i));
  }
  return sa::ExportBatch(req, 512);
}

enum class Mode { kDirect, kTapIdle, kTapped };

void run(benchmark::State& state, Mode mode) {
  boost::asio::io_context io;
  ctl::ServerOptions o;
  o.path = "/tmp/spanring-bench-control." + std::to_string(::getpid()) + ".sock";
  ctl::ControlServer server(io, o, [] { return std::string(); });
  if (!server.start().ok()) {
    state.SkipWithError("cannot create the control socket");
    return;
  }
  int client = -1;
  if (mode == Mode::kTapped) {
    client = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", o.path.c_str());
    if (::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::write(client, "tap\n", 4) != 4) {
      state.SkipWithError("cannot connect");
      return;
    }
    for (int i = 0; i < 1000 && !server.tapping(); ++i) {
      io.restart();
      io.poll();
      ::usleep(1000);
    }
  }
  std::unique_ptr<sa::Exporter> exporter = std::make_unique<DiscardExporter>();
  if (mode != Mode::kDirect) exporter = ctl::make_tap_exporter(std::move(exporter), server);
  for (auto _ : state) {
    exporter->enqueue(make_batch());
    io.restart();
    io.poll();
  }
  state.SetItemsProcessed(state.iterations() * 512);
  if (client >= 0) ::close(client);
}

void BM_ExportEnqueueDirect(benchmark::State& state) { run(state, Mode::kDirect); }
void BM_ExportEnqueueTapIdle(benchmark::State& state) { run(state, Mode::kTapIdle); }
void BM_ExportEnqueueTapped(benchmark::State& state) { run(state, Mode::kTapped); }

BENCHMARK(BM_ExportEnqueueDirect);
BENCHMARK(BM_ExportEnqueueTapIdle);
BENCHMARK(BM_ExportEnqueueTapped);

}  // namespace

BENCHMARK_MAIN();
