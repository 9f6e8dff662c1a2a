// spanring — span identity and W3C Trace Context propagation.
//
// A SpanContext is what crosses a process boundary: trace id, span id, trace flags, tracestate.
// Parsing follows W3C Trace Context Level 2 (see ../shared/SPEC.md §5): an invalid traceparent is
// ignored (and its tracestate with it) so the caller starts a new root trace; an invalid
// tracestate is discarded whole without invalidating the traceparent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace spanring {

// Trace flags (W3C trace-flags byte). Test single bits; never compare the whole byte.
inline constexpr std::uint8_t kTraceFlagSampled = 0x01;
inline constexpr std::uint8_t kTraceFlagRandom = 0x02;

struct TraceId {
  std::uint8_t bytes[16] = {};
  bool valid() const noexcept {
    std::uint64_t a, b;
    std::memcpy(&a, bytes, 8);
    std::memcpy(&b, bytes + 8, 8);
    return (a | b) != 0;
  }
  friend bool operator==(const TraceId& x, const TraceId& y) noexcept {
    return std::memcmp(x.bytes, y.bytes, 16) == 0;
  }
};

struct SpanId {
  std::uint8_t bytes[8] = {};
  bool valid() const noexcept {
    std::uint64_t a;
    std::memcpy(&a, bytes, 8);
    return a != 0;
  }
  friend bool operator==(const SpanId& x, const SpanId& y) noexcept {
    return std::memcmp(x.bytes, y.bytes, 8) == 0;
  }
};

// The W3C minimum a participant must propagate; longer tracestate values are truncated by
// whole entries (W3C §tracestate size limits).
inline constexpr std::size_t kMaxTraceStateLength = 512;

struct SpanContext {
  TraceId trace_id;
  SpanId span_id;
  std::uint8_t trace_flags = 0;
  bool is_remote = false;  // true when the context came from a header, not from a local span
  std::uint16_t trace_state_length = 0;
  char trace_state[kMaxTraceStateLength] = {};  // validated W3C tracestate, not NUL-terminated

  bool valid() const noexcept { return trace_id.valid() && span_id.valid(); }
  bool sampled() const noexcept { return (trace_flags & kTraceFlagSampled) != 0; }
  std::string_view trace_state_view() const noexcept { return {trace_state, trace_state_length}; }
};

// Length of a version-00 traceparent value: "00-" 32 hex "-" 16 hex "-" 2 hex.
inline constexpr std::size_t kTraceparentLength = 55;

// Writes the traceparent value for `ctx` (version 00, lowercase, reserved flag bits zeroed) into
// `out`, which must hold kTraceparentLength bytes; no NUL is written. Any thread.
void format_traceparent(const SpanContext& ctx, char* out) noexcept;

// Parses a traceparent header value (surrounding spaces/tabs allowed). Returns false, leaving
// `out` untouched, when the value is invalid under W3C rules. On success sets trace id, span id
// (the caller's parent-id), flags (unknown bits kept as received; format_traceparent zeroes
// them), is_remote = true, and clears the tracestate. Any thread.
bool parse_traceparent(std::string_view value, SpanContext& out) noexcept;

// Validates a tracestate header value (W3C Level 2 key grammar, ≤ 32 members, value grammar)
// and, when valid, stores it in `out.trace_state`, trimmed of surrounding whitespace. Returns
// false and leaves `out.trace_state` empty when invalid; an empty or whitespace-only value is
// valid and empty. A repeated key is not an error: later occurrences are dropped and the rest
// is kept (W3C: a receiver MUST forward tracestate and MAY drop duplicates). A value longer
// than kMaxTraceStateLength, or one with a duplicate left out, is rebuilt from whole entries
// joined by ','; when too long, entries over 128 chars go first, then from the right end
// (W3C). Any thread.
bool parse_tracestate(std::string_view value, SpanContext& out) noexcept;

// Extracts a context from incoming header values. Returns false when traceparent is absent or
// invalid (the caller then starts a new root trace); the process-wide counter
// `traceparent_invalid` counts invalid non-empty values. tracestate is used only when the
// traceparent is valid, and an invalid tracestate leaves it empty without failing the extract.
// `out` is untouched when this returns false.
bool extract(std::string_view traceparent, std::string_view tracestate, SpanContext& out) noexcept;

// Lowercase hex for log correlation: `out` receives 32 (trace) or 16 (span) characters, no NUL.
void to_hex(const TraceId& id, char* out) noexcept;
void to_hex(const SpanId& id, char* out) noexcept;

}  // namespace spanring
