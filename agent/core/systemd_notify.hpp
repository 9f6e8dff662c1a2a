// systemd's notify protocol without libsystemd (SPEC §8.1): one datagram per message to
// $NOTIFY_SOCKET. A no-op when the agent is not run by systemd.
#pragma once

#include <chrono>
#include <string>

namespace spanring::agent {

// Sends `state` (e.g. "READY=1\nSTATUS=draining 3 segments"). Returns false when not
// supervised or on error (never fatal).
bool sd_notify(const std::string& state);

// The watchdog interval to ping at (WATCHDOG_USEC / 2), or zero when no watchdog is set for
// this process (WATCHDOG_PID unset or ours).
std::chrono::microseconds sd_watchdog_interval();

}  // namespace spanring::agent
