// THE HOT PATH. Everything a span costs in steady state is in this file and in the two it
// works with: spanring/shm/span_codec.hpp (the encoder: the bytes of ids, names, attributes)
// and the inline Span methods at the end of spanring/tracer.hpp that call both.
//
// A span is built in its own fixed-size buffer (the Span object, on the caller's stack) and,
// when it ends, copied into the calling thread's ring:
//
//   start:  one timestamp (rdtsc), two or three RNG steps for ids, ~70 bytes of stores
//   attrs:  a bounds check and 4–20 bytes of stores each
//   end:    one timestamp, one thread-local load, one relaxed atomic load (epoch),
//           memcpy of the span into ⌈bytes/120⌉ records, one relaxed store
//           (spans_written), one release store (head)
//   no allocation, no lock, no syscall, no locked instruction.
//
// Anything unusual — no ring yet, tracer re-initialised or forked, ring full — is one
// [[unlikely]] branch into a single out-of-line [[gnu::cold]] function in client/src/.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "spanring/shm/abi.hpp"

namespace spanring::detail {

// Per-thread producer state. Plain fields: only the owning thread touches them.
struct ThreadRing {
  shm::RingHeader* ring = nullptr;  // null: no ring (tracer off, none free, or after fork)
  shm::Record* records = nullptr;   // this ring's record array
  std::uint64_t head = 0;           // our copy of ring->head (we are its only writer)
  std::uint64_t cached_tail = 0;    // last tail we loaded; refreshed only when full
  std::uint64_t written = 0;        // our copy of ring->spans_written
  std::uint32_t mask = 0;           // ring_capacity - 1
  std::uint32_t epoch = 0;          // g_epoch this state was resolved for (0 = never)
  bool active = false;              // tracer enabled in this process: spans are recorded
                                    // (and, without a ring, counted as dropped)
  std::uint32_t tid = 0;            // gettid(), cached by the slow path
  std::uint32_t pid = 0;            // getpid() when resolved: detects a forked child
  shm::SegmentHeader* header = nullptr;  // segment of `epoch` while active: ringless drops
                                        // are counted here without the process mutex
  std::uint32_t drops_since_claim = 0;  // ringless spans since the last claim attempt
  std::uint64_t release_generation = 0;  // header's ring_release_generation when we failed
  std::uint64_t rng = 0;            // id generator state (wyrand), seeded from getrandom()
};

// Bumped (release) by init, shutdown and in a forked child. The hot path compares it with a
// relaxed load: a stale read only delays noticing a re-init by a few spans, and the old
// segment stays mapped (see Mapping::leak), so writing to it meanwhile is harmless. The slow
// path re-reads it with acquire before trusting the new state.
inline std::atomic<std::uint32_t> g_epoch{0};
// Clock choice, fixed at init: true = rdtsc, false = CLOCK_MONOTONIC.
inline std::atomic<bool> g_use_tsc{false};

// TLS model of the hot path's thread-locals (t_ring, t_current). initial-exec for the static
// library linked into the engine: no call on access. The shared library libspanring.so
// (client/CMakeLists.txt) is built with "global-dynamic" and TLSDESC (-mtls-dialect=gnu2):
// it is loaded late with dlopen (Python, other FFIs), where an initial-exec variable needs
// room in glibc's small static-TLS surplus, which other dlopen'ed libraries may have used up
// (dlopen then fails: "cannot allocate memory in static TLS block"). TLSDESC never fails that
// way and costs one indirect call per access (bench: BM_SharedLibSpanThreeAttributes).
#ifndef SPANRING_TLS_MODEL
#define SPANRING_TLS_MODEL "initial-exec"
#endif
inline thread_local ThreadRing t_ring [[gnu::tls_model(SPANRING_TLS_MODEL)]];

// Cold path (client/src/tracer.cpp): claims or reclaims a ring, reseeds after fork.
[[gnu::cold]] void resolve_thread_ring(ThreadRing& t) noexcept;
// Cold path: ring full after re-reading tail; counts the drop.
[[gnu::cold]] void count_ring_full(ThreadRing& t) noexcept;
// Cold path: thread has no ring; counts the drop (lock-free) and may retry a claim (only if
// the process mutex is free: it never waits).
[[gnu::cold]] void count_no_ring(ThreadRing& t) noexcept;
// Cold path: CLOCK_MONOTONIC in ns.
std::uint64_t monotonic_ns() noexcept;

inline ThreadRing& thread_ring() noexcept {
  ThreadRing& t = t_ring;
  if (t.epoch != g_epoch.load(std::memory_order_relaxed)) [[unlikely]]
    resolve_thread_ring(t);
  return t;
}

inline std::uint64_t now() noexcept {
  // rdtsc without a fence: span boundaries need no ordering against surrounding loads, and
  // the fence would double the cost. The invariant TSC is checked once at init.
  if (g_use_tsc.load(std::memory_order_relaxed)) [[likely]]
    return __rdtsc();
  return monotonic_ns();
}

// wyrand: one add and one 64×64→128 multiply; passes BigCrush, and is per-thread so it needs
// no synchronisation. Seeded from the OS per thread (and again in a forked child).
inline std::uint64_t next_random(ThreadRing& t) noexcept {
  t.rng += 0xa0761d6478bd642full;
  __extension__ typedef unsigned __int128 u128;
  const u128 m = static_cast<u128>(t.rng) * (t.rng ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
}

// Copies a span's encoded bytes into the ring as ⌈size/payload⌉ contiguous records and
// publishes them. `size` ≤ kMaxSpanBytes by construction of the span buffer.
inline void commit_span(ThreadRing& t, const std::uint8_t* data, std::uint32_t size) noexcept {
  if (t.ring == nullptr) [[unlikely]] {
    count_no_ring(t);
    return;
  }
  const std::uint32_t n = (size + shm::kRecordPayload - 1) / shm::kRecordPayload;
  if (t.head + n - t.cached_tail > t.mask + 1ull) [[unlikely]] {
    // acquire ② pairs with the reader's release store of tail: its reads of the slots we
    // are about to reuse happened before.
    t.cached_tail = t.ring->tail.load(std::memory_order_acquire);
    if (t.head + n - t.cached_tail > t.mask + 1ull) {
      count_ring_full(t);
      return;
    }
  }
  std::uint32_t left = size;
  for (std::uint32_t i = 0; i < n; ++i) {
    shm::Record& r = t.records[(t.head + i) & t.mask];
    const std::uint32_t len = left < shm::kRecordPayload ? left : shm::kRecordPayload;
    shm::RecordHeader h{};
    h.type = i == 0 ? shm::kRecordSpan : shm::kRecordContinuation;
    h.index = static_cast<std::uint8_t>(i);
    h.count = static_cast<std::uint8_t>(n);
    h.payload_len = static_cast<std::uint16_t>(len);
    std::memcpy(&r.header, &h, sizeof h);
    std::memcpy(r.payload, data + i * shm::kRecordPayload, len);
    left -= len;
  }
  t.head += n;
  // Single writer: a relaxed store of our own running count, not a locked fetch_add. It comes
  // before the head store so the release below publishes it too: a reader that sees this
  // span through head also sees it counted in spans_written.
  t.ring->spans_written.store(++t.written, std::memory_order_relaxed);
  // release ① pairs with the reader's acquire load of head: the record bytes and the count
  // above are visible before the new head is.
  t.ring->head.store(t.head, std::memory_order_release);
}

}  // namespace spanring::detail
