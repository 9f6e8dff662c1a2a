// spanring-test-reader: the agent side of the multi-process stress test.
//
//   spanring-test-reader SEGMENT [--progress N]
//
// Attaches to SEGMENT, prints "ready", and drains every ring concurrently with the producer,
// committing the tail after each pass so the producer can reuse the slots. Each span is
// checked: name, seq/thread/checksum attributes present, checksum right, seq strictly
// increasing per thread. With --progress it prints "progress=N" once N spans were read.
// When stdin closes (the test's sign that the producer has exited) it drains what is left and
// prints key=value lines: read, rejected, checksum_errors, seq_errors, attr_errors,
// threads_seen, written, dropped_full, dropped_no_ring, closed, rings; then "end". Exit code 0
// when no span failed a check, 1 otherwise, 2 on usage or attach errors.
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spanring/shm/reader.hpp"
#include "stress_span.hpp"

namespace {

using spanring::shm::AttrView;
using spanring::shm::SpanView;

struct Checker {
  std::uint64_t checksum_errors = 0;
  std::uint64_t seq_errors = 0;
  std::uint64_t attr_errors = 0;
  std::vector<std::int64_t> last_seq;  // per thread, -1 = none yet

  static const AttrView* find(const SpanView& s, std::string_view key) {
    const AttrView* found = nullptr;
    for (const AttrView& a : s.attributes)
      if (a.key == key) found = &a;
    return found;
  }

  void check(const SpanView& s) {
    const AttrView* seq = find(s, spanring::test::kSeqKey);
    const AttrView* thread = find(s, spanring::test::kThreadKey);
    const AttrView* checksum = find(s, spanring::test::kChecksumKey);
    const AttrView* payload = find(s, spanring::test::kPayloadKey);
    if (!seq || !thread || !checksum || seq->type != spanring::shm::kAttrInt ||
        thread->type != spanring::shm::kAttrInt || checksum->type != spanring::shm::kAttrInt ||
        thread->int_value < 0 || thread->int_value >= 4096 || seq->int_value < 0 ||
        (payload && payload->type != spanring::shm::kAttrString) || s.attributes.size() != (payload ? 4u : 3u)) {
      ++attr_errors;
      return;
    }
    const std::string_view payload_text = payload ? payload->string_value : std::string_view();
    if (s.name != spanring::test::stress_name(seq->int_value) ||
        checksum->int_value !=
            spanring::test::stress_checksum(s.name, seq->int_value, thread->int_value, payload_text) ||
        spanring::test::has_payload(seq->int_value) != (payload != nullptr)) {
      ++checksum_errors;
      return;
    }
    const auto t = static_cast<std::size_t>(thread->int_value);
    if (last_seq.size() <= t) last_seq.resize(t + 1, -1);
    if (seq->int_value <= last_seq[t]) ++seq_errors;
    last_seq[t] = seq->int_value;
  }
};

bool producer_gone() {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;  // POLLHUP (closed) or data: either way the producer is done
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: spanring-test-reader SEGMENT [--progress N]\n");
    return 2;
  }
  std::uint64_t progress_at = 0;
  if (argc == 4 && std::strcmp(argv[2], "--progress") == 0) progress_at = std::strtoull(argv[3], nullptr, 10);

  auto reader = std::make_unique<spanring::shm::SegmentReader>();
  std::string message;
  if (auto e = reader->open(argv[1], message); e != spanring::shm::SegmentError::kOk) {
    std::fprintf(stderr, "open %s: %s: %s\n", argv[1], spanring::shm::to_string(e), message.c_str());
    return 2;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  const std::uint32_t rings = reader->ring_count();
  const std::uint32_t capacity = reader->header().ring_capacity;
  std::vector<std::uint64_t> pos(rings);
  for (std::uint32_t r = 0; r < rings; ++r) pos[r] = reader->tail(r);
  Checker checker;
  auto check = [&checker](const SpanView& s) { checker.check(s); };

  // One pass over every ring; returns records consumed.
  auto drain = [&] {
    std::uint64_t consumed = 0;
    for (std::uint32_t r = 0; r < rings; ++r) {
      const std::uint64_t next = reader->read(r, pos[r], capacity, check);
      consumed += next - pos[r];
      pos[r] = next;
      reader->commit(r, next);
    }
    return consumed;
  };

  bool progress_printed = progress_at == 0;
  for (;;) {
    const bool last = producer_gone();  // sampled before the pass: after it nothing new comes
    const std::uint64_t consumed = drain();
    if (!progress_printed && reader->counters().spans_read >= progress_at) {
      std::printf("progress=%" PRIu64 "\n", reader->counters().spans_read);
      std::fflush(stdout);
      progress_printed = true;
    }
    if (last) {
      while (drain() != 0) {
      }
      break;
    }
    if (consumed == 0) {
      // Nothing to read: back off briefly instead of spinning against the producer's threads.
      const timespec pause{0, 50'000};
      ::nanosleep(&pause, nullptr);
    }
  }

  const spanring::shm::ReaderCounters& c = reader->counters();
  std::uint64_t threads_seen = 0;
  for (std::int64_t s : checker.last_seq) threads_seen += s >= 0 ? 1 : 0;
  std::printf("read=%" PRIu64 "\n", c.spans_read);
  std::printf("rejected=%" PRIu64 "\n", c.rejected_total());
  for (std::uint32_t i = 0; i < spanring::shm::kRejectReasonCount; ++i)
    if (c.rejected[i] != 0)
      std::printf("rejected_%s=%" PRIu64 "\n", spanring::shm::to_string(spanring::shm::RejectReason(i)), c.rejected[i]);
  std::printf("checksum_errors=%" PRIu64 "\n", checker.checksum_errors);
  std::printf("seq_errors=%" PRIu64 "\n", checker.seq_errors);
  std::printf("attr_errors=%" PRIu64 "\n", checker.attr_errors);
  std::printf("threads_seen=%" PRIu64 "\n", threads_seen);
  std::printf("written=%" PRIu64 "\n", reader->spans_written());
  std::printf("dropped_full=%" PRIu64 "\n", reader->spans_dropped_full());
  std::printf("dropped_no_ring=%" PRIu64 "\n", reader->spans_dropped_no_ring());
  std::printf("closed=%u\n", reader->closed() ? 1u : 0u);
  std::printf("rings=%u\n", rings);
  std::printf("end\n");
  std::fflush(stdout);
  const bool clean = c.rejected_total() == 0 && checker.checksum_errors == 0 && checker.seq_errors == 0 &&
                     checker.attr_errors == 0;
  return clean ? 0 : 1;
}
