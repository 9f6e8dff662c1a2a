#include "agent/sinks/chrome_trace.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include "agent/sinks/otlp_json.hpp"

namespace spanring::agent {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

void append_value(std::string& out, const common::AnyValue& v) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: append_json_string(out, v.string_value()); break;
    case common::AnyValue::kBoolValue: out += v.bool_value() ? "true" : "false"; break;
    case common::AnyValue::kIntValue: out += std::to_string(v.int_value()); break;
    case common::AnyValue::kDoubleValue: {
      char buf[32];
      const double d = v.double_value();
      if (d != d || d - d != 0) {  // NaN, ±Inf: not JSON numbers
        append_json_string(out, d != d ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
      } else {
        const auto r = std::to_chars(buf, buf + sizeof buf, d);
        out.append(buf, r.ptr);
      }
      break;
    }
    default: append_json_string(out, "<" + std::string(v.GetTypeName()) + ">"); break;
  }
}

// Microseconds with the nanoseconds as three decimals.
void append_us(std::string& out, std::uint64_t ns) {
  out += std::to_string(ns / 1000);
  const std::uint64_t frac = ns % 1000;
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, ".%03u", static_cast<unsigned>(frac));
    out += buf;
  }
}

}  // namespace

void ChromeTraceBuilder::add(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request) {
  for (const auto& rs : request.resource_spans()) {
    std::string service = "unknown_service";
    std::int64_t pid = 0;
    for (const auto& kv : rs.resource().attributes()) {
      if (kv.key() == "service.name" && kv.value().has_string_value()) service = kv.value().string_value();
      if (kv.key() == "process.pid" && kv.value().has_int_value()) pid = kv.value().int_value();
    }
    const auto p = static_cast<std::uint32_t>(pid);
    if (std::none_of(processes_.begin(), processes_.end(), [&](const auto& e) { return e.first == p; }))
      processes_.emplace_back(p, service);
    for (const auto& ss : rs.scope_spans()) {
      for (const trace::Span& span : ss.spans()) {
        if (spans_.size() >= max_spans_) {
          ++over_limit_;
          continue;
        }
        Event e;
        e.pid = p;
        e.start = span.start_time_unix_nano();
        e.end = std::max(span.end_time_unix_nano(), e.start);
        e.name = span.name();
        e.service = service;
        std::string& a = e.args;
        a += "\"trace_id\":";
        append_json_hex(a, span.trace_id());
        a += ",\"span_id\":";
        append_json_hex(a, span.span_id());
        if (!span.parent_span_id().empty()) {
          a += ",\"parent_span_id\":";
          append_json_hex(a, span.parent_span_id());
        }
        if (span.status().code() == trace::Status::STATUS_CODE_ERROR) {
          a += ",\"status\":\"ERROR\"";
          if (!span.status().message().empty()) {
            a += ",\"status.message\":";
            append_json_string(a, span.status().message());
          }
        }
        for (const auto& kv : span.attributes()) {
          a += ',';
          append_json_string(a, kv.key());
          a += ':';
          append_value(a, kv.value());
        }
        spans_.push_back(std::move(e));
      }
    }
  }
}

std::string ChromeTraceBuilder::json() const {
  // Lanes per process: sorted by start (longest first on ties), a span goes to the first lane
  // where, after closing the spans that ended before it starts, it nests in the open one.
  std::vector<std::size_t> order(spans_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Event &x = spans_[a], &y = spans_[b];
    if (x.pid != y.pid) return x.pid < y.pid;
    if (x.start != y.start) return x.start < y.start;
    return x.end > y.end;
  });
  std::vector<std::uint32_t> lane(spans_.size(), 0);
  std::map<std::uint32_t, std::vector<std::vector<std::uint64_t>>> lanes;  // pid → lane → open ends
  for (const std::size_t i : order) {
    const Event& e = spans_[i];
    auto& stacks = lanes[e.pid];
    std::size_t l = 0;
    for (; l < stacks.size(); ++l) {
      auto& st = stacks[l];
      while (!st.empty() && st.back() <= e.start) st.pop_back();
      if (st.empty() || st.back() >= e.end) break;
    }
    if (l == stacks.size()) stacks.emplace_back();
    stacks[l].push_back(e.end);
    lane[i] = static_cast<std::uint32_t>(l + 1);
  }

  // Timestamps from the earliest span: microseconds since the epoch need more digits than a
  // double keeps at nanosecond decimals. The origin is in otherData.
  std::uint64_t t0 = UINT64_MAX;
  for (const Event& e : spans_) t0 = std::min(t0, e.start);
  if (spans_.empty()) t0 = 0;
  std::string out = "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"origin_unix_nano\":\"" + std::to_string(t0) +
                    "\"},\"traceEvents\":[";
  bool first = true;
  const auto sep = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  for (const auto& [pid, service] : processes_) {
    sep();
    out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) + ",\"tid\":0,\"args\":{\"name\":";
    append_json_string(out, service + " (pid " + std::to_string(pid) + ")");
    out += "}}";
    const auto it = lanes.find(pid);
    for (std::size_t l = 1; it != lanes.end() && l <= it->second.size(); ++l) {
      sep();
      out += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid) + ",\"tid\":" + std::to_string(l) +
             ",\"args\":{\"name\":\"spans " + std::to_string(l) + "\"}}";
    }
  }
  for (const std::size_t i : order) {
    const Event& e = spans_[i];
    sep();
    out += "{\"ph\":\"X\",\"name\":";
    append_json_string(out, e.name);
    out += ",\"cat\":";
    append_json_string(out, e.service);
    out += ",\"pid\":" + std::to_string(e.pid) + ",\"tid\":" + std::to_string(lane[i]) + ",\"ts\":";
    append_us(out, e.start - t0);
    out += ",\"dur\":";
    append_us(out, e.end - e.start);
    out += ",\"args\":{" + e.args + "}}";
  }
  out += "]}\n";
  return out;
}

}  // namespace spanring::agent
