// Creating (producer) and mapping (reader) a segment. Boost.Interprocess stays inside
// segment.cpp: nothing here exposes it, and nothing in the mapped memory refers to it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/layout.hpp"

namespace spanring::shm {

// What went wrong, each with what the caller can do about it.
enum class SegmentError {
  kOk = 0,
  kNameInvalid,      // service name empty, too long or not representable: pick another name
  kExists,           // a segment of that name exists (never reuse one someone else made)
  kPermission,       // /dev/shm not writable/readable for this user
  kNoSpace,          // /dev/shm full or size refused by the kernel
  kUnavailable,      // no /dev/shm or another OS error (message says which)
  kSizeInvalid,      // the requested size cannot hold a valid layout
  kNotFound,         // reader: no such segment
  kInvalidHeader,    // reader: magic, sizes or offsets do not describe a valid segment
  kVersionMismatch,  // reader: ABI major differs; skip this segment
  kNotSized,         // reader: smaller than a header: an engine that has not sized it yet (or
                     // died before it did), or a stray empty file; try again later
  kNotReady,         // reader: producer has not finished creating it (or died doing so):
                     // `ready` still 0; try again later
  kNotRegular,       // reader: a directory, FIFO, device or symbolic link, not a segment
  kUntrusted,        // reader: a regular file, but with more than one link (a hard link to
                     // someone else's file) or writable by every user: never attached
  kGroupDenied,      // creator: the segment could not be given CreateOptions::group (not a
                     // member of it, and not root): name a group this user belongs to
};

const char* to_string(SegmentError e) noexcept;

// A mapping of a segment. Unmaps on destruction; never unlinks unless asked.
class Mapping {
 public:
  Mapping() noexcept;
  Mapping(Mapping&&) noexcept;
  Mapping& operator=(Mapping&&) noexcept;
  ~Mapping();

  std::uint8_t* data() const noexcept { return data_; }
  std::uint64_t size() const noexcept { return size_; }
  const std::string& name() const noexcept { return name_; }
  SegmentHeader* header() const noexcept { return reinterpret_cast<SegmentHeader*>(data_); }
  explicit operator bool() const noexcept { return data_ != nullptr; }

  // The file behind an attached mapping (fstat of the descriptor it was mapped from): who owns
  // it, and which inode it is (remove_segment_file unlinks the name only while it still names
  // this inode).
  struct File {
    std::uint32_t uid = 0, gid = 0, mode = 0;
    std::uint64_t dev = 0, ino = 0;
  };
  const File& file() const noexcept { return file_; }

  // Leaves the memory mapped forever (for a producer whose threads may still be writing
  // when it shuts down: unmapping under them would be a use-after-free).
  void leak() noexcept;

 private:
  friend struct SegmentFactory;
  std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  std::string name_;
  File file_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CreateOptions {
  std::string name;            // object name without leading '/', e.g. "spanring.svc.1234"
  Layout layout;               // from layout_within()
  std::uint32_t mode = 0600;   // 0600 or 0660
  // Group of the segment (gid); unset: the creator's effective gid. With mode 0660 an agent in
  // that group can drain it although the engine's primary group differs.
  std::optional<std::uint32_t> group;
};

// Creates the segment exclusively (fails with kExists if the name is taken), gives it
// `group` (fchown, owner kept), sizes it, maps it read-write and zero-fills nothing (a fresh
// object is zero). The caller then fills the header and stores `ready`, so an agent that sees
// `ready` sees the final owner, group and mode. On failure nothing is left in /dev/shm and
// `message` names the object and the OS error.
SegmentError create_segment(const CreateOptions& options, Mapping& out, std::string& message);

// Maps an existing segment read-write (the reader stores `tail`), checks its size against the
// header, and validates the header (validate_header). Read-only inspection is not offered:
// the agent must move `tail`. The object is opened without following symbolic links
// (shm_open adds O_NOFOLLOW) and checked before it is mapped: it must be a regular file
// (kNotRegular otherwise) with exactly one link and not writable by others (kUntrusted).
// Whether its owner may feed the service it names is the caller's policy (Mapping::file()).
struct HeaderCopy;
// `validated`, when given, receives the header copy that passed validation (the reader uses
// that copy and nothing else, so the header is validated once).
SegmentError attach_segment(std::string_view name, Mapping& out, std::string& message,
                            HeaderCopy* validated = nullptr);

// A private copy of a segment's header. Everything in the mapping can change under a reader at
// any moment (the producer is untrusted); a copy, validated once, cannot. The atomics of the
// copy (ready, closed and the counters after them) are zero: they are live state, to be read
// from the mapping (SegmentReader::closed() etc.).
struct HeaderCopy {
  alignas(SegmentHeader) std::uint8_t bytes[sizeof(SegmentHeader)] = {};
  const SegmentHeader& get() const noexcept { return *reinterpret_cast<const SegmentHeader*>(bytes); }
};

// Copies the header of `m` (at least sizeof(SegmentHeader) bytes mapped) and its `ready` flag,
// surviving a segment truncated under the mapping (returns false: SIGBUS guard, see
// fault_guard.hpp in shm/src). attach_segment validates such a copy, not the live header.
bool copy_header(const Mapping& m, HeaderCopy& out, bool& ready) noexcept;

// Checks magic, ABI major, sizes and offsets of a header mapped with `mapped_size` bytes.
// `message` says which field is wrong and its value.
SegmentError validate_header(const SegmentHeader& h, std::uint64_t mapped_size, std::string& message);

// Removes the name from /dev/shm (mappings stay valid). Returns false if it did not exist.
bool remove_segment(std::string_view name) noexcept;

// Removes `m`'s name only if it still names the file `m` maps (same device and inode), so an
// agent never unlinks a file that replaced the segment under the same name. Returns false with
// errno set otherwise (ESTALE when the name now names another file).
bool remove_segment_file(const Mapping& m) noexcept;

// Effective uid of process `pid` (the second field of Uid: in /proc/<pid>/status); false when
// the process does not exist or the file cannot be parsed.
bool process_euid(std::uint32_t pid, std::uint32_t& uid);

// Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22), 0 if the
// process does not exist or the file cannot be parsed. With the pid it names a process across
// pid reuse (SegmentHeader::producer_start_time).
std::uint64_t process_start_time(std::uint32_t pid);

// "spanring.<service>.<pid>" with characters outside [A-Za-z0-9._-] replaced by '_'.
std::string segment_name(std::string_view service, std::uint32_t pid, std::uint32_t generation);

}  // namespace spanring::shm
