// The span wire format in both directions (shm/span_codec.hpp): what the encoder writes, the
// decoder reads back field by field; and the encoder's bytes for one reference span are pinned
// as a golden array, so a change to the wire format cannot go unnoticed.
#include "spanring/shm/span_codec.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spanring/tracer.hpp"

namespace spanring::shm {
namespace {

// A string table with a few interned entries, as the client's registry publishes them.
class Table {
 public:
  Table() : table_(std::make_unique<StringTable>()) {}
  std::uint16_t add(std::string_view text) {
    const std::uint32_t id = table_->count.load(std::memory_order_relaxed);
    const auto n = static_cast<std::uint16_t>(text.size());
    std::memcpy(table_->bytes + used_, &n, 2);
    std::memcpy(table_->bytes + used_ + 2, text.data(), n);
    table_->offsets[id] = used_;
    used_ += 2 + n;
    table_->count.store(id + 1, std::memory_order_release);
    return static_cast<std::uint16_t>(kStrInterned | id);
  }
  const StringTable* get() const { return table_.get(); }

 private:
  std::unique_ptr<StringTable> table_;
  std::uint32_t used_ = 0;
};

// A span being encoded: the buffer the client's Span holds, zeroed (padding included).
struct Encoded {
  alignas(8) std::uint8_t buf[kMaxSpanBytes] = {};
  std::uint16_t used = 0;
  SpanFixed& fixed() { return span_fixed(buf); }
};

void fill_ids(SpanFixed& f, std::uint8_t trace_base, std::uint8_t span_base, std::uint8_t parent_base) {
  for (int i = 0; i < 16; ++i) f.trace_id[i] = static_cast<std::uint8_t>(trace_base + i);
  for (int i = 0; i < 8; ++i) f.span_id[i] = static_cast<std::uint8_t>(span_base + i);
  for (int i = 0; i < 8; ++i) f.parent_span_id[i] = static_cast<std::uint8_t>(parent_base + i);
}

RejectReason decode(const Encoded& e, StringCache& strings, SpanView& out) {
  return decode_span(e.buf, e.used, strings, out);
}

TEST(SpanCodec, EveryItemKindRoundTripsFieldByField) {
  Table table;
  const std::uint16_t name_ref = table.add("llm_inference");
  const std::uint16_t key_ref = table.add("gen_ai.usage.input_tokens");
  const std::uint16_t value_ref = table.add("interned-value");
  const std::uint16_t event_ref = table.add("first_token");
  const Key kInternedKey = Key::from_parts("gen_ai.usage.input_tokens", key_ref);

  Encoded e;
  SpanFixed& f = e.fixed();
  fill_ids(f, 0x10, 0x20, 0x30);
  encode_span_start(e.buf, e.used, SpanKind::kConsumer, name_ref, "llm_inference");
  f.start_time = 1000;
  f.end_time = 2000;
  f.trace_flags = 0x03;
  f.span_flags = span_flags_remote_parent(true);
  ASSERT_NE(encode_trace_state(e.buf, e.used, "vendor=abc,other=1"), 0);

  // Span attributes: each type, with inline and interned keys (and an interned value).
  const bool t = true;
  const std::int64_t i = -42;
  const double d = 0.25;
  ASSERT_TRUE(encode_attribute(e.buf, e.used, kAttrBool, 0, "inline.bool", &t, 1));
  ASSERT_TRUE(encode_attribute(e.buf, e.used, kAttrInt, key_ref, "gen_ai.usage.input_tokens", &i, 8));
  ASSERT_TRUE(encode_attribute(e.buf, e.used, kAttrDouble, 0, "inline.double", &d, 8));
  ASSERT_TRUE(encode_string_attribute(e.buf, e.used, 0, "inline.string", 0, "inline-value"));
  ASSERT_TRUE(encode_string_attribute(e.buf, e.used, key_ref, "gen_ai.usage.input_tokens", value_ref, "interned-value"));

  // Events with attributes (the client's Attribute type), one with an interned name and one
  // without a name.
  const Attribute event_attrs[] = {Attribute(kInternedKey, std::int64_t{7}), Attribute("e.double", 1.5),
                                   Attribute("e.string", "x"), Attribute("e.bool", false)};
  ASSERT_TRUE(encode_event(e.buf, e.used, 1500, event_ref, "first_token", event_attrs, 4));
  ASSERT_TRUE(encode_event<const Attribute*>(e.buf, e.used, 1600, 0, "", nullptr, 0));

  // Links: a remote one with a trace state and attributes, a local one without.
  std::uint8_t link_trace[16], link_span[8];
  for (int k = 0; k < 16; ++k) link_trace[k] = static_cast<std::uint8_t>(0x40 + k);
  for (int k = 0; k < 8; ++k) link_span[k] = static_cast<std::uint8_t>(0x50 + k);
  const Attribute link_attrs[] = {Attribute("l.int", 3), Attribute(kInternedKey, true)};
  ASSERT_TRUE(encode_link(e.buf, e.used, link_trace, link_span, 0x01, true, "l=1", link_attrs, 2));
  ASSERT_TRUE(encode_link<const Attribute*>(e.buf, e.used, link_trace, link_span, 0x00, false, "", nullptr, 0));

  encode_status(e.buf, e.used, StatusCode::kError, "out of KV cache");

  // Dropped counts at and around saturation.
  f.dropped_attributes = 65534;
  count_dropped(f.dropped_attributes);
  count_dropped(f.dropped_attributes);  // stays at 65535: "at least"
  f.dropped_events = 65535;
  count_dropped(f.dropped_events);
  count_dropped(f.dropped_links);

  StringCache strings;
  strings.reset(table.get());
  SpanView s;
  ASSERT_EQ(decode(e, strings, s), kRejectReasonCount);

  for (int k = 0; k < 16; ++k) EXPECT_EQ(s.trace_id[k], 0x10 + k);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(s.span_id[k], 0x20 + k);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(s.parent_span_id[k], 0x30 + k);
  EXPECT_TRUE(s.has_parent);
  EXPECT_EQ(s.kind, kKindConsumer);
  EXPECT_EQ(s.status, kStatusError);
  EXPECT_EQ(s.status_message, "out of KV cache");
  EXPECT_EQ(s.trace_flags, 0x03);
  EXPECT_EQ(s.span_flags, kSpanFlagHasParent | kSpanFlagHasRemote | kSpanFlagParentRemote | kSpanFlagTraceRemote);
  EXPECT_EQ(s.otlp_flags(), 0x303u);
  EXPECT_TRUE(s.is_local_root());
  EXPECT_EQ(s.start_raw, 1000u);
  EXPECT_EQ(s.end_raw, 2000u);
  EXPECT_EQ(s.name, "llm_inference");
  EXPECT_EQ(s.name_id, name_ref & 0x7fff);
  EXPECT_EQ(s.root_name, "llm_inference");
  EXPECT_EQ(s.root_name_id, name_ref & 0x7fff);
  EXPECT_EQ(s.trace_state, "vendor=abc,other=1");
  EXPECT_EQ(s.dropped_attributes, 65535u);
  EXPECT_EQ(s.dropped_events, 65535u);
  EXPECT_EQ(s.dropped_links, 1u);

  ASSERT_EQ(s.attributes.size(), 5u);
  EXPECT_EQ(s.attributes[0].key, "inline.bool");
  EXPECT_EQ(s.attributes[0].key_id, -1);
  EXPECT_EQ(s.attributes[0].type, kAttrBool);
  EXPECT_TRUE(s.attributes[0].bool_value);
  EXPECT_EQ(s.attributes[1].key, "gen_ai.usage.input_tokens");
  EXPECT_EQ(s.attributes[1].key_id, key_ref & 0x7fff);
  EXPECT_EQ(s.attributes[1].type, kAttrInt);
  EXPECT_EQ(s.attributes[1].int_value, -42);
  EXPECT_EQ(s.attributes[2].key, "inline.double");
  EXPECT_EQ(s.attributes[2].type, kAttrDouble);
  EXPECT_EQ(s.attributes[2].double_value, 0.25);
  EXPECT_EQ(s.attributes[3].key, "inline.string");
  EXPECT_EQ(s.attributes[3].type, kAttrString);
  EXPECT_EQ(s.attributes[3].string_value, "inline-value");
  EXPECT_EQ(s.attributes[4].key_id, key_ref & 0x7fff);
  EXPECT_EQ(s.attributes[4].type, kAttrString);
  EXPECT_EQ(s.attributes[4].string_value, "interned-value");

  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0].time_unix_ns, 1500u);  // raw: decode_span does not convert clocks
  EXPECT_EQ(s.events[0].name, "first_token");
  EXPECT_EQ(s.events[0].attr_count, 4u);
  EXPECT_EQ(s.events[0].dropped_attributes, 0u);
  const AttrView* ea = s.sub_attributes.data() + s.events[0].first_attr;
  EXPECT_EQ(ea[0].key_id, key_ref & 0x7fff);
  EXPECT_EQ(ea[0].type, kAttrInt);
  EXPECT_EQ(ea[0].int_value, 7);
  EXPECT_EQ(ea[1].key, "e.double");
  EXPECT_EQ(ea[1].type, kAttrDouble);
  EXPECT_EQ(ea[1].double_value, 1.5);
  EXPECT_EQ(ea[2].key, "e.string");
  EXPECT_EQ(ea[2].type, kAttrString);
  EXPECT_EQ(ea[2].string_value, "x");
  EXPECT_EQ(ea[3].key, "e.bool");
  EXPECT_EQ(ea[3].type, kAttrBool);
  EXPECT_FALSE(ea[3].bool_value);
  EXPECT_EQ(s.events[1].time_unix_ns, 1600u);
  EXPECT_EQ(s.events[1].name, "event");  // the encoder names an unnamed event
  EXPECT_EQ(s.events[1].attr_count, 0u);

  ASSERT_EQ(s.links.size(), 2u);
  for (int k = 0; k < 16; ++k) EXPECT_EQ(s.links[0].trace_id[k], 0x40 + k);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(s.links[0].span_id[k], 0x50 + k);
  EXPECT_EQ(s.links[0].trace_flags, 0x01);
  EXPECT_EQ(s.links[0].flags, kSpanFlagHasRemote | kSpanFlagParentRemote);
  EXPECT_EQ(s.links[0].otlp_flags(), 0x301u);
  EXPECT_EQ(s.links[0].trace_state, "l=1");
  EXPECT_EQ(s.links[0].attr_count, 2u);
  const AttrView* la = s.sub_attributes.data() + s.links[0].first_attr;
  EXPECT_EQ(la[0].key, "l.int");
  EXPECT_EQ(la[0].int_value, 3);
  EXPECT_EQ(la[1].key_id, key_ref & 0x7fff);
  EXPECT_TRUE(la[1].bool_value);
  EXPECT_EQ(s.links[1].flags, kSpanFlagHasRemote);
  EXPECT_EQ(s.links[1].otlp_flags(), 0x100u);
  EXPECT_EQ(s.links[1].trace_state, "");
}

TEST(SpanCodec, ALocalChildCarriesItsParentsRootNameAndTraceState) {
  Table table;
  const std::uint16_t root_ref = table.add("root-op");
  Encoded parent;
  fill_ids(parent.fixed(), 1, 2, 3);
  encode_span_start(parent.buf, parent.used, SpanKind::kServer, root_ref, "root-op");
  parent.fixed().span_flags = span_flags_remote_parent(true);
  const std::uint16_t at = encode_trace_state(parent.buf, parent.used, "a=b");
  ASSERT_NE(at, 0);

  Encoded child;
  fill_ids(child.fixed(), 1, 9, 2);
  encode_span_start(child.buf, child.used, SpanKind::kInternal, 0, "child");
  child.fixed().span_flags = span_flags_local_parent(parent.fixed().span_flags);
  child.fixed().root_name = parent.fixed().root_name;
  const std::uint16_t child_at = copy_trace_state(child.buf, child.used, parent.buf, at);
  ASSERT_NE(child_at, 0);
  EXPECT_EQ(trace_state_text(child.buf, child_at), "a=b");

  StringCache strings;
  strings.reset(table.get());
  SpanView s;
  ASSERT_EQ(decode(child, strings, s), kRejectReasonCount);
  EXPECT_EQ(s.span_flags, kSpanFlagHasParent | kSpanFlagHasRemote | kSpanFlagTraceRemote);
  EXPECT_FALSE(s.is_local_root());
  EXPECT_EQ(s.otlp_flags(), 0x100u);
  EXPECT_EQ(s.root_name, "root-op");
  EXPECT_EQ(s.trace_state, "a=b");
  EXPECT_EQ(s.status, kStatusUnset);
}

TEST(SpanCodec, StatusOkIsFinalAndADescriptionGoesWithErrorOnly) {
  Encoded e;
  fill_ids(e.fixed(), 1, 2, 0);
  encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
  const std::uint16_t before = e.used;
  encode_status(e.buf, e.used, StatusCode::kOk, "ignored with OK");
  EXPECT_EQ(e.used, before);
  encode_status(e.buf, e.used, StatusCode::kError, "too late");
  EXPECT_EQ(e.fixed().status, kStatusOk);
  EXPECT_EQ(e.used, before);
}

TEST(SpanCodec, AnItemThatDoesNotFitWritesNothing) {
  Encoded e;
  fill_ids(e.fixed(), 1, 2, 0);
  encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
  const std::string big(kMaxStringLength, 'v');
  while (encode_string_attribute(e.buf, e.used, 0, "k", 0, big)) {
  }
  const std::uint16_t full = e.used;
  const std::int64_t v = 1;
  // Fill the last bytes exactly, then every kind of item is refused without a partial write.
  while (encode_attribute(e.buf, e.used, kAttrInt, 0, "", &v, 8)) {
  }
  EXPECT_GE(e.used, full);
  const std::uint16_t last = e.used;
  EXPECT_FALSE(encode_attribute(e.buf, e.used, kAttrInt, 0, "", &v, 8));
  EXPECT_FALSE(encode_string_attribute(e.buf, e.used, 0, "key", 0, "value"));
  EXPECT_FALSE(encode_event<const Attribute*>(e.buf, e.used, 1, 0, "ev", nullptr, 0));
  std::uint8_t id[16] = {1};
  EXPECT_FALSE(encode_link<const Attribute*>(e.buf, e.used, id, id, 0, false, "", nullptr, 0));
  EXPECT_EQ(e.used, last);
  EXPECT_LE(e.used, kMaxSpanBytes);
}

TEST(SpanCodec, ArraysOfEachTypeRoundTrip) {
  Table table;
  StringCache strings;
  strings.reset(table.get());
  Encoded e;
  fill_ids(e.fixed(), 1, 2, 0);
  encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
  const std::uint8_t bools[] = {1, 0, 2};
  const std::int64_t ints[] = {-5, 7};
  const double doubles[] = {1.5};
  const std::string_view strs[] = {"stop", "", "length"};
  ASSERT_TRUE(encode_array_attribute(e.buf, e.used, kAttrBoolArray, 0, "b", bools, 3));
  ASSERT_TRUE(encode_array_attribute(e.buf, e.used, kAttrIntArray, 0, "i", ints, 2));
  ASSERT_TRUE(encode_array_attribute(e.buf, e.used, kAttrDoubleArray, 0, "d", doubles, 1));
  ASSERT_TRUE(encode_array_attribute(e.buf, e.used, kAttrStringArray, 0, "s", strs, 3));
  ASSERT_TRUE(encode_array_attribute(e.buf, e.used, kAttrStringArray, 0, "empty", nullptr, 0));
  EXPECT_FALSE(encode_array_attribute(e.buf, e.used, kAttrInt, 0, "scalar", ints, 2));  // not an array type
  EXPECT_FALSE(encode_array_attribute(e.buf, e.used, kAttrIntArray, 0, "null", nullptr, 2));
  SpanView v;
  ASSERT_EQ(decode(e, strings, v), kRejectReasonCount);
  ASSERT_EQ(v.attributes.size(), 5u);
  std::vector<std::string> seen;
  for (const AttrView& a : v.attributes) {
    std::string line = std::string(a.key) + ":" + std::to_string(a.type) + ":";
    for_each_element(a, [&](const AttrView& x) {
      switch (x.type) {
        case kAttrBool: line += x.bool_value ? "T," : "F,"; break;
        case kAttrInt: line += std::to_string(x.int_value) + ","; break;
        case kAttrDouble: line += std::to_string(x.double_value) + ","; break;
        default: line += "'" + std::string(x.string_value) + "',"; break;
      }
    });
    seen.push_back(line);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"b:10:T,F,T,", "i:11:-5,7,", "d:12:1.500000,", "s:13:'stop','','length',",
                                            "empty:13:"}));
}

TEST(SpanCodec, AnArrayThatDoesNotFitIsNotWrittenAtAll) {
  Encoded e;
  fill_ids(e.fixed(), 1, 2, 0);
  encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
  std::vector<std::int64_t> many(kMaxSpanBytes / 8, 1);
  const std::uint16_t before = e.used;
  EXPECT_FALSE(encode_array_attribute(e.buf, e.used, kAttrIntArray, 0, "k", many.data(), many.size()));
  EXPECT_EQ(e.used, before);
  // The client counts it.
  EXPECT_TRUE(is_array_type(kAttrStringArray) && !is_array_type(kAttrString) && array_element_type(kAttrIntArray) == kAttrInt);
}

// Hostile bytes in an array: each way an element can lie is rejected, never read past.
TEST(SpanCodec, MalformedArraysAreRejected) {
  Table table;
  StringCache strings;
  strings.reset(table.get());
  auto with_item = [&](std::vector<std::uint8_t> item) {
    Encoded e;
    fill_ids(e.fixed(), 1, 2, 0);
    encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
    std::memcpy(e.buf + e.used, item.data(), item.size());
    e.used = static_cast<std::uint16_t>(e.used + item.size());
    SpanView v;
    return decode(e, strings, v);
  };
  // [tag][u16 key len=1]["k"][u16 count] ...
  EXPECT_EQ(with_item({kItemAttrBoolArray, 1, 0, 'k', 2, 0, 1, 2}), kRejectBadField);         // bool 2
  EXPECT_EQ(with_item({kItemAttrBoolArray, 1, 0, 'k', 3, 0, 1, 0}), kRejectTruncated);        // count past end
  EXPECT_EQ(with_item({kItemAttrIntArray, 1, 0, 'k', 1, 0, 1, 2, 3}), kRejectTruncated);      // short int
  EXPECT_EQ(with_item({kItemAttrStringArray, 1, 0, 'k', 1, 0, 0x00, 0x80}), kRejectBadString);  // interned element
  EXPECT_EQ(with_item({kItemAttrStringArray, 1, 0, 'k', 1, 0, 5, 0, 'a'}), kRejectTruncated);   // element past end
  EXPECT_EQ(with_item({kItemAttrStringArray, 1, 0, 'k', 1, 0, 1, 0, 'a'}), kRejectReasonCount);
  EXPECT_EQ(with_item({14, 1, 0, 'k', 0, 0}), kRejectBadTag);  // the next tag is unknown
}

TEST(SpanCodec, ExplicitTimesAreMarkedAndMayMixWithClockTimes) {
  Table table;
  StringCache strings;
  strings.reset(table.get());
  Encoded e;
  fill_ids(e.fixed(), 1, 2, 0);
  encode_span_start(e.buf, e.used, SpanKind::kInternal, 0, "s");
  // Explicit start (Unix ns, far larger than the raw clock) and a raw end: not compared.
  e.fixed().start_time = explicit_time(1'700'000'000'000'000'000ull);
  e.fixed().end_time = 5000;
  ASSERT_TRUE(encode_event<const Attribute*>(e.buf, e.used, explicit_time(1'700'000'000'500'000'000ull), 0, "ev",
                                             nullptr, 0));
  SpanView v;
  ASSERT_EQ(decode(e, strings, v), kRejectReasonCount);
  EXPECT_TRUE(is_explicit_time(v.start_raw));
  EXPECT_FALSE(is_explicit_time(v.end_raw));
  EXPECT_EQ(v.start_raw & ~kTimeUnixNs, 1'700'000'000'000'000'000ull);
  ASSERT_EQ(v.events.size(), 1u);
  EXPECT_TRUE(is_explicit_time(v.events[0].time_unix_ns));
  // Both explicit: the end must not precede the start.
  e.fixed().end_time = explicit_time(1);
  EXPECT_EQ(decode(e, strings, v), kRejectBadField);
}

// The span buffer lives on the engine's stack: no byte of SpanFixed may carry what was there
// before (the segment is readable by the agent's group).
TEST(SpanCodec, SpanFixedCarriesNoStaleBytes) {
  std::uint8_t buf[kMaxSpanBytes];
  std::memset(buf, 0xAA, sizeof buf);
  std::uint16_t used = 0;
  encode_span_start(buf, used, SpanKind::kInternal, 0, "op");
  for (std::size_t i = offsetof(SpanFixed, root_name) + 2; i < sizeof(SpanFixed); ++i)
    EXPECT_EQ(buf[i], 0) << "byte " << i;
}

// The reference span: every byte the encoder writes for it, spelled out from abi.hpp. If this
// fails, the wire format changed: that is an ABI change (abi.hpp, VERSIONING), not a test fix.
TEST(SpanCodec, ReferenceSpanEncodesToTheGoldenBytes) {
  Encoded e;
  SpanFixed& f = e.fixed();
  fill_ids(f, 0x01, 0x21, 0x31);
  encode_span_start(e.buf, e.used, SpanKind::kServer, 0, "root");
  f.start_time = 0x0102030405060708ull;
  f.end_time = 0x1112131415161718ull;
  f.trace_flags = 0x01;
  f.span_flags = span_flags_remote_parent(true);
  encode_trace_state(e.buf, e.used, "k=v");
  const std::int64_t n = 7;
  const bool yes = true;
  const double d = 1.5;
  encode_attribute(e.buf, e.used, kAttrInt, 0, "n", &n, 8);
  encode_attribute(e.buf, e.used, kAttrBool, 0x8005, "interned", &yes, 1);
  encode_string_attribute(e.buf, e.used, 0, "s", 0x8006, "interned-value");
  encode_attribute(e.buf, e.used, kAttrDouble, 0, "d", &d, 8);
  const Attribute event_attrs[] = {Attribute("b", false)};
  encode_event(e.buf, e.used, 0x0a0b, 0, "e", event_attrs, 1);
  std::uint8_t link_trace[16], link_span[8];
  for (int k = 0; k < 16; ++k) link_trace[k] = static_cast<std::uint8_t>(0x41 + k);
  for (int k = 0; k < 8; ++k) link_span[k] = static_cast<std::uint8_t>(0x51 + k);
  encode_link<const Attribute*>(e.buf, e.used, link_trace, link_span, 0x01, false, "", nullptr, 0);
  encode_status(e.buf, e.used, StatusCode::kError, "bad");
  count_dropped(f.dropped_attributes);

  const std::vector<std::uint8_t> golden = {
      // SpanFixed: trace id, span id, parent span id
      0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
      0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
      0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
      0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,  // start_time, little-endian
      0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,  // end_time
      0x02,                                            // kind: server
      0x02,                                            // status: error
      0x01,                                            // trace_flags: sampled
      0x0f,                                            // span_flags: has parent, remote known, remote, trace remote
      0x01, 0x00, 0x00, 0x00, 0x00, 0x00,              // dropped attributes, events, links
      0x00, 0x00,                                      // root_name: not interned
      0x00, 0x00, 0x00, 0x00,                          // padding to 64 bytes
      0x01, 0x04, 0x00, 'r', 'o', 'o', 't',            // kItemName, inline "root"
      0x07, 0x03, 0x00, 'k', '=', 'v',                 // kItemTraceState "k=v"
      0x03, 0x01, 0x00, 'n', 0x07, 0, 0, 0, 0, 0, 0, 0,  // kItemAttrInt "n" = 7
      0x02, 0x05, 0x80, 0x01,                          // kItemAttrBool, interned key id 5, true
      0x05, 0x01, 0x00, 's', 0x06, 0x80,               // kItemAttrString "s" = interned id 6
      0x04, 0x01, 0x00, 'd', 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,  // kItemAttrDouble "d" = 1.5
      0x08, 0x0b, 0x0a, 0, 0, 0, 0, 0, 0,              // kItemEvent, time 0x0a0b
      0x01, 0x00, 'e',                                 //   name "e"
      0x01, 0x00,                                      //   1 attribute, 0 dropped
      0x02, 0x01, 0x00, 'b', 0x00,                     //   kItemAttrBool "b" = false
      0x09,                                            // kItemLink
      0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50,
      0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
      0x01,                                            //   trace_flags
      0x01,                                            //   flags: is-remote known, not remote
      0x00, 0x00,                                      //   trace_state ""
      0x00, 0x00,                                      //   0 attributes, 0 dropped
      0x06, 0x03, 0x00, 'b', 'a', 'd',                 // kItemStatusMessage "bad"
  };
  const std::vector<std::uint8_t> bytes(e.buf, e.buf + e.used);
  ASSERT_EQ(bytes.size(), golden.size());
  for (std::size_t k = 0; k < golden.size(); ++k) EXPECT_EQ(bytes[k], golden[k]) << "byte " << k;
}

}  // namespace
}  // namespace spanring::shm
