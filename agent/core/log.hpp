// The agent's log: one line per event on stderr, with a level. Under systemd (JOURNAL_STREAM
// names our stderr) each line carries a syslog priority prefix so journald keeps the level.
#pragma once

#include <cstdarg>
#include <string>

namespace spanring::agent {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

bool parse_log_level(const std::string& s, LogLevel& out);
void set_log_level(LogLevel level);
LogLevel log_level();
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define SPANRING_LOG_DEBUG(...) ::spanring::agent::log(::spanring::agent::LogLevel::kDebug, __VA_ARGS__)
#define SPANRING_LOG_INFO(...) ::spanring::agent::log(::spanring::agent::LogLevel::kInfo, __VA_ARGS__)
#define SPANRING_LOG_WARN(...) ::spanring::agent::log(::spanring::agent::LogLevel::kWarn, __VA_ARGS__)
#define SPANRING_LOG_ERROR(...) ::spanring::agent::log(::spanring::agent::LogLevel::kError, __VA_ARGS__)

}  // namespace spanring::agent
