#include "agent/metrics/process_metrics.hpp"

#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace spanring::agent {
namespace {

double seconds(clockid_t clock) {
  struct timespec ts {};
  ::clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// /proc/self/stat fields 14, 15 (utime, stime: ticks), 22 (starttime: ticks after boot), 23
// (vsize: bytes), 24 (rss: pages). The command name (field 2) may hold spaces and ')': parse
// after its last ')'.
struct Stat {
  unsigned long long utime = 0, stime = 0, starttime = 0, vsize = 0;
  long long rss = 0;
};

bool read_stat(Stat& st) {
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) return false;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(line.substr(close + 2));
  std::string field;
  // Fields from 3 (state) on: 14 is the 12th of them.
  for (int i = 3; i <= 24; ++i) {
    if (!(in >> field)) return false;
    if (i == 14) st.utime = std::stoull(field);
    if (i == 15) st.stime = std::stoull(field);
    if (i == 22) st.starttime = std::stoull(field);
    if (i == 23) st.vsize = std::stoull(field);
    if (i == 24) st.rss = std::stoll(field);
  }
  return true;
}

long long open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  long long n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the descriptor opendir() itself holds
}

long long max_fds() {
  std::ifstream f("/proc/self/limits");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream in(line.substr(std::strlen("Max open files")));
      std::string soft;
      in >> soft;
      if (soft == "unlimited") return -1;
      try {
        return std::stoll(soft);
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

}  // namespace

void report_process_metrics(Registry& r) {
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  Stat st;
  bool ok = false;
  try {
    ok = read_stat(st);
  } catch (...) {  // a field that is not a number: leave the series as they are
    ok = false;
  }
  if (ok && tick > 0) {
    r.real_counter("process_cpu_seconds", "Total user and system CPU time spent in seconds.")
        .set(static_cast<double>(st.utime + st.stime) / tick);
    r.gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
        .set(static_cast<double>(st.rss) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
    r.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").set(static_cast<double>(st.vsize));
    // Boot time from two clocks, not /proc/stat's btime (hidden by ProcSubset=pid).
    const double boot = seconds(CLOCK_REALTIME) - seconds(CLOCK_BOOTTIME);
    r.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
        .set(boot + static_cast<double>(st.starttime) / tick);
  }
  if (const long long fds = open_fds(); fds >= 0)
    r.gauge("process_open_fds", "Number of open file descriptors.").set(static_cast<double>(fds));
  if (const long long fds = max_fds(); fds >= 0)
    r.gauge("process_max_fds", "Maximum number of open file descriptors.").set(static_cast<double>(fds));
}

}  // namespace spanring::agent
