// The text forms of settings that both sides read: the engine's environment (client/src/tracer.cpp:
// SPANRING_SHM_SIZE, OTEL_RESOURCE_ATTRIBUTES) and the agent's config (queue.max_bytes,
// OTEL_EXPORTER_OTLP_HEADERS). Header-only, standard library only, so the client stays free of
// yaml-cpp and Boost and the agent does not depend on the client: one spelling means one thing
// wherever an operator writes it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanring::shm {

// A byte count: decimal digits, then optionally (spaces allowed before it) a unit, in any case:
//   B                      1
//   K, KiB / M, MiB / G, GiB   powers of 1024
//   KB / MB / GB               powers of 1000
// Why both: IEC writes 1024-based units as KiB and SI writes kB for 1000; each spelling keeps
// the meaning it already had (a bare K was 1024 in SPANRING_SHM_SIZE, like dd and Docker; KB was
// 1000 in the agent's file), so no value written before changes size. Leading and trailing
// spaces and tabs are ignored. Signs, fractions, other units and overflow are rejected (nullopt).
inline std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  std::size_t i = 0;
  std::uint64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (__builtin_mul_overflow(value, 10u, &value) ||
        __builtin_add_overflow(value, static_cast<unsigned>(text[i] - '0'), &value)) {
      return std::nullopt;
    }
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  while (!unit.empty() && is_space(unit.front())) unit.remove_prefix(1);
  char u[4] = {};  // the unit, upper-cased; longer units are not units
  if (unit.size() > 3) return std::nullopt;
  for (std::size_t k = 0; k < unit.size(); ++k) {
    const char c = unit[k];
    u[k] = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  }
  const std::string_view up(u, unit.size());
  std::uint64_t multiplier = 0;
  if (up.empty() || up == "B") multiplier = 1;
  else if (up == "K" || up == "KIB") multiplier = std::uint64_t{1} << 10;
  else if (up == "M" || up == "MIB") multiplier = std::uint64_t{1} << 20;
  else if (up == "G" || up == "GIB") multiplier = std::uint64_t{1} << 30;
  else if (up == "KB") multiplier = 1'000;
  else if (up == "MB") multiplier = 1'000'000;
  else if (up == "GB") multiplier = 1'000'000'000;
  else return std::nullopt;
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(value, multiplier, &bytes)) return std::nullopt;
  return bytes;
}

// Decodes %XX escapes (either hex case), as the OTEL_* list variables (OTEL_RESOURCE_ATTRIBUTES,
// OTEL_EXPORTER_OTLP_HEADERS) are encoded. nullopt when a '%' is not followed by two hex digits;
// every other byte, '+' included, stands for itself.
inline std::optional<std::string> percent_decode(std::string_view text) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex(text[i + 1]);
    const int lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace spanring::shm
