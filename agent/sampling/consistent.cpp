#include "agent/sampling/consistent.hpp"

#include <cmath>

namespace spanring::agent {
namespace {

constexpr int kHexDigits = 14;
constexpr double kTwo56 = 72057594037927936.0;  // 2^56

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(member) for each non-empty list member, OWS trimmed; stops when fn returns false.
template <class Fn>
void for_each_member(std::string_view list, Fn&& fn) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view member = trim_ows(list.substr(0, comma));
    if (!member.empty() && !fn(member)) return;
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

std::string_view member_key(std::string_view member) noexcept {
  const std::size_t eq = member.find('=');
  return eq == std::string_view::npos ? member : member.substr(0, eq);
}

template <class Fn>
void for_each_ot_field(std::string_view value, Fn&& fn) {
  while (true) {
    const std::size_t semi = value.find(';');
    const std::string_view field = value.substr(0, semi);
    if (!field.empty()) fn(field);
    if (semi == std::string_view::npos) return;
    value.remove_prefix(semi + 1);
  }
}

}  // namespace

std::uint64_t probability_to_threshold(double p) noexcept {
  if (!(p > 0)) return kNeverSampleThreshold;
  if (p >= 1) return 0;
  // p × 2^56 is exact in a double (a power-of-two scale), so only the rounding is lossy.
  return kNeverSampleThreshold - static_cast<std::uint64_t>(std::round(p * kTwo56));
}

std::uint64_t probability_to_threshold(double p, int precision) noexcept {
  if (precision <= 0 || precision >= kHexDigits || !(p > 0) || p >= 1) return probability_to_threshold(p);
  int exp_p = 0, exp_q = 0;
  std::frexp(p, &exp_p);
  std::frexp(1 - p, &exp_q);
  // Go's integer division truncates toward zero, as C++'s does: exp / -4 >= 0 for exp <= 0.
  const int digits = std::min(kHexDigits, std::max(precision + exp_p / -4, precision + exp_q / -4));
  std::uint64_t t = probability_to_threshold(p);
  if (const int shift = 4 * (kHexDigits - digits); shift > 0) {
    t += std::uint64_t{1} << (shift - 1);
    t >>= shift;
    t <<= shift;
  }
  // Rounding up can only reach 2^56 for p below 2^-44, where digits is already 14.
  return t;
}

double threshold_to_probability(std::uint64_t threshold) noexcept {
  if (threshold >= kNeverSampleThreshold) return 0;
  return static_cast<double>(kNeverSampleThreshold - threshold) / kTwo56;
}

std::size_t encode_threshold(std::uint64_t threshold, char* out) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  if (threshold == 0) {
    out[0] = '0';
    return 1;
  }
  threshold &= kRandomnessMask;
  int n = kHexDigits;
  while (n > 1 && ((threshold >> (4 * (kHexDigits - n))) & 0xf) == 0) --n;
  for (int i = 0; i < n; ++i) out[i] = kHex[(threshold >> (4 * (kHexDigits - 1 - i))) & 0xf];
  return static_cast<std::size_t>(n);
}

std::string encode_threshold(std::uint64_t threshold) {
  char buf[kHexDigits];
  return std::string(buf, encode_threshold(threshold, buf));
}

std::optional<std::uint64_t> decode_threshold(std::string_view th) noexcept {
  if (th.empty() || th.size() > kHexDigits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : th) {
    const int h = hex_value(c);
    if (h < 0) return std::nullopt;
    v = v << 4 | static_cast<std::uint64_t>(h);
  }
  return v << (4 * (kHexDigits - th.size()));
}

std::optional<std::uint64_t> decode_randomness(std::string_view rv) noexcept {
  if (rv.size() != kHexDigits) return std::nullopt;
  return decode_threshold(rv);
}

OtTraceState parse_ot_trace_state(std::string_view trace_state) noexcept {
  OtTraceState out;
  for_each_member(trace_state, [&](std::string_view member) {
    if (member_key(member) != "ot" || member.size() < 3) return true;
    for_each_ot_field(member.substr(3), [&](std::string_view field) {
      if (field.size() < 3 || field[2] != ':') return;
      const std::string_view key = field.substr(0, 2), value = field.substr(3);
      if (key == "rv") {
        if (const auto rv = decode_randomness(value)) {
          out.has_rv = true;
          out.rv = *rv;
        }
      } else if (key == "th") {
        if (const auto th = decode_threshold(value)) {
          out.has_th = true;
          out.th = *th;
        }
      }
    });
    return false;  // keys are unique: the first ot member is the one
  });
  return out;
}

void set_trace_state_threshold(std::string_view trace_state, std::optional<std::uint64_t> threshold,
                               std::string& out) {
  out.clear();
  std::string_view ot_value;
  for_each_member(trace_state, [&](std::string_view member) {
    if (member_key(member) != "ot") return true;
    ot_value = member.size() > 3 ? member.substr(3) : std::string_view();
    return false;
  });
  // The new ot value: th first, then the other sub-keys in their order.
  out += "ot=";
  const std::size_t value_start = out.size();
  if (threshold) {
    char buf[kHexDigits];
    out += "th:";
    out.append(buf, encode_threshold(*threshold, buf));
  }
  for_each_ot_field(ot_value, [&](std::string_view field) {
    if (field.size() >= 3 && field.substr(0, 3) == "th:") return;
    if (field == "th") return;
    if (out.size() > value_start) out += ';';
    out += field;
  });
  int members = 1;
  if (out.size() == value_start) {
    out.clear();  // nothing left in ot: drop the member
    members = 0;
  }
  for_each_member(trace_state, [&](std::string_view member) {
    if (member_key(member) == "ot") return true;  // the one written above (a duplicate goes too)
    if (members == 32) return false;  // W3C: at most 32 members, the right-most go first
    if (!out.empty()) out += ',';
    out += member;
    ++members;
    return true;
  });
}

}  // namespace spanring::agent
