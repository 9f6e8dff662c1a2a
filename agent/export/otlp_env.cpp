// OTEL_EXPORTER_OTLP_* environment variables (SPEC §4).
#include "agent/export/export.hpp"
#include "agent/export/header_rules.hpp"
#include "agent/export/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spanring::agent {
namespace {

constexpr std::string_view kPrefix = "OTEL_EXPORTER_OTLP_";
// Timeouts beyond a day are certainly typos; rejecting them also keeps milliseconds from
// overflowing when converted to nanoseconds.
constexpr std::uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

// One variable, TRACES_ variant first; empty counts as unset.
struct EnvValue {
  std::string name;
  std::string value;
};

class Env {
 public:
  explicit Env(const std::function<const char*(const char*)>& getenv_fn) : getenv_fn_(getenv_fn) {}

  std::optional<EnvValue> get(std::string_view name) const {
    const std::string full = std::string(kPrefix) + std::string(name);
    const char* v = getenv_fn_(full.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return EnvValue{full, v};
  }
  // TRACES_<suffix> if set, else the generic <suffix>.
  std::optional<EnvValue> get_signal(std::string_view suffix) const {
    if (auto v = get("TRACES_" + std::string(suffix))) return v;
    return get(suffix);
  }

 private:
  const std::function<const char*(const char*)>& getenv_fn_;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_digit(s[i + 1]);
    const int lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// An endpoint the exporter will accept, or an https:// one, which is taken so that validate()
// reports "not supported yet" instead of the agent silently exporting somewhere else.
bool usable_endpoint(const std::string& url, std::string& error) {
  const auto parsed = parse_http_url(url);
  if (std::holds_alternative<HttpUrl>(parsed)) return true;
  if (lower(url).rfind("https://", 0) == 0) return true;
  error = std::get<std::string>(parsed);
  return false;
}

void apply_endpoint(HttpExportConfig& config, const Env& env, std::vector<std::string>& warnings) {
  std::string error;
  if (const auto v = env.get("TRACES_ENDPOINT")) {
    const std::string url(trim(v->value));
    if (usable_endpoint(url, error)) {
      config.endpoint = url;  // as-is: a URL without a path means "/"
      return;
    }
    warnings.push_back(v->name + ": " + error + "; ignored");
  }
  if (const auto v = env.get("ENDPOINT")) {
    std::string url(trim(v->value));
    if (url.empty() || url.back() != '/') url += '/';
    url += "v1/traces";
    if (usable_endpoint(url, error)) {
      config.endpoint = url;
      return;
    }
    warnings.push_back(v->name + ": " + error + "; ignored");
  }
}

void apply_headers(HttpExportConfig& config, const Env& env, std::vector<std::string>& warnings) {
  // The TRACES_ list replaces the generic one as a whole, as the OTel SDKs do.
  const auto v = env.get_signal("HEADERS");
  if (!v) return;
  std::string_view rest = v->value;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view entry = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (entry.empty()) continue;
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos) {
      warnings.push_back(v->name + ": entry \"" + std::string(entry) + "\" has no '='; ignored");
      continue;
    }
    const auto name = percent_decode(trim(entry.substr(0, eq)));
    const auto value = percent_decode(trim(entry.substr(eq + 1)));
    if (!name || !value) {
      warnings.push_back(v->name + ": entry \"" + std::string(entry) + "\" has a bad percent-encoding; ignored");
      continue;
    }
    if (!is_header_name(*name) || !is_header_value(*value)) {
      warnings.push_back(v->name + ": entry \"" + std::string(entry) + "\" is not a valid header; ignored");
      continue;
    }
    if (is_reserved_header(*name)) {
      warnings.push_back(v->name + ": header \"" + *name + "\" is set by the exporter; ignored");
      continue;
    }
    auto same = std::find_if(config.headers.begin(), config.headers.end(),
                             [&](const auto& h) { return iequals(h.first, *name); });
    if (same != config.headers.end()) {
      same->second = *value;
    } else {
      config.headers.emplace_back(*name, *value);
    }
  }
}

void apply_timeout(HttpExportConfig& config, const Env& env, std::vector<std::string>& warnings) {
  const auto v = env.get_signal("TIMEOUT");
  if (!v) return;
  const std::string_view text = trim(v->value);
  std::uint64_t ms = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || ms > kMaxTimeoutMs) {
    warnings.push_back(v->name + ": \"" + v->value + "\" is not an integer number of milliseconds in [0, " +
                       std::to_string(kMaxTimeoutMs) + "]; ignored");
    return;
  }
  config.timeout = std::chrono::milliseconds{static_cast<std::int64_t>(ms)};
}

void apply_compression(HttpExportConfig& config, const Env& env, std::vector<std::string>& warnings) {
  const auto v = env.get_signal("COMPRESSION");
  if (!v) return;
  const std::string value = lower(trim(v->value));
  if (value == "gzip") {
    config.gzip = true;
  } else if (value == "none") {
    config.gzip = false;
  } else {
    warnings.push_back(v->name + ": \"" + v->value + "\" is not none or gzip; ignored");
  }
}

void check_protocol(const Env& env, std::vector<std::string>& warnings) {
  const auto v = env.get_signal("PROTOCOL");
  if (v && lower(trim(v->value)) != "http/protobuf") {
    warnings.push_back(v->name + ": \"" + v->value + "\" is not supported, only http/protobuf; ignored");
  }
}

}  // namespace

std::vector<std::string> apply_otlp_env(HttpExportConfig& config,
                                        const std::function<const char*(const char*)>& getenv_fn) {
  std::vector<std::string> warnings;
  const Env env(getenv_fn);
  apply_endpoint(config, env, warnings);
  apply_headers(config, env, warnings);
  apply_timeout(config, env, warnings);
  apply_compression(config, env, warnings);
  check_protocol(env, warnings);
  return warnings;
}

}  // namespace spanring::agent
