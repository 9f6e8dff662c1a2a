// Classification of an OTLP/HTTP answer (SPEC §2.2) into a SendResult. Pure functions, no I/O.
#pragma once

#include "agent/export/sender.hpp"

#include <chrono>
#include <optional>
#include <string_view>

namespace spanring::agent {

// Retry-After value: delay-seconds, or an HTTP-date in any of the three forms of RFC 9110 §5.6.7
// (IMF-fixdate, obsolete RFC 850, asctime). A date in the past means no delay. nullopt when the
// value is neither. Huge delays are clamped to 10^9 s so the arithmetic cannot overflow; the
// retry layer's max_elapsed turns them into a give-up anyway.
std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view value,
                                                          std::chrono::system_clock::time_point now);

// 2xx -> kOk (partial_success decoded from a protobuf or, for application/json, an OTLP/JSON body; an undecodable body is still a
// success, with a note in `message`); 429/502/503/504 -> kRetryable, or kThrottled when a valid
// Retry-After is present; anything else -> kPermanent with the google.rpc.Status message of the
// body (or a printable snippet of a non-protobuf body) in `message`.
SendResult classify_response(int status, std::string_view content_type, std::string_view body,
                             std::string_view retry_after, std::chrono::system_clock::time_point now);

}  // namespace spanring::agent
