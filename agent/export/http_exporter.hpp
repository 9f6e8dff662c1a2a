// spanring agent — OTLP trace export over any protocol (SPEC §2, §3, §4); the name is historical.
//
// The only exporter that serializes: enqueue() turns the batch's request into the bytes it will
// send (once; retries resend them) and releases the batch's arena, so the queue holds exactly the
// bytes it counts against queue.max_bytes and max_request_bytes.
//
// The pipeline copies the OpenTelemetry Collector's exporterhelper: three layers, each in its own
// file, each wrapping the next, all with one `send` shape (sender.hpp):
//
//   enqueue ──► bounded queue ──► retry (backoff, Retry-After, max elapsed) ──► one attempt (timeout)
//              bounded_queue.hpp   retry_sender.hpp                  http_sender / grpc_sender (sender_factory)
//
// The timeout is innermost so that it bounds one attempt, not the whole retry sequence. Responses
// are classified once (response.hpp, classify_grpc_status) into ok / retryable /
// throttled(delay) / permanent; the layers above act on the class, never on raw status codes.
//
// Threading: everything runs on the io_context the agent owns, on its single thread. Nothing here
// blocks that thread (resolve, connect, handshake, write and read are all asynchronous; gRPC's
// own threads only post results back) and no locks are taken on it. Every public method must be called from that thread.
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

// Queue -> retry -> attempt. At most one request in flight, one keep-alive connection (reopened
// after the server closes it or an error). Results arrive in FIFO order: every batch accepted by
// enqueue() gets exactly one on_result call, after all batches enqueued before it got theirs.
// on_result runs on the io_context thread, never inside enqueue() or shutdown(); it may call
// enqueue() and shutdown().
class HttpExporter final : public Exporter {
 public:
  // Throws std::invalid_argument with the validate() messages when `config` is invalid.
  HttpExporter(boost::asio::io_context& io, HttpExportConfig config, ResultCallback on_result);
  // Pending batches are abandoned without a result: call shutdown() and wait for done() first.
  ~HttpExporter() override;
  HttpExporter(const HttpExporter&) = delete;
  HttpExporter& operator=(const HttpExporter&) = delete;

  // Never blocks. Serializes the request (its size is known first, from ByteSizeLong(), so a
  // refused or oversized batch is never serialized). Returns false, and calls nothing, when a
  // queue bound would be exceeded or shutdown() was called: the batch is discarded and the caller
  // counts its spans as queue_full (kDroppedQueueFull is never reported). A request whose
  // serialized size is over max_request_bytes is accepted here and completes with
  // kDroppedTooLarge in its FIFO turn (it occupies a batch slot and its spans, not its bytes,
  // while queued).
  bool enqueue(ExportBatch batch) override;

  std::size_t queued_batches() const;
  std::uint64_t queued_spans() const override;
  // Serialized, uncompressed bytes waiting (not counting the request in flight).
  std::uint64_t queued_bytes() const override;

  // Graceful stop. No new backoff waits start and a running one ends (that batch completes with
  // kDroppedShutdown); queued batches are then tried once each until `deadline`. At the deadline
  // the attempt in flight is aborted and it and every remaining batch complete with
  // kDroppedShutdown. `done` runs once, after the last result (posted, never inline). Only the
  // first call counts; later calls are ignored and their `done` is never called.
  void shutdown(std::chrono::steady_clock::time_point deadline, std::function<void()> done) override;

  // TLS endpoints only: builds a new attempt sender from the same config (the files read anew)
  // and swaps it in. The connection open at that moment finishes the request it carries with
  // the old certificates and is then closed; the next attempt connects with the new ones.
  Status reload_files() override;

 private:
  std::shared_ptr<ExporterCore> core_;
};

}  // namespace spanring::agent
