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

bool is_host_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

bool is_ipv6_literal(std::string_view s) {
  return s.find(':') != std::string_view::npos && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
         });
}

// Here and in host_header(), appends rather than `"x" + std::string(...)`: GCC 12 at -O3
// reports a false -Wrestrict on that pattern (GCC bug 105329).
std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

}  // namespace

std::string HttpUrl::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string h;
  if (v6) h += '[';
  h += host;
  if (v6) h += ']';
  if (port != (tls ? 443 : 80)) {
    h += ':';
    h += std::to_string(port);
  }
  return h;
}

std::variant<HttpUrl, std::string> parse_http_url(std::string_view url) {
  if (starts_with_icase(url, "https://")) {
    return std::string("https:// is not supported here (no TLS); use http://");
  }
  if (!starts_with_icase(url, "http://")) return std::string("must start with http://");
  return parse_endpoint_url(url);
}

std::variant<HttpUrl, std::string> parse_endpoint_url(std::string_view url) {
  HttpUrl out;
  out.tls = starts_with_icase(url, "https://");
  if (!out.tls && !starts_with_icase(url, "http://")) return std::string("must start with http:// or https://");
  if (out.tls) out.port = 443;
  const std::string_view rest = url.substr(out.tls ? 8 : 7);
  // The target goes into the request line and the host into the Host header.
  if (std::any_of(rest.begin(), rest.end(), [](char c) {
        return c == ' ' || std::iscntrl(static_cast<unsigned char>(c));
      })) {
    return std::string("contains a space or control character");
  }
  // A fragment is never sent to the server; accepting one would hide a pasted browser URL.
  if (rest.find('#') != std::string_view::npos) return std::string("a fragment (#...) is not allowed");
  const auto path_start = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, path_start);
  out.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    return std::string("user info in the URL is not supported; use headers for credentials");
  }
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::string("unterminated IPv6 literal");
    const std::string_view literal = authority.substr(1, close - 1);
    if (!is_ipv6_literal(literal)) return "invalid IPv6 literal " + quoted(literal);
    out.host = std::string(literal);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::string("unexpected characters after IPv6 literal");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
    if (out.host.empty()) return std::string("missing host");
    if (!std::all_of(out.host.begin(), out.host.end(), is_host_name_char)) {
      return "invalid host " + quoted(out.host);
    }
  }
  if (has_port) {
    if (port_text.empty()) return std::string("empty port");
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    const bool digits_only = std::all_of(port_text.begin(), port_text.end(),
                                         [](char c) { return c >= '0' && c <= '9'; });
    if (!digits_only) return "invalid port " + quoted(port_text);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 || value > 65535) {
      return "port " + std::string(port_text) + " is out of range 1-65535";
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

}  // namespace spanring::agent
