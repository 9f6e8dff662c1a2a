// The span wire format, both directions: the encoder the client's Span writes with, and the
// decoder the reader checks and reads with. The format itself (SpanFixed, item tags, string
// refs, kind, status, attribute types and flag bits) is defined in abi.hpp, "Span encoding".
//
// ENCODER (header-only, inline: it is the client's hot path)
// A span is encoded into a buffer of kMaxSpanBytes: SpanFixed, then items. Each encode_*
// function takes the buffer and `used` (bytes in use) and either writes one whole item and
// advances `used`, or writes nothing, leaves `used` as it was and returns false, so the caller
// can count the loss (count_dropped). No allocation, no syscall, no virtual call, no lock.
// Attributes of events and links are taken as any type with the fields of spanring::Attribute
// (key_ref, key, type (AttrType), b / i / d / s, array / array_count), so this header does not
// depend on the client.
//
// DECODER (shm/src/span_codec.cpp)
// decode_span() reads one span's concatenated record payloads into a SpanView. It treats every
// byte as untrusted: each length, count and string id is bounds-checked and the first violation
// rejects the span with a reason. It is what the reader runs on every span and what the fuzzers
// (fuzz/decode_fuzzer.cpp) target. tests/shm/span_codec_test.cpp runs both directions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "spanring/shm/abi.hpp"

namespace spanring::shm {

// =============================================================================================
// Encoder

// An inline span name longer than this is cut (at a UTF-8 boundary) so attributes still fit.
inline constexpr std::size_t kMaxInlineNameBytes = 256;

// Flag rules (kSpanFlag*). A child of a span of this process: its parent's is-remote is known
// (false); the trace's remote origin is inherited.
constexpr std::uint8_t span_flags_local_parent(std::uint8_t parent_span_flags) noexcept {
  return static_cast<std::uint8_t>(kSpanFlagHasParent | kSpanFlagHasRemote | (parent_span_flags & kSpanFlagTraceRemote));
}
// A child of an extracted context (traceparent): remote unless the context says otherwise.
constexpr std::uint8_t span_flags_remote_parent(bool parent_is_remote) noexcept {
  return static_cast<std::uint8_t>(kSpanFlagHasParent | kSpanFlagHasRemote |
                                   (parent_is_remote ? kSpanFlagParentRemote | kSpanFlagTraceRemote : 0));
}
// A link's flags byte: whether the linked span is remote is always known.
constexpr std::uint8_t link_flags(bool linked_is_remote) noexcept {
  return static_cast<std::uint8_t>(kSpanFlagHasRemote | (linked_is_remote ? kSpanFlagParentRemote : 0));
}

inline SpanFixed& span_fixed(std::uint8_t* buf) noexcept { return *reinterpret_cast<SpanFixed*>(buf); }
inline const SpanFixed& span_fixed(const std::uint8_t* buf) noexcept { return *reinterpret_cast<const SpanFixed*>(buf); }

inline void store_u16(std::uint8_t* p, std::uint16_t v) noexcept { std::memcpy(p, &v, 2); }

// A dropped-item count (u16 in SpanFixed) saturates at 65,535, read as "at least this many",
// rather than wrapping to a small wrong number. Branch-free; only reached on the drop path.
inline void count_dropped(std::uint16_t& n) noexcept { n = static_cast<std::uint16_t>(n + (n != 0xffff)); }

// Length of the longest prefix of `s` of at most `max` bytes that does not end inside a UTF-8
// sequence. Only for s.size() > max.
inline std::size_t utf8_prefix(std::string_view s, std::size_t max) noexcept {
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

// A `str`: the 2-byte ref of an interned string (ref != 0), or the text inline, cut to
// kMaxStringLength at a character boundary.
inline bool encode_str(std::uint8_t* buf, std::uint16_t& used, std::uint16_t ref, std::string_view s) noexcept {
  if (ref != 0) {
    if (used + 2u > kMaxSpanBytes) return false;
    store_u16(buf + used, ref);
    used = static_cast<std::uint16_t>(used + 2);
    return true;
  }
  std::size_t n = s.size();
  if (n > kMaxStringLength) [[unlikely]]
    n = utf8_prefix(s, kMaxStringLength);  // never leave half of a UTF-8 sequence behind
  if (used + 2u + n > kMaxSpanBytes) return false;
  store_u16(buf + used, static_cast<std::uint16_t>(n));
  if (n != 0) std::memcpy(buf + used + 2, s.data(), n);  // s.data() may be null when empty
  used = static_cast<std::uint16_t>(used + 2 + n);
  return true;
}

// SpanFixed's kind, status, dropped counts and root name, then the kItemName item (an empty
// name becomes "unnamed"). The caller fills ids, flags and times. The span is its own local
// root until the caller inherits a parent's root_name. Always fits.
inline void encode_span_start(std::uint8_t* buf, std::uint16_t& used, SpanKind kind, std::uint16_t name_ref,
                              std::string_view name) noexcept {
  SpanFixed& f = span_fixed(buf);
  f.kind = static_cast<std::uint8_t>(kind);
  f.status = kStatusUnset;
  f.dropped_attributes = 0;
  f.dropped_events = 0;
  f.dropped_links = 0;
  f.root_name = name_ref;
  std::memset(f.reserved, 0, sizeof f.reserved);
  used = sizeof(SpanFixed);
  buf[used++] = kItemName;
  if (name.empty()) name = "unnamed";
  if (name_ref == 0 && name.size() > kMaxInlineNameBytes) [[unlikely]]
    name = name.substr(0, utf8_prefix(name, kMaxInlineNameBytes));
  encode_str(buf, used, name_ref, name);
}

// A bool, int or double attribute: [type][str key][n value bytes] (bool: one byte, 0 or 1).
inline bool encode_attribute(std::uint8_t* buf, std::uint16_t& used, AttrType type, std::uint16_t key_ref,
                             std::string_view key, const void* v, std::uint32_t n) noexcept {
  const std::uint16_t mark = used;
  if (used + 1u <= kMaxSpanBytes) {
    buf[used++] = type;
    if (encode_str(buf, used, key_ref, key) && used + n <= kMaxSpanBytes) {
      std::memcpy(buf + used, v, n);
      used = static_cast<std::uint16_t>(used + n);
      return true;
    }
  }
  used = mark;
  return false;
}

// An explicit time (Unix ns) as stored in SpanFixed or an event (abi.hpp, kTimeUnixNs).
constexpr std::uint64_t explicit_time(std::uint64_t unix_ns) noexcept { return kTimeUnixNs | unix_ns; }
constexpr bool is_explicit_time(std::uint64_t stored) noexcept { return (stored & kTimeUnixNs) != 0; }

// An array attribute: [array type][str key][u16 count][elements] (abi.hpp). `values` points to
// `count` elements: std::uint8_t for kAttrBoolArray (any non-zero byte is true; a C++ bool
// array reads the same), std::int64_t, double, or std::string_view for kAttrStringArray (each
// inline, cut to kMaxStringLength at a character boundary). All or nothing: an array that does
// not fit whole is not written (false), so a reader never sees a silently shortened list.
inline bool encode_array_attribute(std::uint8_t* buf, std::uint16_t& used, AttrType array_type, std::uint16_t key_ref,
                                   std::string_view key, const void* values, std::size_t count) noexcept {
  if (!is_array_type(array_type) || count > kMaxArrayElements || (count != 0 && values == nullptr)) return false;
  const std::uint16_t mark = used;
  if (used + 1u <= kMaxSpanBytes) {
    buf[used++] = array_type;
    if (encode_str(buf, used, key_ref, key) && used + 2u <= kMaxSpanBytes) {
      store_u16(buf + used, static_cast<std::uint16_t>(count));
      used = static_cast<std::uint16_t>(used + 2);
      bool ok = true;
      switch (array_type) {
        case kAttrBoolArray: {
          const auto* v = static_cast<const std::uint8_t*>(values);
          if ((ok = used + count <= kMaxSpanBytes))
            for (std::size_t k = 0; k < count; ++k) buf[used++] = v[k] != 0 ? 1 : 0;
          break;
        }
        case kAttrIntArray:
        case kAttrDoubleArray:
          if ((ok = used + 8 * count <= kMaxSpanBytes)) {
            if (count != 0) std::memcpy(buf + used, values, 8 * count);
            used = static_cast<std::uint16_t>(used + 8 * count);
          }
          break;
        default: {
          const auto* v = static_cast<const std::string_view*>(values);
          for (std::size_t k = 0; k < count && ok; ++k) ok = encode_str(buf, used, 0, v[k]);
          break;
        }
      }
      if (ok) return true;
    }
  }
  used = mark;
  return false;
}

// A string attribute: [kItemAttrString][str key][str value].
inline bool encode_string_attribute(std::uint8_t* buf, std::uint16_t& used, std::uint16_t key_ref, std::string_view key,
                                    std::uint16_t value_ref, std::string_view value) noexcept {
  const std::uint16_t mark = used;
  if (used + 1u <= kMaxSpanBytes) {
    buf[used++] = kItemAttrString;
    if (encode_str(buf, used, key_ref, key) && encode_str(buf, used, value_ref, value)) return true;
  }
  used = mark;
  return false;
}

// The attributes of an event or a link: writes what fits (at most 255) and returns how many
// were written; `dropped` counts the rest, saturating at 255 (a u8 in the item).
// `attrs` is anything indexable whose elements have the fields of spanring::Attribute (a
// pointer to them, or a view that converts another language's attributes on the fly).
template <class Attrs>
std::uint8_t encode_attributes(std::uint8_t* buf, std::uint16_t& used, const Attrs& attrs, std::size_t count,
                               std::uint8_t& dropped) noexcept {
  std::uint8_t written = 0;
  for (std::size_t k = 0; k < count; ++k) {
    const auto& a = attrs[k];
    bool ok = false;
    if (written < 255) {
      switch (a.type) {
        case kAttrBool: {
          const std::uint8_t v = a.b ? 1 : 0;
          ok = encode_attribute(buf, used, kAttrBool, a.key_ref, a.key, &v, 1);
          break;
        }
        case kAttrInt: ok = encode_attribute(buf, used, kAttrInt, a.key_ref, a.key, &a.i, 8); break;
        case kAttrDouble: ok = encode_attribute(buf, used, kAttrDouble, a.key_ref, a.key, &a.d, 8); break;
        case kAttrString: ok = encode_string_attribute(buf, used, a.key_ref, a.key, 0, a.s); break;
        default:
          ok = encode_array_attribute(buf, used, static_cast<AttrType>(a.type), a.key_ref, a.key, a.array, a.array_count);
          break;
      }
    }
    if (ok) ++written;
    else if (dropped < 255) ++dropped;
  }
  return written;
}

// [u8 count][u8 dropped] then the attributes. False (nothing written) when even the two count
// bytes do not fit. The count is what was written, not size - dropped: dropped saturates, so
// with more than 255 left out the difference would promise attributes that are not there.
template <class Attrs>
bool encode_counted_attributes(std::uint8_t* buf, std::uint16_t& used, const Attrs& attrs, std::size_t count) noexcept {
  if (used + 2u > kMaxSpanBytes) return false;
  const std::uint16_t counts_at = used;
  used = static_cast<std::uint16_t>(used + 2);
  std::uint8_t dropped = 0;
  buf[counts_at] = encode_attributes(buf, used, attrs, count, dropped);
  buf[counts_at + 1] = dropped;
  return true;
}

// [kItemEvent][u64 time][str name][counted attributes]; an empty name becomes "event". `time`
// is a raw clock value or explicit_time(unix_ns).
template <class Attrs>
bool encode_event(std::uint8_t* buf, std::uint16_t& used, std::uint64_t time, std::uint16_t name_ref,
                  std::string_view name, const Attrs& attrs, std::size_t count) noexcept {
  const std::uint16_t mark = used;
  if (used + 9u <= kMaxSpanBytes) {
    buf[used++] = kItemEvent;
    std::memcpy(buf + used, &time, 8);
    used = static_cast<std::uint16_t>(used + 8);
    if (encode_str(buf, used, name_ref, name.empty() ? std::string_view("event") : name) &&
        encode_counted_attributes(buf, used, attrs, count))
      return true;
  }
  used = mark;
  return false;
}

// [kItemLink][16 trace id][8 span id][u8 trace_flags][u8 link_flags][str trace_state][counted
// attributes].
template <class Attrs>
bool encode_link(std::uint8_t* buf, std::uint16_t& used, const std::uint8_t* trace_id, const std::uint8_t* span_id,
                 std::uint8_t trace_flags, bool is_remote, std::string_view trace_state, const Attrs& attrs,
                 std::size_t count) noexcept {
  const std::uint16_t mark = used;
  if (used + 27u <= kMaxSpanBytes) {
    buf[used++] = kItemLink;
    std::memcpy(buf + used, trace_id, 16);
    std::memcpy(buf + used + 16, span_id, 8);
    buf[used + 24] = trace_flags;
    buf[used + 25] = link_flags(is_remote);
    used = static_cast<std::uint16_t>(used + 26);
    if (encode_str(buf, used, 0, trace_state) && encode_counted_attributes(buf, used, attrs, count)) return true;
  }
  used = mark;
  return false;
}

// OpenTelemetry's status rules: OK is final; a description is kept only with ERROR, as a
// kItemStatusMessage item (without room for it the status stays ERROR without a message).
inline void encode_status(std::uint8_t* buf, std::uint16_t& used, StatusCode code, std::string_view description) noexcept {
  SpanFixed& f = span_fixed(buf);
  if (f.status == kStatusOk) return;
  f.status = static_cast<std::uint8_t>(code);
  if (code != StatusCode::kError || description.empty()) return;
  const std::uint16_t mark = used;
  if (used + 1u <= kMaxSpanBytes) {
    buf[used++] = kItemStatusMessage;
    if (encode_str(buf, used, 0, description)) return;
  }
  used = mark;
}

// [kItemTraceState][str]. Returns the item's offset (a child copies it from there, see
// copy_trace_state), or 0 when it did not fit (nothing written).
inline std::uint16_t encode_trace_state(std::uint8_t* buf, std::uint16_t& used, std::string_view trace_state) noexcept {
  const std::uint16_t mark = used;
  if (used + 1u <= kMaxSpanBytes) {
    buf[used++] = kItemTraceState;
    if (encode_str(buf, used, 0, trace_state)) return mark;
  }
  used = mark;
  return 0;
}

// Copies the kItemTraceState item at `from_at` of another span's buffer verbatim. Returns its
// offset in `buf`, or 0 when it did not fit (nothing written).
inline std::uint16_t copy_trace_state(std::uint8_t* buf, std::uint16_t& used, const std::uint8_t* from,
                                      std::uint16_t from_at) noexcept {
  std::uint16_t n;
  std::memcpy(&n, from + from_at + 1, 2);
  if (used + 3u + n > kMaxSpanBytes) return 0;
  const std::uint16_t at = used;
  std::memcpy(buf + used, from + from_at, 3u + n);
  used = static_cast<std::uint16_t>(used + 3 + n);
  return at;
}

// The text of the kItemTraceState item at `at` (an offset encode_trace_state or
// copy_trace_state returned; always an inline string).
inline std::string_view trace_state_text(const std::uint8_t* buf, std::uint16_t at) noexcept {
  std::uint16_t n;
  std::memcpy(&n, buf + at + 1, 2);
  return std::string_view(reinterpret_cast<const char*>(buf + at + 3), n);
}

// =============================================================================================
// Decoder

struct AttrView {
  std::string_view key;
  std::uint8_t type = 0;  // AttrType
  bool bool_value = false;
  std::int64_t int_value = 0;
  double double_value = 0;
  std::string_view string_value;
  std::int32_t key_id = -1;  // interned key id, or -1 for an inline key (lets readers cache)
  // An array (is_array_type(type)): its validated element bytes and count; for_each_element
  // walks them. Self-contained (string elements are always inline), so a consumer needs only
  // this view, not the SpanView or the string table.
  std::string_view array_bytes;
  std::uint32_t array_count = 0;
};

// Calls fn(const AttrView&) for each element of a decoded array attribute, as a scalar
// AttrView of the element type (no key). Only for views decode_span produced (it validated
// the bytes); does nothing for a scalar.
template <class Fn>
void for_each_element(const AttrView& a, Fn&& fn) {
  if (!is_array_type(a.type)) return;
  const auto* p = reinterpret_cast<const std::uint8_t*>(a.array_bytes.data());
  AttrView e;
  e.type = array_element_type(a.type);
  for (std::uint32_t k = 0; k < a.array_count; ++k) {
    switch (e.type) {
      case kAttrBool: e.bool_value = *p++ != 0; break;
      case kAttrInt: std::memcpy(&e.int_value, p, 8); p += 8; break;
      case kAttrDouble: std::memcpy(&e.double_value, p, 8); p += 8; break;
      default: {
        std::uint16_t n;
        std::memcpy(&n, p, 2);
        e.string_value = std::string_view(reinterpret_cast<const char*>(p + 2), n);
        p += 2 + n;
        break;
      }
    }
    fn(static_cast<const AttrView&>(e));
  }
}

struct EventView {
  std::uint64_t time_unix_ns = 0;  // as stored (raw clock, or explicit) until the reader converts it
  std::string_view name;
  std::uint32_t first_attr = 0;  // index into SpanView::sub_attributes
  std::uint32_t attr_count = 0;
  std::uint32_t dropped_attributes = 0;
};

struct LinkView {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 0;
  std::uint8_t flags = 0;  // kSpanFlag*
  std::string_view trace_state;
  std::uint32_t first_attr = 0;
  std::uint32_t attr_count = 0;
  std::uint32_t dropped_attributes = 0;

  // OTLP Span.Link.flags (see otlp_flags in abi.hpp).
  std::uint32_t otlp_flags() const noexcept { return shm::otlp_flags(trace_flags, flags); }
};

// A decoded span. Views point into the reader's buffers and are valid until the next decode.
struct SpanView {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_span_id{};
  bool has_parent = false;
  std::uint8_t kind = 0;    // SpanKind (OTLP SpanKind value)
  std::uint8_t status = 0;  // StatusCode (OTLP StatusCode value)
  std::uint8_t trace_flags = 0;
  std::uint8_t span_flags = 0;  // kSpanFlag*
  std::uint64_t start_raw = 0, end_raw = 0;  // as stored: producer clock units, or explicit_time()
  std::uint64_t start_unix_ns = 0, end_unix_ns = 0;
  // Set by the reader: start and end fall on either side of a TSC jump (shm/clock.hpp).
  // Exported as the attribute spanring.clock.discontinuity = true.
  bool clock_discontinuity = false;
  std::string_view name;
  std::int32_t name_id = -1;
  std::int32_t root_name_id = -1;  // interned name of the local root span, -1 when unknown
  std::string_view root_name;      // its text (empty when unknown)
  std::string_view status_message;
  std::string_view trace_state;
  std::uint32_t dropped_attributes = 0, dropped_events = 0, dropped_links = 0;
  std::vector<AttrView> attributes;
  std::vector<EventView> events;
  std::vector<LinkView> links;
  std::vector<AttrView> sub_attributes;  // attributes of events and links

  // OTLP Span.flags: W3C flags in bits 0–7, parent is-remote in bits 8–9 (abi.hpp).
  std::uint32_t otlp_flags() const noexcept { return shm::otlp_flags(trace_flags, span_flags); }
  // No parent, or a parent in another process (abi.hpp).
  bool is_local_root() const noexcept { return shm::is_local_root(has_parent, span_flags); }
};

// The local-root rule for a decoded span (found by argument-dependent lookup).
inline bool is_local_root(const SpanView& span) noexcept { return span.is_local_root(); }

// Why a span or record was rejected.
enum RejectReason : std::uint32_t {
  kRejectRecordHeader = 0,  // type/index/count/payload_len of a record is impossible
  kRejectTruncated,         // an item runs past the end of the span's bytes
  kRejectBadTag,            // unknown item tag
  kRejectBadString,         // string length too long or interned id not in the table
  kRejectBadField,          // kind/status/ids out of range (e.g. zero trace id)
  // Not span drops (no span is known to be behind them); counted once per episode:
  kRejectRingIndex,         // head/tail of a ring are inconsistent (ring skipped while it lasts)
  kRejectFault,             // the segment shrank under the mapping (SIGBUS): reader is faulted
  kRejectReasonCount,
};
const char* to_string(RejectReason r) noexcept;

// Resolves interned ids; caches each string the first time it is seen (entries are immutable).
// Implemented in shm/src/reader.cpp (its reads of the table run under the reader's SIGBUS guard).
class StringCache {
 public:
  void reset(const StringTable* table) noexcept;
  // Returns false if `id` is not a published, well-formed entry, or reading the table faulted.
  bool lookup(std::uint32_t id, std::string_view& out);
  // Reading the table raised SIGBUS (segment truncated): lookups of new ids fail from then on.
  bool faulted() const noexcept { return faulted_; }

 private:
  const StringTable* table_ = nullptr;
  bool faulted_ = false;
  // A deque: growing it never moves existing strings, so views handed out stay valid.
  std::deque<std::string> strings_;
  std::vector<std::uint8_t> known_;
};

// Decodes one span's concatenated payload bytes. Returns kRejectReasonCount on success, else
// the reason. Times are left as stored in start_raw/end_raw and the events' time_unix_ns (no
// clock conversion; explicit ones still carry kTimeUnixNs). This is the function the fuzzer targets.
RejectReason decode_span(const std::uint8_t* data, std::size_t size, StringCache& strings, SpanView& out);

}  // namespace spanring::shm
