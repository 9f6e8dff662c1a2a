#include "agent/metrics/metrics_config.hpp"

#include <charconv>

#include "agent/base/text.hpp"

namespace spanring::agent {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Hostnames, IPv4 literals and the inside of an IPv6 literal's brackets.
bool valid_host(std::string_view host, bool bracketed) {
  if (host.empty()) return false;
  for (char c : host) {
    const bool ok = bracketed ? (is_digit(c) || is_alpha(c) || c == ':' || c == '.')
                              : (is_digit(c) || is_alpha(c) || c == '-' || c == '.' || c == '_');
    if (!ok) return false;
  }
  return !bracketed || host.find(':') != std::string_view::npos;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view inside = text.substr(1, close - 1);
    if (!valid_host(inside, true)) return std::nullopt;
    out.host.assign(inside);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return std::nullopt;
    port_text = rest.substr(1);
  } else {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view host_text = text.substr(0, colon);
    if (!valid_host(host_text, false)) return std::nullopt;
    out.host.assign(host_text);
    port_text = text.substr(colon + 1);
  }
  if (port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

void MetricsConfig::validate(const Report& report) const {
  if (listen.empty() || parse_host_port(listen)) return;
  report({"listen"}, "expected host:port like 127.0.0.1:9464 (port 0 = any free port), or \"\" to disable, got " +
                         quote(listen));
}

}  // namespace spanring::agent
