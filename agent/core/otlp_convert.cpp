#include "agent/core/otlp_convert.hpp"

#include "agent/base/utf8.hpp"

#include <cstdio>
#include <functional>

namespace spanring::agent {

namespace otlp = opentelemetry::proto;

namespace {

// Scratch for strings that need repair (thread_local: drain threads attach concurrently).
thread_local std::string t_scratch;

// Every string from shared memory goes through here before it enters a protobuf string field.
template <class Setter>
void set_text(std::string_view s, Setter&& set) {
  const std::string_view v = detail::valid_utf8(s, t_scratch);
  set(v.data(), v.size());
}

void add_string(otlp::resource::v1::Resource& r, std::string_view key, std::string_view value) {
  auto* kv = r.add_attributes();
  set_text(key, [&](const char* p, std::size_t n) { kv->set_key(p, n); });
  set_text(value, [&](const char* p, std::size_t n) { kv->mutable_value()->set_string_value(p, n); });
}

}  // namespace

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
