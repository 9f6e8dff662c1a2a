#include "agent/export/memory_tally.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "agent/base/log.hpp"

namespace spanring::agent {

namespace {
constexpr std::uint64_t kMagic = 0x31594c4c4154514dull;  // "MQTALLY1"
}

// Written by this process only (the file is locked); a plain struct in the shared mapping.
struct MemoryTally::Slot {
  char name[kNameBytes];
  std::uint64_t spans;
};

namespace {
constexpr std::size_t kSlotBytes = MemoryTally::kNameBytes + 8;
constexpr std::size_t kHeaderBytes = 16;
constexpr std::size_t kFileBytes = kHeaderBytes + MemoryTally::kSlots * kSlotBytes;
}  // namespace

std::unique_ptr<MemoryTally> MemoryTally::open(const std::string& directory, std::string& error) {
  std::unique_ptr<MemoryTally> t(new MemoryTally());
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  t->path_ = directory + "/memory-queue.tally";
  t->fd_ = ::open(t->path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (t->fd_ < 0) {
    error = t->path_ + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(t->fd_, LOCK_EX | LOCK_NB) != 0) {
    error = t->path_ + " is locked by another spanring-agent: give each agent its own queue.directory";
    return nullptr;
  }
  struct stat st {};
  const bool fresh = ::fstat(t->fd_, &st) != 0 || static_cast<std::size_t>(st.st_size) != kFileBytes;
  if (fresh && ::ftruncate(t->fd_, 0) == 0 && ::ftruncate(t->fd_, kFileBytes) != 0) {
    error = t->path_ + ": " + std::strerror(errno);
    return nullptr;
  }
  t->map_ = ::mmap(nullptr, kFileBytes, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd_, 0);
  if (t->map_ == MAP_FAILED) {
    t->map_ = nullptr;
    error = t->path_ + ": mmap: " + std::strerror(errno);
    return nullptr;
  }
  static_assert(sizeof(Slot) == kSlotBytes, "slots are packed back to back in the file");
  auto* header = static_cast<std::uint64_t*>(t->map_);
  t->slots_ = reinterpret_cast<Slot*>(static_cast<char*>(t->map_) + kHeaderBytes);
  if (header[0] == kMagic && header[1] == kSlots) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      Slot& s = t->slots_[i];
      // The file is ours (0600, locked), but a torn name must not run past its slot.
      if (s.spans > 0) t->lost_.push_back(ServiceCount{std::string(s.name, strnlen(s.name, kNameBytes)), s.spans});
    }
  } else if (!fresh) {
    SPANRING_LOG_WARN("%s: not a tally this agent wrote: reset (what an earlier run lost is not counted)",
                      t->path_.c_str());
  }
  std::memset(t->map_, 0, kFileBytes);
  header[0] = kMagic;
  header[1] = kSlots;
  return t;
}

MemoryTally::~MemoryTally() {
  if (map_) ::munmap(map_, kFileBytes);
  if (fd_ >= 0) ::close(fd_);
}

std::vector<ServiceCount> MemoryTally::take_lost() { return std::exchange(lost_, {}); }

MemoryTally::Slot* MemoryTally::find(const std::string& service, bool create) {
  const std::string name = service.substr(0, kNameBytes - 1);
  Slot* free = nullptr;
  for (std::size_t i = 0; i < kSlots; ++i) {
    Slot& s = slots_[i];
    if (s.name[0] == '\0') {
      if (!free) free = &s;
      continue;
    }
    if (name == std::string_view(s.name, strnlen(s.name, kNameBytes))) return &s;
  }
  if (!create) return nullptr;
  if (!free) {
    if (!warned_full_)
      SPANRING_LOG_WARN("%s: more than %zu services: the queue of the others is not counted", path_.c_str(), kSlots);
    warned_full_ = true;
    return nullptr;
  }
  std::memcpy(free->name, name.data(), name.size());
  free->name[name.size()] = '\0';
  return free;
}

void MemoryTally::add(const std::vector<ServiceCount>& services) {
  for (const ServiceCount& s : services)
    if (Slot* slot = find(s.service, true)) slot->spans += s.spans;
}

void MemoryTally::remove(const std::vector<ServiceCount>& services) {
  for (const ServiceCount& s : services)
    if (Slot* slot = find(s.service, false)) slot->spans -= std::min(slot->spans, s.spans);
}

}  // namespace spanring::agent
