#include "agent/export/exporter.hpp"

#include <utility>

namespace spanring::agent {

ExportBatch::ExportBatch() : ExportBatch(std::make_unique<google::protobuf::Arena>()) {}

ExportBatch::ExportBatch(std::unique_ptr<google::protobuf::Arena> arena)
    : arena_(std::move(arena)),
      request_(google::protobuf::Arena::CreateMessage<ExportTraceServiceRequest>(arena_.get())) {}

ExportBatch::ExportBatch(ExportBatch&& other) noexcept
    : spans(other.spans),
      id(other.id),
      services(std::move(other.services)),
      arena_(std::move(other.arena_)),
      request_(std::exchange(other.request_, nullptr)) {}

ExportBatch& ExportBatch::operator=(ExportBatch&& other) noexcept {
  if (this != &other) {
    spans = other.spans;
    id = other.id;
    services = std::move(other.services);
    // The request dies with its arena: take both, in this order, before the old arena goes.
    request_ = std::exchange(other.request_, nullptr);
    arena_ = std::move(other.arena_);
  }
  return *this;
}

ExportBatch::~ExportBatch() = default;

const char* to_string(ExportOutcome outcome) {
  switch (outcome) {
    case ExportOutcome::kAccepted: return "accepted";
    case ExportOutcome::kPartiallyRejected: return "partially_rejected";
    case ExportOutcome::kFailedPermanent: return "failed_permanent";
    case ExportOutcome::kFailedRetriesExhausted: return "failed_retries_exhausted";
    case ExportOutcome::kDroppedQueueFull: return "dropped_queue_full";
    case ExportOutcome::kDroppedTooLarge: return "dropped_too_large";
    case ExportOutcome::kDroppedShutdown: return "dropped_shutdown";
    case ExportOutcome::kKeptInQueue: return "kept_in_queue";
  }
  return "unknown";
}

}  // namespace spanring::agent
