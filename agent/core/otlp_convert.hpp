// The OTLP Resource of an engine process, and the names the agent reports itself by. (Spans are
// written straight to wire format: otlp_encode.hpp.)
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "opentelemetry/proto/resource/v1/resource.pb.h"

namespace spanring::agent {

inline constexpr char kSdkName[] = "spanring";
inline constexpr char kSdkVersion[] = "0.1.0";
// Boolean attribute, true on a span whose start and end straddle a TSC jump (shm/clock.hpp).
inline constexpr char kClockDiscontinuityKey[] = "spanring.clock.discontinuity";

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
