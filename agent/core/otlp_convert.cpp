#include "agent/core/otlp_convert.hpp"

#include "agent/base/utf8.hpp"

#include <cstdio>
#include <functional>

namespace spanring::agent {

namespace otlp = opentelemetry::proto;

namespace {

// Scratch for strings that need repair; the agent is single-threaded per converter, and
// thread_local keeps tests and benchmarks that convert on several threads correct.
thread_local std::string t_scratch;

// Every string from shared memory goes through here before it enters a protobuf string field.
template <class Setter>
void set_text(std::string_view s, Setter&& set) {
  const std::string_view v = detail::valid_utf8(s, t_scratch);
  set(v.data(), v.size());
}

void set_value(const shm::AttrView& a, otlp::common::v1::AnyValue& v) {
  switch (a.type) {
    case shm::kAttrBool: v.set_bool_value(a.bool_value); break;
    case shm::kAttrInt: v.set_int_value(a.int_value); break;
    case shm::kAttrDouble: v.set_double_value(a.double_value); break;
    case shm::kAttrBoolArray:
    case shm::kAttrIntArray:
    case shm::kAttrDoubleArray:
    case shm::kAttrStringArray: {
      // OTLP ArrayValue: one scalar AnyValue per element (the record's elements are validated).
      auto* values = v.mutable_array_value()->mutable_values();
      values->Clear();
      shm::for_each_element(a, [&](const shm::AttrView& e) { set_value(e, *values->Add()); });
      break;
    }
    default: set_text(a.string_value, [&](const char* p, std::size_t n) { v.set_string_value(p, n); }); break;
  }
}

bool same_key(const shm::AttrView& x, const shm::AttrView& y) {
  if (x.key_id >= 0 || y.key_id >= 0) return x.key_id == y.key_id;
  return x.key == y.key;
}

// Writes `count` attributes, keeping the last value of a repeated key: the client appends,
// OTLP wants unique keys. Interned keys compare as integers, so the check is cheap.
template <class Repeated>
void put_attributes(const shm::AttrView* attrs, std::size_t count, Repeated& out) {
  out.Clear();  // keeps the cleared elements for reuse: no allocation in steady state
  constexpr std::size_t kMax = shm::kMaxRecordsPerSpan * shm::kRecordPayload;  // an attribute takes ≥ 4 bytes
  std::uint16_t slot[kMax / 4];
  for (std::size_t i = 0; i < count && i < kMax / 4; ++i) {
    const shm::AttrView& a = attrs[i];
    std::size_t dup = i;
    for (std::size_t j = 0; j < i; ++j)
      if (same_key(attrs[j], a)) dup = j;
    otlp::common::v1::KeyValue* kv;
    if (dup == i) {
      slot[i] = static_cast<std::uint16_t>(out.size());
      kv = out.Add();
      set_text(a.key, [&](const char* p, std::size_t n) { kv->set_key(p, n); });
    } else {
      slot[i] = slot[dup];
      kv = &out[slot[i]];
    }
    set_value(a, *kv->mutable_value());
  }
}

void add_string(otlp::resource::v1::Resource& r, std::string_view key, std::string_view value) {
  auto* kv = r.add_attributes();
  set_text(key, [&](const char* p, std::size_t n) { kv->set_key(p, n); });
  set_text(value, [&](const char* p, std::size_t n) { kv->mutable_value()->set_string_value(p, n); });
}

}  // namespace

void to_otlp(const shm::SpanView& s, otlp::trace::v1::Span& out, const SamplingAnnotation* sampling,
             std::string_view sampled_trace_state) {
  out.set_trace_id(s.trace_id.data(), s.trace_id.size());
  out.set_span_id(s.span_id.data(), s.span_id.size());
  if (s.has_parent) out.set_parent_span_id(s.parent_span_id.data(), s.parent_span_id.size());
  else out.clear_parent_span_id();
  const bool new_trace_state = sampling && sampling->trace_state_changed;
  set_text(new_trace_state ? sampled_trace_state : s.trace_state,
           [&](const char* p, std::size_t n) { out.set_trace_state(p, n); });
  set_text(s.name, [&](const char* p, std::size_t n) { out.set_name(p, n); });
  out.set_kind(static_cast<otlp::trace::v1::Span::SpanKind>(s.kind));
  out.set_start_time_unix_nano(s.start_unix_ns);
  out.set_end_time_unix_nano(s.end_unix_ns);
  put_attributes(s.attributes.data(), s.attributes.size(), *out.mutable_attributes());
  if (sampling && sampling->add_sampler_tags) {
    auto* type = out.add_attributes();
    type->set_key("sampler.type");
    type->mutable_value()->set_string_value(sampling->sampler_type);
    auto* param = out.add_attributes();
    param->set_key("sampler.param");
    param->mutable_value()->set_double_value(sampling->sampler_param);
  }
  out.set_dropped_attributes_count(s.dropped_attributes);
  out.mutable_events()->Clear();
  for (const shm::EventView& e : s.events) {
    auto* ev = out.add_events();
    ev->set_time_unix_nano(e.time_unix_ns);
    set_text(e.name, [&](const char* p, std::size_t n) { ev->set_name(p, n); });
    put_attributes(s.sub_attributes.data() + e.first_attr, e.attr_count, *ev->mutable_attributes());
    ev->set_dropped_attributes_count(e.dropped_attributes);
  }
  out.set_dropped_events_count(s.dropped_events);
  out.mutable_links()->Clear();
  for (const shm::LinkView& l : s.links) {
    auto* link = out.add_links();
    link->set_trace_id(l.trace_id.data(), l.trace_id.size());
    link->set_span_id(l.span_id.data(), l.span_id.size());
    set_text(l.trace_state, [&](const char* p, std::size_t n) { link->set_trace_state(p, n); });
    put_attributes(s.sub_attributes.data() + l.first_attr, l.attr_count, *link->mutable_attributes());
    link->set_dropped_attributes_count(l.dropped_attributes);
    link->set_flags(l.otlp_flags());
  }
  out.set_dropped_links_count(s.dropped_links);
  if (s.status != shm::kStatusUnset || !s.status_message.empty()) {
    auto* st = out.mutable_status();
    st->set_code(static_cast<otlp::trace::v1::Status::StatusCode>(s.status));
    if (s.status == shm::kStatusError)
      set_text(s.status_message, [&](const char* p, std::size_t n) { st->set_message(p, n); });
    else st->clear_message();
  } else {
    out.clear_status();
  }
  out.set_flags(s.otlp_flags());
}

std::string instance_id(const ProcessIdentity& p) {
  // Two independent 64-bit hashes of the identity, laid out as a version-4-shaped UUID.
  const std::string key = p.host_name + '\0' + std::to_string(p.pid) + '\0' + std::to_string(p.start_time);
  std::uint64_t a = std::hash<std::string>{}(key);
  std::uint64_t b = std::hash<std::string>{}(key + "#spanring");
  b = (b & ~0xc000000000000000ull) | 0x8000000000000000ull;  // variant 10
  a = (a & ~0xf000ull) | 0x4000ull;                           // version 4
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(a >> 32), unsigned((a >> 16) & 0xffff),
                unsigned(a & 0xffff), unsigned(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

void make_resource(const ProcessIdentity& p, otlp::resource::v1::Resource& out) {
  out.Clear();
  add_string(out, "service.name", p.service_name);  // engine-chosen bytes: repaired too
  add_string(out, "service.instance.id", instance_id(p));
  add_string(out, "host.name", p.host_name);
  {
    auto* kv = out.add_attributes();
    kv->set_key("process.pid");
    kv->mutable_value()->set_int_value(p.pid);
  }
  add_string(out, "telemetry.sdk.name", kSdkName);
  add_string(out, "telemetry.sdk.language", "cpp");
  add_string(out, "telemetry.sdk.version", kSdkVersion);
  for (const auto& [k, v] : p.attributes) {
    if (k == "service.name") continue;
    bool replaced = false;
    for (auto& kv : *out.mutable_attributes())
      if (kv.key() == k) {
        set_text(v, [&](const char* ptr, std::size_t n) { kv.mutable_value()->set_string_value(ptr, n); });
        replaced = true;
      }
    if (!replaced) add_string(out, k, v);
  }
  if (p.user_id >= 0) {
    auto& attrs = *out.mutable_attributes();
    for (int i = attrs.size() - 1; i >= 0; --i)
      if (attrs[i].key() == "process.user.id") attrs.DeleteSubrange(i, 1);
    auto* kv = out.add_attributes();
    kv->set_key("process.user.id");
    kv->mutable_value()->set_int_value(p.user_id);
  }
}

}  // namespace spanring::agent
