// The core's settings (discovery, draining, batching), filled from the agent's config.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/core/trust.hpp"

namespace spanring::agent {

struct CoreOptions {
  std::string shm_dir = "/dev/shm";
  // Only segments whose names start with this are attached (e.g. "spanring.llm-" for one
  // family of services, or a test's own prefix). Must start with "spanring.".
  std::string segment_prefix = "spanring.";
  std::chrono::milliseconds scan_interval{1000};
  std::chrono::milliseconds min_poll_interval{1};
  std::chrono::milliseconds max_poll_interval{100};
  std::uint64_t max_spans_per_pass = 65536;
  std::size_t batch_max_spans = 512;
  std::chrono::milliseconds batch_timeout{1000};
  bool remove_drained_segments = true;
  std::string host_name;  // empty: gethostname()
  std::vector<ProducerRule> producers;  // discovery.producers: which owners may feed which names; empty: any
  // A segment that is not ready (or not readable) this long after it was first seen is logged
  // once and shown in spanring_segments_not_ready; until then it is an engine being born.
  std::chrono::milliseconds not_ready_grace{5000};
};

}  // namespace spanring::agent
