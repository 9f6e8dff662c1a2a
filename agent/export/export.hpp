// spanring agent — OTLP/HTTP trace export (SPEC §2, §4).
//
// The pipeline copies the OpenTelemetry Collector's exporterhelper: three layers, each in its own
// file, each wrapping the next, all with one `send` shape (sender.hpp):
//
//   enqueue ──► bounded queue ──► retry (backoff, Retry-After, max elapsed) ──► one attempt (timeout)
//              bounded_queue.hpp   retry_sender.hpp                              http_sender.hpp
//
// The timeout is innermost so that it bounds one attempt, not the whole retry sequence. Responses
// are classified once (response.hpp) into ok / retryable / throttled(delay) / permanent; the
// layers above act on the class, never on raw HTTP status codes.
//
// Threading: everything runs on the io_context the agent owns, on its single thread. Nothing here
// blocks that thread (resolve, connect, write and read are all asynchronous) and no locks are
// taken. Every public method must be called from that thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

// Relative: sinks and core include this header through the agent/ root ("export/export.hpp").
#include "export_config.hpp"

namespace spanring::agent {

// One OTLP request.
struct ExportBatch {
  std::string body;         // serialized ExportTraceServiceRequest, uncompressed
  std::uint64_t spans = 0;  // spans inside `body`, for queue bounds and results
  std::uint64_t id = 0;     // caller's id, handed back in the result
};

// Final fate of one accepted batch. What the caller should do is the same for every failure: the
// spans are gone, count them under the outcome's name.
enum class ExportOutcome {
  kAccepted,               // 2xx; `message` may carry the server's warning
  kPartiallyRejected,      // 2xx with partial_success.rejected_spans > 0; never retried
  kFailedPermanent,        // non-retryable answer (400, 401, 404, 413, 500, oversized reply, ...)
  kFailedRetriesExhausted, // transient failures until retry.max_elapsed_time (or retry disabled)
  kDroppedQueueFull,       // never produced by HttpExporter: enqueue() returns false instead
  kDroppedTooLarge,        // body > max_request_bytes; never sent
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
  std::uint32_t attempts = 0;      // HTTP attempts made (0 when never sent)
};

class ExporterCore;

// Queue -> retry -> attempt. At most one request in flight, one keep-alive connection (reopened
// after the server closes it or an error). Results arrive in FIFO order: every batch accepted by
// enqueue() gets exactly one on_result call, after all batches enqueued before it got theirs.
// on_result runs on the io_context thread, never inside enqueue() or shutdown(); it may call
// enqueue() and shutdown().
class HttpExporter {
 public:
  // Throws std::invalid_argument with the validate() messages when `config` is invalid.
  HttpExporter(boost::asio::io_context& io, HttpExportConfig config,
               std::function<void(const ExportResult&)> on_result);
  // Pending batches are abandoned without a result: call shutdown() and wait for done() first.
  ~HttpExporter();
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  // Never blocks. Returns false, and calls nothing, when a queue bound would be exceeded or
  // shutdown() was called: the batch is discarded and the caller counts its spans as queue_full
  // (kDroppedQueueFull is never reported). A body over max_request_bytes is accepted here and
  // completes with kDroppedTooLarge in its FIFO turn (it occupies a batch slot and its spans, not
  // its bytes, while queued).
  bool enqueue(ExportBatch batch);

  std::size_t queued_batches() const;
  std::uint64_t queued_spans() const;
  std::uint64_t queued_bytes() const;

  // Graceful stop. No new backoff waits start and a running one ends (that batch completes with
  // kDroppedShutdown); queued batches are then tried once each until `deadline`. At the deadline
  // the attempt in flight is aborted and it and every remaining batch complete with
  // kDroppedShutdown. `done` runs once, after the last result (posted, never inline). Only the
  // first call counts; later calls are ignored and their `done` is never called.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done);

 private:
  std::shared_ptr<ExporterCore> core_;
};

}  // namespace spanring::agent
