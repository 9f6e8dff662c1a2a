#include "agent/export/bounded_queue.hpp"

#include <utility>

namespace spanring::agent {

bool BoundedQueue::fits(std::uint64_t spans, std::uint64_t bytes) const {
  // Written as "free room < need" so that huge counts cannot overflow a sum.
  if (items_.size() >= limits_.max_batches) return false;
  if (spans_ > limits_.max_spans || spans > limits_.max_spans - spans_) return false;
  if (bytes_ > limits_.max_bytes || bytes > limits_.max_bytes - bytes_) return false;
  return true;
}

bool BoundedQueue::try_push(QueuedBatch&& item) {
  const std::uint64_t item_bytes = item.body.size();
  if (!fits(item.spans, item_bytes)) return false;
  spans_ += item.spans;
  bytes_ += item_bytes;
  items_.push_back(std::move(item));
  return true;
}

std::optional<QueuedBatch> BoundedQueue::pop() {
  if (items_.empty()) return std::nullopt;
  QueuedBatch item = std::move(items_.front());
  items_.pop_front();
  spans_ -= item.spans;
  bytes_ -= item.body.size();
  return item;
}

}  // namespace spanring::agent
