#include "agent/core/batch_builder.hpp"

#include "agent/core/otlp_convert.hpp"
#include "agent/sampling/sampler.hpp"
#include "opentelemetry/proto/common/v1/common.pb.h"

#include <cstring>
#include <utility>

namespace spanring::agent {

namespace {

// ResourceSpans.resource, .scope_spans; ScopeSpans.scope (ScopeSpans.spans is encode_span's);
// ExportTraceServiceRequest.resource_spans.
constexpr std::uint32_t kResource = 1, kScopeSpans = 2, kScope = 1, kResourceSpans = 1;

// InstrumentationScope{name: kSdkName, version: kSdkVersion}, the same for every source.
const std::string& scope_bytes() {
  static const std::string bytes = [] {
    opentelemetry::proto::common::v1::InstrumentationScope scope;
    scope.set_name(kSdkName);
    scope.set_version(kSdkVersion);
    return scope.SerializeAsString();
  }();
  return bytes;
}

}  // namespace

BatchBuilder::BatchBuilder(std::size_t max_spans, BatchId first_id, BatchId id_stride)
    : max_spans_(max_spans), id_stride_(id_stride), id_(first_id) {}

BatchBuilder::~BatchBuilder() = default;

Admission BatchBuilder::add(BatchOrigin& origin, const shm::SpanView& span) {
  SamplingDecision decision;
  if (sampler_) {
    if (sampler_mu_) {
      std::lock_guard lock(*sampler_mu_);
      decision = sampler_->decide(origin.sampling_slot, span);
    } else {
      decision = sampler_->decide(origin.sampling_slot, span);
    }
    if (!decision.keep) return Admission{false, decision.reason};
  }
  if (spans_ == 0) opened_ = Clock::now();
  if (origin.batch != id_) {
    if (origin.resource_bytes.empty()) origin.resource_bytes = origin.resource.SerializeAsString();
    if (group_count_ == groups_.size()) groups_.emplace_back();
    Group& g = groups_[group_count_];
    g.resource_bytes = origin.resource_bytes;
    g.spans.clear();
    origin.group = group_count_++;
    origin.batch = id_;
  }
  WireBuffer& out = groups_[origin.group].spans;
  if (sampler_) {
    const SamplingAnnotation a = annotate(decision, is_local_root(span), span.trace_state, trace_state_scratch_);
    encode_span(span, out, &a, trace_state_scratch_);
  } else {
    encode_span(span, out);
  }
  ++spans_;
  if (services_.empty() || services_.back().service != origin.service) services_.push_back(ServiceSpans{origin.service, 0});
  ++services_.back().spans;
  return Admission{};
}

ExportBatch BatchBuilder::close(std::vector<ServiceSpans>& services) {
  // ExportTraceServiceRequest { resource_spans: ResourceSpans { resource, scope_spans:
  // ScopeSpans { scope, spans... } } ... }, one ResourceSpans per source: sized exactly first
  // (the exporter's byte bounds are checked on this body), then written in one pass.
  const std::string& scope = scope_bytes();
  std::size_t total = 0;
  for (std::size_t i = 0; i < group_count_; ++i) {
    const Group& g = groups_[i];
    const std::size_t scope_spans = delimited_size(scope.size()) + g.spans.size();
    total += delimited_size(delimited_size(g.resource_bytes.size()) + delimited_size(scope_spans));
  }
  ExportBatch b;
  b.body.resize(total);
  auto* p = reinterpret_cast<std::uint8_t*>(b.body.data());
  for (std::size_t i = 0; i < group_count_; ++i) {
    const Group& g = groups_[i];
    const std::size_t scope_spans = delimited_size(scope.size()) + g.spans.size();
    p = write_delimited_header(p, kResourceSpans, delimited_size(g.resource_bytes.size()) + delimited_size(scope_spans));
    p = write_delimited(p, kResource, g.resource_bytes);
    p = write_delimited_header(p, kScopeSpans, scope_spans);
    p = write_delimited(p, kScope, scope);
    std::memcpy(p, g.spans.data(), g.spans.size());
    p += g.spans.size();
  }
  b.id = id_;
  b.spans = spans_;
  services = std::move(services_);
  services_.clear();
  group_count_ = 0;
  id_ += id_stride_;
  spans_ = 0;
  return b;
}

}  // namespace spanring::agent
