// Outermost export layer's bounds: what the exporter holds (waiting, waiting for a retry, in
// flight) counted in batches, spans and bytes against queue.*.
#pragma once

#include "agent/export/export_config.hpp"

#include <cstddef>
#include <cstdint>

namespace spanring::agent {

// An add that would take any count past its limit is refused; reaching a limit exactly is fine.
// Like the Collector's queue it answers "full" instead of blocking: the caller decides (the
// agent drops the newest batch, see the README).
class BoundedQueue {
 public:
  explicit BoundedQueue(QueueConfig limits) : limits_(limits) {}

  // Whether a batch of `spans` spans and `bytes` bytes would be accepted now.
  bool fits(std::uint64_t spans, std::uint64_t bytes) const;
  // Counts a batch in, unchecked (a resumed disk queue may exceed bounds lowered since).
  void add(std::uint64_t spans, std::uint64_t bytes);
  // Counts a batch added before out.
  void remove(std::uint64_t spans, std::uint64_t bytes);

  bool empty() const { return batches_ == 0; }
  std::size_t batches() const { return batches_; }
  std::uint64_t spans() const { return spans_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  QueueConfig limits_;
  std::size_t batches_ = 0;
  std::uint64_t spans_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace spanring::agent
