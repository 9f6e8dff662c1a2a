// spanring-test-producer: the engine side of the multi-process stress test.
//
//   spanring-test-producer SERVICE THREADS SPANS_PER_THREAD [--rings N] [--shm-size BYTES] [--hold]
//
// Inits spanring, prints "segment=NAME", then waits for one byte on stdin ("go") so a reader
// can attach first. Then THREADS threads write SPANS_PER_THREAD spans each as fast as they can
// (0 = until killed), each span carrying seq, thread and checksum (see stress_span.hpp).
// When all threads are done it prints "attempted=N written=N dropped_full=N dropped_no_ring=N".
// With --hold it then waits for stdin to close before shutting down (so a test can kill it
// with its spans in the segment); otherwise it shuts down and exits 0.
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "spanring/tracer.hpp"
#include "stress_span.hpp"

namespace {

using spanring::test::has_payload;
using spanring::test::kStressInlineName;
using spanring::test::kStressNames;
using spanring::test::stress_checksum;
using spanring::test::stress_payload;

int usage() {
  std::fprintf(stderr,
               "usage: spanring-test-producer SERVICE THREADS SPANS_PER_THREAD [--rings N] [--shm-size BYTES] "
               "[--hold]\n");
  return 2;
}

// Each thread starts its first span (which claims a ring, or finds none) before the barrier,
// so all threads compete for rings before any of them finishes and releases one.
void write_spans(std::int64_t thread, std::int64_t spans, std::barrier<>& claimed,
                 std::atomic<std::uint64_t>& attempted) {
  static const spanring::Key kNames[] = {spanring::Key(kStressNames[0]), spanring::Key(kStressNames[1]),
                                         spanring::Key(kStressNames[2]),
                                         spanring::Key::inline_text(kStressNames[kStressInlineName])};
  static const spanring::Key kSeq(spanring::test::kSeqKey);
  static const spanring::Key kThread(spanring::test::kThreadKey);
  static const spanring::Key kChecksum(spanring::test::kChecksumKey);
  static const spanring::Key kPayload(spanring::test::kPayloadKey);
  std::string payload;
  std::uint64_t n = 0;
  for (std::int64_t seq = 0; spans == 0 || seq < spans; ++seq) {
    const spanring::Key& name = kNames[seq % 4];
    payload = has_payload(seq) ? stress_payload(thread, seq) : std::string();
    spanring::Span s(name);
    if (seq == 0) claimed.arrive_and_wait();
    s.set_attribute(kSeq, seq);
    s.set_attribute(kThread, thread);
    if (has_payload(seq)) s.set_attribute(kPayload, std::string_view(payload));
    s.set_attribute(kChecksum, stress_checksum(name.text(), seq, thread, payload));
    ++n;
  }
  attempted.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  spanring::Options options;
  options.service_name = argv[1];
  const int threads = std::atoi(argv[2]);
  const std::int64_t spans = std::atoll(argv[3]);
  bool hold = false;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rings") == 0 && i + 1 < argc) options.rings = static_cast<std::uint32_t>(std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--shm-size") == 0 && i + 1 < argc) options.shm_size = std::strtoull(argv[++i], nullptr, 10);
    else if (std::strcmp(argv[i], "--hold") == 0) hold = true;
    else return usage();
  }
  if (threads <= 0 || spans < 0) return usage();

  const spanring::InitStatus st = spanring::init(options);
  if (!st.ok()) {
    std::fprintf(stderr, "init failed: %s\n", st.message.c_str());
    return 3;
  }
  std::printf("segment=%s\n", st.segment.c_str());
  std::fflush(stdout);
  char go = 0;
  if (::read(STDIN_FILENO, &go, 1) != 1) return 4;

  std::atomic<std::uint64_t> attempted{0};
  std::barrier claimed(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { write_spans(t, spans, claimed, attempted); });
  for (std::thread& w : workers) w.join();

  const spanring::ClientCounters c = spanring::counters();
  std::printf("attempted=%" PRIu64 " written=%" PRIu64 " dropped_full=%" PRIu64 " dropped_no_ring=%" PRIu64 "\n",
              attempted.load(), c.spans_written, c.spans_dropped_full, c.spans_dropped_no_ring);
  std::fflush(stdout);
  if (hold) {
    while (::read(STDIN_FILENO, &go, 1) > 0) {
    }
  }
  spanring::shutdown();
  return 0;
}
