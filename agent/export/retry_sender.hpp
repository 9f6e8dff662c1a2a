// Middle export layer: when and whether a transient failure is retried (exponential backoff with
// jitter, Retry-After, max elapsed time).
//
// A policy, not a Sender: the exporter core keeps one RetryState per batch and, while a batch
// waits for its next attempt, its connection serves other batches. A wait therefore holds no
// in-flight slot (http_exporter.cpp).
#pragma once

#include "agent/export/export_config.hpp"
#include "agent/export/sender.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

namespace spanring::agent {

// One batch's retry history.
struct RetryState {
  std::uint32_t attempts = 0;                          // attempts started
  std::chrono::steady_clock::time_point first{};       // when the first one started
  std::chrono::nanoseconds interval{};                 // backoff base for the next wait
};

// kOk and kPermanent are final. kRetryable and kThrottled are retried after max(server delay,
// backoff), unless retry is disabled or the next attempt would start more than max_elapsed_time
// after the first: then the failure is final, and `why` says why it ended.
class RetryPolicy {
 public:
  explicit RetryPolicy(RetryConfig config, std::uint64_t seed = std::random_device{}());

  // An attempt of the batch starts now.
  void started(RetryState& state, std::chrono::steady_clock::time_point now) const;
  // The wait before the next attempt after the transient failure `result`, or nullopt (final)
  // with `why` set.
  std::optional<std::chrono::nanoseconds> next_wait(RetryState& state, const SendResult& result,
                                                    std::chrono::steady_clock::time_point now, std::string& why);

 private:
  std::chrono::nanoseconds next_backoff(RetryState& state);

  RetryConfig config_;
  std::mt19937_64 rng_;
};

}  // namespace spanring::agent
