#include "agent/sinks/otlp_json.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "agent/base/utf8.hpp"

namespace spanring::agent {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace resource = opentelemetry::proto::resource::v1;
namespace trace = opentelemetry::proto::trace::v1;
using google::protobuf::RepeatedPtrField;

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t len = detail::utf8_sequence_length(s, i);
      if (len == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHexDigits[c >> 4];
          out += kHexDigits[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_json_hex(std::string& out, std::string_view bytes) {
  out += '"';
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out += kHexDigits[c >> 4];
    out += kHexDigits[c & 0xF];
  }
  out += '"';
}

namespace {

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out += '"';
  std::size_t i = 0;
  const auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    const std::uint32_t v = at(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    const std::uint32_t v = (at(i) << 16) | (at(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  out += '"';
}

template <typename Int>
void append_number(std::string& out, Int v) {
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), r.ptr);
}

// 64-bit integers are strings: JSON readers that hold numbers as doubles would round them.
template <typename Int>
void append_quoted_number(std::string& out, Int v) {
  out += '"';
  append_number(out, v);
  out += '"';
}

void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else if (v == 0 && std::signbit(v)) {
    out += "-0.0";  // "-0" reads back as the integer 0 in parsers that type numbers by their text
  } else {
    // Shortest round-trip form: exact like %.17g, without its noise digits (0.1, not
    // 0.10000000000000001). Exponents come out as "1e+300", which JSON accepts.
    std::array<char, 32> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), r.ptr);
  }
}

// Writes the separator and the key of one member; keys are our own literals and need no escaping.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  ~ObjectWriter() { out_ += '}'; }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;

  std::string& key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
    return out_;
  }

  void string_if_set(std::string_view k, const std::string& v) {
    if (!v.empty()) append_json_string(key(k), v);
  }
  void hex_if_set(std::string_view k, const std::string& v) {
    if (!v.empty()) append_json_hex(key(k), v);
  }
  void u32_if_set(std::string_view k, std::uint32_t v) {
    if (v != 0) append_number(key(k), v);
  }
  void int_if_set(std::string_view k, int v) {
    if (v != 0) append_number(key(k), v);
  }
  void u64_if_set(std::string_view k, std::uint64_t v) {
    if (v != 0) append_quoted_number(key(k), v);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void write_key_values(ObjectWriter& w, std::string_view k, const RepeatedPtrField<common::KeyValue>& kvs);

void write_any_value(std::string& out, const common::AnyValue& v) {
  ObjectWriter w(out);
  switch (v.value_case()) {
    case common::AnyValue::kStringValue: append_json_string(w.key("stringValue"), v.string_value()); break;
    case common::AnyValue::kBoolValue: w.key("boolValue") += v.bool_value() ? "true" : "false"; break;
    case common::AnyValue::kIntValue: append_quoted_number(w.key("intValue"), v.int_value()); break;
    case common::AnyValue::kDoubleValue: append_double(w.key("doubleValue"), v.double_value()); break;
    case common::AnyValue::kArrayValue: {
      // An empty array is still a set member: {"arrayValue":{}}.
      std::string& o = w.key("arrayValue");
      ObjectWriter array(o);
      const auto& values = v.array_value().values();
      if (!values.empty()) {
        std::string& a = array.key("values");
        a += '[';
        for (int i = 0; i < values.size(); ++i) {
          if (i != 0) a += ',';
          write_any_value(a, values[i]);
        }
        a += ']';
      }
      break;
    }
    case common::AnyValue::kKvlistValue: {
      ObjectWriter list(w.key("kvlistValue"));
      write_key_values(list, "values", v.kvlist_value().values());
      break;
    }
    case common::AnyValue::kBytesValue: append_base64(w.key("bytesValue"), v.bytes_value()); break;
    case common::AnyValue::VALUE_NOT_SET: break;  // the empty value is valid: {}
  }
}

void write_key_values(ObjectWriter& w, std::string_view k, const RepeatedPtrField<common::KeyValue>& kvs) {
  if (kvs.empty()) return;
  std::string& out = w.key(k);
  out += '[';
  bool first = true;
  for (const auto& kv : kvs) {
    if (!first) out += ',';
    first = false;
    ObjectWriter item(out);
    item.string_if_set("key", kv.key());
    if (kv.has_value()) write_any_value(item.key("value"), kv.value());
  }
  out += ']';
}

// Writes `k: [ ... ]` for a non-empty repeated message field, each element by `write`.
template <typename T, typename Fn>
void write_array(ObjectWriter& w, std::string_view k, const RepeatedPtrField<T>& items, Fn write) {
  if (items.empty()) return;
  std::string& out = w.key(k);
  out += '[';
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += ',';
    first = false;
    write(out, item);
  }
  out += ']';
}

void write_resource(std::string& out, const resource::Resource& r) {
  ObjectWriter w(out);
  write_key_values(w, "attributes", r.attributes());
  w.u32_if_set("droppedAttributesCount", r.dropped_attributes_count());
}

void write_scope(std::string& out, const common::InstrumentationScope& s) {
  ObjectWriter w(out);
  w.string_if_set("name", s.name());
  w.string_if_set("version", s.version());
  write_key_values(w, "attributes", s.attributes());
  w.u32_if_set("droppedAttributesCount", s.dropped_attributes_count());
}

void write_event(std::string& out, const trace::Span::Event& e) {
  ObjectWriter w(out);
  w.u64_if_set("timeUnixNano", e.time_unix_nano());
  w.string_if_set("name", e.name());
  write_key_values(w, "attributes", e.attributes());
  w.u32_if_set("droppedAttributesCount", e.dropped_attributes_count());
}

void write_link(std::string& out, const trace::Span::Link& l) {
  ObjectWriter w(out);
  w.hex_if_set("traceId", l.trace_id());
  w.hex_if_set("spanId", l.span_id());
  w.string_if_set("traceState", l.trace_state());
  write_key_values(w, "attributes", l.attributes());
  w.u32_if_set("droppedAttributesCount", l.dropped_attributes_count());
  w.u32_if_set("flags", l.flags());
}

void write_span(std::string& out, const trace::Span& s) {
  ObjectWriter w(out);
  w.hex_if_set("traceId", s.trace_id());
  w.hex_if_set("spanId", s.span_id());
  w.string_if_set("traceState", s.trace_state());
  w.hex_if_set("parentSpanId", s.parent_span_id());
  w.string_if_set("name", s.name());
  w.int_if_set("kind", static_cast<int>(s.kind()));
  w.u64_if_set("startTimeUnixNano", s.start_time_unix_nano());
  w.u64_if_set("endTimeUnixNano", s.end_time_unix_nano());
  write_key_values(w, "attributes", s.attributes());
  w.u32_if_set("droppedAttributesCount", s.dropped_attributes_count());
  write_array(w, "events", s.events(), write_event);
  w.u32_if_set("droppedEventsCount", s.dropped_events_count());
  write_array(w, "links", s.links(), write_link);
  w.u32_if_set("droppedLinksCount", s.dropped_links_count());
  if (s.has_status()) {
    ObjectWriter status(w.key("status"));
    status.string_if_set("message", s.status().message());
    status.int_if_set("code", static_cast<int>(s.status().code()));
  }
  w.u32_if_set("flags", s.flags());
}

void write_scope_spans(std::string& out, const trace::ScopeSpans& ss) {
  ObjectWriter w(out);
  if (ss.has_scope()) write_scope(w.key("scope"), ss.scope());
  write_array(w, "spans", ss.spans(), write_span);
  w.string_if_set("schemaUrl", ss.schema_url());
}

void write_resource_spans(std::string& out, const trace::ResourceSpans& rs) {
  ObjectWriter w(out);
  if (rs.has_resource()) write_resource(w.key("resource"), rs.resource());
  write_array(w, "scopeSpans", rs.scope_spans(), write_scope_spans);
  w.string_if_set("schemaUrl", rs.schema_url());
}

}  // namespace

void append_otlp_json(const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
                      std::string& out) {
  ObjectWriter w(out);
  write_array(w, "resourceSpans", request.resource_spans(), write_resource_spans);
}

}  // namespace spanring::agent
