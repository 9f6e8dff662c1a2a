// The one shape every exporter has (OTLP/HTTP, console, file, none) and the types it speaks.
//
// An exporter takes a batch as the batch builder made it: a serialized ExportTraceServiceRequest
// (agent/core/otlp_encode.hpp writes it straight from the decoded spans). The OTLP/HTTP exporter
// sends those bytes as they are (and enforces its byte bounds on them); the console and file
// sinks, off the hot path, parse them back into the message with ExportBatch::request().
//
// Contract, for every implementation: enqueue() never blocks on the network; every batch it
// accepts gets exactly one result. Results may come in any order (several requests are in
// flight, a batch waiting for a retry lets later ones pass): where ring positions wait for the
// answer, the commit ledger releases them over the answered prefix only (agent/core/ledger.hpp).
//
// Threading: every method, and every callback, runs on the agent's io_context thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/base/status.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace spanring::agent {

using ExportTraceServiceRequest = opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

// How many spans of one service a batch holds, by name: a batch kept on disk outlives the
// process whose service indices made it, so the accounting finds its services by name.
struct ServiceCount {
  std::string service;
  std::uint64_t spans = 0;
  bool operator==(const ServiceCount&) const = default;
};

// One OTLP request: its serialized bytes, how many spans they hold, and the caller's id.
struct ExportBatch {
  ExportBatch() = default;
  // `request` serialized (tests, and anything that has a message rather than spans).
  explicit ExportBatch(const ExportTraceServiceRequest& request, std::uint64_t spans = 0);

  // The message the bytes encode (parsed: the slow path of the console and file sinks). Bytes
  // that do not parse (never the batch builder's) give an empty request.
  // Const, so that `batch.request() = ...` or `batch.request().add_...()` (changing a temporary,
  // not the batch) does not compile.
  const ExportTraceServiceRequest request() const;

  std::string body;         // a serialized ExportTraceServiceRequest
  std::uint64_t spans = 0;  // spans inside `body`, for queue bounds and results
  std::uint64_t id = 0;     // caller's id, handed back in the result
  std::vector<ServiceCount> services;  // whose spans these are; handed back in the result
};

// Final fate of one accepted batch. What the caller should do is the same for every failure: the
// spans are gone, count them under the outcome's name.
enum class ExportOutcome {
  kAccepted,               // 2xx; `message` may carry the server's warning
  kPartiallyRejected,      // 2xx with partial_success.rejected_spans > 0; never retried
  kFailedPermanent,        // non-retryable answer (400, 401, 404, 413, 500, oversized reply, ...)
  kFailedRetriesExhausted, // transient failures until retry.max_elapsed_time (or retry disabled)
  kDroppedQueueFull,       // accepted but sync() could not store it (enqueue() refusals return false)
  kDroppedTooLarge,        // serialized request > max_request_bytes; never sent
  kDroppedShutdown,        // not delivered before shutdown's deadline / not retried during shutdown
  kKeptInQueue,            // shutdown: not delivered, left in the disk queue for the next start
};

const char* to_string(ExportOutcome outcome);

struct ExportResult {
  ExportOutcome outcome = ExportOutcome::kAccepted;
  std::uint64_t id = 0;
  std::uint64_t spans = 0;
  // The batch's services as enqueued. A batch resumed from a disk queue left by an earlier run
  // has id 0 and `resumed` set: its spans were read (and counted as written) by that run.
  std::vector<ServiceCount> services;
  bool resumed = false;
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
  // Batches accepted and not answered yet, and those of them on the wire now (for the gauges and
  // the control socket). 0 for exporters that answer at once.
  virtual std::size_t queued_batches() const { return 0; }
  virtual std::size_t in_flight() const { return 0; }
  // Disk queue records lost to corruption: records that did not parse, plus stores that could
  // not be opened and were moved aside (each logged with its name).
  virtual std::uint64_t corrupt_records() const { return 0; }
  // True when a batch is safe once enqueue() accepted it and sync() returned (a memory or disk
  // queue holds it until its answer): the caller may then release its ring positions. False:
  // the rings stay the buffer until the result arrives.
  virtual bool holds_batches() const { return false; }
  // Makes every batch accepted so far safe (a disk queue commits them together, with fsync).
  // One that could not be kept comes back as a kDroppedQueueFull result (posted).
  virtual void sync() {}
  // Spans, by service, of a disk queue left by an earlier run, resumed when this exporter was
  // made; they come back as results with `resumed` set.
  virtual std::vector<ServiceCount> resumed() const { return {}; }
  // Spans, by service, that an earlier run held in a memory queue when it was killed: lost, and
  // counted by this run (as resumed, and dropped{agent_crash}).
  virtual std::vector<ServiceCount> lost_by_earlier_run() const { return {}; }
  // Re-reads what the exporter loaded from files when it was built — the OTLP exporter's TLS
  // certificates and keys — on reload (SIGHUP), so rotated files are used without a restart. An
  // unusable file is an error naming it, and the material in use stays. Default: nothing to read.
  virtual Status reload_files() { return Status(); }
};

}  // namespace spanring::agent
