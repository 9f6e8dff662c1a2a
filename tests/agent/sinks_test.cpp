// The local sinks: OTLP/JSON writer, file exporter, console waterfalls.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config/config.hpp"
#include "agent/export/exporter.hpp"
#include "agent/sinks/exporter_factory.hpp"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "agent/sinks/console_exporter.hpp"
#include "agent/sinks/file_exporter.hpp"
#include "agent/sinks/otlp_json.hpp"

namespace spanring::agent {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;

std::string bytes_of(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out += static_cast<char>(v);
  return out;
}

const std::string kTraceId = bytes_of({0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
                                       0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c});
const std::string kSpanId = bytes_of({0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74});
const std::string kParentId = bytes_of({0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73});

common::KeyValue* add_attr(google::protobuf::RepeatedPtrField<common::KeyValue>* attrs, const std::string& key) {
  common::KeyValue* kv = attrs->Add();
  kv->set_key(key);
  return kv;
}

// One request touching every field and every AnyValue kind.
ExportTraceServiceRequest full_request() {
  ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  auto* service = add_attr(rs->mutable_resource()->mutable_attributes(), "service.name");
  service->mutable_value()->set_string_value("llm-engine");
  rs->mutable_resource()->set_dropped_attributes_count(1);
  rs->set_schema_url("https://opentelemetry.io/schemas/1.26.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("spanring");
  ss->mutable_scope()->set_version("0.1.0");

  trace::Span* s = ss->add_spans();
  s->set_trace_id(kTraceId);
  s->set_span_id(kSpanId);
  s->set_trace_state("k=v");
  s->set_parent_span_id(kParentId);
  s->set_name("chat \"llama\"\\\n\x01\xc3\xa9");
  s->set_kind(trace::Span::SPAN_KIND_SERVER);
  s->set_start_time_unix_nano(1544712660000000000ULL);
  s->set_end_time_unix_nano(1544712661000000000ULL);
  auto* attrs = s->mutable_attributes();
  add_attr(attrs, "s")->mutable_value()->set_string_value("x");
  add_attr(attrs, "b")->mutable_value()->set_bool_value(false);
  add_attr(attrs, "i")->mutable_value()->set_int_value(-42);
  add_attr(attrs, "big")->mutable_value()->set_int_value(std::numeric_limits<std::int64_t>::max());
  add_attr(attrs, "d")->mutable_value()->set_double_value(0.5);
  add_attr(attrs, "by")->mutable_value()->set_bytes_value(bytes_of({0x00, 0xff, 0x10}));
  auto* arr = add_attr(attrs, "arr")->mutable_value()->mutable_array_value();
  arr->add_values()->set_string_value("a");
  arr->add_values()->set_int_value(1);
  auto* kv = add_attr(attrs, "kv")->mutable_value()->mutable_kvlist_value();
  add_attr(kv->mutable_values(), "k")->mutable_value()->set_bool_value(true);
  add_attr(attrs, "empty")->mutable_value();
  s->set_dropped_attributes_count(2);
  auto* ev = s->add_events();
  ev->set_time_unix_nano(1544712660500000000ULL);
  ev->set_name("first_token");
  add_attr(ev->mutable_attributes(), "n")->mutable_value()->set_int_value(0);
  s->set_dropped_events_count(3);
  auto* link = s->add_links();
  link->set_trace_id(kTraceId);
  link->set_span_id(bytes_of({1, 2, 3, 4, 5, 6, 7, 8}));
  link->set_flags(0x301);
  s->set_dropped_links_count(4);
  s->mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  s->mutable_status()->set_message("oom");
  s->set_flags(0x103);

  trace::Span* minimal = ss->add_spans();
  minimal->set_trace_id(kTraceId);
  minimal->set_span_id(kParentId);
  minimal->mutable_status();  // set but empty: written as {}
  return req;
}

std::string to_json(const ExportTraceServiceRequest& req) {
  std::string out;
  append_otlp_json(req, out);
  return out;
}

TEST(OtlpJson, WritesEveryFieldKindAsTheOtlpJsonMappingSays) {
  const std::string expected =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"llm-engine"}}],)"
      R"("droppedAttributesCount":1},"scopeSpans":[{"scope":{"name":"spanring","version":"0.1.0"},"spans":[{)"
      R"("traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","traceState":"k=v",)"
      R"("parentSpanId":"eee19b7ec3c1b173","name":"chat \"llama\"\\\n\u0001)"
      "\xc3\xa9"
      R"(","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",)"
      R"("attributes":[{"key":"s","value":{"stringValue":"x"}},{"key":"b","value":{"boolValue":false}},)"
      R"({"key":"i","value":{"intValue":"-42"}},{"key":"big","value":{"intValue":"9223372036854775807"}},)"
      R"({"key":"d","value":{"doubleValue":0.5}},{"key":"by","value":{"bytesValue":"AP8Q"}},)"
      R"({"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}},)"
      R"({"key":"kv","value":{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}}},)"
      R"({"key":"empty","value":{}}],"droppedAttributesCount":2,)"
      R"("events":[{"timeUnixNano":"1544712660500000000","name":"first_token",)"
      R"("attributes":[{"key":"n","value":{"intValue":"0"}}]}],"droppedEventsCount":3,)"
      R"("links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0102030405060708","flags":769}],)"
      R"("droppedLinksCount":4,"status":{"message":"oom","code":2},"flags":259},)"
      R"({"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b173","status":{}}]}],)"
      R"("schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]})";
  EXPECT_EQ(to_json(full_request()), expected);
}

TEST(OtlpJson, OmitsDefaultValuedFieldsAndEmptyEnvelopes) {
  ExportTraceServiceRequest req;
  EXPECT_EQ(to_json(req), "{}");
  trace::Span* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_kind(trace::Span::SPAN_KIND_UNSPECIFIED);
  s->set_flags(0);
  s->set_dropped_attributes_count(0);
  EXPECT_EQ(to_json(req), R"({"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]})");
}

TEST(OtlpJson, AppendsToExistingText) {
  std::string out = "prefix ";
  append_otlp_json(ExportTraceServiceRequest{}, out);
  EXPECT_EQ(out, "prefix {}");
}

std::string json_of_double(double v) {
  ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  add_attr(s->mutable_attributes(), "d")->mutable_value()->set_double_value(v);
  const std::string json = to_json(req);
  const std::string head =
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"d","value":{"doubleValue":)";
  const std::string tail = "}}]}]}]}]}";
  EXPECT_EQ(json.substr(0, head.size()), head);
  EXPECT_EQ(json.substr(json.size() - tail.size()), tail);
  return json.substr(head.size(), json.size() - head.size() - tail.size());
}

TEST(OtlpJson, WritesNonFiniteDoublesAsProto3JsonStrings) {
  EXPECT_EQ(json_of_double(std::numeric_limits<double>::quiet_NaN()), "\"NaN\"");
  EXPECT_EQ(json_of_double(std::numeric_limits<double>::infinity()), "\"Infinity\"");
  EXPECT_EQ(json_of_double(-std::numeric_limits<double>::infinity()), "\"-Infinity\"");
}

TEST(OtlpJson, WritesFiniteDoublesInTheirShortestExactForm) {
  EXPECT_EQ(json_of_double(0.1), "0.1");
  EXPECT_EQ(json_of_double(-2.0), "-2");
  EXPECT_EQ(json_of_double(1e300), "1e+300");
  EXPECT_EQ(json_of_double(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(json_of_double(-0.0), "-0.0");
}

std::string json_of_string(const std::string& v) {
  ExportTraceServiceRequest req;
  req.add_resource_spans()->add_scope_spans()->add_spans()->set_name(v);
  const std::string json = to_json(req);
  const std::string head = R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"name":)";
  const std::string tail = "}]}]}]}";
  return json.substr(head.size(), json.size() - head.size() - tail.size());
}

TEST(OtlpJson, EscapesControlCharactersAndPassesValidUtf8Through) {
  EXPECT_EQ(json_of_string(std::string("\b\f\n\r\t\x1f\x7f", 7)), R"("\b\f\n\r\t\u001f)" "\x7f\"");
  EXPECT_EQ(json_of_string(std::string("a\0b", 3)), R"("a\u0000b")");
  // 2-, 3- and 4-byte sequences, including U+10FFFF.
  const std::string utf8 = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf";
  EXPECT_EQ(json_of_string(utf8), "\"" + utf8 + "\"");
}

TEST(OtlpJson, ReplacesEachInvalidUtf8ByteWithReplacementCharacter) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(json_of_string("a\xff" "b"), "\"a" + fffd + "b\"");
  EXPECT_EQ(json_of_string("\xc3"), "\"" + fffd + "\"");                              // truncated
  EXPECT_EQ(json_of_string("\xc0\xaf"), "\"" + fffd + fffd + "\"");                   // overlong
  EXPECT_EQ(json_of_string("\xed\xa0\x80"), "\"" + fffd + fffd + fffd + "\"");        // surrogate
  EXPECT_EQ(json_of_string("\xf4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
}

std::string base64_decode(std::string_view in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<std::uint32_t>(alphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string hex_decode(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i + 1 < in.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(in.substr(i, 2)), nullptr, 16));
  }
  return out;
}

TEST(OtlpJson, ParsesWithSimdjsonAndEveryValueRoundTrips) {
  const ExportTraceServiceRequest req = full_request();
  const std::string json = to_json(req);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS);

  const trace::Span& want = req.resource_spans(0).scope_spans(0).spans(0);
  const simdjson::dom::element rs = doc["resourceSpans"].at(0);
  const simdjson::dom::element span = rs["scopeSpans"].at(0)["spans"].at(0);
  EXPECT_EQ(std::string_view(rs["resource"]["attributes"].at(0)["value"]["stringValue"]), "llm-engine");
  EXPECT_EQ(hex_decode(std::string_view(span["traceId"])), want.trace_id());
  EXPECT_EQ(hex_decode(std::string_view(span["spanId"])), want.span_id());
  EXPECT_EQ(hex_decode(std::string_view(span["parentSpanId"])), want.parent_span_id());
  EXPECT_EQ(std::string_view(span["name"]), want.name());
  EXPECT_EQ(std::int64_t(span["kind"]), 2);
  EXPECT_EQ(std::stoull(std::string(std::string_view(span["startTimeUnixNano"]))), want.start_time_unix_nano());
  EXPECT_EQ(std::stoull(std::string(std::string_view(span["endTimeUnixNano"]))), want.end_time_unix_nano());
  EXPECT_EQ(std::int64_t(span["flags"]), 0x103);
  EXPECT_EQ(std::int64_t(span["status"]["code"]), 2);

  const simdjson::dom::array attrs = span["attributes"];
  ASSERT_EQ(attrs.size(), static_cast<std::size_t>(want.attributes_size()));
  EXPECT_EQ(std::stoll(std::string(std::string_view(attrs.at(2)["value"]["intValue"]))), -42);
  EXPECT_EQ(std::stoll(std::string(std::string_view(attrs.at(3)["value"]["intValue"]))),
            std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(double(attrs.at(4)["value"]["doubleValue"]), 0.5);
  EXPECT_EQ(base64_decode(std::string_view(attrs.at(5)["value"]["bytesValue"])), bytes_of({0x00, 0xff, 0x10}));
  EXPECT_EQ(bool(attrs.at(7)["value"]["kvlistValue"]["values"].at(0)["value"]["boolValue"]), true);
  EXPECT_EQ(simdjson::dom::object(attrs.at(8)["value"]).size(), 0u);
}

TEST(OtlpJson, DoublesReadBackBitForBit) {
  for (const double v : {0.1, 1.0 / 3.0, -0.0, 5e-324, DBL_MAX, 6.02214076e23, -1.5e-7}) {
    const std::string text = json_of_double(v);
    simdjson::dom::parser parser;
    double back = 0;
    ASSERT_EQ(parser.parse(text).get(back), simdjson::SUCCESS) << text;
    EXPECT_EQ(std::memcmp(&back, &v, sizeof v), 0) << text;
  }
}

// ---- file exporter ---------------------------------------------------------------------------

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "spanring_sinks_" + name + "_" + std::to_string(::getpid()) + ".jsonl";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ExportBatch batch_of(const ExportTraceServiceRequest& req, std::uint64_t id) {
  ExportBatch b;
  b.body = req.SerializeAsString();
  for (const auto& rs : req.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) b.spans += static_cast<std::uint64_t>(ss.spans_size());
  }
  b.id = id;
  return b;
}

ExportTraceServiceRequest request_named(const std::string& name) {
  ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(kTraceId);
  s->set_span_id(kSpanId);
  s->set_name(name);
  return req;
}

TEST(FileExporter, AppendsOneLinePerBatchAndReportsAcceptedInOrder) {
  const std::string path = temp_path("appends");
  { std::ofstream(path) << "earlier line\n"; }
  boost::asio::io_context io;
  std::vector<ExportResult> results;
  std::string error;
  auto exporter = make_file_exporter(io, path, [&](const ExportResult& r) { results.push_back(r); }, error);
  ASSERT_NE(exporter, nullptr) << error;

  const std::vector<ExportTraceServiceRequest> reqs = {full_request(), request_named("b"), request_named("c")};
  for (std::size_t i = 0; i < reqs.size(); ++i) ASSERT_TRUE(exporter->enqueue(batch_of(reqs[i], 10 + i)));
  EXPECT_TRUE(results.empty());  // posted, never delivered inside enqueue()
  io.run();

  ASSERT_EQ(results.size(), 3u);
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].outcome, ExportOutcome::kAccepted);
    EXPECT_EQ(results[i].id, 10 + i);
    EXPECT_EQ(results[i].spans, i == 0 ? 2u : 1u);
    EXPECT_EQ(results[i].rejected_spans, 0u);
  }
  EXPECT_EQ(read_file(path),
            "earlier line\n" + to_json(reqs[0]) + "\n" + to_json(reqs[1]) + "\n" + to_json(reqs[2]) + "\n");
  EXPECT_EQ(exporter->queued_spans(), 0u);
  ::unlink(path.c_str());
}

TEST(FileExporter, UnopenablePathReturnsNullAndNamesThePath) {
  boost::asio::io_context io;
  std::string error;
  const std::string path = "/nonexistent-spanring-dir/spans.jsonl";
  EXPECT_EQ(make_file_exporter(io, path, [](const ExportResult&) {}, error), nullptr);
  EXPECT_EQ(error, "cannot open " + path + " for appending: No such file or directory");
}

TEST(FileExporter, WriteErrorFailsPermanentlyWithTheErrnoText) {
  boost::asio::io_context io;
  std::vector<ExportResult> results;
  std::string error;
  // Every write to /dev/full fails with ENOSPC.
  auto exporter = make_file_exporter(io, "/dev/full", [&](const ExportResult& r) { results.push_back(r); }, error);
  ASSERT_NE(exporter, nullptr) << error;
  ASSERT_TRUE(exporter->enqueue(batch_of(request_named("a"), 1)));
  io.run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].outcome, ExportOutcome::kFailedPermanent);
  EXPECT_EQ(results[0].rejected_spans, 1u);
  EXPECT_EQ(results[0].message, "write to /dev/full failed: No space left on device");
}

TEST(FileExporter, ShutdownCallsDoneAfterEveryResultAndRefusesLaterBatches) {
  const std::string path = temp_path("shutdown");
  ::unlink(path.c_str());
  boost::asio::io_context io;
  std::vector<std::string> events;
  std::string error;
  auto exporter = make_file_exporter(
      io, path, [&](const ExportResult& r) { events.push_back("result " + std::to_string(r.id)); }, error);
  ASSERT_NE(exporter, nullptr) << error;
  ASSERT_TRUE(exporter->enqueue(batch_of(request_named("a"), 1)));
  ASSERT_TRUE(exporter->enqueue(batch_of(request_named("b"), 2)));
  exporter->shutdown(std::chrono::steady_clock::now(), [&] { events.push_back("done"); });
  EXPECT_FALSE(exporter->enqueue(batch_of(request_named("c"), 3)));
  EXPECT_TRUE(events.empty());
  io.run();
  EXPECT_EQ(events, (std::vector<std::string>{"result 1", "result 2", "done"}));
  EXPECT_EQ(read_file(path), to_json(request_named("a")) + "\n" + to_json(request_named("b")) + "\n");
  ::unlink(path.c_str());
}

// ---- console exporter ------------------------------------------------------------------------

// A FILE* the exporter prints to, read back as a string.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::FILE* file() const { return file_; }
  // Everything printed since the previous call.
  std::string take() {
    std::fflush(file_);
    std::fseek(file_, static_cast<long>(read_), SEEK_SET);
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) out.append(buf, n);
    read_ += out.size();
    std::fseek(file_, 0, SEEK_END);
    return out;
  }

 private:
  std::FILE* file_;
  std::size_t read_ = 0;
};

constexpr std::uint64_t kBaseNs = 1'700'000'000'000'000'000ULL;

std::string trace_id_of(int t) { return std::string(15, '\0') + static_cast<char>(t); }
std::string span_id_of(int s) { return s == 0 ? std::string() : std::string(7, '\0') + static_cast<char>(s); }

// Span `id` of trace `t` under `parent` (0 = root), from start_us to end_us after kBaseNs.
trace::Span span(int t, int id, int parent, const std::string& name, std::uint64_t start_us, std::uint64_t end_us) {
  trace::Span s;
  s.set_trace_id(trace_id_of(t));
  s.set_span_id(span_id_of(id));
  s.set_parent_span_id(span_id_of(parent));
  s.set_name(name);
  s.set_kind(trace::Span::SPAN_KIND_INTERNAL);
  s.set_start_time_unix_nano(kBaseNs + start_us * 1000);
  s.set_end_time_unix_nano(kBaseNs + end_us * 1000);
  return s;
}

ExportBatch batch(const std::vector<trace::Span>& spans, std::uint64_t id = 0, const std::string& service = "svc") {
  ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  add_attr(rs->mutable_resource()->mutable_attributes(), "service.name")->mutable_value()->set_string_value(service);
  auto* ss = rs->add_scope_spans();
  for (const auto& s : spans) *ss->add_spans() = s;
  return batch_of(req, id);
}

struct ConsoleFixture {
  explicit ConsoleFixture(ConsoleOptions options) {
    options.out = capture.file();
    exporter = make_console_exporter(io, [this](const ExportResult& r) { results.push_back(r); }, options);
  }
  static ConsoleOptions immediate() {
    ConsoleOptions o;
    o.hold = std::chrono::milliseconds(0);
    o.max_traces = 0;
    return o;
  }
  // An io_context that ran out of work stays stopped until restart().
  void poll() {
    io.restart();
    io.poll();
  }
  void finish() {
    exporter->shutdown(std::chrono::steady_clock::now(), [this] { done = true; });
    io.restart();
    io.run();
  }

  boost::asio::io_context io;
  Capture capture;
  std::vector<ExportResult> results;
  bool done = false;
  std::unique_ptr<Exporter> exporter;
};

TEST(ConsoleExporter, PrintsTreeOnceRootArrivesAfterItsChildren) {
  ConsoleFixture f(ConsoleFixture::immediate());
  // Children end (and are exported) before their parent, siblings in any order.
  trace::Span b = span(1, 4, 1, "decode", 5000, 9000);
  trace::Span a = span(1, 2, 1, "cache_lookup", 1000, 4000);
  add_attr(a.mutable_attributes(), "cache.hit")->mutable_value()->set_bool_value(true);
  add_attr(a.mutable_attributes(), "cache.layer")->mutable_value()->set_int_value(0);
  ASSERT_TRUE(f.exporter->enqueue(batch({span(1, 3, 2, "ssd_read", 2000, 3000), b, a}, 1)));
  f.poll();
  EXPECT_EQ(f.capture.take(), "");

  trace::Span root = span(1, 1, 0, "llm_inference", 0, 10000);
  root.set_kind(trace::Span::SPAN_KIND_SERVER);
  add_attr(root.mutable_attributes(), "gen_ai.request.model")->mutable_value()->set_string_value("llama-3-8b");
  root.add_events()->set_name("first_token");
  ASSERT_TRUE(f.exporter->enqueue(batch({root}, 2)));
  f.poll();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000001  svc  4 spans  10.000 ms\n"
            "  llm_inference [server]  |########################################| 10.000 ms"
            "  gen_ai.request.model=llama-3-8b events=first_token\n"
            "    cache_lookup          |    ############                        |  3.000 ms"
            "  cache.hit=true cache.layer=0\n"
            "      ssd_read            |        ####                            |  1.000 ms\n"
            "    decode                |                    ################    |  4.000 ms\n");
  EXPECT_EQ(f.exporter->queued_spans(), 0u);
  ASSERT_EQ(f.results.size(), 2u);
  EXPECT_EQ(f.results[0].id, 1u);
  EXPECT_EQ(f.results[1].id, 2u);
  EXPECT_EQ(f.results[1].outcome, ExportOutcome::kAccepted);
}

TEST(ConsoleExporter, MarksErrorsKindsOtherServicesAndOrphans) {
  ConsoleFixture f(ConsoleFixture::immediate());
  trace::Span root = span(2, 1, 0, "request", 0, 4000);
  trace::Span client = span(2, 2, 1, "fetch", 0, 2000);
  client.set_kind(trace::Span::SPAN_KIND_CLIENT);
  client.mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  client.mutable_status()->set_message("timeout");
  trace::Span orphan = span(2, 3, 9, "late", 2000, 4000);  // parent 9 never arrives
  ASSERT_TRUE(f.exporter->enqueue(batch({client}, 1, "gateway")));
  ASSERT_TRUE(f.exporter->enqueue(batch({orphan, root}, 2)));
  f.poll();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000002  svc  3 spans  4.000 ms\n"
            "  request                    |########################################| 4.000 ms\n"
            "    gateway: fetch [client]  |####################                    | 2.000 ms  ERROR: timeout\n"
            "  late                       |                    ####################| 2.000 ms\n");
}

TEST(ConsoleExporter, ReplacesControlCharactersInSpanStrings) {
  ConsoleFixture f(ConsoleFixture::immediate());
  // ESC (C0) and CSI (C1, U+009B) could recolour or move the cursor. Invalid UTF-8 cannot get
  // here: protobuf refuses to parse a proto3 string that holds it.
  ASSERT_TRUE(f.exporter->enqueue(batch({span(3, 1, 0, "a\x1b[31mb\xc2\x9b" "2J", 0, 1000)})));
  f.poll();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000003  svc  1 span  1.000 ms\n"
            "  a?[31mb?2J  |########################################| 1.000 ms\n");
}

TEST(ConsoleExporter, SpanWithRemoteParentCompletesTheTrace) {
  ConsoleOptions o = ConsoleFixture::immediate();
  o.root_wait = std::chrono::hours(1);
  ConsoleFixture f(o);
  trace::Span s = span(4, 1, 7, "handle", 0, 1000);
  s.set_flags(0x301);  // parent is remote: span 7 lives in the caller's process
  ASSERT_TRUE(f.exporter->enqueue(batch({s})));
  f.poll();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000004  svc  1 span  1.000 ms\n"
            "  handle  |########################################| 1.000 ms\n");
}

TEST(ConsoleExporter, TraceWithoutRootWaitsForRootWaitThenPrintsMarked) {
  ConsoleOptions o = ConsoleFixture::immediate();
  o.root_wait = std::chrono::hours(1);
  ConsoleFixture f(o);
  ASSERT_TRUE(f.exporter->enqueue(batch({span(5, 2, 1, "child", 0, 1000)})));
  f.poll();
  EXPECT_EQ(f.capture.take(), "");
  EXPECT_EQ(f.exporter->queued_spans(), 1u);

  ConsoleOptions zero = ConsoleFixture::immediate();
  zero.root_wait = std::chrono::milliseconds(0);
  ConsoleFixture g(zero);
  ASSERT_TRUE(g.exporter->enqueue(batch({span(5, 2, 1, "child", 0, 1000)})));
  g.poll();
  EXPECT_EQ(g.capture.take(),
            "trace 00000000000000000000000000000005  svc  1 span  1.000 ms  (root missing)\n"
            "  child  |########################################| 1.000 ms\n");
}

TEST(ConsoleExporter, PrintsMaxTracesThenOnlySummaryLines) {
  ConsoleOptions o = ConsoleFixture::immediate();
  o.max_traces = 2;
  ConsoleFixture f(o);
  std::vector<trace::Span> spans;
  for (int t = 1; t <= 5; ++t) {
    spans.push_back(span(t, 2, 1, "child", 0, 500));
    spans.push_back(span(t, 1, 0, "root", 0, 1000));
  }
  ASSERT_TRUE(f.exporter->enqueue(batch(spans, 1)));
  f.poll();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000001  svc  2 spans  1.000 ms\n"
            "  root     |########################################| 1.000 ms\n"
            "    child  |####################                    | 0.500 ms\n"
            "trace 00000000000000000000000000000002  svc  2 spans  1.000 ms\n"
            "  root     |########################################| 1.000 ms\n"
            "    child  |####################                    | 0.500 ms\n"
            "(3 more traces, 6 spans not shown)\n");

  // Later batches are accepted and counted, not buffered.
  ASSERT_TRUE(f.exporter->enqueue(batch({span(6, 2, 1, "child", 0, 1), span(6, 1, 0, "root", 0, 2)}, 2)));
  EXPECT_EQ(f.exporter->queued_spans(), 0u);
  f.poll();
  EXPECT_EQ(f.capture.take(), "(1 more trace, 2 spans not shown)\n");
  f.finish();
  EXPECT_EQ(f.capture.take(), "");
  ASSERT_EQ(f.results.size(), 2u);
  EXPECT_EQ(f.results[1].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(f.results[1].spans, 2u);
}

TEST(ConsoleExporter, BoundsPendingSpansByForcingOutTheOldestTrace) {
  ConsoleOptions o;
  o.max_traces = 0;
  o.hold = std::chrono::hours(1);
  o.root_wait = std::chrono::hours(1);
  o.max_pending_spans = 3;
  ConsoleFixture f(o);
  ASSERT_TRUE(f.exporter->enqueue(batch({span(7, 2, 1, "a1", 0, 1000), span(7, 3, 1, "a2", 0, 2000)}, 1)));
  EXPECT_EQ(f.exporter->queued_spans(), 2u);
  ASSERT_TRUE(f.exporter->enqueue(batch({span(8, 2, 1, "b1", 0, 1000)}, 2)));
  EXPECT_EQ(f.exporter->queued_spans(), 3u);
  EXPECT_EQ(f.capture.take(), "");

  ASSERT_TRUE(f.exporter->enqueue(batch({span(8, 3, 1, "b2", 0, 2000)}, 3)));
  EXPECT_EQ(f.exporter->queued_spans(), 2u);  // trace 7 went out to make room
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000007  svc  2 spans  2.000 ms"
            "  (incomplete: pending-span limit)  (root missing)\n"
            "  a1  |####################                    | 1.000 ms\n"
            "  a2  |########################################| 2.000 ms\n");

  f.finish();
  EXPECT_EQ(f.capture.take(),
            "trace 00000000000000000000000000000008  svc  2 spans  2.000 ms  (root missing)\n"
            "  b1  |####################                    | 1.000 ms\n"
            "  b2  |########################################| 2.000 ms\n"
            "(1 trace forced out early by the 3-span buffer limit)\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.results.size(), 3u);
}

TEST(ConsoleExporter, OneTraceLargerThanTheBoundIsPrintedInParts) {
  ConsoleOptions o;
  o.max_traces = 0;
  o.hold = std::chrono::hours(1);
  o.max_pending_spans = 2;
  ConsoleFixture f(o);
  std::vector<trace::Span> spans;
  for (int i = 2; i <= 6; ++i) spans.push_back(span(9, i, 1, "s" + std::to_string(i), 0, 1000));
  ASSERT_TRUE(f.exporter->enqueue(batch(spans)));
  EXPECT_LE(f.exporter->queued_spans(), 2u);
  EXPECT_EQ(f.exporter->queued_spans(), 1u);  // 2 + 2 forced out, the fifth buffered
  f.finish();
  const std::string out = f.capture.take();
  std::size_t headers = 0;
  for (std::size_t p = out.find("trace "); p != std::string::npos; p = out.find("trace ", p + 1)) ++headers;
  EXPECT_EQ(headers, 3u);
  EXPECT_NE(out.find("(2 traces forced out early by the 2-span buffer limit)\n"), std::string::npos);
}

TEST(ConsoleExporter, ShutdownPrintsBufferedTracesThenCallsDoneAfterResults) {
  ConsoleOptions o;
  o.hold = std::chrono::hours(1);
  ConsoleFixture f(o);
  ASSERT_TRUE(f.exporter->enqueue(batch({span(10, 1, 0, "root", 0, 1000)}, 5)));
  f.poll();
  EXPECT_EQ(f.capture.take(), "");
  bool result_before_done = false;
  f.exporter->shutdown(std::chrono::steady_clock::now(), [&] { result_before_done = f.results.size() == 1; });
  EXPECT_FALSE(f.exporter->enqueue(batch({span(11, 1, 0, "root", 0, 1000)})));
  f.io.restart();
  f.io.run();
  EXPECT_TRUE(result_before_done);
  EXPECT_EQ(f.capture.take(),
            "trace 0000000000000000000000000000000a  svc  1 span  1.000 ms\n"
            "  root  |########################################| 1.000 ms\n");
}

// ---- the exporter the config names ------------------------------------------------------------

TEST(MakeExporter, NoneAcceptsEveryBatchInOrderAndHoldsNothing) {
  boost::asio::io_context io;
  std::vector<ExportResult> results;
  ExporterConfig config;
  config.type = ExporterType::kNone;
  std::unique_ptr<Exporter> exporter;
  const Status st = make_exporter(io, config, [&](const ExportResult& r) { results.push_back(r); }, exporter);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_NE(exporter, nullptr);
  ASSERT_TRUE(exporter->enqueue(batch_of(request_named("a"), 1)));
  ASSERT_TRUE(exporter->enqueue(batch_of(request_named("b"), 2)));
  EXPECT_TRUE(results.empty());  // posted, never delivered inside enqueue()
  EXPECT_EQ(exporter->queued_spans(), 0u);
  bool done = false;
  exporter->shutdown(std::chrono::steady_clock::now(), [&] { done = results.size() == 2; });
  io.run();
  EXPECT_TRUE(done);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id, 1u);
  EXPECT_EQ(results[1].id, 2u);
  EXPECT_EQ(results[1].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(results[1].spans, 1u);
}

TEST(MakeExporter, InvalidOtlpConfigIsAnInvalidArgumentWithTheValidationMessage) {
  boost::asio::io_context io;
  ExporterConfig config;
  config.otlp.queue.max_batches = 0;
  std::unique_ptr<Exporter> exporter;
  const Status st = make_exporter(io, config, [](const ExportResult&) {}, exporter);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(exporter, nullptr);
  EXPECT_NE(st.message().find("queue.max_batches"), std::string::npos) << st.message();
}

TEST(MakeExporter, UnopenableFileIsUnavailableAndNamesThePath) {
  boost::asio::io_context io;
  ExporterConfig config;
  config.type = ExporterType::kFile;
  config.file.path = "/nonexistent-spanring-dir/spans.jsonl";
  std::unique_ptr<Exporter> exporter;
  const Status st = make_exporter(io, config, [](const ExportResult&) {}, exporter);
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(exporter, nullptr);
  EXPECT_NE(st.message().find(config.file.path), std::string::npos) << st.message();
}

}  // namespace
}  // namespace spanring::agent
