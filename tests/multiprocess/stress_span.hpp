// The span the multi-process stress test writes and checks. The producer derives every field
// from (thread, seq); the reader recomputes the checksum from what it decoded, so any byte of
// a span that is torn, shifted or mixed with another span shows up as a checksum error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spanring::test {

// Span names, by seq % 4. The last one is sent inline (not interned) so the reader decodes
// both kinds of string.
inline constexpr std::string_view kStressNames[] = {"mp.prefill", "mp.decode", "mp.sample", "mp.inline.step"};
inline constexpr std::size_t kStressInlineName = 3;

inline constexpr std::string_view kSeqKey = "seq";
inline constexpr std::string_view kThreadKey = "thread";
inline constexpr std::string_view kChecksumKey = "checksum";
inline constexpr std::string_view kPayloadKey = "payload";

inline std::string_view stress_name(std::int64_t seq) { return kStressNames[static_cast<std::uint64_t>(seq) % 4]; }

// Every fifth span carries a string payload of 0..299 bytes, so spans of one to four records
// are mixed in every ring.
inline bool has_payload(std::int64_t seq) { return seq % 5 == 0; }

inline std::string stress_payload(std::int64_t thread, std::int64_t seq) {
  const auto n = static_cast<std::size_t>((seq * 37 + thread * 11) % 300);
  std::string s(n, '?');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (static_cast<std::uint64_t>(seq) + i) % 26);
  return s;
}

// FNV-1a over name, seq, thread and payload.
inline std::int64_t stress_checksum(std::string_view name, std::int64_t seq, std::int64_t thread,
                                    std::string_view payload) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 1099511628211ull;
    }
  };
  mix(name.data(), name.size());
  mix(&seq, sizeof seq);
  mix(&thread, sizeof thread);
  mix(payload.data(), payload.size());
  return static_cast<std::int64_t>(h);
}

}  // namespace spanring::test
