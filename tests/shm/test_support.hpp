// Helpers shared by the shm tests: a client session on a uniquely named segment with a reader
// attached to it, owned copies of decoded spans (SpanView's views die on the next decode), and
// raw access to a segment's bytes for the ABI and corruption tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/layout.hpp"
#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/tracer.hpp"

namespace spanring::shm::test_support {

// "<suite>.<test>.<pid>", so parallel ctest runs and reruns never share a segment.
inline std::string unique_service_name() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name() + "." + std::to_string(::getpid());
  if (name.size() > kServiceNameMax) name.resize(kServiceNameMax);
  return name;
}

// Reads a little-endian integer at `offset` of raw bytes, the way a reader written without our
// headers would.
template <class T>
T load_at(const std::uint8_t* base, std::uint64_t offset) {
  T v;
  std::memcpy(&v, base + offset, sizeof v);
  return v;
}

template <class T>
void store_at(std::uint8_t* base, std::uint64_t offset, T v) {
  std::memcpy(base + offset, &v, sizeof v);
}

// The client (the process-wide tracer) initialised on its own segment, plus a SegmentReader
// and a second read-write mapping of the same segment for tests that inspect or corrupt bytes.
// Shuts the tracer down and unlinks the segment on destruction.
class TracerSession {
 public:
  TracerSession(std::uint32_t ring_count, std::uint32_t ring_capacity)
      : layout_(layout_for(ring_count, ring_capacity)) {
    Options o;
    o.service_name = unique_service_name();
    o.shm_size = layout_.segment_size;
    o.rings = ring_count;
    const InitStatus st = init(o);
    EXPECT_TRUE(st.ok()) << st.message;
    if (!st.ok()) return;
    segment_ = st.segment;
    std::string message;
    ok_ = reader_.open(segment_, message) == SegmentError::kOk;
    EXPECT_TRUE(ok_) << message;
    ok_ = ok_ && attach_segment(segment_, raw_, message) == SegmentError::kOk;
    EXPECT_TRUE(ok_) << message;
  }
  ~TracerSession() {
    shutdown();
    if (!segment_.empty()) remove_segment(segment_);
  }
  TracerSession(const TracerSession&) = delete;
  TracerSession& operator=(const TracerSession&) = delete;

  // False when init or attaching failed; tests ASSERT it before touching the segment.
  bool ok() const { return ok_; }
  const Layout& layout() const { return layout_; }
  const std::string& segment() const { return segment_; }
  SegmentReader& reader() { return reader_; }
  std::uint8_t* bytes() { return raw_.data(); }

  RingHeader& ring(std::uint32_t r) {
    return reinterpret_cast<RingHeader*>(raw_.data() + layout_.rings_offset)[r];
  }
  Record& record(std::uint32_t r, std::uint64_t i) {
    return reinterpret_cast<Record*>(raw_.data() + layout_.ring_data_offset)
        [std::uint64_t{r} * layout_.ring_capacity + (i & (layout_.ring_capacity - 1))];
  }
  // The concatenated payloads of the span whose first record is `i` (as the producer wrote it).
  std::vector<std::uint8_t> span_bytes(std::uint32_t r, std::uint64_t i) {
    std::vector<std::uint8_t> out;
    const std::uint32_t count = record(r, i).header.count;
    for (std::uint32_t k = 0; k < count; ++k) {
      const Record& rec = record(r, i + k);
      out.insert(out.end(), rec.payload, rec.payload + rec.header.payload_len);
    }
    return out;
  }

 private:
  Layout layout_;
  bool ok_ = false;
  std::string segment_;
  SegmentReader reader_;
  Mapping raw_;
};

// ---------------------------------------------------------------------------------------------
// Owned copies of decoded spans.

struct OwnedAttr {
  std::string key;
  std::int32_t key_id = -1;
  std::uint8_t type = 0;
  bool bool_value = false;
  std::int64_t int_value = 0;
  double double_value = 0;
  std::string string_value;
};

struct OwnedEvent {
  std::uint64_t time_unix_ns = 0;
  std::string name;
  std::vector<OwnedAttr> attributes;
  std::uint32_t dropped_attributes = 0;
};

struct OwnedLink {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::uint8_t trace_flags = 0;
  std::uint8_t flags = 0;
  std::string trace_state;
  std::vector<OwnedAttr> attributes;
  std::uint32_t dropped_attributes = 0;
};

struct OwnedSpan {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_span_id{};
  bool has_parent = false;
  std::uint8_t kind = 0, status = 0, trace_flags = 0, span_flags = 0;
  std::uint32_t otlp_flags = 0;
  std::uint64_t start_unix_ns = 0, end_unix_ns = 0;
  std::string name;
  std::int32_t name_id = -1;
  std::string root_name;
  std::int32_t root_name_id = -1;
  std::string status_message;
  std::string trace_state;
  std::uint32_t dropped_attributes = 0, dropped_events = 0, dropped_links = 0;
  std::vector<OwnedAttr> attributes;
  std::vector<OwnedEvent> events;
  std::vector<OwnedLink> links;

  const OwnedAttr* attribute(std::string_view key) const {
    for (const OwnedAttr& a : attributes)
      if (a.key == key) return &a;
    return nullptr;
  }
  std::int64_t int_attribute(std::string_view key) const {
    const OwnedAttr* a = attribute(key);
    return a && a->type == kAttrInt ? a->int_value : -1;
  }
};

inline OwnedAttr own(const AttrView& a) {
  return {std::string(a.key), a.key_id, a.type, a.bool_value, a.int_value, a.double_value, std::string(a.string_value)};
}

inline std::vector<OwnedAttr> own_range(const std::vector<AttrView>& all, std::uint32_t first, std::uint32_t count) {
  std::vector<OwnedAttr> out;
  for (std::uint32_t i = first; i < first + count && i < all.size(); ++i) out.push_back(own(all[i]));
  return out;
}

inline OwnedSpan own(const SpanView& v) {
  OwnedSpan s;
  s.trace_id = v.trace_id;
  s.span_id = v.span_id;
  s.parent_span_id = v.parent_span_id;
  s.has_parent = v.has_parent;
  s.kind = v.kind;
  s.status = v.status;
  s.trace_flags = v.trace_flags;
  s.span_flags = v.span_flags;
  s.otlp_flags = v.otlp_flags();
  s.start_unix_ns = v.start_unix_ns;
  s.end_unix_ns = v.end_unix_ns;
  s.name = v.name;
  s.name_id = v.name_id;
  s.root_name = v.root_name;
  s.root_name_id = v.root_name_id;
  s.status_message = v.status_message;
  s.trace_state = v.trace_state;
  s.dropped_attributes = v.dropped_attributes;
  s.dropped_events = v.dropped_events;
  s.dropped_links = v.dropped_links;
  for (const AttrView& a : v.attributes) s.attributes.push_back(own(a));
  for (const EventView& e : v.events)
    s.events.push_back({e.time_unix_ns, std::string(e.name), own_range(v.sub_attributes, e.first_attr, e.attr_count),
                        e.dropped_attributes});
  for (const LinkView& l : v.links)
    s.links.push_back({l.trace_id, l.span_id, l.trace_flags, l.flags, std::string(l.trace_state),
                       own_range(v.sub_attributes, l.first_attr, l.attr_count), l.dropped_attributes});
  return s;
}

// Reads everything between the ring's tail and head, commits it, and returns the spans.
inline std::vector<OwnedSpan> drain(SegmentReader& reader, std::uint32_t ring) {
  std::vector<OwnedSpan> out;
  const std::uint64_t from = reader.tail(ring);
  const std::uint64_t to = reader.read(ring, from, ~0ull, [&](const SpanView& v) { out.push_back(own(v)); });
  reader.commit(ring, to);
  return out;
}

template <std::size_t N>
std::array<std::uint8_t, N> as_array(const std::uint8_t (&bytes)[N]) {
  std::array<std::uint8_t, N> a;
  std::memcpy(a.data(), bytes, N);
  return a;
}

}  // namespace spanring::shm::test_support
