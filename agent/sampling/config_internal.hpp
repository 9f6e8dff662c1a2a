// Pieces shared by the YAML and the JSON parsers of the sampling config. Not part of the API.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/sampling/config.hpp"

namespace spanring::agent::sampling_detail {

// One source's strategies as written, before Jaeger's per-operation merge. A strategy with its
// own operation_strategies has per_operation set; default_probability and lower_bound are
// filled in by resolve_strategies().
struct RawStrategies {
  std::vector<NamedStrategy> services;
  bool has_default = false;
  ServiceStrategy default_strategy;
  bool has_lower_bound = false;
  double lower_bound = 0;
};

// Jaeger's parseStrategies (SPEC §7.a): fills each per-operation strategy's default probability
// (its own rate when probabilistic, else `global_default_probability`) and lower bound, then
// lets services inherit or merge the default's operation list.
void resolve_strategies(const RawStrategies& raw, const ServiceStrategy& default_strategy,
                        double global_default_probability, double lower_bound,
                        std::vector<NamedStrategy>& out_services, ServiceStrategy& out_default);

enum class JsonForm { kStrategiesFile, kRemoteResponse };

// Parses either JSON form; `form` says which one it was.
bool parse_json(std::string_view json, const std::string& source, RawStrategies& file,
                ServiceStrategy& response, JsonForm& form, std::vector<std::string>& errors);

// "SOURCE:LINE:COL" (1-based), or "SOURCE" when line is 0 (unknown).
std::string position(const std::string& source, int line, int column);

}  // namespace spanring::agent::sampling_detail
