// Writes seed corpora for the fuzz targets from spans the real client encodes, so the seeds
// follow the ABI as it changes:
//   spanring-fuzz-seeds <decode-corpus-dir> <reader-corpus-dir>
// decode seeds are one span's concatenated payloads; reader seeds are the reader target's
// input (see reader_fuzzer.cpp: from, record count, clock, anchors, then the records).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "spanring/shm/layout.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/span_context.hpp"
#include "spanring/tracer.hpp"

namespace {

using namespace spanring;

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_spans() {
  static const Key kName("span.name");  // ids 0.. match the fuzz targets' table where they can
  static const Key kKey("key");
  SpanContext remote;
  extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", remote);
  { Span s("llm_inference", SpanKind::kServer); }
  {
    Span s(kName);
    s.set_attribute(kKey, std::int64_t{42});
    s.set_attribute("inline", "value");
    s.set_attribute("flag", true);
    s.set_attribute("ratio", 0.25);
  }
  {
    Span s("rich", remote);
    s.add_event("evt", {Attribute("n", 1), Attribute(kKey, "v")});
    s.add_link(remote, {Attribute("l", 2.5)});
    s.set_status(StatusCode::kError, "failed");
  }
  {
    // ABI 2.0: arrays of each type (also inside an event), explicit times.
    Span s("arrays", remote);
    s.set_start_time_unix_ns(1'700'000'000'000'000'000ull);
    const bool b[] = {true, false};
    const std::int64_t i[] = {1, -2};
    const double d[] = {0.5};
    const std::string_view str[] = {"stop", "length"};
    s.set_attribute("b", std::span<const bool>(b));
    s.set_attribute("i", std::span<const std::int64_t>(i));
    s.set_attribute("d", std::span<const double>(d));
    s.set_attribute(kKey, std::span<const std::string_view>(str));
    const Attribute event_attrs[] = {Attribute("reasons", std::span<const std::string_view>(str))};
    s.add_event(Key::inline_text("evt"), event_attrs, 1, 1'700'000'000'000'000'001ull);
    s.record_exception("ValueError", "bad", "Traceback\n  f()");
    s.end_at_unix_ns(1'700'000'000'000'000'002ull);
  }
  {
    Span s("big");
    for (int i = 0; i < 40; ++i) s.set_attribute("key." + std::to_string(i), std::string(30, 'x'));
  }
}

// The reader target's input header: from, n, clock source, the producer's real anchors.
std::vector<std::uint8_t> reader_input_header(std::uint64_t from, std::uint64_t n, const shm::SegmentHeader& h) {
  std::vector<std::uint8_t> b(26, 0);
  std::memcpy(b.data(), &from, 8);
  b[8] = static_cast<std::uint8_t>(n);
  b[9] = h.clock_source == shm::kClockTsc ? 1 : 0;
  std::memcpy(b.data() + 10, &h.clock_anchor_tsc, 8);
  std::memcpy(b.data() + 18, &h.clock_anchor_raw_ns, 8);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <decode-corpus-dir> <reader-corpus-dir>\n", argv[0]);
    return 2;
  }
  Options o;
  o.service_name = "fuzz-seeds";
  o.shm_size = shm::layout_for(1, 32).segment_size;
  o.rings = 1;
  const InitStatus st = init(o);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message.c_str());
    return 1;
  }
  write_spans();
  shm::Mapping m;
  std::string message;
  const shm::SegmentError e = shm::attach_segment(st.segment, m, message);
  shutdown();
  shm::remove_segment(st.segment);
  if (e != shm::SegmentError::kOk) {
    std::fprintf(stderr, "%s\n", message.c_str());
    return 1;
  }
  const shm::SegmentHeader& h = *m.header();
  const auto* ring = reinterpret_cast<const shm::RingHeader*>(m.data() + h.rings_offset);
  const auto* records = reinterpret_cast<const shm::Record*>(m.data() + h.ring_data_offset);
  const std::uint64_t head = ring->head.load();

  int n = 0;
  std::vector<std::uint8_t> all;
  for (std::uint64_t pos = 0; pos < head;) {
    const std::uint32_t count = records[pos].header.count;
    std::vector<std::uint8_t> span, recs;
    for (std::uint32_t k = 0; k < count; ++k) {
      const shm::Record& r = records[pos + k];
      span.insert(span.end(), r.payload, r.payload + r.header.payload_len);
      const auto* raw = reinterpret_cast<const std::uint8_t*>(&r);
      recs.insert(recs.end(), raw, raw + sizeof r);
    }
    write_file(std::string(argv[1]) + "/client-span-" + std::to_string(n), span);
    std::vector<std::uint8_t> reader_seed = reader_input_header(0, count, h);
    reader_seed.insert(reader_seed.end(), recs.begin(), recs.end());
    write_file(std::string(argv[2]) + "/client-span-" + std::to_string(n), reader_seed);
    all.insert(all.end(), recs.begin(), recs.end());
    pos += count;
    ++n;
  }
  // All spans in one ring, starting two records before the end of the ring (they wrap).
  std::vector<std::uint8_t> wrapped = reader_input_header(30, head, h);
  wrapped.insert(wrapped.end(), all.begin(), all.end());
  write_file(std::string(argv[2]) + "/client-ring-wrapped", wrapped);
  std::printf("%d spans, %llu records\n", n, static_cast<unsigned long long>(head));
  return 0;
}
