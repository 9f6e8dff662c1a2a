// The one shape every exporter has (OTLP/HTTP, console, file, none): take a serialized batch,
// never block, report exactly one result per accepted batch, in FIFO order. The drain loop
// relies on that order to advance ring read positions only after a batch is resolved.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace spanring::agent {

struct ExportBatch {
  std::string body;  // serialized ExportTraceServiceRequest (uncompressed)
  std::uint64_t spans = 0;
  std::uint64_t id = 0;  // the caller's id, handed back in the result
};

enum class ExportOutcome {
  kAccepted,               // the backend took every span
  kPartiallyRejected,      // 200 with partial_success: rejected_spans were refused, rest accepted
  kFailedPermanent,        // non-retryable answer (400, 401, 404, 413, 500, …): dropped
  kFailedRetriesExhausted, // retryable failures until the retry budget ran out: dropped
  kDroppedTooLarge,        // body over the request size limit: dropped without sending
  kDroppedShutdown,        // still queued when the shutdown deadline passed: dropped
};

const char* to_string(ExportOutcome o) noexcept;

struct ExportResult {
  ExportOutcome outcome = ExportOutcome::kAccepted;
  std::uint64_t id = 0;
  std::uint64_t spans = 0;
  std::uint64_t rejected_spans = 0;  // partial: refused by the backend; any failure: == spans
  int http_status = 0;
  std::string message;
  std::chrono::nanoseconds latency{};  // enqueue → final outcome
  std::uint32_t attempts = 0;
};

using ResultCallback = std::function<void(const ExportResult&)>;

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Never blocks. Returns false, and reports nothing, when the batch does not fit the queue:
  // the caller counts those spans as dropped (queue_full).
  virtual bool enqueue(ExportBatch batch) = 0;
  // Stops accepting retries, flushes until `deadline`, then fails the rest with
  // kDroppedShutdown; calls `done` once every accepted batch has its result.
  virtual void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) = 0;
  virtual std::uint64_t queued_spans() const = 0;
  virtual std::uint64_t queued_bytes() const = 0;
};

}  // namespace spanring::agent
