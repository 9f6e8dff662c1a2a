// spanring agent — OTLP trace export over any protocol (SPEC §2, §3, §4); the name is historical.
//
// enqueue() takes the batch's serialized request as the body it will send (once; retries resend
// it), without a copy, so the queue holds exactly the bytes it counts against queue.max_bytes
// and max_request_bytes.
//
// The pipeline copies the OpenTelemetry Collector's exporterhelper: three layers, each in its own
// file, all speaking one `send` shape (sender.hpp):
//
//   enqueue ──► queue (memory or disk) ──► up to max_in_flight attempts ──► one attempt (timeout)
//               bounded_queue.hpp            retry policy per batch           http_sender / grpc_sender
//               disk_queue.hpp               retry_sender.hpp                 (sender_factory.hpp)
//
// Several requests in flight: a pool of max_in_flight Senders, one request each. The next batch
// to send is always the oldest one ready (lowest sequence number): a resumed disk queue goes
// before new spans, and a batch whose retry wait ended goes before newer ones. A batch waiting
// for its retry holds no Sender: others go out meanwhile. Results therefore come in any order.
//
// What the queue holds, and when a batch is safe (queue.storage, export_config.hpp):
//   disk    enqueue() returns once the batch is committed to LMDB with fsync; the record is
//           deleted when the batch gets its final answer. Memory holds only the requests in
//           flight (a body is read back from the store for each attempt).
//   memory  enqueue() returns once the batch is queued; the body stays in memory until its
//           answer (in flight included: the bounds count every batch not answered yet). What
//           is queued is tallied per service in queue.directory (memory_tally.hpp), so the
//           start after a SIGKILL counts what it lost.
//   rings   as memory, but the batch is not safe before its answer (holds_batches() false).
// Each batch is released (its record deleted, its bounds freed) as soon as its own answer
// arrives, so after a SIGKILL at most the batches in flight can be sent twice.
//
// The timeout is innermost so that it bounds one attempt, not the whole retry sequence. Responses
// are classified once (response.hpp, classify_grpc_status) into ok / retryable /
// throttled(delay) / permanent; the layers above act on the class, never on raw status codes.
//
// Threading: everything runs on the io_context the agent owns, on its single thread. Nothing here
// blocks that thread except the disk queue's fsync in sync() (resolve, connect, handshake, write
// and read are all asynchronous; gRPC's own threads only post results back) and no locks are
// taken on it. Every public method must be called from that thread.
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

#include "agent/export/export_config.hpp"
#include "agent/export/exporter.hpp"

namespace spanring::agent {

class ExporterCore;

// Queue -> retry -> attempt. Every batch accepted by enqueue() (and every batch resumed from the
// disk queue) gets exactly one on_result call. on_result runs on the io_context thread, never
// inside enqueue() or shutdown(); it may call enqueue() and shutdown().
class HttpExporter final : public Exporter {
 public:
  // Throws std::invalid_argument with the validate() messages when `config` is invalid, and
  // std::runtime_error naming the directory when the disk queue cannot be opened (locked by
  // another agent, not writable). An empty queue.directory is default_queue_directory().
  HttpExporter(boost::asio::io_context& io, HttpExportConfig config, ResultCallback on_result);
  // Pending batches are abandoned without a result (a disk queue keeps them for the next
  // start): call shutdown() and wait for done() first.
  ~HttpExporter() override;
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  // Never blocks. Serializes the request (its size is known first, from ByteSizeLong(), so a
  // refused or oversized batch is never serialized); with a disk queue it is stored by the next
  // sync(). Returns false, and calls nothing, when a queue bound would be exceeded or shutdown()
  // was called: the batch is discarded and the caller counts its spans as queue_full. A request
  // whose serialized size is over max_request_bytes is accepted here (not stored) and completes
  // with kDroppedTooLarge in its turn (it occupies a batch slot and its spans, not its bytes).
  bool enqueue(ExportBatch batch) override;
  // Disk: stores every batch accepted since the last sync() in one transaction and syncs it
  // (also done by a posted handler after enqueue(), for callers that do not call this).
  // Batches that could not be stored (store full, I/O error; logged) are reported as
  // kDroppedQueueFull results, posted. Memory and rings: nothing to do.
  void sync() override;

  // Everything held and not answered yet, in flight and waiting for a retry included.
  std::size_t queued_batches() const override;
  std::uint64_t queued_spans() const override;
  std::uint64_t queued_bytes() const override;  // serialized, uncompressed
  // Requests on the wire now (<= max_in_flight).
  std::size_t in_flight() const override;
  bool holds_batches() const override;
  std::vector<ServiceCount> resumed() const override;
  std::vector<ServiceCount> lost_by_earlier_run() const override;
  // Disk queue: records that did not parse (deleted), plus stores LMDB could not open (moved
  // aside, also in store_resets()). Both lose spans no service can be charged with; both are
  // logged.
  std::uint64_t corrupt_records() const override;
  std::uint64_t store_resets() const;

  // Graceful stop. No new backoff waits start and running ones end; queued batches are then tried
  // once each until `deadline`. At the deadline the attempts in flight are aborted. Every batch
  // not delivered completes with kKeptInQueue (disk: it stays in the store for the next start)
  // or kDroppedShutdown (memory, rings). `done` runs once, after the last result (posted, never
  // inline). Only the first call counts; later calls are ignored and their `done` is never called.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  // TLS endpoints only: builds new attempt senders from the same config (the files read anew)
  // and swaps them in. A connection open at that moment finishes the request it carries with
  // the old certificates and is then closed; the next attempt connects with the new ones.
  Status reload_files() override;

 private:
  std::shared_ptr<ExporterCore> core_;
};

}  // namespace spanring::agent
