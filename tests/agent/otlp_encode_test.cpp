// The wire-format encoder (agent/core/otlp_encode.hpp) against the judge it replaced: the
// message-building converter the agent used before, kept here as the reference. For a varied
// set of spans (every attribute kind, repeated keys, events, links, status, tracestate, sampler
// annotations, invalid UTF-8, a clock discontinuity) and several sources in one batch, protobuf
// parses the encoder's bytes into exactly the message the reference builds — and the bytes are
// the ones protobuf itself serializes for that message.
#include <gtest/gtest.h>
#include <google/protobuf/util/message_differencer.h>

#include <climits>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "agent/base/utf8.hpp"
#include "agent/core/batch_builder.hpp"
#include "agent/core/otlp_convert.hpp"
#include "agent/core/otlp_encode.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace spanring::agent {
namespace {

namespace otlp = opentelemetry::proto;

// ---------------------------------------------------------------------------------------------
// The reference: agent/core/otlp_convert.cpp's to_otlp as of e61209d, plus the discontinuity
// attribute. Protobuf messages, set field by field.
namespace reference {

thread_local std::string t_scratch;

template <class Setter>
void set_text(std::string_view s, Setter&& set) {
  const std::string_view v = agent::detail::valid_utf8(s, t_scratch);
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

void to_otlp(const shm::SpanView& s, otlp::trace::v1::Span& out, const SamplingAnnotation* sampling = nullptr,
             std::string_view sampled_trace_state = {}) {
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
  if (s.clock_discontinuity) {
    auto* kv = out.add_attributes();
    kv->set_key(kClockDiscontinuityKey);
    kv->mutable_value()->set_bool_value(true);
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

}  // namespace reference

// ---------------------------------------------------------------------------------------------
// Spans

// Owns the strings a SpanView points to.
struct SpanCase {
  std::deque<std::string> text;
  shm::SpanView view;
  std::string_view keep(std::string s) { return text.emplace_back(std::move(s)); }
};

shm::AttrView attr(SpanCase& c, std::string key, int type, std::int32_t key_id = -1) {
  shm::AttrView a;
  a.key = c.keep(std::move(key));
  a.key_id = key_id;
  a.type = static_cast<std::uint8_t>(type);
  return a;
}

// Deterministic variety: seed → one span exercising a mix of every field.
void make_span(SpanCase& c, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  shm::SpanView& v = c.view;
  for (auto& b : v.trace_id) b = static_cast<std::uint8_t>(rng());
  for (auto& b : v.span_id) b = static_cast<std::uint8_t>(rng());
  v.has_parent = pick(2) == 0;
  if (v.has_parent)
    for (auto& b : v.parent_span_id) b = static_cast<std::uint8_t>(rng());
  v.kind = static_cast<std::uint8_t>(pick(6));
  v.status = static_cast<std::uint8_t>(pick(3));
  v.trace_flags = static_cast<std::uint8_t>(pick(2));
  v.span_flags = static_cast<std::uint8_t>(pick(16));
  v.start_unix_ns = pick(4) == 0 ? 0 : 1'700'000'000'000'000'000ull + pick(1'000'000'000);
  v.end_unix_ns = v.start_unix_ns + pick(5'000'000);
  const char* names[] = {"llm_inference", "", "prefill", "decode \xff\xfe broken", "\xe2\x82\xac-step"};
  v.name = c.keep(pick(6) == 5 ? std::string(300, 'n') : names[pick(5)]);
  v.trace_state = c.keep(pick(2) ? "" : "ot=th:8;rv:abc,vendor=x");
  v.status_message = c.keep(pick(2) ? "" : "failed: \xc3\x28 bad utf8");
  v.dropped_attributes = static_cast<std::uint32_t>(pick(3));
  v.dropped_events = static_cast<std::uint32_t>(pick(2) * 7);
  v.dropped_links = static_cast<std::uint32_t>(pick(2) * 300);
  v.clock_discontinuity = pick(5) == 0;
  auto random_attr = [&](std::vector<shm::AttrView>& out) {
    const int type = static_cast<int>(pick(4));
    const std::int32_t id = static_cast<std::int32_t>(pick(6));
    const bool interned = pick(2) == 0;
    shm::AttrView a = attr(c, "key." + std::to_string(id) + (pick(10) == 0 ? "\x80" : ""),
                           type == 0 ? shm::kAttrBool : type == 1 ? shm::kAttrInt : type == 2 ? shm::kAttrDouble : shm::kAttrString,
                           interned ? id : -1);
    a.bool_value = pick(2) == 0;
    const std::int64_t ints[] = {0, 1, -1, 300, INT64_MIN, INT64_MAX};
    a.int_value = ints[pick(6)];
    const double doubles[] = {0.0, -0.0, 1.5, -2.25e300, 1e-310};
    a.double_value = doubles[pick(5)];
    a.string_value = c.keep(pick(4) == 0 ? "" : pick(3) == 0 ? std::string(200, 's') : "hot \xf0\x9f\x94\xa5");
    if (pick(3) == 0) {  // an array of the same element type (codec layout: span_codec.hpp)
      const std::uint8_t arrays[] = {shm::kAttrBoolArray, shm::kAttrIntArray, shm::kAttrDoubleArray, shm::kAttrStringArray};
      a.type = arrays[type];
      a.array_count = static_cast<std::uint32_t>(pick(4));
      std::string bytes;
      for (std::uint32_t k = 0; k < a.array_count; ++k) {
        char buf[8];
        switch (type) {
          case 0: bytes.push_back(static_cast<char>(pick(2))); break;
          case 1: { const std::int64_t x = ints[pick(6)]; std::memcpy(buf, &x, 8); bytes.append(buf, 8); break; }
          case 2: { const double x = doubles[pick(5)]; std::memcpy(buf, &x, 8); bytes.append(buf, 8); break; }
          default: {
            const std::string e = pick(2) ? "stop" : "bad \xff";
            const auto n = static_cast<std::uint16_t>(e.size());
            std::memcpy(buf, &n, 2);
            bytes.append(buf, 2);
            bytes += e;
          }
        }
      }
      a.array_bytes = c.keep(bytes);
    }
    out.push_back(a);
  };
  const std::size_t attrs = pick(12);
  for (std::size_t i = 0; i < attrs; ++i) random_attr(v.attributes);
  const std::size_t events = pick(4);
  for (std::size_t i = 0; i < events; ++i) {
    shm::EventView e;
    e.time_unix_ns = pick(3) == 0 ? 0 : v.start_unix_ns + pick(1000);
    e.name = c.keep(pick(3) == 0 ? "" : "token");
    e.first_attr = static_cast<std::uint32_t>(v.sub_attributes.size());
    e.attr_count = static_cast<std::uint32_t>(pick(4));
    for (std::uint32_t k = 0; k < e.attr_count; ++k) random_attr(v.sub_attributes);
    e.dropped_attributes = static_cast<std::uint32_t>(pick(2) * 3);
    v.events.push_back(e);
  }
  const std::size_t links = pick(3);
  for (std::size_t i = 0; i < links; ++i) {
    shm::LinkView l;
    for (auto& b : l.trace_id) b = static_cast<std::uint8_t>(rng());
    for (auto& b : l.span_id) b = static_cast<std::uint8_t>(rng());
    l.trace_state = c.keep(pick(2) ? "" : "a=b");
    l.trace_flags = static_cast<std::uint8_t>(pick(2));
    l.flags = static_cast<std::uint8_t>(pick(16));
    l.first_attr = static_cast<std::uint32_t>(v.sub_attributes.size());
    l.attr_count = static_cast<std::uint32_t>(pick(3));
    for (std::uint32_t k = 0; k < l.attr_count; ++k) random_attr(v.sub_attributes);
    l.dropped_attributes = static_cast<std::uint32_t>(pick(2));
    v.links.push_back(l);
  }
}

// The annotation variants a sampler produces.
std::vector<SamplingAnnotation> annotations() {
  std::vector<SamplingAnnotation> out(4);
  out[1].trace_state_changed = true;
  out[2].add_sampler_tags = true;
  out[2].sampler_type = "probabilistic";
  out[2].sampler_param = 0.25;
  out[3] = out[2];
  out[3].trace_state_changed = true;
  out[3].sampler_type = "ratelimiting";
  out[3].sampler_param = 0;
  return out;
}

otlp::trace::v1::ScopeSpans parse_spans(const WireBuffer& b) {
  otlp::trace::v1::ScopeSpans ss;
  EXPECT_TRUE(ss.ParseFromArray(b.data(), static_cast<int>(b.size())));
  return ss;
}

void expect_same(const google::protobuf::Message& got, const google::protobuf::Message& want) {
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(got, want)) << diff;
}

TEST(OtlpEncode, EverySpanParsesIntoTheReferenceMessageByteForByte) {
  const std::vector<SamplingAnnotation> notes = annotations();
  for (std::uint32_t seed = 0; seed < 400; ++seed) {
    SpanCase c;
    make_span(c, seed);
    const SamplingAnnotation& note = notes[seed % notes.size()];
    const bool sampled = seed % 5 != 0;  // also without a sampler
    const std::string new_state = "ot=th:c;rv:abc";
    WireBuffer bytes;
    encode_span(c.view, bytes, sampled ? &note : nullptr, new_state);
    otlp::trace::v1::ScopeSpans want;
    reference::to_otlp(c.view, *want.add_spans(), sampled ? &note : nullptr, new_state);
    SCOPED_TRACE("seed " + std::to_string(seed));
    expect_same(parse_spans(bytes), want);
    EXPECT_EQ(bytes.view(), want.SerializeAsString());
  }
}

TEST(OtlpEncode, EmptyAndLargeMessagesGetTheirLengthsRight) {
  // A span under 128 bytes (its reserved 2-byte length shrinks) and one past 16 KiB (it grows).
  SpanCase small;
  small.view.trace_id[0] = 1;
  small.view.span_id[0] = 2;
  SpanCase large;
  large.view = small.view;
  for (int i = 0; i < 40; ++i) {
    shm::AttrView a = attr(large, "k" + std::to_string(i), shm::kAttrString);
    a.string_value = large.keep(std::string(500, char('a' + i % 26)));
    large.view.attributes.push_back(a);
  }
  for (SpanCase* c : {&small, &large}) {
    WireBuffer bytes;
    encode_span(c->view, bytes);
    encode_span(c->view, bytes);  // two in a row: the second starts where the first ended
    otlp::trace::v1::ScopeSpans want;
    reference::to_otlp(c->view, *want.add_spans());
    reference::to_otlp(c->view, *want.add_spans());
    expect_same(parse_spans(bytes), want);
    EXPECT_EQ(bytes.view(), want.SerializeAsString());
  }
}

// Several sources interleaved in one batch: one ResourceSpans each, in order of first
// appearance, with the scope and resource the reference put there.
TEST(OtlpEncode, ABatchOfSeveralSourcesIsTheReferenceRequest) {
  std::vector<BatchOrigin> origins(3);
  for (std::size_t i = 0; i < origins.size(); ++i) {
    ProcessIdentity id;
    id.service_name = "svc-" + std::to_string(i);
    id.host_name = "host";
    id.pid = static_cast<std::uint32_t>(100 + i);
    id.attributes = {{"deployment.environment", i == 1 ? "bad \xff utf8" : "prod"}};
    id.user_id = i == 2 ? -1 : 1000;
    make_resource(id, origins[i].resource);
    origins[i].service = i;
  }
  BatchBuilder builder(1000);
  ExportTraceServiceRequest want;
  std::vector<otlp::trace::v1::ScopeSpans*> scopes(origins.size(), nullptr);
  for (int round = 0; round < 2; ++round) {  // the second batch reuses every buffer
    want.Clear();
    std::fill(scopes.begin(), scopes.end(), nullptr);
    for (std::uint32_t seed = 0; seed < 60; ++seed) {
      const std::size_t o = (seed * 7 + static_cast<std::uint32_t>(round)) % 5 % origins.size();
      SpanCase c;
      make_span(c, seed + 1000 * static_cast<std::uint32_t>(round));
      EXPECT_TRUE(builder.add(origins[o], c.view).kept);
      if (!scopes[o]) {
        auto* rs = want.add_resource_spans();
        *rs->mutable_resource() = origins[o].resource;
        scopes[o] = rs->add_scope_spans();
        scopes[o]->mutable_scope()->set_name(kSdkName);
        scopes[o]->mutable_scope()->set_version(kSdkVersion);
      }
      reference::to_otlp(c.view, *scopes[o]->add_spans());
    }
    std::vector<ServiceSpans> services;
    const ExportBatch b = builder.close(services);
    EXPECT_EQ(b.spans, 60u);
    expect_same(b.request(), want);
    EXPECT_EQ(b.body, want.SerializeAsString());
    EXPECT_EQ(b.body.size(), want.ByteSizeLong());  // the exporter's byte bounds see the exact size
  }
}

}  // namespace
}  // namespace spanring::agent
