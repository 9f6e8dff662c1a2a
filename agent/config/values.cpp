// Parsers for the value syntaxes the config accepts (durations, host:port; sizes go through
// spanring/shm/text.hpp, shared with the engine, and URLs through the exporter's parse_http_url). They are strict: anything not clearly meant is rejected, so a
// typo is an error, not a surprise.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "agent/config/config.hpp"

namespace spanring::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Leading decimal digits of `s` as an unsigned value; `digits` gets their count. nullopt on
// overflow. Signs, hex and separators are not digits, so they end the number.
std::optional<std::uint64_t> leading_uint(std::string_view s, std::size_t& digits) {
  digits = 0;
  while (digits < s.size() && is_digit(s[digits])) ++digits;
  if (digits == 0) return std::uint64_t{0};
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + digits, value);
  if (ec != std::errc() || ptr != s.data() + digits) return std::nullopt;
  return value;
}

// Hostnames, IPv4 literals and the inside of an IPv6 literal's brackets.
bool valid_host(std::string_view host, bool bracketed) {
  if (host.empty()) return false;
  for (char c : host) {
    const bool ok = bracketed ? (is_digit(c) || is_alpha(c) || c == ':' || c == '.')
                              : (is_digit(c) || is_alpha(c) || c == '-' || c == '.' || c == '_');
    if (!ok) return false;
  }
  return !bracketed || host.find(':') != std::string_view::npos;
}

// "host:port" / "[v6]:port"; the port is required and may be 0 (any free port).
bool split_host_port(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view inside = text.substr(1, close - 1);
    if (!valid_host(inside, true)) return false;
    host.assign(inside);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return false;
    port_text = rest.substr(1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view host_text = text.substr(0, colon);
    if (!valid_host(host_text, false)) return false;
    host.assign(host_text);
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return false;
  std::size_t digits = 0;
  const auto value = leading_uint(port_text, digits);
  if (!value || digits != port_text.size() || *value > 65535) return false;
  port = static_cast<std::uint16_t>(*value);
  return true;
}

struct Unit {
  std::string_view suffix;
  std::int64_t nanoseconds;
};

constexpr std::array<Unit, 6> kDurationUnits{{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
}};

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  text = trim(text);
  std::size_t int_digits = 0;
  const auto integer = leading_uint(text, int_digits);
  if (!integer || int_digits == 0) return std::nullopt;
  std::string_view rest = text.substr(int_digits);

  std::uint64_t fraction = 0;
  std::size_t fraction_digits = 0;
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    while (fraction_digits < rest.size() && is_digit(rest[fraction_digits])) ++fraction_digits;
    if (fraction_digits == 0) return std::nullopt;
    // Digits beyond nanosecond precision cannot change the result; dropping them also keeps
    // the fraction's integer small enough to never overflow below.
    std::string_view kept = rest.substr(0, std::min<std::size_t>(fraction_digits, 9));
    rest.remove_prefix(fraction_digits);
    fraction_digits = kept.size();
    std::size_t n = 0;
    fraction = leading_uint(kept, n).value_or(0);
  }

  if (rest.empty()) {
    // A bare integer is milliseconds (as in OTEL_* variables); a bare fraction is ambiguous.
    if (fraction_digits > 0) return std::nullopt;
    std::int64_t ns = 0;
    if (*integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(static_cast<std::int64_t>(*integer), std::int64_t{1'000'000}, &ns)) {
      return std::nullopt;
    }
    return Duration(ns);
  }

  for (const Unit& unit : kDurationUnits) {
    if (rest != unit.suffix) continue;
    std::int64_t ns = 0;
    if (*integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(static_cast<std::int64_t>(*integer), unit.nanoseconds, &ns)) {
      return std::nullopt;
    }
    // Keep only fraction digits the unit can express in whole nanoseconds, so that
    // fraction * (unit / 10^digits) is exact and below one unit.
    std::int64_t scale = 1;
    for (std::size_t i = 0; i < fraction_digits; ++i) scale *= 10;
    while (fraction_digits > 0 && unit.nanoseconds % scale != 0) {
      fraction /= 10;
      scale /= 10;
      --fraction_digits;
    }
    const std::int64_t fraction_ns =
        static_cast<std::int64_t>(fraction) * (unit.nanoseconds / scale);
    if (__builtin_add_overflow(ns, fraction_ns, &ns)) return std::nullopt;
    return Duration(ns);
  }
  return std::nullopt;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  if (!split_host_port(text, out.host, out.port)) return std::nullopt;
  return out;
}

std::string_view to_string(ExporterType type) {
  switch (type) {
    case ExporterType::kOtlp: return "otlp";
    case ExporterType::kConsole: return "console";
    case ExporterType::kFile: return "file";
    case ExporterType::kNone: return "none";
  }
  return "?";
}

std::string_view to_string(Compression compression) {
  switch (compression) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
  }
  return "?";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "?";
}

}  // namespace spanring::agent
