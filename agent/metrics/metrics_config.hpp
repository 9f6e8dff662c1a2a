// The metrics endpoint's one config: its default and its rule. The agent's YAML loader fills it in
// place (AgentConfig::metrics, the file's `metrics` section) and AgentMetrics takes it as it is;
// validate() is the only place the rule is written.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include "agent/base/status.hpp"

namespace spanring::agent {

struct HostPort {
  std::string host;  // without brackets for IPv6 literals
  std::uint16_t port = 0;
};

// "127.0.0.1:9464", "localhost:0", "[::1]:9464". The host must not be empty; the port is
// required and may be 0 (any free port).
std::optional<HostPort> parse_host_port(std::string_view text);

struct MetricsConfig {
  // "host:port" for Prometheus /metrics and /healthz; port 0 picks a free port; "" disables.
  std::string listen = "127.0.0.1:9464";

  // Reports one broken rule; `keys` are relative to this struct ("listen"), as
  // HttpExportConfig::validate does, so the loader can point at the line the operator wrote.
  using Report = ValidationReport;
  void validate(const Report& report) const;

  bool operator==(const MetricsConfig&) const = default;
};

}  // namespace spanring::agent
