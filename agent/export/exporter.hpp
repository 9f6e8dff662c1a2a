// The one shape every exporter has (OTLP/HTTP, console, file, none) and the types it speaks.
//
// An exporter takes a batch as the batch builder made it: an ExportTraceServiceRequest in the
// protobuf arena the batch owns. Bytes exist only where they are needed: the OTLP/HTTP exporter
// serializes (and enforces its byte bounds there); the console and file sinks read the message.
//
// Contract, for every implementation: enqueue() never blocks; every batch it accepts gets exactly
// one result, and results come in enqueue (FIFO) order. The drain loop relies on that order to
// advance ring read positions only after a batch is resolved.
//
// Threading: every method, and every callback, runs on the agent's io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <google/protobuf/arena.h>

#include "agent/base/status.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace spanring::agent {

using ExportTraceServiceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

// One OTLP request, owning the arena its messages live in. Moving the batch moves the arena, so
// the request stays valid for as long as whoever holds the batch keeps it (a queue, a retry);
// destroying the batch frees every message at once.
class ExportBatch {
 public:
  // An empty request in a new arena with protobuf's default block sizes (tests, small batches).
  ExportBatch();
  // An empty request in `arena` (not null), which the batch now owns.
  explicit ExportBatch(std::unique_ptr<google::protobuf::Arena> arena);
  ExportBatch(ExportBatch&& other) noexcept;
  ExportBatch& operator=(ExportBatch&& other) noexcept;
  ExportBatch(const ExportBatch&) = delete;
  ExportBatch& operator=(const ExportBatch&) = delete;
  ~ExportBatch();

  // Not valid on a moved-from batch.
  ExportTraceServiceRequest& request() noexcept { return *request_; }
  const ExportTraceServiceRequest& request() const noexcept { return *request_; }

  std::uint64_t spans = 0;  // spans inside request(), for queue bounds and results
  std::uint64_t id = 0;     // caller's id, handed back in the result

 private:
  std::unique_ptr<google::protobuf::Arena> arena_;
  ExportTraceServiceRequest* request_ = nullptr;  // allocated in arena_
};

// Final fate of one accepted batch. What the caller should do is the same for every failure: the
// spans are gone, count them under the outcome's name.
enum class ExportOutcome {
  kAccepted,               // 2xx; `message` may carry the server's warning
  kPartiallyRejected,      // 2xx with partial_success.rejected_spans > 0; never retried
  kFailedPermanent,        // non-retryable answer (400, 401, 404, 413, 500, oversized reply, ...)
  kFailedRetriesExhausted, // transient failures until retry.max_elapsed_time (or retry disabled)
  kDroppedQueueFull,       // never reported: enqueue() returns false instead
  kDroppedTooLarge,        // serialized request > max_request_bytes; never sent
  kDroppedShutdown,        // not delivered before shutdown's deadline / not retried during shutdown
};

const char* to_string(ExportOutcome outcome);

struct ExportResult {
  ExportOutcome outcome = ExportOutcome::kAccepted;
  std::uint64_t id = 0;
  std::uint64_t spans = 0;
  // Partial success: how many the backend rejected (the rest were accepted). Any failure: == spans.
  std::uint64_t rejected_spans = 0;
  int http_status = 0;             // status of the last attempt; 0 = no answer (connection error, never sent)
  std::string message;             // cause, server's google.rpc.Status message or warning
  std::chrono::nanoseconds latency{};  // enqueue -> final outcome
  std::uint32_t attempts = 0;      // attempts made (0 when never sent)
};

// Runs on the io_context thread, never inside enqueue() or shutdown(); it may call both.
using ResultCallback = std::function<void(const ExportResult&)>;

class Exporter {
 public:
  virtual ~Exporter() = default;
  // Never blocks. Returns false, and reports nothing, when the batch does not fit the queue or
  // shutdown() was called: the batch is discarded and the caller counts its spans as dropped
  // (queue_full).
  virtual bool enqueue(ExportBatch batch) = 0;
  // Stops accepting batches and retries, flushes until `deadline`, then fails the rest with
  // kDroppedShutdown; posts `done` once every accepted batch has its result. Only the first call
  // counts.
  virtual void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) = 0;
  // What the exporter holds and has not resolved yet (for the agent's gauges).
  virtual std::uint64_t queued_spans() const = 0;
  virtual std::uint64_t queued_bytes() const = 0;
  // Re-reads what the exporter loaded from files when it was built — the OTLP exporter's TLS
  // certificates and keys — on reload (SIGHUP), so rotated files are used without a restart. An
  // unusable file is an error naming it, and the material in use stays. Default: nothing to read.
  virtual Status reload_files() { return Status(); }
};

}  // namespace spanring::agent
