#include "agent/base/log.hpp"

#include <sys/stat.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace spanring::agent {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  return fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

namespace {

bool enabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void write_line(LogLevel level, const char* fmt, va_list ap, const char* suffix) {
  static const bool journal = stderr_is_journal();
  static const char* const names[] = {"debug", "info", "warn", "error"};
  static const char* const prio[] = {"<7>", "<6>", "<4>", "<3>"};
  char raw[2048];
  std::vsnprintf(raw, sizeof raw, fmt, ap);
  char msg[sizeof raw * 4 + 128];
  std::size_t n = 0;
  for (const char* p = raw; *p && n + 5 < sizeof msg; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f) n += static_cast<std::size_t>(std::snprintf(msg + n, 5, "\\x%02x", c));
    else msg[n++] = *p;
  }
  std::snprintf(msg + n, sizeof msg - n, "%s", suffix);
  const int l = static_cast<int>(level);
  if (journal) {
    std::fprintf(stderr, "%s%s\n", prio[l], msg);
  } else {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    gmtime_r(&ts.tv_sec, &t);
    std::fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                 t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000, names[l], msg);
  }
}

}  // namespace

void log(LogLevel level, const char* fmt, ...) {
  if (!enabled(level)) return;
  va_list ap;
  va_start(ap, fmt);
  write_line(level, fmt, ap, "");
  va_end(ap);
}

void LogLimiter::log(LogLevel level, const char* fmt, ...) {
  const auto now = std::chrono::steady_clock::now();
  if (in_window_ == 0 || now - window_start_ >= period_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_pending_;
    return;
  }
  ++in_window_;
  if (!enabled(level)) return;
  char suffix[96] = "";
  if (suppressed_pending_ > 0)
    std::snprintf(suffix, sizeof suffix, " (%llu similar line(s) suppressed before this one)",
                  static_cast<unsigned long long>(suppressed_pending_));
  suppressed_pending_ = 0;
  va_list ap;
  va_start(ap, fmt);
  write_line(level, fmt, ap, suffix);
  va_end(ap);
}

}  // namespace spanring::agent
