#include "agent/sampling/decision_cache.hpp"

#include <algorithm>
#include <cstring>

namespace spanring::agent {

TraceKey TraceKey::from(const std::array<std::uint8_t, 16>& trace_id) noexcept {
  TraceKey k;
  std::memcpy(&k.hi, trace_id.data(), 8);
  std::memcpy(&k.lo, trace_id.data() + 8, 8);
  return k;
}

DecisionCache::DecisionCache(std::size_t capacity, double ttl_seconds)
    : capacity_(std::max<std::size_t>(capacity, 1)), ttl_(ttl_seconds) {}

std::size_t DecisionCache::home(const TraceKey& key) const noexcept {
  // Fibonacci hashing: the product's top bits depend on every bit of the key.
  return static_cast<std::size_t>(((key.lo ^ key.hi) * 0x9E3779B97F4A7C15ull) >> shift_);
}

void DecisionCache::allocate() {
  std::size_t slots = 2;
  unsigned bits = 1;
  while (slots < 2 * capacity_) {
    slots <<= 1;
    ++bits;
  }
  ring_.assign(capacity_, Entry{});
  index_.assign(slots, 0);
  mask_ = slots - 1;
  shift_ = 64 - bits;
  head_ = size_ = 0;
}

void DecisionCache::pop_oldest() noexcept {
  const TraceKey& key = ring_[head_].key;
  const std::uint32_t wanted = static_cast<std::uint32_t>(head_ + 1);
  std::size_t i = home(key);
  while (index_[i] != wanted) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later members of the probe run into the hole when the hole
  // lies between their home and their slot, so lookups never need tombstones.
  std::size_t j = i;
  while (true) {
    j = (j + 1) & mask_;
    if (index_[j] == 0) break;
    const std::size_t k = home(ring_[index_[j] - 1].key);
    if (((j - k) & mask_) >= ((j - i) & mask_)) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = 0;
  head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
  --size_;
}

void DecisionCache::expire(double now) noexcept {
  while (size_ > 0 && ring_[head_].time + ttl_ <= now) {
    pop_oldest();
    ++expirations_;
  }
}

const SamplingDecision* DecisionCache::find(const TraceKey& key, double now) noexcept {
  if (size_ == 0) return nullptr;
  expire(now);
  for (std::size_t i = home(key); index_[i] != 0; i = (i + 1) & mask_) {
    const Entry& e = ring_[index_[i] - 1];
    if (e.key == key) return &e.decision;
  }
  return nullptr;
}

void DecisionCache::insert(const TraceKey& key, const SamplingDecision& decision, double now) {
  if (ring_.empty()) allocate();
  expire(now);
  if (size_ == capacity_) {
    pop_oldest();
    ++evictions_;
  }
  std::size_t pos = head_ + size_;
  if (pos >= capacity_) pos -= capacity_;
  ring_[pos] = Entry{key, now, decision};
  ++size_;
  std::size_t i = home(key);
  while (index_[i] != 0) i = (i + 1) & mask_;
  index_[i] = static_cast<std::uint32_t>(pos + 1);
}

void DecisionCache::configure(std::size_t capacity, double ttl_seconds) {
  capacity = std::max<std::size_t>(capacity, 1);
  ttl_ = ttl_seconds;
  if (capacity == capacity_) return;
  std::vector<Entry> kept;
  kept.reserve(std::min(size_, capacity));
  while (size_ > capacity) {
    pop_oldest();
    ++evictions_;
  }
  while (size_ > 0) {
    kept.push_back(ring_[head_]);
    pop_oldest();
  }
  capacity_ = capacity;
  ring_.clear();
  index_.clear();
  if (kept.empty()) return;
  allocate();
  for (const Entry& e : kept) {
    ring_[size_] = e;
    std::size_t i = home(e.key);
    while (index_[i] != 0) i = (i + 1) & mask_;
    index_[i] = static_cast<std::uint32_t>(size_ + 1);
    ++size_;
  }
}

}  // namespace spanring::agent
