// The trace of one simulated LLM request, and the deterministic generator that varies it.
#pragma once

#include <cstdint>

namespace spanring::loadgen {

// splitmix64: tiny, fast and the same on every platform (std:: distributions are not), so a
// seed reproduces the same requests everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() noexcept { return double(next() >> 11) * 0x1p-53; }  // [0, 1)
  std::uint64_t below(std::uint64_t n) noexcept { return std::uint64_t(uniform() * double(n)); }
  bool chance(double p) noexcept { return uniform() < p; }

 private:
  std::uint64_t state_;
};

// Seed of one request thread: distinct, reproducible streams per (seed, service, thread).
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t service, std::uint64_t thread) noexcept;

// How big a request's tree is, derived from --spans-per-request so that the expected span
// count is close to it.
struct Shape {
  int layers = 4;              // cache_lookup spans per request
  double evictions = 1.0;      // expected eviction subtrees (4 spans each) per request
  double error_rate = 0.02;
  bool simulate_work = false;  // sleep inside spans for plausible durations
};
Shape shape_for(int spans_per_request, double error_rate) noexcept;

struct RequestTally {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t spans_created = 0;  // spans that were recording when they started
};

// Emits one request's trace (a new root) on the calling thread and counts it into `tally`.
// Spans take no simulated time; their durations are the real time the code took.
void simulate_request(const Shape& shape, Rng& rng, RequestTally& tally) noexcept;

}  // namespace spanring::loadgen
