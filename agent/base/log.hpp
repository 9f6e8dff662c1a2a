// The agent's log: one line per event on stderr, with a level. Under systemd (JOURNAL_STREAM
// names our stderr) each line carries a syslog priority prefix so journald keeps the level.
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <string>

namespace spanring::agent {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_level(LogLevel level);
// Control characters in the formatted line (a segment or service name is a producer's bytes)
// are written as \xNN, so no value can forge a second log line or drive a terminal.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// For lines whose frequency a producer controls (one per bad segment, per invalid record, ...):
// at most `burst` lines per `period`; lines over that are counted, and the next line that
// passes says how many were suppressed. One limiter per kind of event.
class LogLimiter {
 public:
  LogLimiter(unsigned burst, std::chrono::steady_clock::duration period) : burst_(burst), period_(period) {}
  void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

 private:
  unsigned burst_;
  std::chrono::steady_clock::duration period_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned in_window_ = 0;
  std::uint64_t suppressed_pending_ = 0;
};

#define SPANRING_LOG_DEBUG(...) ::spanring::agent::log(::spanring::agent::LogLevel::kDebug, __VA_ARGS__)
#define SPANRING_LOG_INFO(...) ::spanring::agent::log(::spanring::agent::LogLevel::kInfo, __VA_ARGS__)
#define SPANRING_LOG_WARN(...) ::spanring::agent::log(::spanring::agent::LogLevel::kWarn, __VA_ARGS__)
#define SPANRING_LOG_ERROR(...) ::spanring::agent::log(::spanring::agent::LogLevel::kError, __VA_ARGS__)

}  // namespace spanring::agent
