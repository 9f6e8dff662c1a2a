// Outermost export layer's storage: a FIFO of batches bounded in batches, spans and bytes.
#pragma once

#include "agent/export/export_config.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace spanring::agent {

// One request as the OTLP/HTTP exporter keeps it: serialized, so that retries resend the same
// bytes and the byte bound counts what is held.
struct QueuedBatch {
  std::string body;         // serialized ExportTraceServiceRequest, uncompressed
  std::uint64_t spans = 0;  // spans inside `body`
  std::uint64_t id = 0;     // the ExportBatch's id
  std::chrono::steady_clock::time_point enqueued_at{};
  // Set for a request over max_request_bytes: it keeps its FIFO place so its result comes in
  // order, but it was never serialized (it only counts as a batch and its spans).
  bool too_large = false;
  std::size_t original_bytes = 0;  // serialized size, also when too_large
};

// A push that would take any count past its limit is refused; reaching a limit exactly is fine.
// Like the Collector's queue it answers "full" instead of blocking: the caller decides.
class BoundedQueue {
 public:
  explicit BoundedQueue(QueueConfig limits) : limits_(limits) {}

  // Whether an item of `spans` spans and `bytes` bytes would be accepted now.
  bool fits(std::uint64_t spans, std::uint64_t bytes) const;
  // On false `item` is left untouched.
  bool try_push(QueuedBatch&& item);
  std::optional<QueuedBatch> pop();

  bool empty() const { return items_.empty(); }
  std::size_t batches() const { return items_.size(); }
  std::uint64_t spans() const { return spans_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  QueueConfig limits_;
  std::deque<QueuedBatch> items_;
  std::uint64_t spans_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace spanring::agent
