// spanring — W3C Trace Context parsing and formatting (../shared/SPEC.md §5).
//
// Everything here runs on request paths (extract per incoming request, format per outgoing call),
// so nothing allocates: ids are decoded into stack copies and tracestate is validated in place
// and copied once into the fixed buffer of SpanContext.
#include "spanring/span_context.hpp"

#include <array>

namespace spanring::detail {
// Bumps the process-wide traceparent_invalid counter; lives with the other counters in tracer.cpp.
void note_traceparent_invalid() noexcept;
}  // namespace spanring::detail

namespace spanring {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// 0x0-0xf for a lowercase hex digit, 0xff for anything else. W3C allows only HEXDIGLC, so an
// uppercase digit fails the same lookup as punctuation does.
constexpr std::array<std::uint8_t, 256> kHexValue = [] {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = 0xff;
  for (std::size_t c = '0'; c <= '9'; ++c) table[c] = static_cast<std::uint8_t>(c - '0');
  for (std::size_t c = 'a'; c <= 'f'; ++c) table[c] = static_cast<std::uint8_t>(c - 'a' + 10);
  return table;
}();

// Field offsets of the version-00 layout, which later versions share as a prefix.
constexpr std::size_t kTraceIdOffset = 3;
constexpr std::size_t kSpanIdOffset = 36;
constexpr std::size_t kFlagsOffset = 53;

// tracestate limits (W3C §tracestate): key and value are each at most 256 chars, at most 32
// non-empty members; when truncating, entries above 128 chars go first.
constexpr std::size_t kMaxTraceStateKeyLength = 256;
constexpr std::size_t kMaxTraceStateValueLength = 256;
constexpr std::size_t kMaxTraceStateMembers = 32;
constexpr std::size_t kTraceStateLargeEntry = 128;

void write_hex(const std::uint8_t* bytes, std::size_t n, char* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kHexDigits[bytes[i] >> 4];
    out[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
  }
}

// Decodes 2*n hex chars into n bytes and returns the OR of every nibble lookup, so callers test
// validity once per header instead of branching per digit: the result is >= 0x10 iff any char was
// not a lowercase hex digit.
std::uint8_t read_hex(const char* in, std::size_t n, std::uint8_t* bytes) noexcept {
  std::uint8_t seen = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t hi = kHexValue[static_cast<unsigned char>(in[2 * i])];
    const std::uint8_t lo = kHexValue[static_cast<unsigned char>(in[2 * i + 1])];
    seen = static_cast<std::uint8_t>(seen | hi | lo);
    bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return seen;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool is_lcalpha(char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Level 2 keychar: '@' may appear anywhere but first, which also covers the Level 1
// tenant@system form, so one grammar accepts both.
constexpr bool is_key_char(char c) noexcept {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@';
}

// chr = %x20 / nblk-chr: printable ASCII except ',' and '=' (they delimit members and keys).
constexpr bool is_value_char(char c) noexcept {
  return c >= 0x20 && c <= 0x7e && c != ',' && c != '=';
}

bool valid_key(std::string_view key) noexcept {
  if (key.empty() || key.size() > kMaxTraceStateKeyLength) return false;
  if (!is_lcalpha(key.front()) && !is_digit(key.front())) return false;
  for (const char c : key) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

bool valid_value(std::string_view value) noexcept {
  // A trailing space would be OWS, not value; the member was already trimmed, so a space here
  // can only mean the caller handed us an untrimmed member.
  if (value.empty() || value.size() > kMaxTraceStateValueLength || value.back() == ' ') return false;
  for (const char c : value) {
    if (!is_value_char(c)) return false;
  }
  return true;
}

struct TraceStateMember {
  std::string_view text;  // "key=value", OWS already trimmed
  std::size_t key_length;
};

}  // namespace

void format_traceparent(const SpanContext& ctx, char* out) noexcept {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  write_hex(ctx.trace_id.bytes, sizeof ctx.trace_id.bytes, out + kTraceIdOffset);
  out[kSpanIdOffset - 1] = '-';
  write_hex(ctx.span_id.bytes, sizeof ctx.span_id.bytes, out + kSpanIdOffset);
  out[kFlagsOffset - 1] = '-';
  // Reserved bits must be sent as 0: we may not know what a future bit promises downstream.
  const std::uint8_t flags =
      static_cast<std::uint8_t>(ctx.trace_flags & (kTraceFlagSampled | kTraceFlagRandom));
  write_hex(&flags, 1, out + kFlagsOffset);
}

bool parse_traceparent(std::string_view value, SpanContext& out) noexcept {
  const std::string_view v = trim_ows(value);
  // Every version starts with the v00 layout; anything shorter cannot be understood, and the spec
  // says to restart the trace rather than guess.
  if (v.size() < kTraceparentLength) return false;
  const char* p = v.data();

  std::uint8_t version = 0;
  TraceId trace_id;
  SpanId span_id;
  std::uint8_t flags = 0;
  const std::uint8_t seen = static_cast<std::uint8_t>(
      read_hex(p, 1, &version) | read_hex(p + kTraceIdOffset, sizeof trace_id.bytes, trace_id.bytes) |
      read_hex(p + kSpanIdOffset, sizeof span_id.bytes, span_id.bytes) |
      read_hex(p + kFlagsOffset, 1, &flags));
  if ((seen & 0xf0) != 0) return false;
  if (p[2] != '-' || p[kSpanIdOffset - 1] != '-' || p[kFlagsOffset - 1] != '-') return false;
  if (version == 0xff) return false;
  if (v.size() > kTraceparentLength) {
    // v00 has exactly four fields; a later version may append fields, but only after a '-', so
    // "01." is a malformed flags field rather than an extension.
    if (version == 0x00 || p[kTraceparentLength] != '-') return false;
  }
  if (!trace_id.valid() || !span_id.valid()) return false;

  out.trace_id = trace_id;
  out.span_id = span_id;
  out.trace_flags = flags;
  out.is_remote = true;
  out.trace_state_length = 0;
  return true;
}

bool parse_tracestate(std::string_view value, SpanContext& out) noexcept {
  out.trace_state_length = 0;
  const std::string_view list = trim_ows(value);

  TraceStateMember members[kMaxTraceStateMembers];
  std::size_t count = 0;    // members kept
  std::size_t listed = 0;   // non-empty list members, duplicates included: the grammar's limit
  bool dropped_duplicate = false;
  std::size_t pos = 0;
  while (pos <= list.size()) {
    std::size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view member = trim_ows(std::string_view(list.data() + pos, comma - pos));
    pos = comma + 1;
    // Empty members are legal: joining several tracestate fields can produce them.
    if (member.empty()) continue;
    if (listed++ == kMaxTraceStateMembers) return false;

    const std::size_t eq = member.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = member.substr(0, eq);
    if (!valid_key(key) || !valid_value(member.substr(eq + 1))) return false;
    // A repeated key is the sender's fault, and W3C says a receiver MUST still forward the
    // header and MAY drop only the duplicates (SPEC §5.3). The left-most entry is the most
    // recently updated (mutations move a key to the left), so the first occurrence wins.
    bool duplicate = false;
    for (std::size_t i = 0; i < count && !duplicate; ++i) {
      duplicate = members[i].text.substr(0, members[i].key_length) == key;
    }
    if (duplicate) {
      dropped_duplicate = true;
      continue;
    }
    members[count++] = {member, eq};
  }
  if (count == 0) return true;

  if (!dropped_duplicate && list.size() <= kMaxTraceStateLength) {
    // Fits as received: keep it byte for byte, since an unchanged traceparent should forward an
    // unchanged tracestate.
    std::memcpy(out.trace_state, list.data(), list.size());
    out.trace_state_length = static_cast<std::uint16_t>(list.size());
    return true;
  }

  // Too long, or a duplicate left out: rebuild from whole entries joined by bare commas (when it
  // fits, nothing more is dropped). `total` counts each kept entry
  // plus one separator, so the joined length is total - 1 (and 0 when nothing is kept).
  bool keep[kMaxTraceStateMembers];
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i) {
    keep[i] = true;
    total += members[i].text.size() + 1;
  }
  // Large entries go first, then the right end; both passes walk right to left because the
  // left-most entries belong to the most recent participants, and stop as soon as it fits so
  // no more is lost than necessary.
  for (std::size_t i = count; i-- > 0 && total > kMaxTraceStateLength + 1;) {
    if (members[i].text.size() > kTraceStateLargeEntry) {
      keep[i] = false;
      total -= members[i].text.size() + 1;
    }
  }
  for (std::size_t i = count; i-- > 0 && total > kMaxTraceStateLength + 1;) {
    if (keep[i]) {
      keep[i] = false;
      total -= members[i].text.size() + 1;
    }
  }

  std::size_t n = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!keep[i]) continue;
    if (n != 0) out.trace_state[n++] = ',';
    std::memcpy(out.trace_state + n, members[i].text.data(), members[i].text.size());
    n += members[i].text.size();
  }
  out.trace_state_length = static_cast<std::uint16_t>(n);
  return true;
}

bool extract(std::string_view traceparent, std::string_view tracestate, SpanContext& out) noexcept {
  // An absent header is the normal root-trace case, not a fault worth counting.
  if (traceparent.empty()) return false;
  if (!parse_traceparent(traceparent, out)) {
    detail::note_traceparent_invalid();
    return false;
  }
  // A bad tracestate costs only vendor data, never the trace: parse_tracestate leaves it empty.
  parse_tracestate(tracestate, out);
  return true;
}

void to_hex(const TraceId& id, char* out) noexcept { write_hex(id.bytes, sizeof id.bytes, out); }

void to_hex(const SpanId& id, char* out) noexcept { write_hex(id.bytes, sizeof id.bytes, out); }

}  // namespace spanring
