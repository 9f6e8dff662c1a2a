// HTTP endpoint for the agent's self-observability, on the agent's own io_context:
//   GET /metrics  → 200, Prometheus text 0.0.4 of the registry
//   GET /healthz  → 200 "ok\n" when the health callback says healthy, else 503 "<reason>\n"
//   other paths   → 404;  any method but GET → 405
//
// Bounded so a slow or hostile client cannot grow the agent's memory or stall it: at most
// max_connections at once (further clients wait in the kernel's listen backlog), a request
// larger than max_request_bytes is refused (431/413), and each request must arrive and be
// answered within `timeout` (the same limit closes idle keep-alive connections).
//
// Threading contract: construct, start(), stop() and destroy on the io_context's thread (or
// while it is not running); the handlers run there too, so the registry needs no lock.
// Destroy the server before the io_context.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "agent/metrics/metrics.hpp"
#include "agent/base/status.hpp"

namespace spanring::agent {

struct HealthStatus {
  bool healthy = true;
  std::string reason;  // shown in the 503 body; say what is wrong ("exporter failing for 60s")
};

struct MetricsServerOptions {
  std::size_t max_connections = 16;
  std::chrono::milliseconds timeout{5000};  // per request: read, answer and write
  std::size_t max_request_bytes = 8192;     // header, and body (a GET has none) separately
  // Called before each /metrics render: the place to refresh gauges that are cheaper to
  // compute on demand (queue depth, attached segments) than to keep up to date.
  std::function<void()> on_scrape;
};

namespace detail {
struct MetricsServerState;
}

class MetricsServer {
 public:
  using HealthFn = std::function<HealthStatus()>;

  // `registry` and `health` must stay valid until stop() or destruction; after that no
  // handler touches them, even if the io_context still runs. An empty `health` is healthy.
  MetricsServer(boost::asio::io_context& io, const Registry& registry, HealthFn health,
                MetricsServerOptions options = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds host:port (host may be a name; the first resolved address is used; port 0 picks a
  // free port) and starts accepting. Returns false with `error` set when it cannot listen.
  Status start(const std::string& host, std::uint16_t port);

  // The bound port (the chosen one when started with port 0); 0 before start().
  std::uint16_t port() const noexcept;

  // Connections being served now (for tests and a gauge).
  std::size_t active_connections() const noexcept;

  // Stops accepting and closes every connection. Idempotent.
  void stop() noexcept;

 private:
  std::shared_ptr<detail::MetricsServerState> state_;
};

}  // namespace spanring::agent
