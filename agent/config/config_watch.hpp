// Which version of the config file the agent runs with, for the two ways a reload starts
// (SIGHUP, and the file watcher that polls the file's stamp every 2 s) and for /metrics and
// `spanringctl status`.
//
// One change must be applied once. Every reload, whatever started it, calls begin_load() before
// reading the file: that records the file's stamp (mtime, inode, size) as seen, so the watcher's
// next changed() is false for a change SIGHUP already loaded. The stamp is taken before the
// read, so a write that lands during the read changes the stamp again and is loaded next time.
// A stamp change whose content hashes the same as the config in force (a touch, a rewrite with
// the same bytes) is not a change for the watcher either.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace spanring::agent {

struct FileStamp {
  long long mtime_ns = 0;
  long long inode = 0;
  long long size = -1;  // -1: the file could not be stat()ed
  bool operator==(const FileStamp&) const = default;
};

FileStamp file_stamp(const std::string& path);
// CRC-32 (zlib) of the file's bytes; 0 when it cannot be read (or is empty).
std::uint32_t file_hash(const std::string& path);

class ConfigWatch {
 public:
  using SystemClock = std::chrono::system_clock;

  // `path` empty: no file (defaults and variables only); nothing ever changes.
  explicit ConfigWatch(std::string path);

  // Every load (the first one included) calls this before reading the file.
  void begin_load();
  // The load's outcome. On success the file's content, read at begin_load() time, is in force.
  void loaded(bool ok);

  // For the watcher: the file changed since the last begin_load() and its content is not the
  // one in force.
  bool changed();

  const std::string& path() const noexcept { return path_; }
  std::uint32_t hash() const noexcept { return hash_; }                 // of the config in force
  SystemClock::time_point applied_at() const noexcept { return applied_at_; }
  SystemClock::time_point last_attempt_at() const noexcept { return attempt_at_; }
  bool last_ok() const noexcept { return last_ok_; }
  std::uint64_t reloads_ok() const noexcept { return reloads_ok_; }     // after the first load
  std::uint64_t reloads_failed() const noexcept { return reloads_failed_; }

 private:
  std::string path_;
  FileStamp seen_;
  std::uint32_t loading_hash_ = 0;
  std::uint32_t hash_ = 0;
  SystemClock::time_point applied_at_{};
  SystemClock::time_point attempt_at_{};
  bool first_ = true;
  bool last_ok_ = true;
  std::uint64_t reloads_ok_ = 0;
  std::uint64_t reloads_failed_ = 0;
};

}  // namespace spanring::agent
