// The durable export queue (queue.storage: disk): serialized OTLP requests in an LMDB store.
//
// Why LMDB (Debian liblmdb-dev) rather than RocksDB or SQLite: the queue is a FIFO of opaque
// values written once, read once or twice and deleted — no queries, no compaction to tune.
// LMDB is a single 100 KB library with a copy-on-write B+tree: a committed transaction is
// crash-safe without a log, a reader sees the value in place (one memcpy to send it), and a
// synced commit costs two fdatasync()s. RocksDB's LSM tree buys write throughput the queue does
// not need (the network is the bottleneck) at the price of a WAL, compactions, background
// threads and ~10 MB of code; SQLite adds SQL parsing and a journal per commit for key/value
// use. bench/results/issue10/queue-*.json holds BM_AgentDrainExportDiskQueue.
//
// Layout, in `directory`: data.mdb and lock.mdb (LMDB's), and `queue.lock`, an flock() held for
// the store's lifetime so that a second agent pointed at the same directory is refused (LMDB
// itself would let two processes share the store, and both would send every batch).
//
// One record per batch, key = sequence number (8 bytes big-endian, so LMDB's byte order is FIFO
// order), value = encode_record(): a header with a CRC-32 over the rest (LMDB does not checksum
// pages), the batch's services and span counts, then the request body.
//
// Durability: put() commits with fsync (LMDB's default), so once it returns the batches survive
// a SIGKILL and a power cut. remove() commits without the meta-page sync (MDB_NOMETASYNC: the
// store stays consistent; a power cut may undo the last removals, which only duplicates
// batches). Both take many records per transaction: a synced commit costs ~4 ms on the
// development VM, so the exporter commits what one drain pass produced, and what one turn of
// the event loop answered, together (group commit).
//
// Threading: one thread (the agent's io_context). put() and remove() block it for their sync.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

struct DiskRecord {
  std::uint64_t spans = 0;
  std::vector<ServiceCount> services;
  std::string body;  // serialized ExportTraceServiceRequest, uncompressed
};

// The stored form of a record, and its parser: nullopt when the bytes are not a whole, intact
// record (bad magic or version, CRC mismatch, a length past the end, span counts that do not
// add up).
std::string encode_record(const DiskRecord& record);
std::optional<DiskRecord> decode_record(std::string_view bytes);

class DiskQueue {
 public:
  // A record found when the store was opened, oldest first.
  struct Resumed {
    std::uint64_t seq = 0;
    std::uint64_t spans = 0;
    std::uint64_t bytes = 0;  // body bytes
    std::vector<ServiceCount> services;
  };

  // Opens (or creates, 0700) the store in `directory`, sized for `max_bytes` of bodies. nullptr
  // with `error` set (naming the directory and the cause) when it cannot: the directory cannot
  // be made or opened, or another process holds its lock. A store LMDB refuses as corrupt is
  // moved aside (data.mdb.corrupt-<unix time>), logged and counted in store_resets(), and a new
  // one is made. Records that do not parse are deleted and counted in corrupt_records().
  static std::unique_ptr<DiskQueue> open(const std::string& directory, std::uint64_t max_bytes, std::string& error);
  ~DiskQueue();
  DiskQueue(const DiskQueue&) = delete;
  DiskQueue& operator=(const DiskQueue&) = delete;

  // Records left by an earlier run (valid ones), oldest first; the first call takes them.
  std::vector<Resumed> take_resumed();
  // The sequence number the next put() gets: above every record found at open.
  std::uint64_t next_seq() const noexcept { return next_seq_; }

  // Stores every record under its sequence number (ascending, each >= next_seq()) in one
  // transaction, and syncs. False, with `error`, when the store is full or the write fails:
  // then none was stored.
  bool put(const std::vector<std::pair<std::uint64_t, const DiskRecord*>>& records, std::string& error);
  // The record stored as `seq`. nullopt with `error` when it is missing or does not parse (it
  // is then deleted and counted in corrupt_records()).
  std::optional<DiskRecord> get(std::uint64_t seq, std::string& error);
  // Deletes these records (absent ones are skipped) in one transaction. A failure is logged:
  // the records are then sent again by the next start, duplicates rather than losses.
  void remove(const std::vector<std::uint64_t>& seqs);

  std::uint64_t corrupt_records() const noexcept { return corrupt_records_; }
  std::uint64_t store_resets() const noexcept { return store_resets_; }
  const std::string& directory() const noexcept { return directory_; }

 private:
  struct Lmdb;
  DiskQueue() = default;

  std::string directory_;
  std::unique_ptr<Lmdb> db_;
  int lock_fd_ = -1;
  std::uint64_t next_seq_ = 1;
  std::vector<Resumed> resumed_;
  std::uint64_t corrupt_records_ = 0;
  std::uint64_t store_resets_ = 0;
};

}  // namespace spanring::agent
