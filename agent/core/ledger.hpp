// The commit ledger: the delivery rule as data, with no I/O.
//
// A ring's read position (its tail in shared memory) may move past a span only once the
// backend has answered for that span and for every span read before it. The agent reads rings
// sequentially, so "every span below a position" is "every batch built before it": the ledger
// is a FIFO of entries, each carrying the read positions ("marks") that were current when it
// was made, per source (one attached segment), one position per ring.
//
//   add_batch()   a batch handed to the exporter: unresolved until resolve() gets its answer
//   add_mark()    positions that moved with no span in any batch (every record invalid, or
//                 every span sampled out): resolved at once, carried through the FIFO so they
//                 commit in order. Consecutive mark-only entries fold into one, so a long
//                 retry does not grow the FIFO by one entry per poll.
//   retire()      pops the resolved prefix, oldest first, and hands each mark to the commit
//                 callback, which moves the ring tails.
//
// Keep in rings (shutdown): an entry resolved with Fate::kKeepInRings commits nothing, and
// neither does any entry after it, since positions are cumulative: committing a later mark
// would also release the kept spans. The next agent reads them again.
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <vector>

namespace spanring::agent {

using SourceId = std::uint64_t;  // an attached segment, never reused by one agent
using BatchId = std::uint64_t;   // non-zero

// The read positions of one source, one per ring.
struct Mark {
  SourceId source = 0;
  std::vector<std::uint64_t> positions;
};

// How many spans of one service a batch holds (consecutive runs; a service may repeat).
struct ServiceSpans {
  std::size_t service = 0;
  std::uint64_t spans = 0;
};

class CommitLedger {
 public:
  // Called by retire() for every mark whose entry may commit, oldest first.
  using CommitFn = std::function<void(SourceId, const std::vector<std::uint64_t>& positions)>;
  enum class Fate : std::uint8_t {
    kCommit,       // answered (accepted, or dropped with a counted reason): release the spans
    kKeepInRings,  // shutdown: leave the spans, and everything read after them, in the rings
  };

  explicit CommitLedger(CommitFn commit) : commit_(std::move(commit)) {}

  // A batch handed to the exporter, with every source's positions as read when it closed.
  void add_batch(BatchId id, std::vector<Mark> marks, std::vector<ServiceSpans> services);
  // Positions of `source` that moved while no batch was open.
  void add_mark(SourceId source, const std::vector<std::uint64_t>& positions);
  // Resolves the unresolved batch `id`. Returns its spans by service, for accounting, or null
  // when no unresolved batch has that id. Valid until the next call that changes the ledger.
  const std::vector<ServiceSpans>* resolve(BatchId id, Fate fate);
  // Retires the resolved prefix (see above).
  void retire();
  // Drops every mark of `source` (its segment is gone): nothing of it commits any more.
  void forget(SourceId source);

  // Entries (batches and mark-only) not retired yet.
  std::size_t size() const noexcept { return entries_.size(); }
  // Entries not retired yet that hold a mark of `source`.
  std::uint32_t holds(SourceId source) const noexcept;
  // A kept entry was retired: nothing commits from now on.
  bool keeping_in_rings() const noexcept { return keeping_; }

 private:
  struct Entry {
    BatchId id = 0;  // 0: mark-only
    bool resolved = false;
    bool keep_in_rings = false;
    std::vector<Mark> marks;
    std::vector<ServiceSpans> services;
  };
  void hold(SourceId source) { ++holds_[source]; }
  void release(SourceId source);

  CommitFn commit_;
  std::deque<Entry> entries_;
  std::unordered_map<SourceId, std::uint32_t> holds_;
  bool keeping_ = false;
};

}  // namespace spanring::agent
