#include "agent/export/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace spanring::agent {
namespace {

bool starts_with_icase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

}  // namespace

std::string HttpUrl::host_header() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != 80) h += ":" + std::to_string(port);
  return h;
}

std::variant<HttpUrl, std::string> parse_http_url(std::string_view url) {
  if (starts_with_icase(url, "https://")) {
    return std::string("https:// is not supported yet (TLS); use http://");
  }
  if (!starts_with_icase(url, "http://")) {
    return std::string("must start with http://, got \"") + std::string(url) + "\"";
  }
  std::string_view rest = url.substr(7);
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const auto path_start = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, path_start);
  HttpUrl out;
  out.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    return std::string("user info in the URL is not supported; use headers for credentials");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("unterminated IPv6 literal");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("unexpected characters after IPv6 literal");
      port_text = after.substr(1);
      if (port_text.empty()) return std::string("empty port");
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return std::string("empty port");
    }
  }
  if (out.host.empty()) return std::string("missing host");
  for (const char c : out.host) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
      return std::string("invalid character in host");
    }
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return std::string("invalid port \"") + std::string(port_text) + "\"";
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  for (const char c : out.target) {
    if (c == ' ' || std::iscntrl(static_cast<unsigned char>(c))) {
      return std::string("invalid character in path");
    }
  }
  return out;
}

}  // namespace spanring::agent
