// The standard process_* metrics every Prometheus client exports (the Go and Python clients'
// process collector), read from /proc/self at scrape time: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds,
// process_open_fds, process_max_fds. Only /proc/self is read, which the unit's ProcSubset=pid
// leaves visible. A value that cannot be read is left out (its series stays at its last value).
#pragma once

#include "agent/metrics/metrics.hpp"

namespace spanring::agent {

void report_process_metrics(Registry& registry);

}  // namespace spanring::agent
