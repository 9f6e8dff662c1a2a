// The one shape every exporter has (OTLP/HTTP, console, file): take a serialized batch,
// never block, report exactly one result per accepted batch, in FIFO order. The drain loop
// relies on that order to advance ring read positions only after a batch is resolved.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "export/export.hpp"  // ExportBatch, ExportResult, ExportOutcome

namespace spanring::agent {

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
