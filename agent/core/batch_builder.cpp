#include "agent/core/batch_builder.hpp"

#include "agent/core/otlp_convert.hpp"
#include "agent/sampling/sampler.hpp"

#include <utility>

namespace spanring::agent {

namespace {

ExportBatch new_batch() {
  google::protobuf::ArenaOptions o;
  o.start_block_size = 256 << 10;  // a 512-span batch fits a few blocks
  o.max_block_size = 1 << 20;
  return ExportBatch(std::make_unique<google::protobuf::Arena>(o));
}

}  // namespace

BatchBuilder::BatchBuilder(std::size_t max_spans) : max_spans_(max_spans) {}

BatchBuilder::~BatchBuilder() = default;

Admission BatchBuilder::add(BatchOrigin& origin, const shm::SpanView& span) {
  SamplingDecision decision;
  if (sampler_) {
    decision = sampler_->decide(origin.sampling_slot, span);
    if (!decision.keep) return Admission{false, decision.reason};
  }
  if (spans_ == 0) {
    opened_ = Clock::now();
    if (!batch_) batch_.emplace(new_batch());
  }
  if (origin.batch != id_) {
    auto* rs = batch_->request().add_resource_spans();
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
  ExportBatch b = std::move(*batch_);
  batch_.reset();
  b.id = id_;
  b.spans = spans_;
  services = std::move(services_);
  services_.clear();
  ++id_;
  spans_ = 0;
  return b;
}

}  // namespace spanring::agent
