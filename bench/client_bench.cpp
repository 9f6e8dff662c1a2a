// Client hot-path benchmarks (names are checked from outside: keep them).
//
//   build/bench/spanring-bench-client --benchmark_repetitions=10
//       --benchmark_report_aggregates_only=true --benchmark_out_format=json --benchmark_out=client.json
//
// Every span here is a child of a live parent with three attributes (bool, int, short string)
// unless the name says otherwise. "Drained" runs a reader thread that decodes and commits
// everything, as the agent does; the plain variants stand in for a consumer that keeps up by
// moving the ring's tail from the producer thread every 1024 spans (no cross-core traffic),
// so they measure the producer's own cost rather than the full-ring drop path.
// Counters: allocs/span (global operator new is counted) and drops/span must both be 0.
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "alloc_counter.hpp"
#include "spanring/shm/reader.hpp"
#include "spanring/spanring.h"
#include "spanring/tracer.hpp"

namespace {

struct Tracer {
  std::string segment;
  Tracer() {
    spanring::Options o;
    o.service_name = "bench-client-" + std::to_string(::getpid());
    o.rings = 8;
    o.shm_size = 64ull << 20;
    const spanring::InitStatus st = spanring::init(o);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message.c_str());
      std::abort();
    }
    segment = st.segment;
  }
  ~Tracer() {
    spanring::shutdown();
    spanring::shm::remove_segment(segment);
  }
};

Tracer& tracer() {
  static Tracer t;
  return t;
}

const spanring::Key kParent("bench.parent");
const spanring::Key kChild("bench.child");
const spanring::Key kHit("cache.hit");
const spanring::Key kLayer("cache.layer");
const spanring::Key kTier("cache.tier");

// Stands in for a consumer that keeps up: publish tail = head from the producer thread.
inline void consume_own_ring() {
  spanring::detail::ThreadRing& t = spanring::detail::t_ring;
  if (t.ring) t.ring->tail.store(t.head, std::memory_order_release);
}

void report(benchmark::State& state, std::uint64_t allocs_before, const spanring::ClientCounters& before) {
  const spanring::ClientCounters after = spanring::counters();
  const double n = double(state.iterations());
  state.counters["allocs/span"] = double(spanring::bench::allocations() - allocs_before) / n;
  state.counters["drops/span"] =
      double((after.spans_dropped_full - before.spans_dropped_full) + (after.spans_dropped_no_ring - before.spans_dropped_no_ring)) / n;
  state.SetItemsProcessed(state.iterations());
  // The clock the spans recorded (1 = rdtsc, 0 = CLOCK_MONOTONIC) and, beside it, the kernel's
  // clocksource, which no longer decides it (shm/clock.hpp): compare runs on different hosts.
  state.counters["tsc"] = spanring::detail::using_tsc() ? 1 : 0;
  const std::string kernel = spanring::detail::kernel_clocksource();
  state.SetLabel(std::string("clock=") + (spanring::detail::using_tsc() ? "tsc" : "monotonic") +
                 " kernel_clocksource=" + (kernel.empty() ? "unknown" : kernel));
}

void BM_SpanThreeAttributes(benchmark::State& state) {
  tracer();
  spanring::Span parent(kParent, spanring::Span::NewRoot{}, spanring::SpanKind::kServer);
  const auto before = spanring::counters();
  const std::uint64_t allocs = spanring::bench::allocations();
  std::int64_t i = 0;
  for (auto _ : state) {
    spanring::Span span(kChild, parent);
    span.set_attribute(kHit, true);
    span.set_attribute(kLayer, i);
    span.set_attribute(kTier, "hot");
    span.end();
    if ((++i & 1023) == 0) consume_own_ring();
  }
  if (state.thread_index() == 0) report(state, allocs, before);
}
BENCHMARK(BM_SpanThreeAttributes)->Threads(1)->Threads(2);

// The same span through the C API (what FFI engines pay): caller-owned storage, keys as
// spanring_key values, the parent passed explicitly.
void BM_CSpanThreeAttributes(benchmark::State& state) {
  tracer();
  const spanring_key parent_name = spanring_intern("bench.parent", 12);
  const spanring_key child_name = spanring_intern("bench.child", 11);
  const spanring_key hit = spanring_intern("cache.hit", 9);
  const spanring_key layer = spanring_intern("cache.layer", 11);
  const spanring_key tier = spanring_intern("cache.tier", 10);
  spanring_span parent;
  spanring_span_start(&parent, parent_name, SPANRING_KIND_SERVER, nullptr);
  const auto before = spanring::counters();
  const std::uint64_t allocs = spanring::bench::allocations();
  std::int64_t i = 0;
  for (auto _ : state) {
    spanring_span span;
    spanring_span_start(&span, child_name, SPANRING_KIND_INTERNAL, &parent);
    spanring_span_set_bool(&span, hit, 1);
    spanring_span_set_int(&span, layer, i);
    spanring_span_set_string(&span, tier, "hot", 3);
    spanring_span_end(&span);
    if ((++i & 1023) == 0) consume_own_ring();
  }
  report(state, allocs, before);
  spanring_span_end(&parent);
}
BENCHMARK(BM_CSpanThreeAttributes);

// The same C API through libspanring.so loaded with dlopen (RTLD_LOCAL), as Python and other
// FFIs load it: calls go through function pointers, and the library's thread-locals use
// TLSDESC instead of the static library's initial-exec (client/CMakeLists.txt). The library
// has its own tracer and segment; this thread moves that segment's tails itself every 1024
// spans, as consume_own_ring does for the static library.
struct SharedLib {
  decltype(&spanring_span_start) start = nullptr;
  decltype(&spanring_span_set_bool) set_bool = nullptr;
  decltype(&spanring_span_set_int) set_int = nullptr;
  decltype(&spanring_span_set_string) set_string = nullptr;
  decltype(&spanring_span_end) end = nullptr;
  decltype(&spanring_intern) intern = nullptr;
  decltype(&spanring_shutdown) shutdown = nullptr;
  std::string segment;
  spanring::shm::SegmentReader reader;
  template <class F>
  static F sym(void* lib, const char* name) {
    void* f = dlsym(lib, name);
    if (f == nullptr) {
      std::fprintf(stderr, "%s: %s\n", name, dlerror());
      std::abort();
    }
    return reinterpret_cast<F>(f);
  }
  SharedLib() {
    // SPANRING_BENCH_SHARED_LIB: another build of the library to compare (e.g. another TLS model).
    const char* path = std::getenv("SPANRING_BENCH_SHARED_LIB");
    void* lib = dlopen(path != nullptr ? path : SPANRING_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      std::fprintf(stderr, "%s\n", dlerror());
      std::abort();
    }
    start = sym<decltype(start)>(lib, "spanring_span_start");
    set_bool = sym<decltype(set_bool)>(lib, "spanring_span_set_bool");
    set_int = sym<decltype(set_int)>(lib, "spanring_span_set_int");
    set_string = sym<decltype(set_string)>(lib, "spanring_span_set_string");
    end = sym<decltype(end)>(lib, "spanring_span_end");
    intern = sym<decltype(intern)>(lib, "spanring_intern");
    shutdown = sym<decltype(shutdown)>(lib, "spanring_shutdown");
    const std::string service = "bench-so-" + std::to_string(::getpid());
    spanring_options o{};
    o.service_name = service.c_str();
    o.rings = 8;
    o.shm_size = 64ull << 20;
    char err[256];
    if (sym<decltype(&spanring_init)>(lib, "spanring_init")(&o, err, sizeof err) != 0) {
      std::fprintf(stderr, "%s\n", err);
      std::abort();
    }
    segment = "spanring." + service + "." + std::to_string(::getpid());
    std::string message;
    if (reader.open(segment, message) != spanring::shm::SegmentError::kOk) {
      std::fprintf(stderr, "%s\n", message.c_str());
      std::abort();
    }
  }
  ~SharedLib() {
    shutdown();
    spanring::shm::remove_segment(segment);
  }
  void consume() {
    for (std::uint32_t r = 0; r < reader.ring_count(); ++r) reader.commit(r, reader.head(r));
  }
};

SharedLib& shared_lib() {
  static SharedLib lib;
  return lib;
}

void BM_SharedLibSpanThreeAttributes(benchmark::State& state) {
  SharedLib& so = shared_lib();
  const spanring_key parent_name = so.intern("bench.parent", 12);
  const spanring_key child_name = so.intern("bench.child", 11);
  const spanring_key hit = so.intern("cache.hit", 9);
  const spanring_key layer = so.intern("cache.layer", 11);
  const spanring_key tier = so.intern("cache.tier", 10);
  spanring_span parent;
  so.start(&parent, parent_name, SPANRING_KIND_SERVER, nullptr);
  const std::uint64_t dropped = so.reader.spans_dropped_full() + so.reader.spans_dropped_no_ring();
  const std::uint64_t allocs = spanring::bench::allocations();
  std::int64_t i = 0;
  for (auto _ : state) {
    spanring_span span;
    so.start(&span, child_name, SPANRING_KIND_INTERNAL, &parent);
    so.set_bool(&span, hit, 1);
    so.set_int(&span, layer, i);
    so.set_string(&span, tier, "hot", 3);
    so.end(&span);
    if ((++i & 1023) == 0) so.consume();
  }
  const double n = double(state.iterations());
  state.counters["allocs/span"] = double(spanring::bench::allocations() - allocs) / n;
  state.counters["drops/span"] =
      double(so.reader.spans_dropped_full() + so.reader.spans_dropped_no_ring() - dropped) / n;
  state.SetItemsProcessed(state.iterations());
  so.end(&parent);
}
BENCHMARK(BM_SharedLibSpanThreeAttributes);

void BM_SpanEmpty(benchmark::State& state) {
  tracer();
  spanring::Span parent(kParent, spanring::Span::NewRoot{});
  const auto before = spanring::counters();
  const std::uint64_t allocs = spanring::bench::allocations();
  std::int64_t i = 0;
  for (auto _ : state) {
    spanring::Span span(kChild, parent);
    span.end();
    if ((++i & 1023) == 0) consume_own_ring();
  }
  report(state, allocs, before);
}
BENCHMARK(BM_SpanEmpty);

// A reader thread drains the segment concurrently, decoding every span, as the agent does.
void BM_SpanThreeAttributesDrained(benchmark::State& state) {
  Tracer& tr = tracer();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> read{0};
  std::thread reader([&] {
    spanring::shm::SegmentReader r;
    std::string message;
    if (r.open(tr.segment, message) != spanring::shm::SegmentError::kOk) std::abort();
    while (!stop.load(std::memory_order_relaxed)) {
      for (std::uint32_t ring = 0; ring < r.ring_count(); ++ring) {
        const std::uint64_t pos = r.read(ring, r.tail(ring), 4096, [&](const spanring::shm::SpanView&) {
          read.fetch_add(1, std::memory_order_relaxed);
        });
        r.commit(ring, pos);
      }
    }
  });
  spanring::Span parent(kParent, spanring::Span::NewRoot{}, spanring::SpanKind::kServer);
  const auto before = spanring::counters();
  const std::uint64_t allocs = spanring::bench::allocations();
  std::int64_t i = 0;
  for (auto _ : state) {
    spanring::Span span(kChild, parent);
    span.set_attribute(kHit, true);
    span.set_attribute(kLayer, i++);
    span.set_attribute(kTier, "hot");
    span.end();
  }
  report(state, allocs, before);
  stop = true;
  reader.join();
  state.counters["read/span"] = double(read.load()) / double(state.iterations());
}
BENCHMARK(BM_SpanThreeAttributesDrained)->UseRealTime();

void BM_TraceparentFormat(benchmark::State& state) {
  spanring::SpanContext ctx;
  spanring::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ctx);
  char out[spanring::kTraceparentLength];
  for (auto _ : state) {
    spanring::format_traceparent(ctx, out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_TraceparentFormat);

void BM_TraceparentParse(benchmark::State& state) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  spanring::SpanContext ctx;
  for (auto _ : state) {
    bool ok = spanring::parse_traceparent(header, ctx);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(ctx.trace_id);
  }
}
BENCHMARK(BM_TraceparentParse);

}  // namespace

BENCHMARK_MAIN();
