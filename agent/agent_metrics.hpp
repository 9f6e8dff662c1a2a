// The agent's own metrics: per-service span outcomes, queue depth, ring fill, export latency,
// served as Prometheus text at /metrics, plus /healthz. Values are mirrored from the core's
// counters at scrape time, so the drain loop never touches the registry.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "agent/metrics/metrics.hpp"
#include "agent/metrics/metrics_server.hpp"
#include "core/agent.hpp"

namespace spanring::agent {

class AgentMetrics {
 public:
  AgentMetrics(boost::asio::io_context& io, Agent& agent);
  ~AgentMetrics();
  // "host:port"; port 0 picks a free one (see address()).
  bool listen(const std::string& host_port, std::string& error);
  std::string address() const;
  void stop() noexcept;
  // Updates the registry from the core's counters (done before every scrape).
  void refresh();
  const Registry& registry() const noexcept { return registry_; }

 private:
  Agent& agent_;
  Registry registry_;
  Histogram& export_latency_;
  std::unique_ptr<MetricsServer> server_;
  std::string host_;
};

}  // namespace spanring::agent
