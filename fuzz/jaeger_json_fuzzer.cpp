// Sampling strategies arrive as JSON from a remote endpoint (or a file): untrusted bytes. Both
// Jaeger forms must parse or fail with errors, never crash; an accepted strategy is in range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> errors;
  spanring::agent::SamplingConfig config;
  spanring::agent::parse_jaeger_strategies_json(json, "fuzz.json", config, errors);
  spanring::agent::ServiceStrategy strategy;
  errors.clear();
  if (spanring::agent::parse_remote_strategy_response(json, "fuzz", strategy, errors)) {
    if (strategy.type == spanring::agent::StrategyType::kProbabilistic && !(strategy.param >= 0 && strategy.param <= 1))
      std::abort();
    if (strategy.type == spanring::agent::StrategyType::kRateLimiting && !(strategy.param >= 0)) std::abort();
  } else if (errors.empty()) {
    std::abort();  // a rejection always says why
  }
  return 0;
}
