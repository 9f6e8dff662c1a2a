#include "agent/export/export.hpp"
#include "agent/export/url.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

namespace spanring::agent {
namespace {

// RFC 9110 token: the only characters allowed in a header name.
bool is_header_name(std::string_view name) {
  constexpr std::string_view kTokenSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || kTokenSymbols.find(c) != std::string_view::npos;
  });
}

// No CR, LF or NUL: a value must not be able to start a new header line.
bool is_header_value(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Headers the exporter sets itself from the request; a custom value would corrupt the request.
bool is_reserved_header(std::string_view name) {
  static constexpr std::array<std::string_view, 6> kReserved = {
      "content-type", "content-encoding", "content-length", "host", "transfer-encoding", "connection"};
  return std::any_of(kReserved.begin(), kReserved.end(), [&](std::string_view r) {
    return r.size() == name.size() &&
           std::equal(r.begin(), r.end(), name.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  });
}

}  // namespace

std::vector<std::string> HttpExportConfig::validate() const {
  std::vector<std::string> errors;
  const auto url = parse_http_url(endpoint);
  if (const auto* error = std::get_if<std::string>(&url)) {
    errors.push_back("endpoint: " + *error + ", got \"" + endpoint + "\"");
  }
  for (const auto& [name, value] : headers) {
    if (!is_header_name(name)) {
      errors.push_back("headers: invalid header name \"" + name + "\"");
    } else if (is_reserved_header(name)) {
      errors.push_back("headers: \"" + name + "\" is set by the exporter and cannot be overridden");
    } else if (!is_header_value(value)) {
      errors.push_back("headers: value of \"" + name + "\" contains CR, LF or NUL");
    }
  }
  if (timeout.count() < 0) errors.push_back("timeout: must be >= 0 (0 = no limit)");
  if (initial_backoff.count() <= 0) errors.push_back("initial_backoff: must be > 0");
  if (max_backoff < initial_backoff) errors.push_back("max_backoff: must be >= initial_backoff");
  if (max_elapsed.count() < 0) errors.push_back("max_elapsed: must be >= 0 (0 = no limit)");
  if (queue_max_batches == 0) errors.push_back("queue_max_batches: must be > 0");
  if (queue_max_spans == 0) errors.push_back("queue_max_spans: must be > 0");
  if (queue_max_bytes == 0) errors.push_back("queue_max_bytes: must be > 0");
  if (max_request_bytes == 0) errors.push_back("max_request_bytes: must be > 0");
  if (!is_header_value(user_agent)) errors.push_back("user_agent: contains CR, LF or NUL");
  return errors;
}

const char* to_string(ExportOutcome outcome) {
  switch (outcome) {
    case ExportOutcome::kAccepted: return "accepted";
    case ExportOutcome::kPartiallyRejected: return "partially_rejected";
    case ExportOutcome::kFailedPermanent: return "failed_permanent";
    case ExportOutcome::kFailedRetriesExhausted: return "failed_retries_exhausted";
    case ExportOutcome::kDroppedQueueFull: return "dropped_queue_full";
    case ExportOutcome::kDroppedTooLarge: return "dropped_too_large";
    case ExportOutcome::kDroppedShutdown: return "dropped_shutdown";
  }
  return "unknown";
}

}  // namespace spanring::agent
