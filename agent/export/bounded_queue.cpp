#include "agent/export/bounded_queue.hpp"

namespace spanring::agent {

bool BoundedQueue::fits(std::uint64_t spans, std::uint64_t bytes) const {
  // Written as "free room < need" so that huge counts cannot overflow a sum.
  if (batches_ >= limits_.max_batches) return false;
  if (spans_ > limits_.max_spans || spans > limits_.max_spans - spans_) return false;
  if (bytes_ > limits_.max_bytes || bytes > limits_.max_bytes - bytes_) return false;
  return true;
}

void BoundedQueue::add(std::uint64_t spans, std::uint64_t bytes) {
  ++batches_;
  spans_ += spans;
  bytes_ += bytes;
}

void BoundedQueue::remove(std::uint64_t spans, std::uint64_t bytes) {
  --batches_;
  spans_ -= spans;
  bytes_ -= bytes;
}

}  // namespace spanring::agent
