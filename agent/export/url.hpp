// Parsing of the exporter's endpoint URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace spanring::agent {

struct HttpUrl {
  std::string host;    // name or IP literal, without the brackets of an IPv6 literal
  std::uint16_t port = 80;
  std::string target;  // path plus query, "/" when the URL has none; the fragment is dropped
  // Value of the Host header: host, plus ":port" unless it is the default 80.
  std::string host_header() const;
};

// "http://host[:port][/path][?query][#fragment]", scheme case-insensitive. Anything else yields an
// error message: https:// (not supported yet), other schemes, userinfo, empty host, bad port.
std::variant<HttpUrl, std::string> parse_http_url(std::string_view url);

}  // namespace spanring::agent
