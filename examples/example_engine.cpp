// A tiny engine: serves a few "requests", each a small trace, then exits leaving its segment
// for a reader (spanring-dump, or the agent) to drain.
//   spanring-example-engine [requests] [service]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "spanring/tracer.hpp"

int main(int argc, char** argv) {
  const int requests = argc > 1 ? std::atoi(argv[1]) : 3;
  spanring::Options options;
  options.service_name = argc > 2 ? argv[2] : "example-engine";
  const spanring::InitStatus st = spanring::init(options);
  if (!st.ok()) {
    std::fprintf(stderr, "%s (continuing without tracing)\n", st.message.c_str());
  } else {
    std::printf("tracing into /dev/shm/%s\n", st.segment.c_str());
  }

  static const spanring::Key kModel("gen_ai.request.model");
  static const spanring::Key kHit("cache.hit");
  static const spanring::Key kLayer("cache.layer");
  for (int i = 0; i < requests; ++i) {
    spanring::Span request("llm_inference", spanring::SpanKind::kServer);
    spanring::Scope scope(request);
    request.set_attribute(kModel, "llama-3-8b");
    for (int layer = 0; layer < 2; ++layer) {
      spanring::Span lookup("cache_lookup");
      lookup.set_attribute(kLayer, layer);
      lookup.set_attribute(kHit, layer == 0);
    }
    char trace[32], span[16];
    if (spanring::current_ids_hex(trace, span))
      std::printf("request %d trace_id=%.32s span_id=%.16s\n", i, trace, span);
  }
  const spanring::ClientCounters c = spanring::counters();
  std::printf("spans written=%llu dropped_full=%llu dropped_no_ring=%llu\n",
              static_cast<unsigned long long>(c.spans_written), static_cast<unsigned long long>(c.spans_dropped_full),
              static_cast<unsigned long long>(c.spans_dropped_no_ring));
  spanring::shutdown();
  return 0;
}
