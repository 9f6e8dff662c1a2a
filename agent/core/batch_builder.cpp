#include "core/batch_builder.hpp"

#include "core/otlp_convert.hpp"
#include "sampling/sampler.hpp"

namespace spanring::agent {

BatchBuilder::BatchBuilder(std::size_t max_spans) : max_spans_(max_spans) { new_request(); }

BatchBuilder::~BatchBuilder() = default;

void BatchBuilder::new_request() {
  request_ = nullptr;
  if (!arena_) {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 256 << 10;  // a 512-span batch fits a few blocks
    o.max_block_size = 1 << 20;
    arena_ = std::make_unique<google::protobuf::Arena>(o);
  } else {
    arena_->Reset();
  }
  request_ = google::protobuf::Arena::CreateMessage<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>(
      arena_.get());
}

Admission BatchBuilder::add(BatchOrigin& origin, const shm::SpanView& span) {
  SamplingDecision decision;
  if (sampler_) {
    decision = sampler_->decide(origin.sampling_slot, span);
    if (!decision.keep) return Admission{false, decision.reason};
  }
  if (spans_ == 0) opened_ = Clock::now();
  if (origin.batch != id_) {
    auto* rs = request_->add_resource_spans();
    *rs->mutable_resource() = origin.resource;
    origin.scope = rs->add_scope_spans();
    origin.scope->mutable_scope()->set_name(kSdkName);
    origin.scope->mutable_scope()->set_version(kSdkVersion);
    origin.batch = id_;
  }
  auto* out = origin.scope->add_spans();
  if (sampler_) {
    const SamplingAnnotation a = annotate(decision, is_local_root(span), span.trace_state, trace_state_scratch_);
    to_otlp(span, *out, &a, trace_state_scratch_);
  } else {
    to_otlp(span, *out);
  }
  ++spans_;
  if (services_.empty() || services_.back().service != origin.service) services_.push_back(ServiceSpans{origin.service, 0});
  ++services_.back().spans;
  return Admission{};
}

ExportBatch BatchBuilder::close(std::vector<ServiceSpans>& services) {
  ExportBatch b;
  b.id = id_;
  b.spans = spans_;
  request_->SerializeToString(&b.body);
  new_request();
  services = std::move(services_);
  services_.clear();
  ++id_;
  spans_ = 0;
  return b;
}

}  // namespace spanring::agent
