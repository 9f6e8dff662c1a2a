// A test engine that writes one trace using every span field, then prints what it wrote
// (ids and the wall-clock bounds of the spans) for the end-to-end test to compare.
//   spanring-test-field-engine SERVICE
#include <time.h>

#include <cstdio>
#include <string>

#include "spanring/tracer.hpp"

namespace {

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  spanring::Options o;
  o.service_name = argv[1];
  o.resource_attributes = {{"deployment.environment", "e2e"}};
  const auto st = spanring::init(o);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message.c_str());
    return 1;
  }
  static const spanring::Key kInterned("llm.interned_key");
  spanring::SpanContext remote;
  spanring::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=abc,other=x", remote);
  spanring::SpanContext linked;
  spanring::extract("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "lk=1", linked);

  const std::uint64_t t0 = now_ns();
  std::string root_id, child_id, big_id, arrays_id;
  {
    spanring::Span root("field_root", remote, spanring::SpanKind::kServer);
    spanring::Scope scope(root);
    root.set_attribute("attr.bool", true);
    root.set_attribute("attr.int", std::int64_t{-42});
    root.set_attribute("attr.double", 2.5);
    root.set_attribute("attr.string", "hello \xc3\xa9");
    root.set_attribute(kInterned, std::int64_t{7});
    root.set_attribute("attr.int", std::int64_t{43});  // a repeated key: the last value wins
    root.add_event("token.first", {spanring::Attribute("token.index", 1), spanring::Attribute("token.text", "Hi")});
    root.add_link(linked, {spanring::Attribute("link.reason", "batch")});
    root.record_exception("OutOfMemory", "kv cache exhausted");
    {
      spanring::Span child("field_child", spanring::SpanKind::kClient);
      child.set_status(spanring::StatusCode::kOk);
      child_id = hex(child.span_id().bytes, 8);
    }
    {
      spanring::Span big("field_big");
      const std::string value(200, 'v');
      for (int i = 0; i < 10; ++i) big.set_attribute("big." + std::to_string(i), std::string_view(value));
      big_id = hex(big.span_id().bytes, 8);
    }
    {
      // ABI 2.0: arrays of each type, explicit times (span and event), a stack trace.
      spanring::Span arrays("field_arrays");
      arrays.set_start_time_unix_ns(1'700'000'000'000'000'001ull);
      const std::string_view reasons[] = {"stop", "length"};
      const std::int64_t ints[] = {1, -2};
      const double doubles[] = {0.5};
      const bool bools[] = {true, false};
      arrays.set_attribute("gen_ai.response.finish_reasons", std::span<const std::string_view>(reasons));
      arrays.set_attribute("arr.int", std::span<const std::int64_t>(ints));
      arrays.set_attribute("arr.double", std::span<const double>(doubles));
      arrays.set_attribute("arr.bool", std::span<const bool>(bools));
      const spanring::Attribute event_attrs[] = {spanring::Attribute("ev.list", std::span<const std::int64_t>(ints))};
      arrays.add_event(spanring::Key::inline_text("queued"), event_attrs, 1, 1'700'000'000'000'000'002ull);
      arrays.record_exception("ValueError", "bad", "Traceback:\n  f()");
      arrays_id = hex(arrays.span_id().bytes, 8);
      arrays.end_at_unix_ns(1'700'000'000'000'000'003ull);
    }
    root_id = hex(root.span_id().bytes, 8);
  }
  const std::uint64_t t1 = now_ns();
  std::printf("root=%s child=%s big=%s arrays=%s t0=%llu t1=%llu\n", root_id.c_str(), child_id.c_str(),
              big_id.c_str(), arrays_id.c_str(),
              static_cast<unsigned long long>(t0), static_cast<unsigned long long>(t1));
  spanring::shutdown();
  return 0;
}
