// The agent's own metrics: per-service span outcomes, queue depth, ring fill, export latency,
// served as Prometheus text at /metrics, plus /healthz. Values are mirrored from the core's
// counters at scrape time, so the drain loop never touches the registry.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/metrics/metrics.hpp"
#include "agent/metrics/metrics_config.hpp"
#include "agent/metrics/metrics_server.hpp"
#include "core/agent.hpp"

namespace spanring::agent {

class AgentMetrics {
 public:
  AgentMetrics(boost::asio::io_context& io, Agent& agent);
  ~AgentMetrics();
  // Listens on config.listen ("host:port"; port 0 picks a free one, see address()). The config
  // is expected to have passed MetricsConfig::validate(); an address that does not parse is
  // still refused here, with `error` set.
  Status listen(const MetricsConfig& config);
  std::string address() const;
  void stop() noexcept;
  // Updates the registry from the core's counters and every added source (before every scrape).
  void refresh();
  // A component outside the core (e.g. the remote sampling poller) that reports its counters.
  void add_source(std::function<void(Registry&)> report) { sources_.push_back(std::move(report)); }
  const Registry& registry() const noexcept { return registry_; }

 private:
  Agent& agent_;
  Registry registry_;
  Histogram& export_latency_;
  std::unique_ptr<MetricsServer> server_;
  std::vector<std::function<void(Registry&)>> sources_;
  std::string host_;
};

}  // namespace spanring::agent
