// Decoded span (shm::SpanView) → OTLP protobuf wire format, written straight into bytes.
//
// This is the agent's hot path: no message objects, no arena, no second pass to size them.
// Each span is appended to its source's buffer as one ScopeSpans.spans entry, fields in field
// number order with proto3's rules (defaults omitted, a oneof always written), i.e. the bytes
// protobuf's own serializer produces for the same message; BatchBuilder::close() wraps each
// source's spans in ResourceSpans and concatenates them into the request body. Nested lengths
// are reserved before a message is written and fixed up after it (protobuf's array primitives,
// google::protobuf::io::CodedOutputStream::Write*ToArray, do the byte work).
//
// tests/agent/otlp_encode_test.cpp parses the bytes with protobuf and compares them, field by
// field, with what the message-building converter the agent used before (kept in the test as
// the reference) makes of the same spans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "agent/sampling/sampler.hpp"
#include "spanring/shm/span_codec.hpp"

namespace spanring::agent {

// A byte buffer written front to back and reused: clear() keeps its memory, so a steady state
// allocates nothing. Unlike std::string, growing it does not zero what is about to be written.
class WireBuffer {
 public:
  std::size_t size() const noexcept { return size_; }
  const std::uint8_t* data() const noexcept { return data_.get(); }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data_.get()), size_}; }
  void clear() noexcept { size_ = 0; }

  // Room for n more bytes; returns where they go (valid until the next reserve).
  std::uint8_t* reserve(std::size_t n) {
    if (capacity_ - size_ < n) grow(n);
    return data_.get() + size_;
  }
  // The bytes up to `end` (a pointer from reserve()) are written.
  void commit(const std::uint8_t* end) noexcept { size_ = static_cast<std::size_t>(end - data_.get()); }

  // A length-delimited field whose length is not known yet: writes the tag and reserves
  // `length_bytes` for the length (the usual varint size for such a message); returns a mark.
  std::size_t open(std::uint32_t field, std::size_t length_bytes);
  // Writes the length at `mark`, moving the message's bytes if its varint needs another size.
  void close(std::size_t mark, std::size_t length_bytes);

 private:
  void grow(std::size_t n);
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0, capacity_ = 0;
};

// Appends `span` to `out` as one ScopeSpans.spans (field 2) entry. `sampling`, for a span the
// agent's sampler kept (null without a sampler), adds what the decision changes: the tracestate
// (`sampled_trace_state`, when trace_state_changed) and the sampler.type / sampler.param
// attributes Jaeger's adaptive sampling reads (SPEC §7.d). A span marked clock_discontinuity
// gets spanring.clock.discontinuity = true. Every string from shared memory is repaired to
// valid UTF-8 first (agent/base/utf8.hpp).
void encode_span(const shm::SpanView& span, WireBuffer& out, const SamplingAnnotation* sampling = nullptr,
                 std::string_view sampled_trace_state = {});

// One AnyValue's fields for an attribute value: the only place that knows how each attribute
// type is written (a new type, e.g. an array, is one more case here).
void encode_any_value(const shm::AttrView& a, WireBuffer& out);

// Size of a length-delimited field (tag of `field` < 16, varint length, `payload` bytes).
std::size_t delimited_size(std::size_t payload) noexcept;
// Writes a length-delimited field of a field number < 16 at `p`; returns the end.
std::uint8_t* write_delimited(std::uint8_t* p, std::uint32_t field, std::string_view payload) noexcept;
// Writes the tag and length of a length-delimited field (< 16) whose payload follows.
std::uint8_t* write_delimited_header(std::uint8_t* p, std::uint32_t field, std::size_t payload) noexcept;

}  // namespace spanring::agent
