// Registry and Prometheus text exposition 0.0.4 (SPEC §9).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

#include "agent/base/utf8.hpp"
#include "agent/metrics/metrics.hpp"

namespace spanring::agent {
namespace {

bool is_name_start(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool valid_name(std::string_view name, bool allow_colon) {
  if (name.empty() || !is_name_start(name.front(), allow_colon)) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return is_name_start(c, allow_colon) || (c >= '0' && c <= '9');
  });
}

// Label values can come from producers (a service name is a segment's bytes): invalid UTF-8
// and control characters other than newline become U+FFFD, so one hostile name cannot make the
// whole page unparsable for a strict scraper; then the format's three escapes apply.
std::string sanitized_label_value(std::string_view value) {
  std::string scratch;
  const std::string_view valid = detail::valid_utf8(value, scratch);
  std::string out;
  out.reserve(valid.size());
  for (char c : valid) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n') || u == 0x7f) out += "\xef\xbf\xbd";
    else out += c;
  }
  return out;
}

void append_escaped_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_escaped_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// Shortest text that parses back to the same double (what Go's FormatFloat(v, 'g', -1, 64)
// aims for), with Prometheus' spellings of the special values.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc()) {
    out += "NaN";  // unreachable: 32 bytes hold any shortest double
    return;
  }
  out.append(buf, end);
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;  // 24 bytes hold any uint64
  out.append(buf, end);
}

// `name{labels,extra} value\n`; braces only when there is a label.
void append_sample_prefix(std::string& out, std::string_view name, std::string_view suffix,
                          std::string_view label_text, std::string_view extra_label) {
  out += name;
  out += suffix;
  if (!label_text.empty() || !extra_label.empty()) {
    out += '{';
    out += label_text;
    if (!label_text.empty() && !extra_label.empty()) out += ',';
    out += extra_label;
    out += '}';
  }
  out += ' ';
}

}  // namespace

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()), counts_(bounds.size() + 1, 0) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i]))) {
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
    }
  }
}

void Histogram::observe(double v) noexcept {
  // lower_bound finds the first bound >= v: `le` buckets include their bound. NaN compares
  // false with everything, so it is sent to +Inf explicitly.
  const std::size_t bucket =
      std::isnan(v) ? bounds_.size()
                    : static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                               bounds_.begin());
  ++counts_[bucket];
  ++count_;
  sum_ += v;
}

std::uint64_t Histogram::cumulative_count(std::size_t i) const noexcept {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b <= i && b < counts_.size(); ++b) total += counts_[b];
  return total;
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Series& Registry::find_or_add(Type type, std::string name, std::string_view help,
                                        const Labels& given, std::span<const double> bounds) {
  if (!valid_name(name, /*allow_colon=*/true) || name.starts_with("__")) {
    throw std::invalid_argument("invalid metric name \"" + name + "\"");
  }
  // Two raw values that sanitize alike are one series (never two identical lines).
  Labels labels = given;
  for (auto& [label, value] : labels) value = sanitized_label_value(value);
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const std::string& label = sorted[i].first;
    if (!valid_name(label, /*allow_colon=*/false) || label.starts_with("__")) {
      throw std::invalid_argument(name + ": invalid label name \"" + label + "\"");
    }
    if (i > 0 && sorted[i - 1].first == label) {
      throw std::invalid_argument(name + ": label \"" + label + "\" given twice");
    }
    if (type == Type::kHistogram && label == "le") {
      throw std::invalid_argument(name + ": \"le\" is the histogram's own bucket label");
    }
  }

  auto family_it = family_by_name_.find(name);
  if (family_it == family_by_name_.end()) {
    Family family{name, std::string(help), type, {}, {}, {}};
    if (type == Type::kHistogram) family.bounds.assign(bounds.begin(), bounds.end());
    families_.push_back(std::move(family));
    family_it = family_by_name_.emplace(name, families_.size() - 1).first;
  }
  Family& family = families_[family_it->second];
  if (family.type != type || family.help != help ||
      (type == Type::kHistogram &&
       !std::equal(family.bounds.begin(), family.bounds.end(), bounds.begin(), bounds.end()))) {
    // One name is one metric family in the exposition; two definitions would be ambiguous.
    throw std::invalid_argument(name + ": registered before with another type, help or buckets");
  }

  // Values are length-prefixed, so no value can imitate a label boundary.
  std::string key;
  for (const auto& [label, value] : sorted) {
    key += label;
    key += '\0';
    key += std::to_string(value.size());
    key += ':';
    key += value;
  }
  if (const auto it = family.by_labels.find(key); it != family.by_labels.end()) {
    return family.series[it->second];
  }

  Series series;
  for (const auto& [label, value] : labels) {
    if (!series.label_text.empty()) series.label_text += ',';
    series.label_text += label;
    series.label_text += "=\"";
    append_escaped_label_value(series.label_text, value);
    series.label_text += '"';
  }
  switch (type) {
    case Type::kCounter: series.metric = &counters_.emplace_back(); break;
    case Type::kGauge:
    case Type::kRealCounter: series.metric = &gauges_.emplace_back(); break;
    case Type::kHistogram: series.metric = &histograms_.emplace_back(bounds); break;
  }
  family.series.push_back(std::move(series));
  family.by_labels.emplace(std::move(key), family.series.size() - 1);
  return family.series.back();
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  // In 0.0.4 the TYPE line carries the full `_total` name (SPEC §9).
  std::string full(name);
  if (!full.ends_with("_total")) full += "_total";
  return *std::get<Counter*>(find_or_add(Type::kCounter, std::move(full), help, labels, {}).metric);
}

Gauge& Registry::real_counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::string full(name);
  if (!full.ends_with("_total")) full += "_total";
  return *std::get<Gauge*>(find_or_add(Type::kRealCounter, std::move(full), help, labels, {}).metric);
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  return *std::get<Gauge*>(
      find_or_add(Type::kGauge, std::string(name), help, labels, {}).metric);
}

Histogram& Registry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                               std::span<const double> bounds) {
  // Validate before registering so a bad call leaves no family behind.
  const Histogram probe(bounds);
  (void)probe;
  return *std::get<Histogram*>(
      find_or_add(Type::kHistogram, std::string(name), help, labels, bounds).metric);
}

void Registry::render(std::string& out) const {
  std::string le;
  for (const Family& family : families_) {
    if (!family.help.empty()) {
      out += "# HELP ";
      out += family.name;
      out += ' ';
      append_escaped_help(out, family.help);
      out += '\n';
    }
    out += "# TYPE ";
    out += family.name;
    out += ' ';
    out += family.type == Type::kCounter || family.type == Type::kRealCounter ? "counter"
           : family.type == Type::kGauge ? "gauge"
                                         : "histogram";
    out += '\n';
    for (const Series& series : family.series) {
      switch (family.type) {
        case Type::kCounter:
          append_sample_prefix(out, family.name, "", series.label_text, "");
          append_uint(out, std::get<Counter*>(series.metric)->value());
          out += '\n';
          break;
        case Type::kGauge:
        case Type::kRealCounter:
          append_sample_prefix(out, family.name, "", series.label_text, "");
          append_double(out, std::get<Gauge*>(series.metric)->value());
          out += '\n';
          break;
        case Type::kHistogram: {
          const Histogram& h = *std::get<Histogram*>(series.metric);
          const std::span<const double> bounds = h.bounds();
          for (std::size_t i = 0; i <= bounds.size(); ++i) {
            le = "le=\"";
            if (i < bounds.size()) {
              append_double(le, bounds[i]);
            } else {
              le += "+Inf";
            }
            le += '"';
            append_sample_prefix(out, family.name, "_bucket", series.label_text, le);
            append_uint(out, h.cumulative_count(i));
            out += '\n';
          }
          append_sample_prefix(out, family.name, "_sum", series.label_text, "");
          append_double(out, h.sum());
          out += '\n';
          append_sample_prefix(out, family.name, "_count", series.label_text, "");
          append_uint(out, h.count());
          out += '\n';
          break;
        }
      }
    }
  }
}

std::string Registry::render() const {
  std::string out;
  render(out);
  return out;
}

}  // namespace spanring::agent
