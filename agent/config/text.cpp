#include "agent/config/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <limits>

namespace spanring::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

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

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return quote(node.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
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
    return std::chrono::nanoseconds(ns);
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
    return std::chrono::nanoseconds(ns);
  }
  return std::nullopt;
}

}  // namespace spanring::agent
