// The one way the agent reads a file it was told to read: the config (--config), the sampling
// strategies file (sampling.strategies_file), and later TLS certificates.
//
// Such paths come from an operator and may name anything: /dev/zero (endless), a FIFO (an open
// blocks until a writer appears), a directory, a 10 GB log. The agent has one thread that also
// drains the rings, so a read must neither block nor grow without bound. read_input_file()
// therefore accepts only a regular file below a size limit:
//   - open(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY): opening a FIFO returns at once instead
//     of waiting for a writer, and a terminal never becomes the controlling one;
//   - fstat() on that descriptor (not on the path, which may be swapped in between): anything but
//     a regular file is refused, naming what it is (a directory, a FIFO, a character device...);
//   - the size must be at most `max_bytes`, and at most max_bytes + 1 bytes are ever read, so a
//     file that grows while it is read is refused too.
// A regular file of bounded size on a local file system is read in microseconds to a few
// milliseconds, which is why a reload may call this on the drain thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace spanring::agent {

// Limit for the config and the sampling strategies file: far above any real one (the example
// config is 4 KiB; a strategies file for 10,000 services is about 1 MiB).
inline constexpr std::uint64_t kMaxInputFileBytes = std::uint64_t{16} << 20;

// The file's whole contents; or nullopt with `problem` set to a phrase that follows the path in
// a message: "is a directory, not a regular file", "cannot be opened: Permission denied",
// "is 20971520 bytes, more than the limit of 16777216". Callers write
// "<where>: <key>: <path> <problem>".
std::optional<std::string> read_input_file(const std::string& path, std::uint64_t max_bytes,
                                           std::string& problem);

}  // namespace spanring::agent
