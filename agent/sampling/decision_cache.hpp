// Remembers recent per-trace decisions that are not a pure function of the trace id (rate
// limiter and lower-bound answers), so every span of the trace gets the first span's answer.
//
// Layout: the entries live in a FIFO ring in insertion order, which is also expiry order (one
// TTL for all), so expiring and evicting the oldest are both "pop the head". An open-addressing
// index (linear probing, at most half full, backward-shift deletion: no tombstones to clean up)
// maps a trace id to its ring position. Trace ids are random, so the low bits of the id mixed by
// one multiply spread well. Memory is allocated on the first insert: an agent with no
// rate-limited service never pays for it.
//
// Threading: one thread (the sampler's).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "agent/sampling/decision.hpp"

namespace spanring::agent {

struct TraceKey {
  std::uint64_t hi = 0, lo = 0;
  static TraceKey from(const std::array<std::uint8_t, 16>& trace_id) noexcept;
  bool operator==(const TraceKey&) const = default;
};

class DecisionCache {
 public:
  DecisionCache(std::size_t capacity, double ttl_seconds);

  // Drops entries decided more than ttl ago, then returns the trace's decision, or nullptr.
  // The pointer is valid until the next insert/configure.
  const SamplingDecision* find(const TraceKey& key, double now) noexcept;
  // Adds a decision for a trace that find() just missed. When full, the oldest entry goes
  // first (counted in evictions()).
  void insert(const TraceKey& key, const SamplingDecision& decision, double now);
  // New bounds; keeps the newest entries that fit.
  void configure(std::size_t capacity, double ttl_seconds);

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t evictions() const noexcept { return evictions_; }
  std::uint64_t expirations() const noexcept { return expirations_; }

 private:
  struct Entry {
    TraceKey key;
    double time = 0;
    SamplingDecision decision;
  };

  std::size_t home(const TraceKey& key) const noexcept;
  void allocate();
  void pop_oldest() noexcept;
  void expire(double now) noexcept;

  std::size_t capacity_;
  double ttl_;
  std::vector<Entry> ring_;
  std::vector<std::uint32_t> index_;  // ring position + 1; 0 = empty
  std::size_t mask_ = 0;
  unsigned shift_ = 64;
  std::size_t head_ = 0, size_ = 0;
  std::uint64_t evictions_ = 0, expirations_ = 0;
};

}  // namespace spanring::agent
