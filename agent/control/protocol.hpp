// The control socket's protocol, between spanring-agent (control_server.hpp) and spanringctl.
//
// A Unix stream socket, <runtime dir>/spanring-agent.sock (runtime_dir.hpp), mode 0660 in a
// directory only the agent's user and group can reach. The client sends one request line; the
// agent answers and the connection ends (status) or stays open (tap):
//
//   "status\n"  → human-readable text (UTF-8), then EOF
//   "tap\n"     → frames until either side closes:  [type: u8][length: u32 LE][payload]
//                   'B'  a serialized OTLP ExportTraceServiceRequest: a batch the exporter
//                        accepted (a copy: the export is not affected)
//                   'L'  u64 LE: spans of batches this client missed because its buffer was full
//                        (a slow client loses data, never slows the agent)
//   anything else → "error: ...\n", then EOF
//
// Versioning: a new request or frame type is added, never changed; clients ignore frame types
// they do not know.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace spanring::agent::control {

inline constexpr const char* kSocketExtension = "sock";
inline constexpr std::string_view kRequestStatus = "status";
inline constexpr std::string_view kRequestTap = "tap";
inline constexpr std::size_t kMaxRequestBytes = 256;

inline constexpr char kFrameBatch = 'B';
inline constexpr char kFrameLost = 'L';
inline constexpr std::size_t kFrameHeaderBytes = 5;
// A frame larger than this is refused by the client (the agent's batches are bounded far below).
inline constexpr std::uint32_t kMaxFramePayload = 256u << 20;

inline std::string frame_header(char type, std::uint32_t length) {
  std::string h(kFrameHeaderBytes, '\0');
  h[0] = type;
  for (int i = 0; i < 4; ++i) h[1 + i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return h;
}

inline std::uint32_t frame_length(const char* header) {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(header[1 + i])) << (8 * i);
  return n;
}

inline std::string encode_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

inline std::uint64_t decode_u64(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && i < s.size(); ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i])) << (8 * i);
  return v;
}

}  // namespace spanring::agent::control
