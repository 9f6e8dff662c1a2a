#include "agent/core/otlp_encode.hpp"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cstring>

#include "agent/base/utf8.hpp"
#include "agent/core/otlp_convert.hpp"

namespace spanring::agent {

namespace {

using Coded = google::protobuf::io::CodedOutputStream;

enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

constexpr std::uint32_t tag(std::uint32_t field, WireType type) noexcept { return field << 3 | type; }

// Field numbers (proto/opentelemetry/proto/**.proto).
namespace f {
// Span
constexpr std::uint32_t kTraceId = 1, kSpanId = 2, kTraceState = 3, kParentSpanId = 4, kName = 5, kKind = 6,
                        kStart = 7, kEnd = 8, kAttributes = 9, kDroppedAttributes = 10, kEvents = 11,
                        kDroppedEvents = 12, kLinks = 13, kDroppedLinks = 14, kStatus = 15, kFlags = 16;
// Span.Event
constexpr std::uint32_t kEventTime = 1, kEventName = 2, kEventAttributes = 3, kEventDropped = 4;
// Span.Link
constexpr std::uint32_t kLinkTraceId = 1, kLinkSpanId = 2, kLinkTraceState = 3, kLinkAttributes = 4,
                        kLinkDropped = 5, kLinkFlags = 6;
// Status
constexpr std::uint32_t kStatusMessage = 2, kStatusCode = 3;
// KeyValue, AnyValue
constexpr std::uint32_t kKey = 1, kValue = 2;
constexpr std::uint32_t kString = 1, kBool = 2, kInt = 3, kDouble = 4, kArray = 5;
// ArrayValue
constexpr std::uint32_t kArrayValues = 1;
// ScopeSpans
constexpr std::uint32_t kScopeSpansSpans = 2;
}  // namespace f

// Scratch for strings that need repair: one per thread (drain threads encode concurrently).
thread_local std::string t_scratch;

// Worst case of a tag (fields < 2^11) plus a varint64: 2 + 10.
constexpr std::size_t kTagVarint = 12;

inline void varint_field(WireBuffer& out, std::uint32_t field, std::uint64_t v) {
  std::uint8_t* p = out.reserve(kTagVarint);
  p = Coded::WriteVarint32ToArray(tag(field, kVarint), p);
  out.commit(Coded::WriteVarint64ToArray(v, p));
}

inline void fixed64_field(WireBuffer& out, std::uint32_t field, std::uint64_t v) {
  std::uint8_t* p = out.reserve(2 + 8);
  p = Coded::WriteVarint32ToArray(tag(field, kFixed64), p);
  out.commit(Coded::WriteLittleEndian64ToArray(v, p));
}

inline void fixed32_field(WireBuffer& out, std::uint32_t field, std::uint32_t v) {
  std::uint8_t* p = out.reserve(2 + 4);
  p = Coded::WriteVarint32ToArray(tag(field, kFixed32), p);
  out.commit(Coded::WriteLittleEndian32ToArray(v, p));
}

// A bytes field, written even when empty (callers skip proto3 defaults themselves).
inline void bytes_field(WireBuffer& out, std::uint32_t field, const void* data, std::size_t n) {
  std::uint8_t* p = out.reserve(2 + 5 + n);
  p = Coded::WriteVarint32ToArray(tag(field, kLen), p);
  p = Coded::WriteVarint32ToArray(static_cast<std::uint32_t>(n), p);
  std::memcpy(p, data, n);
  out.commit(p + n);
}

// A string field from untrusted bytes, repaired to valid UTF-8.
inline void text_field(WireBuffer& out, std::uint32_t field, std::string_view s) {
  const std::string_view v = detail::valid_utf8(s, t_scratch);
  bytes_field(out, field, v.data(), v.size());
}

// proto3: an empty string is the default and is not written.
inline void text_field_if_set(WireBuffer& out, std::uint32_t field, std::string_view s) {
  if (!s.empty()) text_field(out, field, s);
}

bool same_key(const shm::AttrView& x, const shm::AttrView& y) {
  if (x.key_id >= 0 || y.key_id >= 0) return x.key_id == y.key_id;
  return x.key == y.key;
}

// One KeyValue of a repeated attributes field.
void key_value(WireBuffer& out, std::uint32_t field, std::string_view key, const shm::AttrView& value) {
  const std::size_t kv = out.open(field, 1);
  text_field_if_set(out, f::kKey, key);
  const std::size_t any = out.open(f::kValue, 1);
  encode_any_value(value, out);
  out.close(any, 1);
  out.close(kv, 1);
}

// `count` attributes with unique keys: the client appends, OTLP wants one value per key. A
// repeated key keeps its first position and its last value (interned keys compare as integers).
void attributes(WireBuffer& out, std::uint32_t field, const shm::AttrView* attrs, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = same_key(attrs[j], attrs[i]);
    if (seen) continue;
    std::size_t last = i;
    for (std::size_t j = i + 1; j < count; ++j)
      if (same_key(attrs[j], attrs[i])) last = j;
    key_value(out, field, attrs[i].key, attrs[last]);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// WireBuffer

void WireBuffer::grow(std::size_t n) {
  const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{4096}});
  std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[capacity]);
  if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = capacity;
}

std::size_t WireBuffer::open(std::uint32_t field, std::size_t length_bytes) {
  std::uint8_t* p = reserve(2 + length_bytes);
  p = Coded::WriteVarint32ToArray(tag(field, kLen), p);
  const std::size_t mark = static_cast<std::size_t>(p - data_.get());
  commit(p + length_bytes);
  return mark;
}

void WireBuffer::close(std::size_t mark, std::size_t length_bytes) {
  const std::size_t body = mark + length_bytes;
  const auto len = static_cast<std::uint32_t>(size_ - body);
  const std::size_t need = Coded::VarintSize32(len);
  if (need != length_bytes) {
    // The guess was wrong (a long attribute, a short span): shift the message. Rare for the
    // guesses the encoder makes, and a memmove of one message when it happens.
    reserve(need);
    std::memmove(data_.get() + mark + need, data_.get() + body, len);
    size_ = mark + need + len;
  }
  Coded::WriteVarint32ToArray(len, data_.get() + mark);
}

// ---------------------------------------------------------------------------------------------
// Lengths at the top level (BatchBuilder::close)

std::size_t delimited_size(std::size_t payload) noexcept {
  return 1 + Coded::VarintSize64(payload) + payload;
}

std::uint8_t* write_delimited_header(std::uint8_t* p, std::uint32_t field, std::size_t payload) noexcept {
  p = Coded::WriteVarint32ToArray(tag(field, kLen), p);
  return Coded::WriteVarint64ToArray(payload, p);
}

std::uint8_t* write_delimited(std::uint8_t* p, std::uint32_t field, std::string_view payload) noexcept {
  p = write_delimited_header(p, field, payload.size());
  std::memcpy(p, payload.data(), payload.size());
  return p + payload.size();
}

// ---------------------------------------------------------------------------------------------
// Values and spans

void encode_any_value(const shm::AttrView& a, WireBuffer& out) {
  switch (a.type) {
    case shm::kAttrBool: varint_field(out, f::kBool, a.bool_value ? 1 : 0); break;
    case shm::kAttrInt: varint_field(out, f::kInt, static_cast<std::uint64_t>(a.int_value)); break;
    case shm::kAttrDouble: {
      std::uint64_t bits;
      std::memcpy(&bits, &a.double_value, sizeof bits);
      fixed64_field(out, f::kDouble, bits);
      break;
    }
    case shm::kAttrBoolArray:
    case shm::kAttrIntArray:
    case shm::kAttrDoubleArray:
    case shm::kAttrStringArray: {
      // ArrayValue: one scalar AnyValue per element (the reader validated the element bytes).
      const std::size_t array = out.open(f::kArray, 2);
      shm::for_each_element(a, [&](const shm::AttrView& e) {
        const std::size_t value = out.open(f::kArrayValues, 1);
        encode_any_value(e, out);
        out.close(value, 1);
      });
      out.close(array, 2);
      break;
    }
    default: text_field(out, f::kString, a.string_value); break;  // a oneof: written even when empty
  }
}

void encode_span(const shm::SpanView& s, WireBuffer& out, const SamplingAnnotation* sampling,
                 std::string_view sampled_trace_state) {
  // Most spans are 128 B to 16 KiB: a 2-byte length.
  const std::size_t span = out.open(f::kScopeSpansSpans, 2);
  bytes_field(out, f::kTraceId, s.trace_id.data(), s.trace_id.size());
  bytes_field(out, f::kSpanId, s.span_id.data(), s.span_id.size());
  const bool new_trace_state = sampling && sampling->trace_state_changed;
  text_field_if_set(out, f::kTraceState, new_trace_state ? sampled_trace_state : s.trace_state);
  if (s.has_parent) bytes_field(out, f::kParentSpanId, s.parent_span_id.data(), s.parent_span_id.size());
  text_field_if_set(out, f::kName, s.name);
  if (s.kind != 0) varint_field(out, f::kKind, s.kind);
  if (s.start_unix_ns != 0) fixed64_field(out, f::kStart, s.start_unix_ns);
  if (s.end_unix_ns != 0) fixed64_field(out, f::kEnd, s.end_unix_ns);
  attributes(out, f::kAttributes, s.attributes.data(), s.attributes.size());
  if (sampling && sampling->add_sampler_tags) {
    shm::AttrView type;
    type.type = shm::kAttrString;
    type.string_value = sampling->sampler_type;
    key_value(out, f::kAttributes, "sampler.type", type);
    shm::AttrView param;
    param.type = shm::kAttrDouble;
    param.double_value = sampling->sampler_param;
    key_value(out, f::kAttributes, "sampler.param", param);
  }
  if (s.clock_discontinuity) {
    shm::AttrView yes;
    yes.type = shm::kAttrBool;
    yes.bool_value = true;
    key_value(out, f::kAttributes, kClockDiscontinuityKey, yes);
  }
  if (s.dropped_attributes != 0) varint_field(out, f::kDroppedAttributes, s.dropped_attributes);
  for (const shm::EventView& e : s.events) {
    const std::size_t ev = out.open(f::kEvents, 1);
    if (e.time_unix_ns != 0) fixed64_field(out, f::kEventTime, e.time_unix_ns);
    text_field_if_set(out, f::kEventName, e.name);
    attributes(out, f::kEventAttributes, s.sub_attributes.data() + e.first_attr, e.attr_count);
    if (e.dropped_attributes != 0) varint_field(out, f::kEventDropped, e.dropped_attributes);
    out.close(ev, 1);
  }
  if (s.dropped_events != 0) varint_field(out, f::kDroppedEvents, s.dropped_events);
  for (const shm::LinkView& l : s.links) {
    const std::size_t link = out.open(f::kLinks, 1);
    bytes_field(out, f::kLinkTraceId, l.trace_id.data(), l.trace_id.size());
    bytes_field(out, f::kLinkSpanId, l.span_id.data(), l.span_id.size());
    text_field_if_set(out, f::kLinkTraceState, l.trace_state);
    attributes(out, f::kLinkAttributes, s.sub_attributes.data() + l.first_attr, l.attr_count);
    if (l.dropped_attributes != 0) varint_field(out, f::kLinkDropped, l.dropped_attributes);
    if (l.otlp_flags() != 0) fixed32_field(out, f::kLinkFlags, l.otlp_flags());
    out.close(link, 1);
  }
  if (s.dropped_links != 0) varint_field(out, f::kDroppedLinks, s.dropped_links);
  if (s.status != shm::kStatusUnset || !s.status_message.empty()) {
    const std::size_t status = out.open(f::kStatus, 1);
    if (s.status == shm::kStatusError) text_field_if_set(out, f::kStatusMessage, s.status_message);
    if (s.status != 0) varint_field(out, f::kStatusCode, s.status);
    out.close(status, 1);
  }
  if (s.otlp_flags() != 0) fixed32_field(out, f::kFlags, s.otlp_flags());
  out.close(span, 2);
}

}  // namespace spanring::agent
