// Jaeger's token bucket in "credits" (SPEC §7.c), with the time passed in so tests control it.
//
// Refill happens before the check, as in jaeger-client-java and -node. jaeger-client-go checks
// the old balance first and refills only when it falls short; after an idle period that lets a
// burst take the stale balance and then a whole refill (up to 2 × max_balance at once). Refilling
// first bounds every burst by max_balance.
#pragma once

#include <algorithm>

namespace spanring::agent {

class RateLimiter {
 public:
  RateLimiter() = default;
  // A fresh limiter starts full: it admits max_balance items at once (Go, Java and Node alike).
  RateLimiter(double credits_per_second, double max_balance, double now) noexcept
      : credits_per_second_(credits_per_second), balance_(max_balance), max_balance_(max_balance), last_tick_(now) {}

  // Jaeger's RateLimitingSampler(traces_per_second): max_balance = max(rate, 1), so a rate
  // below one still admits one trace, then one per 1/rate seconds.
  static RateLimiter traces_per_second(double rate, double now) noexcept {
    return RateLimiter(rate, std::max(rate, 1.0), now);
  }

  bool check_credit(double cost, double now) noexcept {
    refill(now);
    if (balance_ < cost) return false;
    balance_ -= cost;
    return true;
  }

  // Go's Update: refill at the old rate, then keep the same fraction of the (new) maximum, so a
  // reconfiguration neither empties the bucket nor hands out a fresh burst.
  void update(double credits_per_second, double max_balance, double now) noexcept {
    refill(now);
    balance_ = max_balance * (balance_ / max_balance_);
    credits_per_second_ = credits_per_second;
    max_balance_ = max_balance;
  }

  void update_traces_per_second(double rate, double now) noexcept { update(rate, std::max(rate, 1.0), now); }

  double credits_per_second() const noexcept { return credits_per_second_; }
  double balance() const noexcept { return balance_; }
  double max_balance() const noexcept { return max_balance_; }

 private:
  void refill(double now) noexcept {
    // A clock that steps back must not drain the bucket (Go would: negative elapsed time).
    if (now > last_tick_) {
      balance_ = std::min(max_balance_, balance_ + (now - last_tick_) * credits_per_second_);
      last_tick_ = now;
    }
  }

  double credits_per_second_ = 0;
  double balance_ = 1;
  double max_balance_ = 1;
  double last_tick_ = 0;
};

}  // namespace spanring::agent
