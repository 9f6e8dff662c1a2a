#include "agent/config/config_watch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>

namespace spanring::agent {

FileStamp file_stamp(const std::string& path) {
  struct stat st;
  if (path.empty() || ::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
          static_cast<long long>(st.st_ino), static_cast<long long>(st.st_size)};
}

std::uint32_t file_hash(const std::string& path) {
  // O_NONBLOCK: a FIFO put in the config's place must not block the agent's thread (the loader
  // refuses it with its own message).
  const int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st;
  uLong crc = ::crc32(0L, Z_NULL, 0);
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    std::array<unsigned char, 65536> buf;
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) crc = ::crc32(crc, buf.data(), static_cast<uInt>(n));
  }
  ::close(fd);
  return static_cast<std::uint32_t>(crc);
}

ConfigWatch::ConfigWatch(std::string path) : path_(std::move(path)) {}

void ConfigWatch::begin_load() {
  seen_ = file_stamp(path_);
  loading_hash_ = file_hash(path_);
  attempt_at_ = SystemClock::now();
}

void ConfigWatch::loaded(bool ok) {
  last_ok_ = ok;
  if (ok) {
    hash_ = loading_hash_;
    applied_at_ = attempt_at_;
  }
  if (first_) {
    first_ = false;
    return;
  }
  ++(ok ? reloads_ok_ : reloads_failed_);
}

bool ConfigWatch::changed() {
  if (path_.empty()) return false;
  const FileStamp now = file_stamp(path_);
  if (now == seen_) return false;
  // Same bytes as the config in force (touched, or rewritten identically): remember the stamp.
  if (last_ok_ && file_hash(path_) == hash_) {
    seen_ = now;
    return false;
  }
  return true;
}

}  // namespace spanring::agent
