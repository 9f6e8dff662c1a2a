// Incoming W3C headers are untrusted: traceparent and tracestate parsing must never read out of
// bounds, and what they accept must re-format to a valid header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "spanring/span_context.hpp"

namespace spanring::detail {
void note_traceparent_invalid() noexcept {}  // the real one counts into the segment
}  // namespace spanring::detail

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte splits the input into a traceparent and a tracestate value.
  if (size == 0) return 0;
  const std::size_t split = data[0] % size;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string_view traceparent = input.substr(0, split < input.size() ? split : input.size());
  const std::string_view tracestate = input.substr(traceparent.size());
  spanring::SpanContext ctx;
  if (spanring::extract(traceparent, tracestate, ctx)) {
    char out[spanring::kTraceparentLength];
    spanring::format_traceparent(ctx, out);
    spanring::SpanContext again;
    if (!spanring::parse_traceparent(std::string_view(out, sizeof out), again)) std::abort();
    if (!(again.trace_id == ctx.trace_id) || !(again.span_id == ctx.span_id)) std::abort();
    if (ctx.trace_state_length > spanring::kMaxTraceStateLength) std::abort();
  }
  return 0;
}
