// The text `spanringctl status` prints, made by the agent from its own state: engines attached
// (service, pid, uptime, ring fill per thread, the engine's drops), per-service counters with
// rates, the exporter's state, and the sampling config in force with when it was loaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/config/config_watch.hpp"
#include "agent/core/agent.hpp"

namespace spanring::agent::control {

// Per-service totals sampled at intervals, so status can show rates without a client having to
// ask twice. sample() is called by a timer (every 10 s); rates are computed against the older
// of the two samples kept (a 10–20 s window).
class RateWindow {
 public:
  struct Totals {
    std::string service;
    std::uint64_t created = 0, exported = 0, sampled_out = 0, dropped = 0;
  };
  void sample(std::vector<Totals> totals, std::chrono::steady_clock::time_point now);
  // The older sample and its time; empty before the first sample.
  const std::vector<Totals>& base() const noexcept { return samples_[older_]; }
  std::chrono::steady_clock::time_point base_time() const noexcept { return times_[older_]; }
  bool ready() const noexcept { return count_ != 0; }

 private:
  std::vector<Totals> samples_[2];
  std::chrono::steady_clock::time_point times_[2]{};
  int older_ = 0;
  int newest_ = 0;
  int count_ = 0;
};

std::vector<RateWindow::Totals> service_totals(Agent& agent);

struct StatusContext {
  std::string version;
  std::chrono::system_clock::time_point started_at;
  const AgentConfig* config = nullptr;  // the config in force
  const ConfigWatch* watch = nullptr;
  std::string metrics_address;          // empty: metrics off
  std::string socket_path;
  std::uint64_t tapping_clients = 0;
  std::uint64_t tap_spans_lost = 0;
};

std::string render_status(Agent& agent, const StatusContext& context, const RateWindow& rates);

}  // namespace spanring::agent::control
