// libFuzzer target: shm::decode_span (shm/span_codec.hpp) on arbitrary bytes (one span's
// concatenated payloads), with interned ids resolved through a small string table. Run with
// -max_len=1080: longer inputs are rejected before any parsing (kMaxRecordsPerSpan * kRecordPayload).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuzz_support.hpp"
#include "spanring/shm/span_codec.hpp"

namespace {

struct State {
  std::unique_ptr<spanring::shm::StringTable> table = std::make_unique<spanring::shm::StringTable>();
  spanring::shm::StringCache strings;
  spanring::shm::SpanView view;
  State() {
    spanring::fuzz::fill_table(*table);
    strings.reset(table.get());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static State* s = new State;  // never destroyed: libFuzzer may exit from any point
  const spanring::shm::RejectReason r = spanring::shm::decode_span(data, size, s->strings, s->view);
  if (r == spanring::shm::kRejectReasonCount)
    spanring::fuzz::check_span(s->view);
  else
    spanring::fuzz::require(r < spanring::shm::kRejectRingIndex);  // decode never blames the ring
  return 0;
}
