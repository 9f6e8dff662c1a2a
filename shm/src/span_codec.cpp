// The span decoder: the reader's half of the wire format in span_codec.hpp (the client's half,
// the encoder, is inline in that header).
#include "spanring/shm/span_codec.hpp"

#include <cstring>

#include "byte_cursor.hpp"

namespace spanring::shm {

const char* to_string(RejectReason r) noexcept {
  switch (r) {
    case kRejectRecordHeader: return "record_header";
    case kRejectTruncated: return "truncated";
    case kRejectBadTag: return "bad_tag";
    case kRejectBadString: return "bad_string";
    case kRejectBadField: return "bad_field";
    case kRejectRingIndex: return "ring_index";
    case kRejectFault: return "segment_fault";
    case kRejectReasonCount: break;
  }
  return "unknown";
}

namespace {

using detail::Cursor;

constexpr RejectReason kOk = kRejectReasonCount;

// [u16 count][elements]: validates every element (bools 0/1, string lengths in bounds and
// inline) so for_each_element can walk the bytes without checks.
RejectReason array_value(Cursor& c, std::uint8_t tag, AttrView& a) {
  std::uint16_t count;
  if (!c.get(count)) return kRejectTruncated;
  const std::uint8_t* begin = c.position();
  for (std::uint32_t k = 0; k < count; ++k) {
    switch (tag) {
      case kItemAttrBoolArray: {
        std::uint8_t v;
        if (!c.get(v)) return kRejectTruncated;
        if (v > 1) return kRejectBadField;
        break;
      }
      case kItemAttrIntArray:
      case kItemAttrDoubleArray:
        if (!c.skip(8)) return kRejectTruncated;
        break;
      default: {
        std::uint16_t n;
        if (!c.get(n)) return kRejectTruncated;
        if (n > kMaxStringLength) return kRejectBadString;  // also refuses the interned bit
        if (!c.skip(n)) return kRejectTruncated;
        break;
      }
    }
  }
  a.array_bytes = std::string_view(reinterpret_cast<const char*>(begin), std::size_t(c.position() - begin));
  a.array_count = count;
  return kOk;
}

RejectReason attribute(Cursor& c, std::uint8_t tag, StringCache& strings, AttrView& a) {
  a = AttrView{};
  if (RejectReason r = c.str(strings, a.key, &a.key_id); r != kOk) return r;
  switch (tag) {
    case kItemAttrBool: {
      std::uint8_t v;
      if (!c.get(v)) return kRejectTruncated;
      if (v > 1) return kRejectBadField;
      a.type = kAttrBool;
      a.bool_value = v != 0;
      return kOk;
    }
    case kItemAttrInt:
      a.type = kAttrInt;
      return c.get(a.int_value) ? kOk : kRejectTruncated;
    case kItemAttrDouble:
      a.type = kAttrDouble;
      return c.get(a.double_value) ? kOk : kRejectTruncated;
    case kItemAttrString:
      a.type = kAttrString;
      return c.str(strings, a.string_value);
    case kItemAttrBoolArray:
    case kItemAttrIntArray:
    case kItemAttrDoubleArray:
    case kItemAttrStringArray:
      a.type = tag;
      return array_value(c, tag, a);
    default:
      return kRejectBadTag;
  }
}

bool is_attr_tag(std::uint8_t t) { return (t >= kItemAttrBool && t <= kItemAttrString) || is_array_type(t); }

// Reads `count` attribute items into `out`.
RejectReason attributes(Cursor& c, std::uint32_t count, StringCache& strings, std::vector<AttrView>& out) {
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint8_t tag;
    if (!c.get(tag)) return kRejectTruncated;
    if (!is_attr_tag(tag)) return kRejectBadTag;
    AttrView a;
    if (RejectReason r = attribute(c, tag, strings, a); r != kOk) return r;
    out.push_back(a);
  }
  return kOk;
}

// The tail shared by events and links: [u8 attr_count][u8 dropped_attrs], then the attribute
// items, appended to the span's sub_attributes.
template <class EventOrLink>
RejectReason sub_attributes(Cursor& c, StringCache& strings, SpanView& s, EventOrLink& item) {
  std::uint8_t count, dropped;
  if (!c.get(count) || !c.get(dropped)) return kRejectTruncated;
  item.first_attr = std::uint32_t(s.sub_attributes.size());
  item.attr_count = count;
  item.dropped_attributes = dropped;
  return attributes(c, count, strings, s.sub_attributes);
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

}  // namespace

RejectReason decode_span(const std::uint8_t* data, std::size_t size, StringCache& strings, SpanView& s) {
  s.attributes.clear();
  s.events.clear();
  s.links.clear();
  s.sub_attributes.clear();
  s.name = {};
  s.name_id = -1;
  s.status_message = {};
  s.trace_state = {};
  if (size < sizeof(SpanFixed) || size > kMaxRecordsPerSpan * kRecordPayload) return kRejectTruncated;
  SpanFixed f;
  std::memcpy(&f, data, sizeof f);
  if (all_zero(f.trace_id, 16) || all_zero(f.span_id, 8)) return kRejectBadField;
  if (f.kind < kKindInternal || f.kind > kKindConsumer || f.status > kStatusError) return kRejectBadField;
  std::memcpy(s.trace_id.data(), f.trace_id, 16);
  std::memcpy(s.span_id.data(), f.span_id, 8);
  std::memcpy(s.parent_span_id.data(), f.parent_span_id, 8);
  s.has_parent = (f.span_flags & kSpanFlagHasParent) != 0;
  if (s.has_parent && all_zero(f.parent_span_id, 8)) return kRejectBadField;
  s.kind = f.kind;
  s.status = f.status;
  s.trace_flags = f.trace_flags;
  s.span_flags = f.span_flags;
  s.start_raw = f.start_time;
  s.end_raw = f.end_time;
  // Comparable only when both are raw clock or both explicit (the reader orders mixed ones
  // after conversion).
  if (is_explicit_time(s.start_raw) == is_explicit_time(s.end_raw) && s.end_raw < s.start_raw) return kRejectBadField;
  s.dropped_attributes = f.dropped_attributes;
  s.dropped_events = f.dropped_events;
  s.dropped_links = f.dropped_links;
  s.root_name_id = -1;
  s.root_name = {};
  if (f.root_name & kStrInterned) {
    // Advisory (used for per-operation sampling): an unknown id is ignored, not an error.
    if (strings.lookup(f.root_name & 0x7fffu, s.root_name)) s.root_name_id = f.root_name & 0x7fff;
  }

  Cursor c(data + sizeof(SpanFixed), size - sizeof(SpanFixed));
  // Bounds on item counts come from the span size itself (each item takes ≥ 4 bytes), so the
  // vectors below never grow past ~kMaxSpanBytes/4 entries.
  while (!c.done()) {
    std::uint8_t tag;
    c.get(tag);
    switch (tag) {
      case kItemName:
        if (RejectReason r = c.str(strings, s.name, &s.name_id); r != kOk) return r;
        break;
      case kItemStatusMessage:
        if (RejectReason r = c.str(strings, s.status_message); r != kOk) return r;
        break;
      case kItemTraceState:
        if (RejectReason r = c.str(strings, s.trace_state); r != kOk) return r;
        break;
      case kItemAttrBool:
      case kItemAttrInt:
      case kItemAttrDouble:
      case kItemAttrString:
      case kItemAttrBoolArray:
      case kItemAttrIntArray:
      case kItemAttrDoubleArray:
      case kItemAttrStringArray: {
        AttrView a;
        if (RejectReason r = attribute(c, tag, strings, a); r != kOk) return r;
        s.attributes.push_back(a);
        break;
      }
      case kItemEvent: {
        EventView e;
        if (!c.get(e.time_unix_ns)) return kRejectTruncated;
        if (RejectReason r = c.str(strings, e.name); r != kOk) return r;
        if (RejectReason r = sub_attributes(c, strings, s, e); r != kOk) return r;
        s.events.push_back(e);
        break;
      }
      case kItemLink: {
        LinkView l;
        if (!c.bytes(l.trace_id.data(), 16) || !c.bytes(l.span_id.data(), 8)) return kRejectTruncated;
        if (!c.get(l.trace_flags) || !c.get(l.flags)) return kRejectTruncated;
        if (RejectReason r = c.str(strings, l.trace_state); r != kOk) return r;
        if (RejectReason r = sub_attributes(c, strings, s, l); r != kOk) return r;
        s.links.push_back(l);
        break;
      }
      default:
        return kRejectBadTag;
    }
  }
  if (s.name.empty()) return kRejectBadField;  // OTLP: name is required
  // A description belongs to ERROR only (an ERROR later overridden by OK loses it).
  if (s.status != kStatusError) s.status_message = {};
  if (s.root_name_id < 0 && s.is_local_root()) {
    s.root_name = s.name;  // a local root with an inline name names itself
  }
  return kOk;
}

}  // namespace spanring::shm
