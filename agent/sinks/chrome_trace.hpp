// Chrome / Perfetto trace-event JSON ("JSON Object Format": {"traceEvents": [...]}) from OTLP
// spans, so an engine's timeline opens offline in ui.perfetto.dev or chrome://tracing
// (`spanringctl dump --format chrome-json`).
//
// Each span is a complete event ("ph":"X", ts and dur in microseconds with nanosecond
// decimals, ts from the earliest span, whose unix time is otherData.origin_unix_nano) in the process of its resource's process.pid, named "<service> (pid N)" by a
// process_name metadata event. The format needs the events of one thread track to nest;
// spans of concurrent requests overlap without nesting, so each process's spans are packed
// onto as few tracks ("lanes") as keep every track properly nested. args carry trace_id,
// span_id, parent_span_id, the span's status and its attributes, so a span can be found in
// Jaeger from the timeline.
//
// Spans are kept until write(); at most `max_spans` (the rest are counted, not kept).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace spanring::agent {

class ChromeTraceBuilder {
 public:
  explicit ChromeTraceBuilder(std::size_t max_spans = 1000000) : max_spans_(max_spans) {}

  void add(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request);
  // The whole JSON document.
  std::string json() const;

  std::size_t spans() const noexcept { return spans_.size(); }
  std::uint64_t over_limit() const noexcept { return over_limit_; }  // spans not kept

 private:
  struct Event {
    std::uint32_t pid = 0;
    std::uint64_t start = 0, end = 0;  // unix ns
    std::string name;
    std::string service;
    std::string args;  // a JSON object's members, without braces
  };
  std::size_t max_spans_;
  std::vector<Event> spans_;
  std::vector<std::pair<std::uint32_t, std::string>> processes_;  // pid → service, first seen
  std::uint64_t over_limit_ = 0;
};

}  // namespace spanring::agent
