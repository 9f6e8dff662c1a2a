// UTF-8 validation. Strings from shared memory are untrusted bytes, but protobuf `string`
// fields, JSON and terminals need valid UTF-8: the OTLP conversion replaces invalid sequences
// with U+FFFD (one bad byte would otherwise make a whole batch unparsable for the backend), the
// JSON writer never emits broken UTF-8, and the console never hands stray bytes to a terminal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace spanring::agent::detail {

// Length (2-4) of the valid multi-byte UTF-8 sequence starting at s[i], or 0 if there is none.
// Overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid (RFC 3629).
// ASCII bytes are not sequences here: callers handle them first.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  std::size_t len = 0;
  unsigned char lo = 0x80;  // allowed range of the second byte
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Returns `s` itself when it is valid UTF-8 (the common, ASCII case costs one pass over
// 8-byte words); otherwise a copy in `scratch` with each invalid byte replaced by U+FFFD.
inline std::string_view valid_utf8(std::string_view s, std::string& scratch) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) break;
  }
  bool valid = true;
  for (std::size_t k = i; k < s.size();) {
    if (static_cast<unsigned char>(s[k]) < 0x80) {
      ++k;
      continue;
    }
    const std::size_t len = utf8_sequence_length(s, k);
    if (len == 0) {
      valid = false;
      break;
    }
    k += len;
  }
  if (valid) return s;
  scratch.clear();
  for (std::size_t k = 0; k < s.size();) {
    if (static_cast<unsigned char>(s[k]) < 0x80) {
      scratch += s[k++];
      continue;
    }
    const std::size_t len = utf8_sequence_length(s, k);
    if (len == 0) {
      scratch += "\xEF\xBF\xBD";
      ++k;
    } else {
      scratch.append(s.data() + k, len);
      k += len;
    }
  }
  return scratch;
}

}  // namespace spanring::agent::detail
