// Parsing of http:// and https:// endpoint URLs: the one parser for every URL the agent sends to
// (the OTLP exporter, the config's endpoint rules and the remote sampling poller).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace spanring::agent {

struct HttpUrl {
  bool tls = false;    // https://
  std::string host;    // name or IP literal, without the brackets of an IPv6 literal
  std::uint16_t port = 80;  // 443 by default for https://
  std::string target;  // path plus query, "/" when the URL has none
  // Value of the Host header: host, plus ":port" unless it is the scheme's default (80, 443).
  std::string host_header() const;
};

// "http://host[:port][/path][?query]", scheme case-insensitive; the host is a name (letters,
// digits, '-', '.', '_'), an IPv4 address or a bracketed IPv6 literal. Strict, so that a typo is
// an error rather than a request to somewhere else. Anything else yields the reason, without the
// URL itself (callers add it): https:// (not supported yet), other schemes, userinfo, a fragment,
// a bad host or port, spaces or control characters.
std::variant<HttpUrl, std::string> parse_http_url(std::string_view url);

// The same rules, https:// accepted too (tls set, default port 443): for the OTLP exporter, which
// speaks TLS. The sampling poller keeps parse_http_url.
std::variant<HttpUrl, std::string> parse_endpoint_url(std::string_view url);

}  // namespace spanring::agent
