// Batch building: decode → sample → convert, one span at a time, into the open OTLP request.
//
// The reader decodes a record into a shm::SpanView and hands it to add(); the sampler decides;
// a kept span is converted (to_otlp, which also writes what the decision adds: th in the
// tracestate, sampler.* tags on local roots) into its source's ScopeSpans of the open batch.
// close() hands the batch, in its own arena, to the exporter and opens the next one in a new arena.
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/arena.h>

#include "agent/core/accounting.hpp"
#include "agent/core/ledger.hpp"
#include "agent/export/exporter.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

class Sampler;

// Where one source's spans go: its service, its Resource, its sampler slot, and its
// ResourceSpans in the open batch (made on its first span there).
struct BatchOrigin {
  std::size_t service = 0;
  std::size_t sampling_slot = 0;  // Sampler::service_slot, when sampling is on
  opentelemetry::proto::resource::v1::Resource resource;
  std::uint64_t batch = 0;  // the batch `scope` belongs to (0: none yet)
  opentelemetry::proto::trace::v1::ScopeSpans* scope = nullptr;
};

class BatchBuilder {
 public:
  using Clock = std::chrono::steady_clock;

  explicit BatchBuilder(std::size_t max_spans);
  ~BatchBuilder();

  // Not owned; null: keep every span.
  void set_sampler(Sampler* sampler) noexcept { sampler_ = sampler; }

  // Decides and, if kept, converts `span` into the open batch.
  Admission add(BatchOrigin& origin, const shm::SpanView& span);

  std::uint64_t spans() const noexcept { return spans_; }
  // Spans the open batch may still take (readers never read more records than this).
  std::uint64_t room() const noexcept { return max_spans_ - spans_; }
  bool full() const noexcept { return spans_ >= max_spans_; }
  Clock::time_point opened() const noexcept { return opened_; }
  // Whether `origin` has spans in the open batch.
  bool holds(const BatchOrigin& origin) const noexcept { return origin.batch == id_; }
  // The open batch's id (non-zero).
  BatchId id() const noexcept { return id_; }

  // Closes the open batch (spans() > 0): the batch, with its request and the arena it lives in,
  // is returned; its spans by service are moved to `services`; opens the next.
  ExportBatch close(std::vector<ServiceSpans>& services);

 private:
  std::size_t max_spans_;
  Sampler* sampler_ = nullptr;
  std::string trace_state_scratch_;  // reused by sampling annotations
  // The open batch, built in an arena of its own: a span's messages and strings cost a pointer
  // bump, not a malloc/free pair (half of the agent's time went to the allocator when the
  // request was reused instead). The arena leaves with the batch, so an exporter may keep the
  // batch as long as it needs. Each batch gets a new arena, made at its first span: by then the
  // previous batch was usually handed on and freed, so the new arena's blocks reuse its memory.
  std::optional<ExportBatch> batch_;
  BatchId id_ = 1;
  std::uint64_t spans_ = 0;
  Clock::time_point opened_{};
  std::vector<ServiceSpans> services_;
};

}  // namespace spanring::agent
