// How one request reaches the backend: every protocol (OTLP/gRPC, OTLP/HTTP protobuf and JSON)
// over plain TCP, TLS and mutual TLS, against the test receivers (tests/agent/otlp_receiver.*),
// with certificates made at run time by the openssl CLI (make_test_certs.sh). Then the faults
// of one attempt: a backend down then up, throttling with Retry-After / RetryInfo, partial
// success, certificates for another name, from an untrusted CA or expired, a server that accepts
// TCP and never answers TLS.
#include "agent/export/grpc_sender.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/export/sender_factory.hpp"
#include "otlp_receiver.hpp"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace spanring::agent {
namespace {

using namespace std::chrono_literals;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using spanring::test::OtlpReceiver;
using spanring::test::ReceiverOptions;

constexpr auto kHangGuard = 20s;

// ---- certificates -----------------------------------------------------------------------------

// Made by the ctest fixture (SPANRING_TEST_CERTS names its directory), else once per test
// process in a fresh directory that is removed at exit; empty when openssl is missing or failed
// (the tests that need certificates then skip, saying so).
struct CertDir {
  std::filesystem::path path;
  bool owned = false;  // made by this process, so removed by it
  CertDir() {
    if (const char* made = std::getenv("SPANRING_TEST_CERTS"); made != nullptr && *made != '\0') {
      if (std::filesystem::exists(std::filesystem::path(made) / "expired.pem")) path = made;
      return;
    }
    const auto d = std::filesystem::temp_directory_path() / ("spanring-tls-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    owned = true;
    const std::string command = "bash '" SPANRING_MAKE_TEST_CERTS "' '" + d.string() + "' >/dev/null";
    if (std::system("command -v openssl >/dev/null 2>&1") == 0 && std::system(command.c_str()) == 0) path = d;
  }
  ~CertDir() {
    std::error_code ignored;
    if (owned) {
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("spanring-tls-test-" + std::to_string(::getpid())),
                                  ignored);
    }
  }
};

const std::filesystem::path& cert_dir() {
  static const CertDir dir;
  return dir.path;
}

std::string cert(const char* name) { return (cert_dir() / name).string(); }

#ifdef SPANRING_UNDER_TSAN
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif
#define SKIP_GRPC_UNDER_TSAN(protocol)                                                                    \
  if ((protocol) == Protocol::kGrpc && kUnderTsan)                                                       \
  GTEST_SKIP() << "ThreadSanitizer build: Debian's gRPC libraries are not instrumented, so every gRPC " \
                  "call reports false races; the gRPC cases run in the normal build"

#define REQUIRE_CERTS() \
  if (cert_dir().empty()) GTEST_SKIP() << "the openssl CLI is missing or failed: no test certificates"

// ---- what is sent -------------------------------------------------------------------------------

// Every field kind the agent produces (ids, parent, kind, times, attributes of each type, events,
// links, status, flags, trace state), so a protocol that lost or mangled one shows here.
ExportTraceServiceRequest make_request(std::uint64_t seed) {
  ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("transport-test");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("spanring");
  ss->mutable_scope()->set_version("0.1.0");
  for (int i = 0; i < 3; ++i) {
    auto* span = ss->add_spans();
    const std::uint64_t n = seed * 100 + static_cast<std::uint64_t>(i) + 1;
    std::string trace_id(16, '\x5b');
    std::string span_id(8, '\xee');
    for (int b = 0; b < 8; ++b) {
      trace_id[static_cast<std::size_t>(b)] = static_cast<char>(n >> (8 * b));
      span_id[static_cast<std::size_t>(b)] = static_cast<char>((n * 7) >> (8 * b));
    }
    span->set_trace_id(trace_id);
    span->set_span_id(span_id);
    if (i > 0) span->set_parent_span_id(ss->spans(0).span_id());
    span->set_trace_state("vendor=1");
    span->set_name(i == 0 ? "chat llama-3-8b" : "decode \xc3\xa9\"\\");
    span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
    span->set_flags(0x301);
    span->set_start_time_unix_nano(1'700'000'000'000'000'000ull + n);
    span->set_end_time_unix_nano(1'700'000'000'000'000'000ull + n + 1000);
    auto add = [&](const char* key) {
      auto* kv = span->add_attributes();
      kv->set_key(key);
      return kv->mutable_value();
    };
    add("gen_ai.request.model")->set_string_value("llama");
    add("gen_ai.usage.output_tokens")->set_int_value(-9'007'199'254'740'993LL);
    add("gen_ai.request.temperature")->set_double_value(0.7);
    add("cache.hit")->set_bool_value(true);
    add("blob")->set_bytes_value(std::string("\x00\xff\x10", 3));
    auto* event = span->add_events();
    event->set_name("first_token");
    event->set_time_unix_nano(1'700'000'000'000'000'500ull + n);
    auto* link = span->add_links();
    link->set_trace_id(trace_id);
    link->set_span_id(std::string(8, '\x01'));
    span->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
    span->mutable_status()->set_message("oom");
  }
  return request;
}

ExportBatch make_batch(std::uint64_t id) {
  ExportBatch batch(make_request(id), 3);
  batch.id = id;
  return batch;
}

enum class Security { kPlain, kTls, kMutualTls };

struct Case {
  Protocol protocol;
  Security security;
};

std::string name_of(const Case& c) {
  const char* p = c.protocol == Protocol::kGrpc ? "grpc" : c.protocol == Protocol::kHttpJson ? "http_json" : "http_protobuf";
  const char* s = c.security == Security::kPlain ? "plain" : c.security == Security::kTls ? "tls" : "mtls";
  return std::string(p) + "_" + s;
}

void PrintTo(const Case& c, std::ostream* os) { *os << name_of(c); }

ReceiverOptions receiver_options(Protocol protocol, Security security, const char* server_cert = "server") {
  ReceiverOptions o;
  o.grpc = protocol == Protocol::kGrpc;
  if (security != Security::kPlain) {
    o.cert_file = cert((std::string(server_cert) + ".pem").c_str());
    o.key_file = cert((std::string(server_cert) + "-key.pem").c_str());
  }
  if (security == Security::kMutualTls) o.client_ca_file = cert("ca.pem");
  return o;
}

HttpExportConfig config_for(Protocol protocol, Security security, const std::string& endpoint) {
  HttpExportConfig config;
  config.queue.storage = QueueStorage::kRings;  // the transport under test; no queue files
  config.protocol = protocol;
  config.endpoint = endpoint;
  config.timeout = 5s;
  config.retry.initial_interval = 10ms;
  config.retry.max_interval = 40ms;
  config.retry.max_elapsed_time = 5s;
  config.headers["X-Api-Key"] = "secret";
  if (security != Security::kPlain) config.tls.ca_file = cert("ca.pem");
  if (security == Security::kMutualTls) {
    config.tls.cert_file = cert("client.pem");
    config.tls.key_file = cert("client-key.pem");
  }
  return config;
}

struct Harness {
  explicit Harness(HttpExportConfig config)
      : exporter(io, std::move(config), [this](const ExportResult& r) { results.push_back(r); }) {}

  bool run_until_results(std::size_t n) {
    const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
    while (results.size() < n) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      if (io.stopped()) io.restart();
      io.run_one_for(20ms);
    }
    return true;
  }

  // Accounting closes: every span is accepted, rejected by the server or dropped with a reason.
  void expect_accounting(std::uint64_t spans) const {
    std::uint64_t accepted = 0;
    std::uint64_t rejected = 0;
    for (const auto& r : results) {
      accepted += r.spans - r.rejected_spans;
      rejected += r.rejected_spans;
    }
    EXPECT_EQ(accepted + rejected, spans);
  }

  boost::asio::io_context io;
  std::vector<ExportResult> results;
  HttpExporter exporter;
};

bool same_message(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// ---- every protocol × {plain, TLS, mutual TLS} -----------------------------------------------

class EveryTransport : public ::testing::TestWithParam<Case> {};

TEST_P(EveryTransport, SpansArriveFieldByFieldWithHeadersAndGzip) {
  const Case c = GetParam();
  SKIP_GRPC_UNDER_TSAN(c.protocol);
  if (c.security != Security::kPlain) REQUIRE_CERTS();
  OtlpReceiver receiver(receiver_options(c.protocol, c.security));
  HttpExportConfig config = config_for(c.protocol, c.security, receiver.endpoint());
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  config.compression = Compression::kGzip;
  Harness gz(config);
  ASSERT_TRUE(gz.exporter.enqueue(make_batch(2)));
  ASSERT_TRUE(h.run_until_results(1));
  ASSERT_TRUE(gz.run_until_results(1));
  for (const auto* harness : {&h, &gz}) {
    const ExportResult& r = harness->results[0];
    EXPECT_EQ(r.outcome, ExportOutcome::kAccepted) << r.message;
    EXPECT_EQ(r.attempts, 1u);
    harness->expect_accounting(3);
  }
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  // Arrival order between the two exporters is not fixed.
  const bool first_is_one = same_message(requests[0].message, make_request(1));
  EXPECT_TRUE(same_message(requests[first_is_one ? 0 : 1].message, make_request(1)));
  EXPECT_TRUE(same_message(requests[first_is_one ? 1 : 0].message, make_request(2)))
      << requests[first_is_one ? 1 : 0].message.DebugString();
  for (const auto& request : requests) {
    EXPECT_EQ(request.headers.at("x-api-key"), "secret");
    EXPECT_NE(request.headers.at("user-agent").find("spanring-agent"), std::string::npos);
    if (c.protocol != Protocol::kGrpc) {
      EXPECT_EQ(request.headers.at("content-type"),
                c.protocol == Protocol::kHttpJson ? "application/json" : "application/x-protobuf");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Protocols, EveryTransport,
    ::testing::Values(Case{Protocol::kGrpc, Security::kPlain}, Case{Protocol::kGrpc, Security::kTls},
                      Case{Protocol::kGrpc, Security::kMutualTls}, Case{Protocol::kHttpProtobuf, Security::kPlain},
                      Case{Protocol::kHttpProtobuf, Security::kTls}, Case{Protocol::kHttpProtobuf, Security::kMutualTls},
                      Case{Protocol::kHttpJson, Security::kPlain}, Case{Protocol::kHttpJson, Security::kTls},
                      Case{Protocol::kHttpJson, Security::kMutualTls}),
    [](const ::testing::TestParamInfo<Case>& p) { return name_of(p.param); });

// ---- faults, per protocol ---------------------------------------------------------------------

}  // namespace
}  // namespace spanring::agent

namespace spanring::agent {
void PrintTo(Protocol p, std::ostream* os) { *os << to_string(p); }
namespace {

class EveryProtocol : public ::testing::TestWithParam<Protocol> {
 protected:
  // TLS for all: the faults must behave the same under it.
  void SetUp() override {
    SKIP_GRPC_UNDER_TSAN(GetParam());
    REQUIRE_CERTS();
  }
  Protocol protocol() const { return GetParam(); }
};

TEST_P(EveryProtocol, BackendDownThenUpDeliversEverything) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls));
  receiver.stop();
  Harness h(config_for(protocol(), Security::kTls, receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  std::thread restart([&] {
    std::this_thread::sleep_for(300ms);
    receiver.start();
  });
  const bool done = h.run_until_results(1);
  restart.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_GT(h.results[0].attempts, 1u);
  EXPECT_EQ(receiver.span_count(), 3u);
  h.expect_accounting(3);
}

// 503 + Retry-After on HTTP, UNAVAILABLE + google.rpc.RetryInfo on gRPC: the next attempt waits
// at least the server's delay (1 s), far above the 10-40 ms backoff.
TEST_P(EveryProtocol, ThrottlingDelayIsHonoured) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls));
  receiver.fail_next(1, 503, "1", "overloaded");
  Harness h(config_for(protocol(), Security::kTls, receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_EQ(h.results[0].attempts, 2u);
  const auto times = receiver.post_times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], 950ms);
  h.expect_accounting(3);
}

TEST_P(EveryProtocol, PartialSuccessIsFinalAndCounted) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls));
  receiver.set_partial_reject(2, "two spans too old");
  Harness h(config_for(protocol(), Security::kTls, receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kPartiallyRejected) << h.results[0].message;
  EXPECT_EQ(h.results[0].rejected_spans, 2u);
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_EQ(h.results[0].message, "two spans too old");
  h.expect_accounting(3);
}

TEST_P(EveryProtocol, BadRequestIsNotRetried) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls));
  receiver.fail_next(1, 400, "", "bad data");
  Harness h(config_for(protocol(), Security::kTls, receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedPermanent);
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_NE(h.results[0].message.find("bad data"), std::string::npos) << h.results[0].message;
  h.expect_accounting(3);
}

// A certificate problem is retried like a refused connection (the operator may fix the server)
// and ends, after max_elapsed_time, with a message naming the endpoint and the reason.
struct CertFault {
  const char* server_cert;
  const char* http_reason;  // OpenSSL's words
  const char* grpc_reason;  // gRPC's
};

void expect_handshake_failure(Protocol protocol, const CertFault& fault, HttpExportConfig* tweak = nullptr) {
  OtlpReceiver receiver(receiver_options(protocol, Security::kTls, fault.server_cert));
  HttpExportConfig config = config_for(protocol, Security::kTls, receiver.endpoint());
  if (tweak != nullptr) config.tls = tweak->tls;
  config.retry.max_elapsed_time = 300ms;
  Harness h(config);
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  const bool finished = h.run_until_results(1);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(finished);
  const ExportResult& r = h.results[0];
  EXPECT_EQ(r.outcome, ExportOutcome::kFailedRetriesExhausted) << r.message;
  EXPECT_GT(r.attempts, 1u) << r.message;
  // One log line for the whole retry sequence, not one per attempt.
  std::size_t lines = 0;
  for (auto at = log.find("TLS handshake"); at != std::string::npos; at = log.find("TLS handshake", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_EQ(receiver.post_count(), 0u);
  const std::string endpoint = "127.0.0.1:" + std::to_string(receiver.port());
  EXPECT_NE(r.message.find(endpoint), std::string::npos) << r.message;
  if (protocol == Protocol::kGrpc) {
    // gRPC reports the handshake through UNAVAILABLE with its TLS layer's reason.
    EXPECT_NE(r.message.find("UNAVAILABLE"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(fault.grpc_reason), std::string::npos) << r.message;
  } else {
    EXPECT_NE(r.message.find("TLS handshake with " + endpoint + " failed: "), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(fault.http_reason), std::string::npos) << r.message;
  }
  h.expect_accounting(3);
}

TEST_P(EveryProtocol, CertificateForAnotherNameFails) {
  expect_handshake_failure(protocol(), {"other", "IP address mismatch", "Peer name 127.0.0.1 is not in peer certificate"});
}

TEST_P(EveryProtocol, UntrustedCaFails) {
  expect_handshake_failure(protocol(), {"rogue", "unable to get local issuer certificate", "andshake"});
}

TEST_P(EveryProtocol, ExpiredCertificateFails) {
  expect_handshake_failure(protocol(), {"expired", "certificate has expired", "andshake"});
}

TEST_P(EveryProtocol, MutualTlsWithoutClientCertificateFails) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kMutualTls));
  HttpExportConfig config = config_for(protocol(), Security::kTls, receiver.endpoint());  // no client cert
  config.retry.max_elapsed_time = 300ms;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted) << h.results[0].message;
  EXPECT_EQ(receiver.span_count(), 0u);
}

// tls.server_name: the certificate names other.example, the endpoint is an IP address.
TEST_P(EveryProtocol, ServerNameOverrideIsVerifiedInstead) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls, "other"));
  HttpExportConfig config = config_for(protocol(), Security::kTls, receiver.endpoint());
  config.tls.server_name = "other.example";
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
}

// tls.insecure_skip_verify (HTTP only): encrypted, the untrusted certificate accepted.
TEST(HttpsSender, InsecureSkipVerifyAcceptsAnUntrustedCertificate) {
  REQUIRE_CERTS();
  OtlpReceiver receiver(receiver_options(Protocol::kHttpProtobuf, Security::kTls, "rogue"));
  HttpExportConfig config = config_for(Protocol::kHttpProtobuf, Security::kTls, receiver.endpoint());
  config.tls.insecure_skip_verify = true;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_EQ(receiver.span_count(), 3u);
}

// A server that accepts TCP and never says a word of TLS: each attempt ends at its deadline,
// nothing hangs.
TEST_P(EveryProtocol, ServerThatNeverAnswersTlsEndsAtTheDeadline) {
  ReceiverOptions silent;
  silent.silent = true;
  OtlpReceiver receiver(silent);
  HttpExportConfig config = config_for(protocol(), Security::kTls, "https://127.0.0.1:" + std::to_string(receiver.port()) +
                                                                       (protocol() == Protocol::kGrpc ? "" : "/v1/traces"));
  config.timeout = 200ms;
  config.retry.max_elapsed_time = 300ms;
  Harness h(config);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted) << h.results[0].message;
  // HTTP: the attempt's own timer. gRPC: the call's deadline, or its handshake giving up first.
  const std::string& m = h.results[0].message;
  const bool ended = protocol() == Protocol::kGrpc
                         ? m.find("DEADLINE_EXCEEDED") != std::string::npos || m.find("Handshake read failed") != std::string::npos
                         : m.find("timeout after 200 ms") != std::string::npos;
  EXPECT_TRUE(ended) << m;
}

// Certificates rotate: reload_files() (SIGHUP) reads the files again. Here the trusted CA file
// first holds the wrong CA, then the right one; a file that became unusable keeps the old one.
TEST_P(EveryProtocol, TlsFilesAreReadAgainOnReload) {
  OtlpReceiver receiver(receiver_options(protocol(), Security::kTls));
  const auto ca = cert_dir() / ("rotating-ca-" + name_of({protocol(), Security::kTls}) + ".pem");
  std::filesystem::copy_file(cert("rogue-ca.pem"), ca, std::filesystem::copy_options::overwrite_existing);
  HttpExportConfig config = config_for(protocol(), Security::kTls, receiver.endpoint());
  config.tls.ca_file = ca.string();
  config.retry.max_elapsed_time = 200ms;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted) << h.results[0].message;

  std::filesystem::copy_file(cert("ca.pem"), ca, std::filesystem::copy_options::overwrite_existing);
  const Status reloaded = h.exporter.reload_files();
  ASSERT_TRUE(reloaded.ok()) << reloaded.message();
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2)));
  ASSERT_TRUE(h.run_until_results(2));
  EXPECT_EQ(h.results[1].outcome, ExportOutcome::kAccepted) << h.results[1].message;

  std::ofstream(ca) << "garbage\n";
  const Status broken = h.exporter.reload_files();
  EXPECT_FALSE(broken.ok());
  EXPECT_NE(broken.message().find(ca.string()), std::string::npos) << broken.message();
  ASSERT_TRUE(h.exporter.enqueue(make_batch(3)));
  ASSERT_TRUE(h.run_until_results(3));
  EXPECT_EQ(h.results[2].outcome, ExportOutcome::kAccepted) << h.results[2].message;
  std::filesystem::remove(ca);
}

INSTANTIATE_TEST_SUITE_P(Protocols, EveryProtocol,
                         ::testing::Values(Protocol::kGrpc, Protocol::kHttpProtobuf, Protocol::kHttpJson),
                         [](const ::testing::TestParamInfo<Protocol>& p) {
                           return p.param == Protocol::kGrpc       ? std::string("grpc")
                                  : p.param == Protocol::kHttpJson ? std::string("http_json")
                                                                      : std::string("http_protobuf");
                         });

// ---- files that cannot be used ------------------------------------------------------------------

TEST(SenderFactory, UnusableTlsFilesAreErrorsNamingTheKeyAndFile) {
  REQUIRE_CERTS();
  boost::asio::io_context io;
  const auto garbage = cert_dir() / "garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  for (const Protocol protocol : {Protocol::kHttpProtobuf, Protocol::kGrpc}) {
    HttpExportConfig config;
    config.protocol = protocol;
    config.endpoint = "https://127.0.0.1:1/v1/traces";
    config.tls.ca_file = garbage.string();
    std::shared_ptr<Sender> sender;
    Status st = make_sender(io.get_executor(), config, sender);
    ASSERT_FALSE(st.ok());
    EXPECT_FALSE(sender);
    EXPECT_TRUE(st.message().starts_with("exporter.otlp.tls.ca_file")) << st.message();
    EXPECT_NE(st.message().find(garbage.string()), std::string::npos) << st.message();
  }
  // A key that belongs to another certificate.
  HttpExportConfig config;
  config.endpoint = "https://127.0.0.1:1/v1/traces";
  config.tls.cert_file = cert("client.pem");
  config.tls.key_file = cert("server-key.pem");
  std::shared_ptr<Sender> sender;
  const Status st = make_sender(io.get_executor(), config, sender);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "exporter.otlp.tls.key_file: cannot load \"" + cert("server-key.pem") + "\": key values mismatch");
  // The exporter refuses to start on it (make_exporter turns this into its Status).
  HttpExportConfig bad;
  bad.endpoint = config.endpoint;
  bad.tls.ca_file = garbage.string();
  EXPECT_THROW(HttpExporter(io, bad, [](const ExportResult&) {}), std::invalid_argument);
}

// ---- gRPC status classification (SPEC §3) -------------------------------------------------------

std::string retry_info(std::int64_t seconds, std::int32_t nanos) {
  google::rpc::Status status;
  status.set_code(14);
  google::protobuf::Duration d;
  d.set_seconds(seconds);
  d.set_nanos(nanos);
  const std::string duration = d.SerializeAsString();
  auto* any = status.add_details();
  any->set_type_url("type.googleapis.com/google.rpc.RetryInfo");
  any->set_value(std::string(1, '\x0a') + static_cast<char>(duration.size()) + duration);
  return status.SerializeAsString();
}

TEST(GrpcStatus, RetryableCodesFollowTheSpec) {
  for (int code : {1, 4, 10, 11, 14, 15}) {
    EXPECT_EQ(classify_grpc_status(code, "x", "", "").cls, SendClass::kRetryable) << code;
  }
  for (int code : {2, 3, 5, 6, 7, 8, 9, 12, 13, 16}) {
    EXPECT_EQ(classify_grpc_status(code, "x", "", "").cls, SendClass::kPermanent) << code;
  }
  EXPECT_EQ(classify_grpc_status(3, "bad span", "", "").message, "INVALID_ARGUMENT: bad span");
}

TEST(GrpcStatus, RetryInfoThrottlesAndMakesResourceExhaustedRetryable) {
  const SendResult unavailable = classify_grpc_status(14, "busy", retry_info(2, 500'000'000), "");
  EXPECT_EQ(unavailable.cls, SendClass::kThrottled);
  EXPECT_EQ(unavailable.retry_after, 2500ms);
  const SendResult exhausted = classify_grpc_status(8, "quota", retry_info(1, 0), "");
  EXPECT_EQ(exhausted.cls, SendClass::kThrottled);
  EXPECT_EQ(exhausted.retry_after, 1s);
  EXPECT_EQ(classify_grpc_status(14, "busy", "not a status", "").cls, SendClass::kRetryable);
}

TEST(GrpcStatus, OkDecodesPartialSuccess) {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  response.mutable_partial_success()->set_rejected_spans(4);
  response.mutable_partial_success()->set_error_message("too old");
  const SendResult r = classify_grpc_status(0, "", "", response.SerializeAsString());
  EXPECT_EQ(r.cls, SendClass::kOk);
  EXPECT_EQ(r.rejected_spans, 4u);
  EXPECT_EQ(r.message, "too old");
  EXPECT_EQ(classify_grpc_status(0, "", "", "").rejected_spans, 0u);
}

}  // namespace
}  // namespace spanring::agent
