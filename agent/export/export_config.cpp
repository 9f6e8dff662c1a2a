#include "agent/export/export_config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <variant>

#include "agent/export/url.hpp"

namespace spanring::agent {
namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

std::string format_duration(std::chrono::nanoseconds d) {
  const std::int64_t ns = d.count();
  struct Unit {
    const char* suffix;
    std::int64_t ns;
  };
  static constexpr Unit kUnits[] = {{"h", 3'600'000'000'000}, {"m", 60'000'000'000}, {"s", 1'000'000'000},
                                    {"ms", 1'000'000},        {"us", 1'000},          {"ns", 1}};
  if (ns == 0) return "0s";
  // Largest unit that expresses the value exactly, so the text parses back to the same value.
  for (const Unit& u : kUnits) {
    if (ns % u.ns == 0) return std::to_string(ns / u.ns) + u.suffix;
  }
  return std::to_string(ns) + "ns";
}

const char* default_endpoint(Protocol protocol) {
  return protocol == Protocol::kGrpc ? "http://localhost:4317" : "http://localhost:4318/v1/traces";
}

std::string_view to_string(Protocol protocol) {
  switch (protocol) {
    case Protocol::kGrpc: return "grpc";
    case Protocol::kHttpProtobuf: return "http/protobuf";
    case Protocol::kHttpJson: return "http/json";
  }
  return "?";
}

namespace {

bool has_scheme(std::string_view url) { return url.find("://") != std::string_view::npos; }

// A gRPC endpoint may be "host:port" without a scheme (SPEC §4, OTEL_EXPORTER_OTLP_INSECURE):
// parsed as if it were https://, the caller then decides on TLS.
std::variant<HttpUrl, std::string> parse_for(std::string_view url, Protocol protocol) {
  if (protocol == Protocol::kGrpc && !url.empty() && !has_scheme(url)) {
    return parse_endpoint_url("https://" + std::string(url));
  }
  return parse_endpoint_url(url);
}

}  // namespace

std::optional<std::string> endpoint_problem(std::string_view url, Protocol protocol) {
  const auto parsed = parse_for(url, protocol);
  const auto* reason = std::get_if<std::string>(&parsed);
  if (reason == nullptr) return std::nullopt;
  return std::string("expected a URL like ") + default_endpoint(protocol) + " (or https://...), got " +
         quoted(url) + " (" + *reason + ")";
}

std::optional<HttpUrl> resolved_endpoint(const HttpExportConfig& config) {
  auto parsed = parse_for(config.endpoint, config.protocol);
  auto* url = std::get_if<HttpUrl>(&parsed);
  if (url == nullptr) return std::nullopt;
  if (!has_scheme(config.endpoint) && config.tls.insecure) {
    url->tls = false;
    if (url->port == 443) url->port = 80;
  }
  return std::move(*url);
}

std::optional<std::string> header_name_problem(std::string_view name) {
  if (name.empty()) return "header name must not be empty";
  for (char c : name) {
    if (!is_token_char(c)) return "is not a valid HTTP header name";
  }
  // The exporter owns framing and encoding headers; a configured copy would corrupt requests.
  static constexpr std::string_view kReserved[] = {"host",           "content-length",    "content-type",
                                                   "content-encoding", "transfer-encoding", "connection"};
  const std::string l = lowered(name);
  for (std::string_view reserved : kReserved) {
    if (l == reserved) return "is set by the exporter and cannot be configured";
  }
  return std::nullopt;
}

std::optional<std::string> header_value_problem(std::string_view value) {
  // CR/LF would let a value inject headers; NUL ends strings in some receivers.
  if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) {
    return "header value must not contain CR, LF or NUL";
  }
  return std::nullopt;
}

namespace {

// A TLS file must be readable now: --check-config then catches a typo before the first export.
// The PEM inside is parsed when the exporter is built (sender_factory), which names the file too.
void check_readable(const HttpExportConfig::Report& report, std::string_view key, const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) report({key}, "cannot read " + quoted(path) + ": " + std::strerror(errno));
}

}  // namespace

void HttpExportConfig::validate(const Report& report) const {
  if (const auto problem = endpoint_problem(endpoint, protocol)) report({"endpoint"}, *problem);
  check_readable(report, "tls.ca_file", tls.ca_file);
  check_readable(report, "tls.cert_file", tls.cert_file);
  check_readable(report, "tls.key_file", tls.key_file);
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    report({"tls.cert_file", "tls.key_file"}, "a client certificate needs exporter.otlp.tls.key_file too");
  }
  if (tls.cert_file.empty() && !tls.key_file.empty()) {
    report({"tls.key_file", "tls.cert_file"}, "a client key needs exporter.otlp.tls.cert_file too");
  }
  if (protocol == Protocol::kGrpc && tls.insecure_skip_verify) {
    report({"tls.insecure_skip_verify", "protocol"},
           "is not supported with protocol grpc (gRPC's stable API always verifies); give the "
           "server's CA in exporter.otlp.tls.ca_file instead");
  }
  for (const auto& [name, value] : headers) {
    const std::string key = "headers." + name;
    if (const auto problem = header_name_problem(name)) report({key}, *problem);
    if (const auto problem = header_value_problem(value)) report({key}, *problem);
  }
  if (timeout.count() < 0) report({"timeout"}, "must be >= 0 (0 = no limit), got " + format_duration(timeout));
  if (retry.initial_interval.count() <= 0) {
    report({"retry.initial_interval"}, "must be greater than 0, got " + format_duration(retry.initial_interval));
  }
  if (retry.initial_interval > retry.max_interval) {
    report({"retry.initial_interval", "retry.max_interval"},
           "must be <= exporter.otlp.retry.max_interval (" + format_duration(retry.max_interval) + "), got " +
               format_duration(retry.initial_interval));
  }
  if (retry.max_elapsed_time.count() <= 0) {
    report({"retry.max_elapsed_time"}, "must be greater than 0, got " + format_duration(retry.max_elapsed_time));
  }
  if (queue.max_batches < 1) report({"queue.max_batches"}, "must be at least 1, got 0");
  if (queue.max_spans < 1) report({"queue.max_spans"}, "must be at least 1, got 0");
  if (queue.max_bytes < 1) report({"queue.max_bytes"}, "must be at least 1, got 0");
  if (max_in_flight < 1 || max_in_flight > 64)
    report({"max_in_flight"}, "must be in [1, 64], got " + std::to_string(max_in_flight));
  if (queue.storage == QueueStorage::kDisk && !queue.directory.empty() && queue.directory.front() != '/')
    report({"queue.directory"}, "must be an absolute path, got \"" + queue.directory + "\"");
  if (max_request_bytes < 1) report({"max_request_bytes"}, "must be at least 1, got 0");
  if (header_value_problem(user_agent)) report({"user_agent"}, "must not contain CR, LF or NUL");
}

std::string default_queue_directory() {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : std::string();
  };
  if (std::string state = env("STATE_DIRECTORY"); !state.empty()) {
    return state.substr(0, state.find(':')) + "/queue";
  }
  if (std::string xdg = env("XDG_STATE_HOME"); !xdg.empty()) return xdg + "/spanring-agent/queue";
  if (std::string home = env("HOME"); !home.empty()) return home + "/.local/state/spanring-agent/queue";
  return "/var/lib/spanring-agent/queue";
}

std::vector<std::string> HttpExportConfig::validate() const {
  std::vector<std::string> out;
  validate([&](std::initializer_list<std::string_view> keys, const std::string& problem) {
    out.push_back(std::string(*keys.begin()) + ": " + problem);
  });
  return out;
}

}  // namespace spanring::agent
