// The core's settings: the config file's sections that belong to the drain loop (discovery,
// drain, batch, state), used as they are — each section owns its defaults and validate()
// (agent/config/config.hpp) — plus what only code sets (tests, benchmarks).
#pragma once

#include <chrono>
#include <string>

#include "agent/config/config.hpp"

namespace spanring::agent {

struct CoreOptions {
  AgentSectionConfig agent;   // drain_threads
  DiscoveryConfig discovery;  // segment_prefix, scan_interval, producers
  DrainConfig drain;          // poll intervals, max_spans_per_pass
  BatchConfig batch;          // max_spans, timeout
  StateConfig state;          // remove_drained_segments
  std::string shm_dir = "/dev/shm";
  std::string host_name;  // empty: gethostname()
  // A segment that is not ready (or not readable) this long after it was first seen is logged
  // once and shown in spanring_segments_not_ready; until then it is an engine being born.
  Duration not_ready_grace = std::chrono::seconds(5);
};

}  // namespace spanring::agent
