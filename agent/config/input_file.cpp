#include "agent/config/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace spanring::agent {
namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::optional<std::string> read_input_file(const std::string& path, std::uint64_t max_bytes,
                                           std::string& problem) {
  // stat() first, so a device is never even opened (opening some has side effects); fstat()
  // after the open decides, since the path may have been replaced in between.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    problem = std::string("is ") + file_kind(st.st_mode) + ", not a regular file";
    return std::nullopt;
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    problem = std::string("cannot be opened: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (::fstat(fd.get(), &st) != 0) {
    problem = std::string("cannot be examined: ") + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    problem = std::string("is ") + file_kind(st.st_mode) + ", not a regular file";
    return std::nullopt;
  }
  const auto too_big = [&](std::uint64_t size) {
    problem = "is " + std::to_string(size) + " bytes, more than the limit of " +
              std::to_string(max_bytes);
    return std::nullopt;
  };
  if (st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return too_big(static_cast<std::uint64_t>(st.st_size));
  }
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      problem = std::string("cannot be read: ") + std::strerror(errno);
      return std::nullopt;
    }
    text.append(buf, static_cast<std::size_t>(n));
    // The file grew after fstat (or a file system reports size 0): stop reading at the limit.
    if (text.size() > max_bytes) return too_big(text.size());
  }
  return text;
}

}  // namespace spanring::agent
