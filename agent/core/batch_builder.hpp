// Batch building: decode → sample → encode, one span at a time, into the open OTLP request.
//
// The reader decodes a record into a shm::SpanView and hands it to add(); the sampler decides;
// a kept span is written as OTLP wire format (encode_span, which also writes what the decision
// adds: th in the tracestate, sampler.* tags on local roots) to the end of its source's bytes
// in the open batch. close() wraps each source's spans in its ResourceSpans, in the order the
// sources first appeared, and hands the request's bytes to the exporter. No protobuf message
// exists on the way: a span costs its encoding and one copy into the request body.
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/accounting.hpp"
#include "agent/core/ledger.hpp"
#include "agent/core/otlp_encode.hpp"
#include "agent/export/exporter.hpp"
#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

class Sampler;

// Where one source's spans go: its service, its Resource, its sampler slot, and its
// ResourceSpans in the open batch (made on its first span there).
struct BatchOrigin {
  std::size_t service = 0;
  std::size_t sampling_slot = 0;  // Sampler::service_slot, when sampling is on
  opentelemetry::proto::resource::v1::Resource resource;  // set once, before the first span
  std::string resource_bytes;  // `resource` serialized, on its first span (it never changes)
  std::uint64_t batch = 0;  // the batch `group` belongs to (0: none yet)
  std::size_t group = 0;    // index of its spans in the open batch
};

class BatchBuilder {
 public:
  using Clock = std::chrono::steady_clock;

  // Batch ids: first_id, first_id + id_stride, … (several builders number apart).
  explicit BatchBuilder(std::size_t max_spans, BatchId first_id = 1, BatchId id_stride = 1);
  ~BatchBuilder();

  // Not owned; null: keep every span. `mu`, when the sampler is shared between builders on
  // several threads, is held around each decision.
  void set_sampler(Sampler* sampler, std::mutex* mu = nullptr) noexcept {
    sampler_ = sampler;
    sampler_mu_ = mu;
  }

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

  // Closes the open batch (spans() > 0): the batch, with the serialized request, is returned;
  // its spans by service are moved to `services`; opens the next.
  ExportBatch close(std::vector<ServiceSpans>& services);

 private:
  std::size_t max_spans_;
  Sampler* sampler_ = nullptr;
  std::mutex* sampler_mu_ = nullptr;
  BatchId id_stride_;
  std::string trace_state_scratch_;  // reused by sampling annotations
  // One source's part of the open batch: its Resource (copied: the source may go before the
  // batch closes) and its encoded spans. Groups and their buffers are reused batch after
  // batch, so the steady state allocates only each batch's body.
  struct Group {
    std::string resource_bytes;
    WireBuffer spans;
  };
  std::vector<Group> groups_;
  std::size_t group_count_ = 0;  // groups_ in use by the open batch
  BatchId id_ = 1;
  std::uint64_t spans_ = 0;
  Clock::time_point opened_{};
  std::vector<ServiceSpans> services_;
};

}  // namespace spanring::agent
