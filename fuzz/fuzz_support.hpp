// Shared by the fuzz targets: a small string table, and a check that reads every byte a decoded
// span's views point at (so ASan reports a view that escapes its buffer) and aborts on any
// broken invariant of a successful decode.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/span_codec.hpp"

namespace spanring::fuzz {

// Entries 0..4; the fuzzer may reference any id, published or not.
inline void fill_table(shm::StringTable& t) {
  constexpr std::string_view kEntries[] = {"span.name", "key", "", "value", "gen_ai.request.model"};
  std::uint32_t used = 0, id = 0;
  for (std::string_view e : kEntries) {
    const auto n = static_cast<std::uint16_t>(e.size());
    std::memcpy(t.bytes + used, &n, 2);
    std::memcpy(t.bytes + used + 2, e.data(), n);
    t.offsets[id++] = used;
    used += 2 + n;
  }
  t.bytes_used = used;
  t.count.store(id, std::memory_order_release);
}

inline void require(bool ok) {
  if (!ok) std::abort();
}

inline void check_span(const shm::SpanView& v) {
  volatile unsigned sink = 0;
  auto touch = [&](std::string_view s) {
    require(s.size() <= shm::kMaxStringLength);
    for (char c : s) sink = sink + static_cast<unsigned char>(c);
  };
  require(!v.name.empty());
  touch(v.name);
  touch(v.root_name);
  touch(v.status_message);
  touch(v.trace_state);
  require(v.kind >= shm::kKindInternal && v.kind <= shm::kKindConsumer);
  require(v.status <= shm::kStatusError);
  if (shm::is_explicit_time(v.start_raw) == shm::is_explicit_time(v.end_raw)) require(v.end_raw >= v.start_raw);
  for (const auto* list : {&v.attributes, &v.sub_attributes})
    for (const shm::AttrView& a : *list) {
      require((a.type >= shm::kAttrBool && a.type <= shm::kAttrString) || shm::is_array_type(a.type));
      touch(a.key);
      touch(a.string_value);
      // Walking a validated array stays inside its bytes (ASan checks the reads).
      std::size_t n = 0;
      shm::for_each_element(a, [&](const shm::AttrView& e) {
        touch(e.string_value);
        ++n;
      });
      require(n == a.array_count);
    }
  for (const shm::EventView& e : v.events) {
    touch(e.name);
    require(std::uint64_t{e.first_attr} + e.attr_count <= v.sub_attributes.size());
  }
  for (const shm::LinkView& l : v.links) {
    touch(l.trace_state);
    require(std::uint64_t{l.first_attr} + l.attr_count <= v.sub_attributes.size());
  }
  // Each item takes at least 3 bytes, so no input can make these vectors grow without bound.
  require(v.attributes.size() + v.sub_attributes.size() + v.events.size() + v.links.size() <=
          shm::kMaxRecordsPerSpan * shm::kRecordPayload / 3);
}

}  // namespace spanring::fuzz
