// The sampling section of the agent's config, and the Jaeger formats it can import.
//
// Sources of a service's strategy, highest first (each replaces the whole strategy, it does not
// merge field by field):
//   1. the remote endpoint (sampling.remote), once it has answered for that service;
//   2. the strategies file (sampling.strategies_file), an unchanged Jaeger strategies JSON;
//   3. the inline list (sampling.strategies);
//   4. the default strategy, for services listed nowhere: the file's default_strategy, else the
//      inline default_strategy, else probabilistic 0.001 when a file is configured (Jaeger's
//      default) or 1.0 (keep everything) when not. The same order holds for
//      default_lower_bound_traces_per_second (default 0).
// After the file and the inline list are combined, Jaeger's per-operation rules (SPEC §7.a)
// run once against the resulting default: a probabilistic service without operation_strategies
// inherits the default's list with its own rate as the default rate; a service with its own list
// is merged with the default's list (the service's entries win per operation name).
//
// Stricter than Jaeger, because a silently ignored typo means months of wrong sampling: unknown
// keys, unknown types, missing type/param, ratelimiting entries under operation_strategies and
// duplicate services are errors (Jaeger warns and falls back). The JSON file keeps Jaeger's one
// lossy rule: a ratelimiting param is truncated to an integer (Go's int32(param)), so the same
// file samples the same way here and in Jaeger. Inline YAML rates keep their fraction (0.1 = one
// trace every 10 s).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace spanring::agent {

enum class StrategyType : std::uint8_t {
  kProbabilistic,  // param = probability of keeping a trace, [0, 1]
  kRateLimiting,   // param = traces per second, >= 0
};

struct OperationStrategy {
  std::string operation;  // the name of the trace's local root span
  double probability = 1.0;

  bool operator==(const OperationStrategy&) const = default;
};

// One service's strategy: the shape of Jaeger's SamplingStrategyResponse (SPEC §7.b).
struct ServiceStrategy {
  StrategyType type = StrategyType::kProbabilistic;
  double param = 1.0;
  // Jaeger's operationSampling. When set it decides for the service and type/param only
  // describe it (jaeger-client-go picks the per-operation sampler whenever it is present):
  // listed operations use their probability, others default_probability, each operation with a
  // guaranteed lower bound of lower_bound_per_second traces (0: none, see sampler.hpp). A
  // rate-limiting strategy with operation_strategies turns per-operation too (Jaeger does the
  // same), its unlisted operations at 0.001 with a strategies file, else 1.0.
  bool per_operation = false;
  double default_probability = 1.0;
  double lower_bound_per_second = 0;
  std::vector<OperationStrategy> operations;

  bool operator==(const ServiceStrategy&) const = default;
};

struct NamedStrategy {
  std::string service;
  ServiceStrategy strategy;

  bool operator==(const NamedStrategy&) const = default;
};

struct RemoteSamplingConfig {
  std::string endpoint;  // http://host[:port]/path; empty = no remote sampling
  // Durations keep nanoseconds, as the config file's parser does; asio timers take them as they are.
  std::chrono::nanoseconds poll_interval = std::chrono::seconds(60);  // >= 1 ms
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);         // one request, connect to last byte
  std::size_t max_response_bytes = 1 << 20;  // a larger body is an error

  bool operator==(const RemoteSamplingConfig&) const = default;
};

// The resolved configuration: every source above already combined (except remote answers,
// which arrive at run time through Sampler::set_remote_strategy).
struct SamplingConfig {
  bool parent_based = true;  // traces with a remote parent follow the upstream sampled flag
  std::vector<NamedStrategy> services;
  ServiceStrategy default_strategy;  // probabilistic 1.0
  std::string strategies_file;       // as configured (resolved path), for logs; empty = none
  RemoteSamplingConfig remote;
  // Per-trace memory for rate-limited and lower-bound decisions (see sampler.hpp).
  std::size_t decision_cache_capacity = 1 << 16;  // traces
  double decision_cache_ttl_seconds = 60;
  std::size_t max_operations = 2000;  // per service, as jaeger-client-go
  // Hex digits of `th` (OTel SDKs default to 4; 0 = all 14). The threshold used to decide is the
  // rounded one, so the decision and the written th always agree.
  int threshold_precision = 4;

  const ServiceStrategy& strategy_for(std::string_view service) const noexcept;
  bool operator==(const SamplingConfig&) const = default;
};

// Jaeger's default probability when a strategies file has no default_strategy (SPEC §7.a).
inline constexpr double kJaegerDefaultSamplingProbability = 0.001;

// Parses the `sampling:` node (null or undefined: all defaults). `file_name` prefixes every
// error as "FILE:LINE:COL: sampling.KEY: problem"; a relative strategies_file is resolved
// against the directory of `file_name`. Reads the strategies file if one is named. Returns
// true when `out` holds a valid config; otherwise false and `errors` has at least one entry
// (appended to). `out` is unspecified on failure.
//
// Positions need the node to carry its marks: a YAML::Clone()d node has none (every mark is
// 0:0), and errors then name the file and key path without line and column.
bool parse_sampling_config(const YAML::Node& sampling, const std::string& file_name,
                           SamplingConfig& out, std::vector<std::string>& errors);

// Parses either Jaeger JSON form, recognised by its keys:
//  - a strategies file (service_strategies / default_strategy / default_lower_bound_traces_per_second,
//    SPEC §7.a): replaces out.services and out.default_strategy with the file's, §7.a merge
//    applied (missing default_strategy ⇒ probabilistic 0.001). Unknown keys are errors.
//  - a remote sampling response (strategyType / probabilisticSampling / rateLimitingSampling /
//    operationSampling, SPEC §7.b): sets out.default_strategy to the strategy it describes and
//    leaves out.services alone. Unknown keys are ignored (a newer server may add fields).
// Errors read "SOURCE:LINE:COL: json.path: problem", the position computed from the byte offset.
bool parse_jaeger_strategies_json(std::string_view json, const std::string& source_name,
                                  SamplingConfig& out_or_part, std::vector<std::string>& errors);

// The remote response form only, straight into a ServiceStrategy.
bool parse_remote_strategy_response(std::string_view json, const std::string& source_name,
                                    ServiceStrategy& out, std::vector<std::string>& errors);

const char* to_string(StrategyType type) noexcept;  // "probabilistic" | "ratelimiting"

}  // namespace spanring::agent
