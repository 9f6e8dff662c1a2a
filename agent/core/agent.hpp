// The agent's core loop, on one io_context thread, wiring the stages:
//
//   discovery ──▶ drain rings ──▶ batch builder ──▶ Exporter
//   (discovery.hpp)    │         (decode → sample → encode, batch_builder.hpp; one per drain
//                      │          thread, segments sharded between them: drain_workers.hpp)
//                      │                                          │ answer
//                      └── positions ──▶ commit ledger ◀──────────┘
//                                        (ledger.hpp) ──▶ commit ring tails, in FIFO order
//   accounting (accounting.hpp): every ServiceStats update, from each stage's outcome
//
// Delivery: a ring's read position (tail, in shared memory) moves only once every span below it
// is safe (the ledger): in the exporter's queue when it holds batches (queue.storage disk: synced
// to LMDB; memory: queued), else answered by the backend (queue.storage rings, and the sinks).
// A SIGKILLed agent with a disk queue or the rings therefore loses nothing: its successor
// resumes the disk queue first, then re-reads from the tails. What it can duplicate is the
// batches in flight whose answer arrived but was not processed yet (at most max_in_flight).
//
// Shutdown is one state machine (Phase):
//
//   kRunning ──stop()──▶ kFinalDrain ──rings drained (≤ 8 passes), or the queue──▶ kFlushing
//                                      refused a batch: stop reading
//   kFlushing ──the exporter answered every batch, or the deadline passed──▶ kStopped
//
//   kRunning     discovery, polling and batching as usual.
//   kFinalDrain  no discovery or timers; what the rings hold is drained. A batch the queue
//                refuses is left in the rings (kept: nothing after it commits) and counted
//                as dropped{shutdown}, and reading ends (kFlushing).
//   kFlushing    the last batch is flushed; the exporter sends until the deadline and answers
//                the rest with kDroppedShutdown, which also stays in the rings.
//   kStopped     the resolved prefix is committed; stop()'s `done` has run.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/core/accounting.hpp"
#include "agent/core/batch_builder.hpp"
#include "agent/core/discovery.hpp"
#include "agent/core/drain_workers.hpp"
#include "agent/export/exporter.hpp"
#include "agent/core/ledger.hpp"
#include "agent/core/options.hpp"

namespace spanring::agent {

class Sampler;

class Agent {
 public:
  using Clock = std::chrono::steady_clock;

  // See the state machine above. Only forward.
  enum class Phase : std::uint8_t { kRunning, kFinalDrain, kFlushing, kStopped };

  Agent(boost::asio::io_context& io, CoreOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The exporter must report results through on_export_result() (see make_result_callback).
  void set_exporter(std::unique_ptr<Exporter> exporter);
  ResultCallback make_result_callback();
  // Sampling (none: keep every span). The sampler stays owned by the agent; reconfigure it
  // through sampler() on the agent's thread.
  void set_sampler(std::unique_ptr<Sampler> sampler);
  Sampler* sampler() noexcept { return sampler_.get(); }
  // Called once per new service name (e.g. to poll its remote sampling strategy).
  void on_new_service(std::function<void(const std::string&)> fn) { accounting_.on_new_service(std::move(fn)); }

  // Starts discovery and draining (the first scan runs at once).
  void start();
  // Stops discovery, drains what the rings hold, flushes the queue until `deadline`, then
  // calls done(). Segments of exited engines are removed when fully exported.
  void stop(Clock::time_point deadline, std::function<void()> done);

  // One discovery scan and one drain pass, synchronously (tests and benchmarks).
  void scan_now() { discovery_.scan_now(); }
  std::uint64_t drain_now();
  // Closes the open batch, if any, and hands it to the exporter.
  void flush_batch();

  const std::vector<ServiceStats>& services() noexcept;  // refreshes ring_fill and segments
  // Batches without a final answer: held by the exporter, or (rings) waiting in the ledger.
  std::uint64_t batches_unresolved() const noexcept {
    return exporter_ && exporter_->holds_batches() ? exporter_->queued_batches() : ledger_.size();
  }
  std::uint64_t export_in_flight() const noexcept { return exporter_ ? exporter_->in_flight() : 0; }
  std::uint64_t queue_corrupt_records() const noexcept { return exporter_ ? exporter_->corrupt_records() : 0; }
  std::uint64_t queued_spans() const noexcept { return exporter_ ? exporter_->queued_spans() : 0; }
  std::uint64_t queued_bytes() const noexcept { return exporter_ ? exporter_->queued_bytes() : 0; }
  // Export latency observer (seconds), for the metrics histogram.
  void on_export_latency(std::function<void(double)> fn) { latency_observer_ = std::move(fn); }
  bool stopping() const noexcept { return phase_ != Phase::kRunning; }
  // Segment files not drained, by reason (retried ones only once past the grace period).
  std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> unattached() const {
    return discovery_.unattached();
  }
  const std::string& last_export_error() const noexcept { return last_export_error_; }
  // The attached segments, read-only (spanringctl status: engines, rings, their fill).
  const Discovery::Sources& sources() noexcept { return discovery_.sources(); }

 private:
  void schedule_scan();
  void schedule_poll(Duration delay);
  void attached(Source& s);
  // Each shard's sources for this pass (or flush): shard = SourceId mod shard count.
  void assign_sources();
  // On drain thread `shard`: its sources' rings into its batch builder.
  void drain_shard(DrainShard& shard);
  void drain(DrainShard& shard, Source& s);
  // On the io_context thread: a batch a shard closed, to the ledger and the exporter.
  void hand_off(DrainShard::Closed& c);
  std::uint64_t open_spans() const noexcept;
  Clock::time_point oldest_open() const noexcept;  // of the shards' open batches
  bool holds(const Source& s) const noexcept;
  void mark_progress();
  void settle();
  void on_export_result(const ExportResult& r);
  void commit(SourceId id, const std::vector<std::uint64_t>& positions);
  void retire_resolved();

  CoreOptions options_;
  Phase phase_ = Phase::kRunning;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<Sampler> sampler_;
  Accounting accounting_;
  Discovery discovery_;
  std::vector<std::unique_ptr<DrainShard>> shards_;
  DrainPool pool_;
  std::mutex sampler_mu_;  // decisions from several drain threads (BatchBuilder::set_sampler)
  bool more_to_read_ = false;  // the last pass stopped early (a shard had to yield)
  CommitLedger ledger_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer scan_timer_;
  boost::asio::steady_timer poll_timer_;
  Duration poll_interval_;
  double last_max_fill_ = 0;  // fullest ring seen by the last pass (unread / capacity)
  std::function<void(double)> latency_observer_;
  std::string last_export_error_;
  std::vector<BatchId> unsynced_;  // handed to an exporter that holds batches, not synced yet
};

}  // namespace spanring::agent
