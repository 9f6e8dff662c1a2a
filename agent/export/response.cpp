#include "agent/export/response.hpp"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

namespace spanring::agent {
namespace {

constexpr std::int64_t kMaxRetryAfterSeconds = 1'000'000'000;
constexpr std::size_t kMaxMessageSnippet = 256;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int> number(std::string_view s, std::size_t min_digits, std::size_t max_digits) {
  if (s.size() < min_digits || s.size() > max_digits || !all_digits(s)) return std::nullopt;
  int v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::optional<unsigned> month_number(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (unsigned i = 0; i < kMonths.size(); ++i) {
    if (s == kMonths[i]) return i + 1;
  }
  return std::nullopt;
}

// "HH:MM:SS" -> seconds of the day.
std::optional<int> time_of_day(std::string_view s) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return std::nullopt;
  const auto h = number(s.substr(0, 2), 2, 2);
  const auto m = number(s.substr(3, 2), 2, 2);
  const auto sec = number(s.substr(6, 2), 2, 2);
  // 60 is a leap second; the result is one second late, which is harmless for a delay.
  if (!h || !m || !sec || *h > 23 || *m > 59 || *sec > 60) return std::nullopt;
  return *h * 3600 + *m * 60 + *sec;
}

std::optional<std::chrono::system_clock::time_point> make_time(int year, unsigned month, int day,
                                                               int seconds_of_day) {
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{month},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd} + std::chrono::seconds{seconds_of_day};
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view s, std::chrono::system_clock::time_point now) {
  const auto parts = split_spaces(s);
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
  if (parts.size() == 6 && parts[0].size() == 4 && parts[0].back() == ',' && parts[5] == "GMT") {
    const auto day = number(parts[1], 2, 2);
    const auto month = month_number(parts[2]);
    const auto year = number(parts[3], 4, 4);
    const auto tod = time_of_day(parts[4]);
    if (!day || !month || !year || !tod) return std::nullopt;
    return make_time(*year, *month, *day, *tod);
  }
  // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
  if (parts.size() == 4 && parts[0].size() > 1 && parts[0].back() == ',' && parts[3] == "GMT" &&
      parts[1].size() == 9 && parts[1][2] == '-' && parts[1][6] == '-') {
    const auto day = number(parts[1].substr(0, 2), 2, 2);
    const auto month = month_number(parts[1].substr(3, 3));
    const auto yy = number(parts[1].substr(7, 2), 2, 2);
    const auto tod = time_of_day(parts[2]);
    if (!day || !month || !yy || !tod) return std::nullopt;
    // RFC 9110: a two-digit year more than 50 years in the future means the past century.
    const int this_year = static_cast<int>(
        std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(now)}.year());
    int year = this_year / 100 * 100 + *yy;
    if (year > this_year + 50) year -= 100;
    return make_time(year, *month, *day, *tod);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (parts.size() == 5 && parts[0].size() == 3) {
    const auto month = month_number(parts[1]);
    const auto day = number(parts[2], 1, 2);
    const auto tod = time_of_day(parts[3]);
    const auto year = number(parts[4], 4, 4);
    if (!day || !month || !year || !tod) return std::nullopt;
    return make_time(*year, *month, *day, *tod);
  }
  return std::nullopt;
}

std::string media_type(std::string_view content_type) {
  content_type = trim(content_type.substr(0, content_type.find(';')));
  std::string lower(content_type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool is_protobuf(std::string_view content_type) {
  const std::string lower = media_type(content_type);
  // An empty type is accepted too: some servers omit it on error bodies.
  return lower.empty() || lower == "application/x-protobuf" || lower == "application/protobuf";
}

// The server answers in the request's format (SPEC §2.1): JSON for http/json. Protobuf's JSON
// parser reads the answer messages as they are (no ids in them, so OTLP's hex rule does not
// matter); unknown fields are ignored (SPEC §2.4).
bool is_json(std::string_view content_type) { return media_type(content_type) == "application/json"; }

template <class Message>
bool parse_body(std::string_view content_type, std::string_view body, Message& out) {
  if (is_json(content_type)) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    return google::protobuf::util::JsonStringToMessage(std::string(body), &out, options).ok();
  }
  return out.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

// A short printable excerpt of a body we cannot decode, so logs show what the server said.
std::string snippet(std::string_view body) {
  std::string out;
  for (const char c : body.substr(0, kMaxMessageSnippet)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : ' ';
  }
  if (body.size() > kMaxMessageSnippet) out += "...";
  return std::string(trim(out));
}

std::string error_detail(std::string_view content_type, std::string_view body) {
  if (body.empty()) return {};
  if (is_protobuf(content_type) || is_json(content_type)) {
    google::rpc::Status status;
    if (parse_body(content_type, body, status) && !status.message().empty()) return status.message();
    if (is_protobuf(content_type)) return {};
  }
  return snippet(body);
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_retry_after(std::string_view value,
                                                          std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (all_digits(value)) {
    std::int64_t seconds = kMaxRetryAfterSeconds;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec == std::errc::result_out_of_range || seconds > kMaxRetryAfterSeconds) {
      seconds = kMaxRetryAfterSeconds;
    }
    return std::chrono::seconds{seconds};
  }
  const auto when = parse_http_date(value, now);
  if (!when) return std::nullopt;
  if (*when <= now) return std::chrono::nanoseconds{0};
  return std::min<std::chrono::nanoseconds>(*when - now, std::chrono::seconds{kMaxRetryAfterSeconds});
}

SendResult classify_response(int status, std::string_view content_type, std::string_view body,
                             std::string_view retry_after, std::chrono::system_clock::time_point now) {
  SendResult r;
  r.http_status = status;
  if (status >= 200 && status <= 299) {
    r.cls = SendClass::kOk;
    if (body.empty()) return r;  // an empty body is an empty response: full success
    if (!is_protobuf(content_type) && !is_json(content_type)) {
      r.message = "success with a response body neither protobuf nor JSON (ignored)";
      return r;
    }
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
    if (!parse_body(content_type, body, response)) {
      r.message = "success with an undecodable response body (ignored)";
      return r;
    }
    if (response.has_partial_success()) {
      const auto& partial = response.partial_success();
      r.rejected_spans = partial.rejected_spans() > 0 ? static_cast<std::uint64_t>(partial.rejected_spans()) : 0;
      r.message = partial.error_message();
    }
    return r;
  }
  std::string detail = error_detail(content_type, body);
  r.message = "HTTP " + std::to_string(status);
  if (!detail.empty()) r.message += ": " + detail;
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    r.cls = SendClass::kRetryable;
    if (!retry_after.empty()) {
      if (const auto delay = parse_retry_after(retry_after, now)) {
        r.cls = SendClass::kThrottled;
        r.retry_after = *delay;
      } else {
        r.message += " (invalid Retry-After ignored)";
      }
    }
    return r;
  }
  r.cls = SendClass::kPermanent;
  return r;
}

}  // namespace spanring::agent
