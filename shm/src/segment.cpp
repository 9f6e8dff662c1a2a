#include "spanring/shm/segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <vector>

#include "fault_guard.hpp"

namespace bip = boost::interprocess;

namespace spanring::shm {

struct Mapping::Impl {
  bip::mapped_region region;
};

Mapping::Mapping() noexcept = default;

Mapping::Mapping(Mapping&& o) noexcept
    : data_(o.data_), size_(o.size_), name_(std::move(o.name_)), file_(o.file_), impl_(std::move(o.impl_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    impl_ = std::move(o.impl_);
    data_ = o.data_;
    size_ = o.size_;
    name_ = std::move(o.name_);
    file_ = o.file_;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Mapping::~Mapping() = default;

void Mapping::leak() noexcept {
  // The region moves to a list that is never freed, so the pages stay mapped for threads that
  // may still be writing; the list keeps them reachable (no false report from LeakSanitizer).
  static std::mutex mu;
  static auto* kept = new std::vector<std::unique_ptr<Impl>>;
  if (impl_) {
    std::lock_guard lock(mu);
    try {
      kept->push_back(std::move(impl_));
    } catch (...) {
      static_cast<void>(impl_.release());  // out of memory: leak it outright, still mapped
    }
  }
  impl_.reset();
}

struct SegmentFactory {
  static void set_file(Mapping& m, const struct stat& st) {
    m.file_ = {st.st_uid, st.st_gid, static_cast<std::uint32_t>(st.st_mode), static_cast<std::uint64_t>(st.st_dev),
               static_cast<std::uint64_t>(st.st_ino)};
  }
  static void fill(Mapping& m, bip::mapped_region&& region, std::string name) {
    m.impl_ = std::make_unique<Mapping::Impl>();
    m.impl_->region = std::move(region);
    m.data_ = static_cast<std::uint8_t*>(m.impl_->region.get_address());
    m.size_ = m.impl_->region.get_size();
    m.name_ = std::move(name);
  }
};

const char* to_string(SegmentError e) noexcept {
  switch (e) {
    case SegmentError::kOk: return "ok";
    case SegmentError::kNameInvalid: return "invalid segment name";
    case SegmentError::kExists: return "segment already exists";
    case SegmentError::kPermission: return "permission denied";
    case SegmentError::kNoSpace: return "no space in /dev/shm";
    case SegmentError::kUnavailable: return "shared memory unavailable";
    case SegmentError::kSizeInvalid: return "invalid segment size";
    case SegmentError::kNotFound: return "segment not found";
    case SegmentError::kInvalidHeader: return "invalid segment header";
    case SegmentError::kVersionMismatch: return "ABI version mismatch";
    case SegmentError::kNotSized: return "segment not sized";
    case SegmentError::kNotReady: return "segment not ready";
    case SegmentError::kNotRegular: return "not a regular file";
    case SegmentError::kUntrusted: return "untrusted file";
    case SegmentError::kGroupDenied: return "segment group refused";
  }
  return "unknown";
}

namespace {

SegmentError from_errno(int err) {
  switch (err) {
    case EEXIST: return SegmentError::kExists;
    case EACCES: case EPERM: case EROFS: return SegmentError::kPermission;
    case ENOSPC: case ENOMEM: case EFBIG: return SegmentError::kNoSpace;
    case ENAMETOOLONG: case EINVAL: return SegmentError::kNameInvalid;
    case ENOENT: return SegmentError::kNotFound;
    case EISDIR: case ELOOP: return SegmentError::kNotRegular;
    default: return SegmentError::kUnavailable;
  }
}

std::string describe(std::string_view what, std::string_view name, int err) {
  std::string s(what);
  s += " /dev/shm/";
  s += name;
  s += ": ";
  s += std::strerror(err);
  return s;
}

std::string octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

bool name_ok(std::string_view name) {
  if (name.empty() || name.size() > 250) return false;
  for (char c : name)
    if (c == '/' || c == '\0') return false;
  return true;
}

}  // namespace

SegmentError create_segment(const CreateOptions& o, Mapping& out, std::string& message) {
  if (!name_ok(o.name)) {
    message = "segment name '" + o.name + "' is empty, longer than 250 bytes or contains '/'";
    return SegmentError::kNameInvalid;
  }
  if (o.layout.ring_count == 0 || o.layout.segment_size == 0) {
    message = "segment size cannot hold one ring of the minimum capacity";
    return SegmentError::kSizeInvalid;
  }
  if (o.mode != 0600 && o.mode != 0660) {
    message = "segment mode must be 0600 or 0660 (the agent writes the ring tails)";
    return SegmentError::kSizeInvalid;
  }
  try {
    bip::permissions perm(o.mode);
    bip::shared_memory_object shm(bip::create_only, o.name.c_str(), bip::read_write, perm);
    const int fd = shm.get_mapping_handle().handle;
    // Before anything else: the agent may find the name at once, and must never see a group
    // other than the one asked for. Not a member of it (and not root): EPERM.
    if (o.group && ::fchown(fd, static_cast<uid_t>(-1), static_cast<gid_t>(*o.group)) != 0) {
      const int err = errno;
      bip::shared_memory_object::remove(o.name.c_str());
      message = describe("cannot give group " + std::to_string(*o.group) + " to", o.name, err);
      return err == EPERM ? SegmentError::kGroupDenied : from_errno(err);
    }
    // Reserve the pages now: a sparse object on a full tmpfs would SIGBUS the engine on its
    // first span instead of failing here.
    if (int err = ::posix_fallocate(fd, 0, static_cast<off_t>(o.layout.segment_size)); err != 0) {
      bip::shared_memory_object::remove(o.name.c_str());
      message = describe("cannot reserve " + std::to_string(o.layout.segment_size) + " bytes for", o.name, err);
      return from_errno(err);
    }
    bip::mapped_region region(shm, bip::read_write, 0, o.layout.segment_size);
    SegmentFactory::fill(out, std::move(region), o.name);
    return SegmentError::kOk;
  } catch (const bip::interprocess_exception& e) {
    const int err = e.get_native_error();
    message = describe("cannot create", o.name, err ? err : EIO);
    if (err != EEXIST) bip::shared_memory_object::remove(o.name.c_str());
    return err ? from_errno(err) : SegmentError::kUnavailable;
  }
}

SegmentError validate_header(const SegmentHeader& h, std::uint64_t mapped_size, std::string& m) {
  auto bad = [&](const char* field, std::uint64_t v) {
    m = std::string("header field ") + field + " = " + std::to_string(v) + " is invalid";
    return SegmentError::kInvalidHeader;
  };
  if (mapped_size < kHeaderSize) return bad("(mapped size)", mapped_size);
  if (h.magic != kMagic) return bad("magic", h.magic);
  if (h.abi_major < kAbiMajorOldestReadable || h.abi_major > kAbiMajor) {
    m = "ABI major " + std::to_string(h.abi_major) + " (reader supports " + std::to_string(kAbiMajorOldestReadable) +
        " to " + std::to_string(kAbiMajor) + ")";
    return SegmentError::kVersionMismatch;
  }
  if (h.header_size != kHeaderSize) return bad("header_size", h.header_size);
  if (h.record_size != kRecordSize) return bad("record_size", h.record_size);
  if (h.ring_count == 0 || h.ring_count > kMaxRingCount) return bad("ring_count", h.ring_count);
  if (h.ring_capacity < kMinRingCapacity || (h.ring_capacity & (h.ring_capacity - 1)) != 0 ||
      h.ring_capacity > (1u << 24))
    return bad("ring_capacity", h.ring_capacity);
  const Layout l = layout_for(h.ring_count, h.ring_capacity);
  if (h.string_table_offset != l.string_table_offset) return bad("string_table_offset", h.string_table_offset);
  if (h.rings_offset != l.rings_offset) return bad("rings_offset", h.rings_offset);
  if (h.ring_data_offset != l.ring_data_offset) return bad("ring_data_offset", h.ring_data_offset);
  if (h.segment_size != l.segment_size) return bad("segment_size", h.segment_size);
  if (h.segment_size > mapped_size) return bad("segment_size (larger than the object)", h.segment_size);
  if (h.service_name_length > kServiceNameMax) return bad("service_name_length", h.service_name_length);
  if (h.resource_bytes_used > kResourceBytes) return bad("resource_bytes_used", h.resource_bytes_used);
  if (h.clock_source != kClockTsc && h.clock_source != kClockMonotonic) return bad("clock_source", h.clock_source);
  return SegmentError::kOk;
}

bool copy_header(const Mapping& m, HeaderCopy& out, bool& ready) noexcept {
  detail::install_fault_handler();
  ready = false;
  if (m.data() == nullptr || m.size() < sizeof(SegmentHeader)) return false;
  auto copy = [&] {
    // acquire pairs with the producer's release of `ready`: the identity block copied after it
    // is the one the producer published.
    ready = m.header()->ready.load(std::memory_order_acquire) != 0;
    std::memcpy(out.bytes, m.data(), sizeof out.bytes);
  };
  if (!detail::guarded(copy)) return false;
  constexpr std::size_t kLive = offsetof(SegmentHeader, ready);
  std::memset(out.bytes + kLive, 0, sizeof out.bytes - kLive);
  return true;
}

SegmentError attach_segment(std::string_view name, Mapping& out, std::string& message, HeaderCopy* validated) {
  const std::string n(name);
  if (!name_ok(n)) {
    message = "segment name '" + n + "' is invalid";
    return SegmentError::kNameInvalid;
  }
  // Directories, FIFOs, devices and links are refused before open (shm_open reports a
  // directory as EINVAL); the fstat below catches a file swapped in between.
  struct stat st {};
  if (::lstat(("/dev/shm/" + n).c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    message = "/dev/shm/" + n + " is not a regular file";
    return SegmentError::kNotRegular;
  }
  try {
    bip::shared_memory_object shm(bip::open_only, n.c_str(), bip::read_write);
    if (::fstat(shm.get_mapping_handle().handle, &st) != 0) {
      message = describe("cannot stat", n, errno);
      return SegmentError::kUnavailable;
    }
    if (!S_ISREG(st.st_mode)) {
      message = "/dev/shm/" + n + " is not a regular file";
      return SegmentError::kNotRegular;
    }
    if (st.st_nlink != 1) {
      // A hard link named spanring.* to another file on /dev/shm: writing tails into it (and
      // unlinking it once "drained") would damage a file the producer does not own.
      message = "/dev/shm/" + n + " has " + std::to_string(st.st_nlink) + " links (a segment has exactly one)";
      return SegmentError::kUntrusted;
    }
    if (st.st_mode & S_IWOTH) {
      message = "/dev/shm/" + n + " is writable by every user (mode " + octal(st.st_mode & 07777) +
                "); segments are 0600 or 0660";
      return SegmentError::kUntrusted;
    }
    bip::offset_t size = 0;
    if (!shm.get_size(size) || size < static_cast<bip::offset_t>(kHeaderSize)) {
      // The producer creates the object empty, then sizes it: this is a segment being born
      // (or one whose producer died in those microseconds), not a corrupt one.
      message = "/dev/shm/" + n + " is smaller than a segment header (not sized yet?)";
      return SegmentError::kNotSized;
    }
    bip::mapped_region region(shm, bip::read_write, 0, static_cast<std::size_t>(size));
    Mapping m;
    SegmentFactory::fill(m, std::move(region), n);
    SegmentFactory::set_file(m, st);
    // Validate a private copy: the producer could change the live header between the check
    // and any later use, or shrink the object under the mapping (SIGBUS, see fault_guard.hpp).
    HeaderCopy h;
    bool ready = false;
    if (!copy_header(m, h, ready)) {
      message = "/dev/shm/" + n + " shrank while its header was read";
      return SegmentError::kInvalidHeader;
    }
    if (!ready) {
      message = "/dev/shm/" + n + " is not ready (producer still initialising, or died doing so)";
      return SegmentError::kNotReady;
    }
    if (SegmentError e = validate_header(h.get(), m.size(), message); e != SegmentError::kOk) {
      message = "/dev/shm/" + n + ": " + message;
      return e;
    }
    out = std::move(m);
    if (validated) *validated = h;
    return SegmentError::kOk;
  } catch (const bip::interprocess_exception& e) {
    const int err = e.get_native_error();
    message = describe("cannot open", n, err ? err : EIO);
    return err ? from_errno(err) : SegmentError::kUnavailable;
  }
}

bool remove_segment(std::string_view name) noexcept {
  const std::string n(name);
  return bip::shared_memory_object::remove(n.c_str());
}

bool remove_segment_file(const Mapping& m) noexcept {
  const std::string path = "/dev/shm/" + m.name();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  if (st.st_dev != m.file().dev || st.st_ino != m.file().ino) {
    errno = ESTALE;
    return false;
  }
  return ::unlink(path.c_str()) == 0;
}

bool process_euid(std::uint32_t pid, std::uint32_t& uid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    unsigned real = 0, effective = 0;
    if (std::sscanf(line.c_str(), "Uid: %u %u", &real, &effective) == 2) {
      uid = effective;
      return true;
    }
  }
  return false;
}

std::uint64_t process_start_time(std::uint32_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::size_t pos = close + 2;
  for (int field = 3; field < 22 && pos < stat.size(); ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos) return 0;
    ++pos;
  }
  if (pos >= stat.size()) return 0;
  return std::strtoull(stat.c_str() + pos, nullptr, 10);
}

std::string segment_name(std::string_view service, std::uint32_t pid, std::uint32_t generation) {
  std::string s = kSegmentPrefix;
  for (char c : service) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    s += ok ? c : '_';
  }
  s += '.';
  s += std::to_string(pid);
  if (generation != 0) {
    s += '.';
    s += std::to_string(generation);
  }
  return s;
}

}  // namespace spanring::shm
