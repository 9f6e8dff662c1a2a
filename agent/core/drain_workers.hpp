// Several drain threads (agent.drain_threads): segments are sharded between them, each shard
// decodes, samples and encodes into a batch builder of its own; the export stage stays shared.
//
//   drain pass (Agent::drain_now, on the io_context thread)
//     ├─ DrainPool::run: shard k's sources on thread k (shard 0 on the caller), in parallel:
//     │    ring → decode → sample → encode into shard k's open batch; a full batch is closed
//     │    into shard k's `closed`, with the marks of shard k's sources (DrainShard::close)
//     └─ join; then, on the io_context thread, in shard order: each closed batch to the
//        ledger and the exporter, span tallies into the accounting, engine counters per source
//
// A source (segment) belongs to one shard for its life (SourceId mod shard count), and its
// rings are read by that shard only, in order: the positions in a batch's marks cover exactly
// the spans of that source in it and in earlier batches, so the ledger's FIFO commit rule holds
// per ring as with one thread. Batch ids are unique across shards (shard k numbers k+1, k+1+n,
// …). Memory: a shard closes at most kMaxClosedPerPass batches per pass, then stops reading
// until they are handed on (the next pass comes at once: Agent::drain_now says so).
//
// The sampler is shared: with several shards its decide() runs under a mutex
// (BatchBuilder::set_sampler). Everything else a worker touches is its shard's or its own
// sources'.
//
// Threading: run() is called from one thread (the io_context's); it returns when every
// worker's call has returned, so whatever they wrote is visible to the caller (the join is a
// mutex hand-over).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/core/accounting.hpp"
#include "agent/core/batch_builder.hpp"
#include "agent/core/ledger.hpp"
#include "agent/export/exporter.hpp"

namespace spanring::agent {

struct Source;

// Threads that run one function per worker, fork-join. Worker 0 is the calling thread, so one
// thread costs no synchronisation at all.
class DrainPool {
 public:
  explicit DrainPool(std::size_t threads);
  ~DrainPool();
  DrainPool(const DrainPool&) = delete;
  DrainPool& operator=(const DrainPool&) = delete;

  std::size_t size() const noexcept { return helpers_.size() + 1; }
  // Runs fn(k) for every k < size() with work[k] true, concurrently; returns when all are done.
  void run(const std::vector<bool>& work, const std::function<void(std::size_t)>& fn);

 private:
  void helper(std::size_t k);

  std::vector<std::thread> helpers_;  // worker k = helpers_[k - 1]
  std::mutex mu_;
  std::condition_variable start_, done_;
  const std::function<void(std::size_t)>* fn_ = nullptr;  // mu_
  std::vector<bool> work_;                                 // mu_
  std::uint64_t generation_ = 0;                           // mu_: one per run()
  std::size_t pending_ = 0;                                // mu_: helpers still running
  bool quit_ = false;                                      // mu_
};

// One drain thread's share of the agent.
struct DrainShard {
  // A batch the shard closed during a pass, waiting for the io_context thread.
  struct Closed {
    ExportBatch batch;
    std::vector<Mark> marks;
    std::vector<ServiceSpans> services;
  };
  static constexpr std::size_t kMaxClosedPerPass = 16;

  DrainShard(std::size_t max_spans, BatchId first_id, BatchId id_stride) : builder(max_spans, first_id, id_stride) {}

  // Closes the open batch (builder.spans() > 0) into `closed`, with the positions of this
  // shard's sources that it holds spans of or that moved since their last mark.
  void close();
  bool must_yield() const noexcept { return closed.size() >= kMaxClosedPerPass; }

  BatchBuilder builder;
  std::vector<Source*> sources;  // this pass's, set by the io_context thread before run()
  std::vector<Closed> closed;
  SpanTally tally;               // spans received and sampled out, by service, this pass
  double max_fill = 0;           // fullest ring seen this pass (unread / capacity)
  std::uint64_t spans_read = 0;  // this pass
};

// agent.drain_threads = 0: one per core, at most kMaxDrainThreads.
std::size_t default_drain_threads() noexcept;

}  // namespace spanring::agent
