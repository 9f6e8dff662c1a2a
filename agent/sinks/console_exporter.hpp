// Console exporter: prints each trace as a text waterfall, like a Jaeger timeline, for a quick
// look at what an engine records without running a backend.
//
//   trace 4bf92f3577b34da6a3ce929d0e0e4736  llm-server  3 spans  12.345 ms
//     llm_inference [server]  |########################################| 12.345 ms  gen_ai.request.model=llama-3-8b
//       cache_lookup          |##                                      |  0.120 ms  cache.hit=true cache.tier=hot
//         ssd_read            | #                                      |  0.050 ms
//
// One tree per trace: children under their parent, siblings by start time; the bar spans the
// trace's first start to its last end over 40 columns. Each line shows the span's service when it
// differs from the trace's, its kind unless internal, "ERROR: <status message>" for error spans,
// then its attributes and event names, cut to about 80 columns. Spans whose parent is not in the
// trace are printed at the top level. Span strings are printed with control characters and
// invalid UTF-8 replaced by '?', so span data cannot drive the terminal.
//
// Spans of one trace arrive over several batches, children before their parent (a span is
// exported when it ends). Spans are therefore buffered per trace and a trace is printed once its
// root has arrived and no span of it arrived for `hold`. The root is a span without parent, or
// one whose flags say its parent is remote (SPEC §1.6: an engine's request span usually continues
// a caller's trace). A trace whose root never comes is printed without it after `root_wait`.
// Spans arriving after their trace was printed form a new, rootless trace. Memory is bounded by
// `max_pending_spans`.
//
// Threading: every method must be called from the single thread that runs `io`; timers run on
// `io`. Results are posted to `io` in enqueue order, never delivered inside enqueue() or
// shutdown(), so on_result may call back into the exporter.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "agent/export/exporter.hpp"

namespace spanring::agent {

// A buffered trace about to be printed, as ConsoleOptions::keep sees it (views into the buffer,
// valid during the call).
struct TraceFacts {
  std::string_view trace_id;                // raw 16 bytes
  std::uint64_t duration_ns = 0;            // first start to last end
  bool has_error = false;                   // a span with status ERROR
  std::vector<std::string_view> services;   // each span's service (printable form), repeats kept
};

struct ConsoleOptions {
  std::FILE* out = stdout;  // not owned (nullptr = stdout); flushed after each burst of output
  // Waterfalls printed in total. After that, spans are no longer buffered, only counted, and a
  // line "(N more traces, M spans not shown)" is printed at most once per `hold` (N counts root
  // spans). 0 = print every trace.
  std::size_t max_traces = 5;
  // Quiet time after a trace's last span before it is printed (its root must have arrived); also
  // the minimum interval between summary lines. 0 prints on the next turn of the io_context.
  std::chrono::milliseconds hold{2000};
  // Quiet time after which a trace whose root has not arrived is printed anyway, marked
  // "(root missing)": the root was lost or sampled out, or the request is still running.
  std::chrono::milliseconds root_wait{30000};
  // Spans buffered across all unprinted traces (at least 1). A span that would exceed it first
  // forces out the trace whose last span is oldest: printed at once, marked "(incomplete:
  // pending-span limit)", or only counted once max_traces are printed. The summary line reports
  // how many traces were forced out.
  std::size_t max_pending_spans = 100000;
  // Which complete traces to print (spanringctl tail's --service, --min-duration, --errors);
  // a trace it refuses is discarded without counting against max_traces. Empty: all.
  std::function<bool(const TraceFacts&)> keep;
};

// enqueue() copies what it prints from the batch's request (the batch is not kept) and buffers it;
// its result is kAccepted (posted). It returns false only after shutdown().
// queued_spans()/queued_bytes() report the buffered spans and their approximate memory.
// shutdown() prints every buffered trace and the pending summary, then posts `done` (the deadline
// is not needed: nothing waits on I/O). Destroying the exporter drops undelivered results and
// buffered traces without printing them.
std::unique_ptr<Exporter> make_console_exporter(boost::asio::io_context& io, ResultCallback on_result,
                                                ConsoleOptions options = {});

}  // namespace spanring::agent
