#include "log.hpp"

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

bool parse_log_level(const std::string& s, LogLevel& out) {
  if (s == "debug") out = LogLevel::kDebug;
  else if (s == "info") out = LogLevel::kInfo;
  else if (s == "warn" || s == "warning") out = LogLevel::kWarn;
  else if (s == "error") out = LogLevel::kError;
  else return false;
  return true;
}

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log(LogLevel level, const char* fmt, ...) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  static const bool journal = stderr_is_journal();
  static const char* const names[] = {"debug", "info", "warn", "error"};
  static const char* const prio[] = {"<7>", "<6>", "<4>", "<3>"};
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
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

}  // namespace spanring::agent
