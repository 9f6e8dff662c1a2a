#include "agent/export/retry_sender.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace spanring::agent {

using std::chrono::nanoseconds;

namespace {

std::string ms_text(nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

RetryPolicy::RetryPolicy(RetryConfig config, std::uint64_t seed) : config_(config), rng_(seed) {}

void RetryPolicy::started(RetryState& state, std::chrono::steady_clock::time_point now) const {
  if (state.attempts++ == 0) {
    state.first = now;
    state.interval = config_.initial_interval;
  }
}

nanoseconds RetryPolicy::next_backoff(RetryState& state) {
  std::uniform_real_distribution<double> factor(1.0 - config_.jitter, 1.0 + config_.jitter);
  const auto wait =
      nanoseconds{static_cast<nanoseconds::rep>(static_cast<double>(state.interval.count()) * factor(rng_))};
  const auto grown = static_cast<double>(state.interval.count()) * config_.multiplier;
  state.interval = grown >= static_cast<double>(config_.max_interval.count())
                       ? config_.max_interval
                       : nanoseconds{static_cast<nanoseconds::rep>(grown)};
  return wait;
}

std::optional<nanoseconds> RetryPolicy::next_wait(RetryState& state, const SendResult& result,
                                                  std::chrono::steady_clock::time_point now, std::string& why) {
  if (!config_.enabled) {
    why = "retry disabled";
    return std::nullopt;
  }
  nanoseconds wait = next_backoff(state);
  if (result.cls == SendClass::kThrottled) wait = std::max(wait, result.retry_after);
  if (now + wait - state.first > config_.max_elapsed_time) {
    why = "gave up after " + std::to_string(state.attempts) + " attempts in " + ms_text(now - state.first) +
          " (next wait " + ms_text(wait) + " would pass max_elapsed_time " + ms_text(config_.max_elapsed_time) + ")";
    return std::nullopt;
  }
  return wait;
}

}  // namespace spanring::agent
