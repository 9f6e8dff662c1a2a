// What a memory queue (queue.storage: memory) holds, per service, in a small file the next start
// reads: a SIGKILL loses the queue itself, but not the count of what it lost.
//
// The file (`memory-queue.tally` in queue.directory) is mapped shared: updating it is a store to
// memory, no syscall, and the kernel keeps the pages when the process dies (not across a power
// cut: then the count is lost too, as the README says). A clean exit answers every batch, which
// brings every count back to 0. At start, non-zero counts are what the previous run lost; they
// are taken (and the table cleared) once.
//
// Layout: a 16-byte header (magic, slot count) then kSlots slots of {name[kNameBytes], spans}.
// Names longer than kNameBytes - 1 are cut (a count under a shortened name beats none); a
// service that finds no free slot is not counted (one warning).
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

class MemoryTally {
 public:
  static constexpr std::size_t kSlots = 256;
  static constexpr std::size_t kNameBytes = 120;

  // Opens (or creates) the tally in `directory`, locked for this process. nullptr with `error`
  // (naming the file) when it cannot: the queue then works uncounted.
  static std::unique_ptr<MemoryTally> open(const std::string& directory, std::string& error);
  ~MemoryTally();
  MemoryTally(const MemoryTally&) = delete;
  MemoryTally& operator=(const MemoryTally&) = delete;

  // What the previous run left counted (lost by it), by service; the first call takes them.
  std::vector<ServiceCount> take_lost();
  void add(const std::vector<ServiceCount>& services);
  void remove(const std::vector<ServiceCount>& services);

 private:
  struct Slot;
  MemoryTally() = default;
  Slot* find(const std::string& service, bool create);

  std::string path_;
  int fd_ = -1;
  void* map_ = nullptr;
  Slot* slots_ = nullptr;
  std::vector<ServiceCount> lost_;
  bool warned_full_ = false;
};

}  // namespace spanring::agent
