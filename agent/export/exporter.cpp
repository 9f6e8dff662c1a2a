#include "agent/export/exporter.hpp"

#include <utility>

namespace spanring::agent {

ExportBatch::ExportBatch(const ExportTraceServiceRequest& request, std::uint64_t span_count)
    : body(request.SerializeAsString()), spans(span_count) {}

const ExportTraceServiceRequest ExportBatch::request() const {
  ExportTraceServiceRequest r;
  if (!r.ParseFromString(body)) r.Clear();
  return r;
}

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
