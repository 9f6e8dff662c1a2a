// OTLP/HTTP export layer: end-to-end against the test receiver, plus the pure pieces (env rules,
// URL, Retry-After, response classification).
#include "agent/export/http_exporter.hpp"
#include "agent/export/response.hpp"
#include "agent/export/url.hpp"
#include "otlp_receiver.hpp"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace spanring::agent {
namespace {

using namespace std::chrono_literals;
using opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest;
using spanring::test::OtlpReceiver;

// Only a guard against hangs: no test expects to come close to it.
constexpr auto kHangGuard = 20s;

ExportTraceServiceRequest make_request(int spans, std::uint64_t seed, int attribute_bytes = 8) {
  ExportTraceServiceRequest request;
  auto* rs = request.add_resource_spans();
  auto* attr = rs->mutable_resource()->add_attributes();
  attr->set_key("service.name");
  attr->mutable_value()->set_string_value("export-test");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("spanring");
  ss->mutable_scope()->set_version("0.1.0");
  for (int i = 0; i < spans; ++i) {
    auto* span = ss->add_spans();
    const std::uint64_t n = seed * 1000 + static_cast<std::uint64_t>(i) + 1;
    std::string trace_id(16, '\0');
    std::string span_id(8, '\0');
    for (int b = 0; b < 8; ++b) {
      trace_id[static_cast<std::size_t>(b)] = static_cast<char>(n >> (8 * b));
      span_id[static_cast<std::size_t>(b)] = static_cast<char>(n >> (8 * b));
    }
    trace_id[15] = 1;
    span->set_trace_id(trace_id);
    span->set_span_id(span_id);
    span->set_name("chat llama-3-8b");
    span->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
    span->set_start_time_unix_nano(1'700'000'000'000'000'000ull + n);
    span->set_end_time_unix_nano(1'700'000'000'000'000'000ull + n + 1000);
    auto* kv = span->add_attributes();
    kv->set_key("gen_ai.prompt.text");
    kv->mutable_value()->set_string_value(std::string(static_cast<std::size_t>(attribute_bytes), 'x'));
  }
  return request;
}

ExportBatch make_batch(std::uint64_t id, int spans, int attribute_bytes = 8) {
  ExportBatch batch;
  batch.request() = make_request(spans, id, attribute_bytes);
  batch.spans = static_cast<std::uint64_t>(spans);
  batch.id = id;
  return batch;
}

// What make_batch(id, spans, attribute_bytes) weighs once the exporter serializes it.
std::uint64_t serialized_bytes(std::uint64_t id, int spans, int attribute_bytes = 8) {
  return make_request(spans, id, attribute_bytes).ByteSizeLong();
}

// Small waits so every retry test runs in well under a second.
HttpExportConfig fast_config(const std::string& endpoint) {
  HttpExportConfig config;
  config.endpoint = endpoint;
  config.timeout = 5s;
  config.retry.initial_interval = 10ms;
  config.retry.max_interval = 40ms;
  config.retry.max_elapsed_time = 5s;
  return config;
}

// Owns the io_context that plays the agent's thread and collects results in arrival order.
struct Harness {
  explicit Harness(HttpExportConfig config)
      : exporter(io, std::move(config), [this](const ExportResult& r) { results.push_back(r); }) {}

  bool run_until(const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
    while (!done()) {
      if (std::chrono::steady_clock::now() > give_up) return false;
      if (io.stopped()) io.restart();
      io.run_one_for(20ms);
    }
    return true;
  }
  bool run_until_results(std::size_t n) {
    return run_until([&] { return results.size() >= n; });
  }

  boost::asio::io_context io;
  std::vector<ExportResult> results;
  HttpExporter exporter;
};

bool same_message(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// ---- end to end -------------------------------------------------------------------------------

TEST(HttpExporter, DeliversBatchesThatDecodeToExactlyWhatWasSent) {
  OtlpReceiver receiver;
  Harness h(fast_config(receiver.endpoint()));
  for (std::uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 2)));
  ASSERT_TRUE(h.run_until_results(3));

  for (std::uint64_t id = 1; id <= 3; ++id) {
    const auto& r = h.results[id - 1];
    EXPECT_EQ(r.outcome, ExportOutcome::kAccepted) << r.message;
    EXPECT_EQ(r.id, id);
    EXPECT_EQ(r.spans, 2u);
    EXPECT_EQ(r.rejected_spans, 0u);
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_EQ(r.http_status, 200);
  }
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    EXPECT_TRUE(same_message(requests[id - 1].message, make_request(2, id)));
  }
  EXPECT_EQ(receiver.span_count(), 6u);
  EXPECT_EQ(requests[0].headers.at("content-type"), "application/x-protobuf");
  EXPECT_EQ(requests[0].headers.at("user-agent"), "spanring-agent/0.1.0");
  EXPECT_EQ(requests[0].headers.count("content-encoding"), 0u);
}

TEST(HttpExporter, ReusesOneKeepAliveConnectionForSequentialRequests) {
  OtlpReceiver receiver;
  Harness h(fast_config(receiver.endpoint()));
  for (std::uint64_t id = 1; id <= 5; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 1)));
  ASSERT_TRUE(h.run_until_results(5));
  EXPECT_EQ(receiver.post_count(), 5u);
  EXPECT_EQ(receiver.connection_count(), 1u);
}

TEST(HttpExporter, GzipBodyIsSentCompressedAndDecodesToTheSameRequest) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.compression = Compression::kGzip;
  Harness h(config);
  const auto plain_size = serialized_bytes(7, 20, 200);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(7, 20, 200)));
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.at("content-encoding"), "gzip");
  EXPECT_LT(requests[0].wire_bytes, plain_size);
  EXPECT_TRUE(same_message(requests[0].message, make_request(20, 7, 200)));
}

TEST(HttpExporter, CustomHeadersArriveWithEveryRequest) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.headers = {{"Authorization", "Bearer abc"}, {"X-Tenant", "team-7"}, {"User-Agent", "custom/1"}};
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 1)));
  ASSERT_TRUE(h.run_until_results(2));

  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.headers.at("authorization"), "Bearer abc");
    EXPECT_EQ(request.headers.at("x-tenant"), "team-7");
    EXPECT_EQ(request.headers.at("user-agent"), "custom/1");
  }
}

TEST(HttpExporter, RetriesThree503sThenDeliversOnceWithFourAttempts) {
  OtlpReceiver receiver;
  receiver.fail_next(3, 503);
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 4)));
  ASSERT_TRUE(h.run_until_results(1));

  ASSERT_EQ(h.results.size(), 1u);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_EQ(h.results[0].attempts, 4u);
  EXPECT_EQ(receiver.post_count(), 4u);
  EXPECT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.span_count(), 4u);
}

TEST(HttpExporter, RetriesEachTransientStatus) {
  for (const int status : {429, 502, 503, 504}) {
    OtlpReceiver receiver;
    receiver.fail_next(1, status);
    Harness h(fast_config(receiver.endpoint()));
    ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
    ASSERT_TRUE(h.run_until_results(1));
    EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << status;
    EXPECT_EQ(h.results[0].attempts, 2u) << status;
  }
}

TEST(HttpExporter, WaitsAtLeastRetryAfterSecondsBeforeRetrying) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 503, "1");
  Harness h(fast_config(receiver.endpoint()));  // backoff 10 ms: only Retry-After can make it wait 1 s
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_EQ(h.results[0].attempts, 2u);
  const auto times = receiver.post_times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], 1s);
}

TEST(HttpExporter, GivesUpAtOnceWhenRetryAfterPassesMaxElapsed) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 429, "3600");
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 3)));
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted);
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_EQ(h.results[0].http_status, 429);
  EXPECT_EQ(h.results[0].rejected_spans, 3u);
  EXPECT_EQ(receiver.post_count(), 1u);
}

TEST(HttpExporter, BadRequestFailsPermanentlyWithoutRetryAndKeepsServerMessage) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 400, "", "span 3 has a 7-byte span_id");
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 5)));
  ASSERT_TRUE(h.run_until_results(1));

  const auto& r = h.results[0];
  EXPECT_EQ(r.outcome, ExportOutcome::kFailedPermanent);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.http_status, 400);
  EXPECT_EQ(r.rejected_spans, 5u);
  EXPECT_NE(r.message.find("span 3 has a 7-byte span_id"), std::string::npos) << r.message;
  EXPECT_EQ(receiver.post_count(), 1u);
}

TEST(HttpExporter, OtherErrorStatusesAreNotRetried) {
  for (const int status : {401, 404, 413, 500}) {
    OtlpReceiver receiver;
    receiver.fail_next(1, status);
    Harness h(fast_config(receiver.endpoint()));
    ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
    ASSERT_TRUE(h.run_until_results(1));
    EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedPermanent) << status;
    EXPECT_EQ(h.results[0].http_status, status);
    EXPECT_EQ(receiver.post_count(), 1u) << status;
  }
}

TEST(HttpExporter, PartialSuccessIsReportedWithRejectedCountAndNotRetried) {
  OtlpReceiver receiver;
  receiver.set_partial_reject(2, "2 spans had empty names");
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 5)));
  ASSERT_TRUE(h.run_until_results(1));

  const auto& r = h.results[0];
  EXPECT_EQ(r.outcome, ExportOutcome::kPartiallyRejected);
  EXPECT_EQ(r.spans, 5u);
  EXPECT_EQ(r.rejected_spans, 2u);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.message, "2 spans had empty names");
  EXPECT_EQ(receiver.post_count(), 1u);
}

TEST(HttpExporter, ResponseOverFourMebibytesFailsPermanently) {
  OtlpReceiver receiver;
  receiver.set_oversized_reply((std::size_t{4} << 20) + 1);
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 2)));
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedPermanent);
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_EQ(h.results[0].http_status, 200);
  EXPECT_NE(h.results[0].message.find("response body larger than 4194304 bytes"), std::string::npos)
      << h.results[0].message;
  EXPECT_EQ(receiver.post_count(), 1u);
}

TEST(HttpExporter, BackendDownLongerThanMaxElapsedExhaustsRetries) {
  OtlpReceiver receiver;
  receiver.stop();
  auto config = fast_config(receiver.endpoint());
  config.retry.max_elapsed_time = 200ms;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 3)));
  ASSERT_TRUE(h.run_until_results(1));

  const auto& r = h.results[0];
  EXPECT_EQ(r.outcome, ExportOutcome::kFailedRetriesExhausted);
  EXPECT_GE(r.attempts, 2u);
  EXPECT_EQ(r.http_status, 0);
  EXPECT_EQ(r.rejected_spans, 3u);
  EXPECT_NE(r.message.find("connect"), std::string::npos) << r.message;
}

TEST(HttpExporter, RetryDisabledFailsAfterOneAttempt) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 503);
  auto config = fast_config(receiver.endpoint());
  config.retry.enabled = false;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted);
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_EQ(receiver.post_count(), 1u);
}

TEST(HttpExporter, AttemptTimeoutIsRetriedAndReported) {
  OtlpReceiver receiver;
  receiver.set_delay(5s);
  auto config = fast_config(receiver.endpoint());
  config.timeout = 100ms;
  config.retry.max_elapsed_time = 250ms;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.run_until_results(1));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kFailedRetriesExhausted);
  EXPECT_GE(h.results[0].attempts, 2u);
  EXPECT_NE(h.results[0].message.find("timeout"), std::string::npos) << h.results[0].message;
}

TEST(HttpExporter, ReconnectsWithoutBackoffWhenTheKeptConnectionWasClosed) {
  OtlpReceiver receiver;
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.run_until_results(1));
  receiver.stop();  // closes the kept connection
  receiver.start();
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 1)));
  ASSERT_TRUE(h.run_until_results(2));

  EXPECT_EQ(h.results[1].outcome, ExportOutcome::kAccepted) << h.results[1].message;
  EXPECT_EQ(h.results[1].attempts, 1u);
  EXPECT_EQ(receiver.requests().size(), 2u);
  EXPECT_EQ(receiver.connection_count(), 2u);
}

TEST(HttpExporter, RecoversWhenBackendComesBackDuringRetries) {
  OtlpReceiver receiver;
  receiver.stop();
  Harness h(fast_config(receiver.endpoint()));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 2)));
  h.io.run_for(150ms);  // several attempts fail against the closed port meanwhile
  ASSERT_TRUE(h.results.empty());
  receiver.start();
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted) << h.results[0].message;
  EXPECT_GE(h.results[0].attempts, 2u);
  EXPECT_EQ(receiver.span_count(), 2u);
}

// ---- queue bounds and order -------------------------------------------------------------------
// The io_context does not run between enqueues below, so nothing leaves the queue meanwhile.

TEST(HttpExporter, RefusesTheBatchThatWouldExceedMaxBatches) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.queue.max_batches = 3;
  Harness h(config);
  EXPECT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  EXPECT_TRUE(h.exporter.enqueue(make_batch(2, 1)));
  EXPECT_TRUE(h.exporter.enqueue(make_batch(3, 1)));
  EXPECT_FALSE(h.exporter.enqueue(make_batch(4, 1)));
  EXPECT_EQ(h.exporter.queued_batches(), 3u);
  ASSERT_TRUE(h.run_until_results(3));
  EXPECT_EQ(h.results.size(), 3u);
  EXPECT_EQ(receiver.requests().size(), 3u);
  EXPECT_EQ(h.exporter.queued_batches(), 0u);
}

TEST(HttpExporter, RefusesTheBatchThatWouldExceedMaxSpans) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.queue.max_spans = 10;
  Harness h(config);
  EXPECT_TRUE(h.exporter.enqueue(make_batch(1, 6)));
  EXPECT_FALSE(h.exporter.enqueue(make_batch(2, 5)));  // 11 > 10
  EXPECT_TRUE(h.exporter.enqueue(make_batch(3, 4)));   // exactly 10
  EXPECT_FALSE(h.exporter.enqueue(make_batch(4, 1)));
  EXPECT_EQ(h.exporter.queued_spans(), 10u);
  ASSERT_TRUE(h.run_until_results(2));
  EXPECT_EQ(receiver.span_count(), 10u);
}

TEST(HttpExporter, RefusesTheBatchThatWouldExceedMaxBytes) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  const auto a = serialized_bytes(1, 2);
  const auto b = serialized_bytes(2, 3);
  config.queue.max_bytes = a + b;
  Harness h(config);
  EXPECT_TRUE(h.exporter.enqueue(make_batch(1, 2)));
  EXPECT_FALSE(h.exporter.enqueue(make_batch(3, 4)));  // larger than b: would not fit
  EXPECT_TRUE(h.exporter.enqueue(make_batch(2, 3)));   // fills the byte bound exactly
  EXPECT_FALSE(h.exporter.enqueue(make_batch(4, 1)));
  EXPECT_EQ(h.exporter.queued_bytes(), a + b);
  ASSERT_TRUE(h.run_until_results(2));
  EXPECT_EQ(h.results[0].id, 1u);
  EXPECT_EQ(h.results[1].id, 2u);
  EXPECT_EQ(h.exporter.queued_bytes(), 0u);
}

TEST(HttpExporter, OversizedBodyIsDroppedInItsFifoTurnWithoutBeingSent) {
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.max_request_bytes = serialized_bytes(1, 2);
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 2)));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 3)));  // one byte-span more than the limit
  EXPECT_EQ(h.exporter.queued_bytes(), serialized_bytes(1, 2));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(3, 1)));
  ASSERT_TRUE(h.run_until_results(3));

  ASSERT_EQ(h.results.size(), 3u);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(h.results[1].id, 2u);
  EXPECT_EQ(h.results[1].outcome, ExportOutcome::kDroppedTooLarge);
  EXPECT_EQ(h.results[1].attempts, 0u);
  EXPECT_EQ(h.results[1].rejected_spans, 3u);
  EXPECT_EQ(h.results[2].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(receiver.post_count(), 2u);
}

TEST(HttpExporter, ResultsArriveInEnqueueOrderAcrossOutcomes) {
  OtlpReceiver receiver;
  receiver.fail_next(2, 503);  // the first batch needs retries while the others wait
  auto config = fast_config(receiver.endpoint());
  config.max_request_bytes = 4096;
  Harness h(config);
  for (std::uint64_t id = 1; id <= 12; ++id) {
    ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 2, id % 4 == 0 ? 5000 : 8)));  // every 4th too large
  }
  ASSERT_TRUE(h.run_until_results(12));

  ASSERT_EQ(h.results.size(), 12u);
  for (std::uint64_t id = 1; id <= 12; ++id) {
    EXPECT_EQ(h.results[id - 1].id, id);
    EXPECT_EQ(h.results[id - 1].outcome,
              id % 4 == 0 ? ExportOutcome::kDroppedTooLarge : ExportOutcome::kAccepted);
  }
  EXPECT_EQ(h.results[0].attempts, 3u);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 9u);
  std::uint64_t expected_seed = 1;
  for (const auto& request : requests) {
    if (expected_seed % 4 == 0) ++expected_seed;
    EXPECT_TRUE(same_message(request.message, make_request(2, expected_seed)));
    ++expected_seed;
  }
}

TEST(HttpExporter, ResultCallbackMayEnqueueMore) {
  OtlpReceiver receiver;
  boost::asio::io_context io;
  std::vector<std::uint64_t> ids;
  std::optional<HttpExporter> exporter;
  exporter.emplace(io, fast_config(receiver.endpoint()), [&](const ExportResult& r) {
    ids.push_back(r.id);
    if (r.id < 5) {
      EXPECT_TRUE(exporter->enqueue(make_batch(r.id + 1, 1)));
    }
  });
  ASSERT_TRUE(exporter->enqueue(make_batch(1, 1)));
  const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
  while (ids.size() < 5 && std::chrono::steady_clock::now() < give_up) {
    if (io.stopped()) io.restart();
    io.run_one_for(20ms);
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(receiver.span_count(), 5u);
}

// ---- shutdown ---------------------------------------------------------------------------------

TEST(HttpExporter, ShutdownFlushesTheQueueToAHealthyBackend) {
  OtlpReceiver receiver;
  Harness h(fast_config(receiver.endpoint()));
  for (std::uint64_t id = 1; id <= 4; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 1)));
  bool done = false;
  h.exporter.shutdown(std::chrono::steady_clock::now() + 10s, [&] { done = true; });
  EXPECT_FALSE(h.exporter.enqueue(make_batch(5, 1)));
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 4u);
  for (const auto& r : h.results) EXPECT_EQ(r.outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(receiver.span_count(), 4u);
}

TEST(HttpExporter, ShutdownDoesNotRetryAndDropsEveryBatchWhenBackendIsDown) {
  OtlpReceiver receiver;
  receiver.stop();
  auto config = fast_config(receiver.endpoint());
  config.retry.initial_interval = 5s;  // a retry wait would outlast the guard-free expectations below
  config.retry.max_interval = 5s;
  config.retry.max_elapsed_time = 60s;
  Harness h(config);
  for (std::uint64_t id = 1; id <= 5; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 2)));
  bool done = false;
  h.exporter.shutdown(std::chrono::steady_clock::now() + 30s, [&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 5u);
  for (std::uint64_t id = 1; id <= 5; ++id) {
    const auto& r = h.results[id - 1];
    EXPECT_EQ(r.id, id);
    EXPECT_EQ(r.outcome, ExportOutcome::kDroppedShutdown) << r.message;
    EXPECT_EQ(r.attempts, 1u);
    EXPECT_EQ(r.rejected_spans, 2u);
  }
}

TEST(HttpExporter, ShutdownInterruptsARunningBackoffWait) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 503, "3600");  // the first batch would wait an hour
  auto config = fast_config(receiver.endpoint());
  config.retry.max_elapsed_time = 24h;            // only shutdown can end the wait in time
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 1)));
  ASSERT_TRUE(h.run_until([&] { return receiver.post_count() == 1; }));
  // Give the 503 answer time to arrive so the hour-long wait is running. Should the answer be
  // later than this, the test still holds: a failure arriving during shutdown is not retried.
  h.io.run_for(100ms);
  bool done = false;
  h.exporter.shutdown(std::chrono::steady_clock::now() + 10s, [&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kDroppedShutdown) << h.results[0].message;
  EXPECT_EQ(h.results[1].outcome, ExportOutcome::kAccepted) << h.results[1].message;
}

TEST(HttpExporter, ShutdownDeadlineAbortsAHangingRequestAndDropsTheRest) {
  OtlpReceiver receiver;
  receiver.set_delay(60s);
  auto config = fast_config(receiver.endpoint());
  config.timeout = 60s;  // longer than the hang guard: only the deadline can end the attempt
  Harness h(config);
  for (std::uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 1)));
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + 300ms;
  h.exporter.shutdown(deadline, [&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 3u);
  for (std::uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(h.results[id - 1].id, id);
    EXPECT_EQ(h.results[id - 1].outcome, ExportOutcome::kDroppedShutdown);
  }
  EXPECT_EQ(h.results[0].attempts, 1u);
  EXPECT_EQ(h.results[1].attempts, 0u);
  EXPECT_GE(std::chrono::steady_clock::now(), deadline);
}

TEST(HttpExporter, ShutdownWithNothingQueuedCompletesAtOnce) {
  OtlpReceiver receiver;
  Harness h(fast_config(receiver.endpoint()));
  bool done = false;
  h.exporter.shutdown(std::chrono::steady_clock::now() + 10s, [&] { done = true; });
  EXPECT_FALSE(done);  // never inline
  ASSERT_TRUE(h.run_until([&] { return done; }));
  EXPECT_TRUE(h.results.empty());
}

// ---- configuration ----------------------------------------------------------------------------

// https:// used to be refused (no TLS): it is now an ordinary endpoint, verified against the
// system trust store.
TEST(HttpExportConfig, HttpsEndpointIsAccepted) {
  HttpExportConfig config;
  config.endpoint = "https://collector:4318/v1/traces";
  EXPECT_TRUE(config.validate().empty());
  boost::asio::io_context io;
  EXPECT_NO_THROW(HttpExporter(io, config, [](const ExportResult&) {}));
}

TEST(HttpExportConfig, RejectsHeadersThatWouldCorruptTheRequest) {
  HttpExportConfig config;
  config.headers = {{"Content-Type", "text/plain"}, {"bad name", "x"}, {"X-Ok", "a\r\nInjected: 1"}};
  const auto errors = config.validate();
  // One message per header, in name order (headers is a map), keyed like the config file.
  const std::vector<std::string> expected{
      "headers.Content-Type: is set by the exporter and cannot be configured",
      "headers.X-Ok: header value must not contain CR, LF or NUL",
      "headers.bad name: is not a valid HTTP header name"};
  EXPECT_EQ(errors, expected);
}

TEST(HttpExportConfig, DefaultsAreValid) { EXPECT_TRUE(HttpExportConfig{}.validate().empty()); }

TEST(HttpUrl, DefaultsPortTo80AndPathToSlash) {
  const auto url = std::get<HttpUrl>(parse_http_url("HTTP://collector"));
  EXPECT_EQ(url.host, "collector");
  EXPECT_EQ(url.port, 80);
  EXPECT_EQ(url.target, "/");
  EXPECT_EQ(url.host_header(), "collector");
}

TEST(HttpUrl, ParsesIpv6PortPathAndQuery) {
  const auto url = std::get<HttpUrl>(parse_http_url("http://[::1]:4318/otlp/v1/traces?tenant=a"));
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 4318);
  EXPECT_EQ(url.target, "/otlp/v1/traces?tenant=a");
  EXPECT_EQ(url.host_header(), "[::1]:4318");
}

TEST(HttpUrl, QueryWithoutPathGetsARootPath) {
  const auto url = std::get<HttpUrl>(parse_http_url("http://h?x"));
  EXPECT_EQ(url.host, "h");
  EXPECT_EQ(url.target, "/?x");
}

TEST(HttpUrl, AcceptsNamesAddressesAndTheWholePortRange) {
  for (const char* good : {"http://collector:4318/v1/traces?x=1", "HTTP://10.0.0.1", "http://a-b.c_d:65535/",
                           "http://h:1/", "http://[::ffff:10.0.0.1]/"}) {
    EXPECT_TRUE(std::holds_alternative<HttpUrl>(parse_http_url(good))) << good;
  }
}

TEST(HttpUrl, RejectsWhatCannotBeSent) {
  for (const char* bad : {"", "collector:4318", "ftp://x/", "http://", "http://:4318/", "http://host:0/",
                          "http://host:99999/", "http://host:x/", "http://user:pw@host/", "http://host:/",
                          "http://h/a b", "http://h/\x01", "http://h/#frag", "http://::1:4318/", "http://[::1/",
                          "http://[host]/", "http://a b/", "http://h!/"}) {
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_http_url(bad))) << bad;
  }
}

TEST(HttpUrl, ErrorNamesTheReason) {
  EXPECT_EQ(std::get<std::string>(parse_http_url("ftp://x/")), "must start with http://");
  EXPECT_EQ(std::get<std::string>(parse_http_url("https://x/")), "https:// is not supported here (no TLS); use http://");
  EXPECT_EQ(std::get<std::string>(parse_http_url("http://x:0/")), "port 0 is out of range 1-65535");
  EXPECT_EQ(std::get<std::string>(parse_http_url("http://[host]/")), "invalid IPv6 literal \"host\"");
  EXPECT_EQ(std::get<std::string>(parse_http_url("http://x/#f")), "a fragment (#...) is not allowed");
}

// ---- response classification ------------------------------------------------------------------

std::chrono::system_clock::time_point at(int year, unsigned month, unsigned day, int h, int m, int s) {
  return std::chrono::sys_days{std::chrono::year{year} / std::chrono::month{month} / std::chrono::day{day}} +
         std::chrono::hours{h} + std::chrono::minutes{m} + std::chrono::seconds{s};
}

TEST(RetryAfter, AcceptsDelaySeconds) {
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("120", now), std::chrono::nanoseconds{120s});
  EXPECT_EQ(parse_retry_after(" 0 ", now), std::chrono::nanoseconds{0});
}

TEST(RetryAfter, AcceptsAllThreeHttpDateForms) {
  const auto now = at(1994, 11, 6, 8, 49, 30);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), std::chrono::nanoseconds{7s});
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:40 GMT", now), std::chrono::nanoseconds{10s});
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:50:30 1994", now), std::chrono::nanoseconds{60s});
}

TEST(RetryAfter, DateInThePastMeansNoDelay) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at(2026, 8, 1, 0, 0, 0)), std::chrono::nanoseconds{0});
}

TEST(RetryAfter, RejectsJunk) {
  const auto now = std::chrono::system_clock::now();
  for (const char* junk : {"", "soon", "-5", "1.5", "Sun, 32 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                           "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC"}) {
    EXPECT_FALSE(parse_retry_after(junk, now).has_value()) << junk;
  }
}

TEST(ClassifyResponse, ThrottledOnlyWithAValidRetryAfter) {
  const auto now = std::chrono::system_clock::now();
  const auto throttled = classify_response(503, "", "", "2", now);
  EXPECT_EQ(throttled.cls, SendClass::kThrottled);
  EXPECT_EQ(throttled.retry_after, std::chrono::nanoseconds{2s});
  EXPECT_EQ(classify_response(429, "", "", "", now).cls, SendClass::kRetryable);
  EXPECT_EQ(classify_response(503, "", "", "later", now).cls, SendClass::kRetryable);
  EXPECT_EQ(classify_response(500, "", "", "2", now).cls, SendClass::kPermanent);
}

TEST(ClassifyResponse, ErrorMessageComesFromStatusOrFromATextBody) {
  const auto now = std::chrono::system_clock::now();
  google::rpc::Status status;
  status.set_code(3);
  status.set_message("trace_id must be 16 bytes");
  EXPECT_EQ(classify_response(400, "application/x-protobuf", status.SerializeAsString(), "", now).message,
            "HTTP 400: trace_id must be 16 bytes");
  EXPECT_EQ(classify_response(404, "text/plain; charset=utf-8", "no such\npath", "", now).message,
            "HTTP 404: no such path");
}

TEST(ClassifyResponse, SuccessBodyCarriesPartialSuccess) {
  const auto now = std::chrono::system_clock::now();
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  response.mutable_partial_success()->set_rejected_spans(4);
  response.mutable_partial_success()->set_error_message("dup");
  const auto r = classify_response(200, "application/x-protobuf", response.SerializeAsString(), "", now);
  EXPECT_EQ(r.cls, SendClass::kOk);
  EXPECT_EQ(r.rejected_spans, 4u);
  EXPECT_EQ(r.message, "dup");
  EXPECT_EQ(classify_response(200, "application/x-protobuf", "", "", now).rejected_spans, 0u);
}

}  // namespace
}  // namespace spanring::agent
