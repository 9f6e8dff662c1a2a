// Shared-memory spans → OTLP protobuf messages. One place encodes attributes for spans,
// events and links alike, and the Resource of an engine process.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "opentelemetry/proto/resource/v1/resource.pb.h"
#include "agent/sampling/sampler.hpp"
#include "opentelemetry/proto/trace/v1/trace.pb.h"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

inline constexpr char kSdkName[] = "spanring";
inline constexpr char kSdkVersion[] = "0.1.0";

// Fills `out` (which may be a reused message: every field is overwritten or cleared).
// `sampling`, for a span the agent's sampler kept (null without a sampler), adds what the
// decision changes: the tracestate (`sampled_trace_state`, when trace_state_changed) and the
// sampler.type / sampler.param attributes Jaeger's adaptive sampling reads (SPEC §7.d).
void to_otlp(const shm::SpanView& span, opentelemetry::proto::trace::v1::Span& out,
             const SamplingAnnotation* sampling = nullptr, std::string_view sampled_trace_state = {});

struct ProcessIdentity {
  std::string service_name;
  std::string host_name;
  std::uint32_t pid = 0;
  std::uint64_t start_time = 0;  // /proc/<pid>/stat starttime, ticks since boot
  std::vector<std::pair<std::string, std::string>> attributes;  // the engine's own
  std::int64_t user_id = -1;  // the segment file's owner (checked to be the producer's euid)
};

// service.name, service.instance.id (stable for the process: derived from host, pid and start
// time, so a restarted agent names the same process the same way), host.name, process.pid,
// telemetry.sdk.*, then the engine's attributes (which may override all but service.name),
// then process.user.id, which the engine cannot override: it is the agent's word for who fed
// the segment, so a service name claimed by another user's process is visible.
void make_resource(const ProcessIdentity& p, opentelemetry::proto::resource::v1::Resource& out);

// A UUID-formatted, stable id for (host, pid, start_time).
std::string instance_id(const ProcessIdentity& p);

}  // namespace spanring::agent
