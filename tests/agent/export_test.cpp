// OTLP/HTTP export layer: end-to-end against the test receiver, plus the pure pieces (env rules,
// URL, Retry-After, response classification).
#include "agent/export/disk_queue.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/export/response.hpp"
#include "agent/export/url.hpp"
#include "otlp_receiver.hpp"

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <lmdb.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <algorithm>
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
  batch.body = make_request(spans, id, attribute_bytes).SerializeAsString();
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
  config.queue.storage = QueueStorage::kMemory;  // the disk queue has its own tests below
  // The memory queue's tally file: one directory per test process, removed at exit.
  static const struct ScratchDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("spanring-export-test-" + std::to_string(::getpid()));
    ~ScratchDir() { std::filesystem::remove_all(path); }
  } scratch;
  config.queue.directory = scratch.path.string();
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
  // Results come in answer order (several requests in flight): look one up by its batch id.
  const ExportResult& result(std::uint64_t id) const {
    for (const auto& r : results)
      if (r.id == id) return r;
    static const ExportResult missing{ExportOutcome::kAccepted, ~std::uint64_t{0}};
    ADD_FAILURE() << "no result for batch " << id;
    return missing;
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
  auto config = fast_config(receiver.endpoint());
  config.max_in_flight = 1;
  Harness h(config);
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
  EXPECT_EQ(h.result(1).outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(h.result(2).outcome, ExportOutcome::kDroppedTooLarge);
  EXPECT_EQ(h.result(2).attempts, 0u);
  EXPECT_EQ(h.result(2).rejected_spans, 3u);
  EXPECT_EQ(h.result(3).outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(receiver.post_count(), 2u);
}

TEST(HttpExporter, ABatchWaitingForItsRetryHoldsNoSlotAndLaterBatchesGoOut) {
  OtlpReceiver receiver;
  receiver.fail_next(1, 503, "3600");  // the first request gets an hour-long Retry-After
  auto config = fast_config(receiver.endpoint());
  config.max_in_flight = 1;  // one slot: only a wait that frees it lets batch 2 through
  config.retry.max_elapsed_time = 24h;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 2)));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 3)));
  ASSERT_TRUE(h.run_until_results(1));

  EXPECT_EQ(h.results[0].id, 2u);
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(h.exporter.queued_batches(), 1u);  // batch 1 waits, counted against the bounds
  EXPECT_EQ(h.exporter.queued_spans(), 2u);
  EXPECT_EQ(h.exporter.in_flight(), 0u);
}

TEST(HttpExporter, KeepsUpToMaxInFlightRequestsOutstanding) {
  OtlpReceiver receiver;
  receiver.set_delay(300ms);
  auto config = fast_config(receiver.endpoint());
  config.max_in_flight = 3;
  Harness h(config);
  for (std::uint64_t id = 1; id <= 5; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 1)));
  ASSERT_TRUE(h.run_until([&] { return receiver.post_count() >= 3; }));
  h.io.run_for(100ms);  // the server holds every answer for 300 ms: nothing more may start
  EXPECT_EQ(receiver.post_count(), 3u);
  EXPECT_EQ(h.exporter.in_flight(), 3u);
  EXPECT_EQ(h.exporter.queued_batches(), 5u);  // in flight included: memory stays bounded by queue.*
  ASSERT_TRUE(h.run_until_results(5));
  EXPECT_EQ(receiver.connection_count(), 3u);
  for (std::uint64_t id = 1; id <= 5; ++id) EXPECT_EQ(h.result(id).outcome, ExportOutcome::kAccepted);
}

TEST(HttpExporter, BatchesInFlightCountAgainstTheQueueBounds) {
  OtlpReceiver receiver;
  receiver.set_delay(300ms);
  auto config = fast_config(receiver.endpoint());
  config.queue.max_batches = 2;
  Harness h(config);
  ASSERT_TRUE(h.exporter.enqueue(make_batch(1, 1)));
  ASSERT_TRUE(h.exporter.enqueue(make_batch(2, 1)));
  ASSERT_TRUE(h.run_until([&] { return h.exporter.in_flight() == 2; }));
  EXPECT_FALSE(h.exporter.enqueue(make_batch(3, 1)));  // both slots busy, both still held
  ASSERT_TRUE(h.run_until_results(2));
  EXPECT_TRUE(h.exporter.enqueue(make_batch(4, 1)));
}

TEST(HttpExporter, OutcomesAreReportedPerBatchWhateverTheirOrder) {
  OtlpReceiver receiver;
  receiver.fail_next(2, 503);  // the first batch needs retries while the others go on
  auto config = fast_config(receiver.endpoint());
  config.max_request_bytes = 4096;
  config.max_in_flight = 1;
  Harness h(config);
  for (std::uint64_t id = 1; id <= 12; ++id) {
    ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 2, id % 4 == 0 ? 5000 : 8)));  // every 4th too large
  }
  ASSERT_TRUE(h.run_until_results(12));

  ASSERT_EQ(h.results.size(), 12u);
  for (std::uint64_t id = 1; id <= 12; ++id) {
    EXPECT_EQ(h.result(id).outcome, id % 4 == 0 ? ExportOutcome::kDroppedTooLarge : ExportOutcome::kAccepted);
  }
  EXPECT_EQ(receiver.requests().size(), 9u);
  EXPECT_EQ(receiver.post_count(), 11u);  // the two 503s: batch 1, then batch 2 while 1 waited
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
  ASSERT_TRUE(h.run_until([&] { return receiver.post_count() >= 1; }));
  // Give the 503 answer time to arrive so the hour-long wait is running. Should the answer be
  // later than this, the test still holds: a failure arriving during shutdown is not retried.
  h.io.run_for(100ms);
  bool done = false;
  h.exporter.shutdown(std::chrono::steady_clock::now() + 10s, [&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 2u);
  EXPECT_EQ(h.result(1).outcome, ExportOutcome::kDroppedShutdown) << h.result(1).message;
  EXPECT_EQ(h.result(2).outcome, ExportOutcome::kAccepted) << h.result(2).message;
}

TEST(HttpExporter, ShutdownDeadlineAbortsAHangingRequestAndDropsTheRest) {
  OtlpReceiver receiver;
  receiver.set_delay(60s);
  auto config = fast_config(receiver.endpoint());
  config.timeout = 60s;  // longer than the hang guard: only the deadline can end the attempt
  config.max_in_flight = 1;
  Harness h(config);
  for (std::uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(h.exporter.enqueue(make_batch(id, 1)));
  bool done = false;
  const auto deadline = std::chrono::steady_clock::now() + 300ms;
  h.exporter.shutdown(deadline, [&] { done = true; });
  ASSERT_TRUE(h.run_until([&] { return done; }));

  ASSERT_EQ(h.results.size(), 3u);
  for (std::uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(h.result(id).outcome, ExportOutcome::kDroppedShutdown);
  EXPECT_EQ(h.result(1).attempts, 1u);
  EXPECT_EQ(h.result(2).attempts, 0u);
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
  config.queue.storage = QueueStorage::kRings;  // not the default disk queue in $HOME
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

// ---- disk queue (queue.storage: disk) ----------------------------------------------------------

namespace spanring::agent {
namespace {

// A fresh directory per test under the build's temp dir, removed at the end.
struct TempDir {
  TempDir() {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           ("spanring-diskq-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

DiskRecord record_of(std::uint64_t spans, const std::string& body) {
  return DiskRecord{spans, {ServiceCount{"llm", spans - 1}, ServiceCount{"kv", 1}}, body};
}

// One record, as the next sequence number.
bool put(DiskQueue& q, const DiskRecord& record, std::string& error) { return q.put({{q.next_seq(), &record}}, error); }

TEST(DiskRecord, RoundTripsAndRejectsEveryTruncationAndFlippedByte) {
  const std::string bytes = encode_record(record_of(3, "body-bytes"));
  const auto back = decode_record(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->spans, 3u);
  EXPECT_EQ(back->services, (std::vector<ServiceCount>{{"llm", 2}, {"kv", 1}}));
  EXPECT_EQ(back->body, "body-bytes");
  for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_record(bytes.substr(0, n))) << n;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_FALSE(decode_record(bad)) << "byte " << i;
  }
}

TEST(DiskQueue, PutGetRemoveAndResumeAfterReopenOldestFirst) {
  TempDir dir;
  std::string error;
  {
    auto q = DiskQueue::open(dir.path, 1 << 20, error);
    ASSERT_TRUE(q) << error;
    EXPECT_TRUE(q->take_resumed().empty());
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(put(*q, record_of(2, "b" + std::to_string(i)), error)) << error;
    auto second = q->get(2, error);
    ASSERT_TRUE(second) << error;
    EXPECT_EQ(second->body, "b2");
    q->remove({2});
    EXPECT_FALSE(q->get(2, error));
  }  // closed as a SIGKILL would leave it: no shutdown step exists
  auto q = DiskQueue::open(dir.path, 1 << 20, error);
  ASSERT_TRUE(q) << error;
  const auto resumed = q->take_resumed();
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].seq, 1u);
  EXPECT_EQ(resumed[1].seq, 3u);
  EXPECT_EQ(resumed[1].spans, 2u);
  EXPECT_EQ(resumed[1].bytes, 2u);
  EXPECT_EQ(resumed[1].services, (std::vector<ServiceCount>{{"llm", 1}, {"kv", 1}}));
  EXPECT_EQ(q->next_seq(), 4u);
  EXPECT_EQ(q->corrupt_records(), 0u);
}

TEST(DiskQueue, ASecondOpenOfTheSameDirectoryIsRefusedNamingIt) {
  TempDir dir;
  std::string error;
  auto first = DiskQueue::open(dir.path, 1 << 20, error);
  ASSERT_TRUE(first) << error;
  EXPECT_FALSE(DiskQueue::open(dir.path, 1 << 20, error));
  EXPECT_NE(error.find(dir.path.string() + " is in use by another spanring-agent"), std::string::npos) << error;
  first.reset();
  EXPECT_TRUE(DiskQueue::open(dir.path, 1 << 20, error)) << error;
}

TEST(DiskQueue, RecordThatDoesNotParseIsDeletedAndCountedAtOpen) {
  TempDir dir;
  std::string error;
  {
    auto q = DiskQueue::open(dir.path, 1 << 20, error);
    ASSERT_TRUE(q) << error;
    // Three records in one transaction, as the exporter stores a drain pass.
    const DiskRecord a = record_of(2, "good-1"), b = record_of(2, "to-be-broken"), c = record_of(2, "good-3");
    ASSERT_TRUE(q->put({{1, &a}, {2, &b}, {3, &c}}, error)) << error;
  }
  {
    // Overwrite record 2's value in place with LMDB itself: a store that is intact for LMDB but
    // holds bytes our parser refuses.
    MDB_env* env = nullptr;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_open(env, dir.path.c_str(), 0, 0600), 0);
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    unsigned char key[8] = {0, 0, 0, 0, 0, 0, 0, 2};
    std::string junk = "SRQ1 but not really a record";
    MDB_val k{8, key}, v{junk.size(), junk.data()};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  auto q = DiskQueue::open(dir.path, 1 << 20, error);
  ASSERT_TRUE(q) << error;
  const auto resumed = q->take_resumed();
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].seq, 1u);
  EXPECT_EQ(resumed[1].seq, 3u);
  EXPECT_EQ(q->corrupt_records(), 1u);
  EXPECT_FALSE(q->get(2, error));  // deleted
}

TEST(DiskQueue, StoreLmdbCannotReadIsMovedAsideCountedAndReplaced) {
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  {
    std::ofstream junk(dir.path / "data.mdb", std::ios::binary);
    junk << std::string(64 << 10, '\x5a');
  }
  std::string error;
  auto q = DiskQueue::open(dir.path, 1 << 20, error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->store_resets(), 1u);
  EXPECT_TRUE(q->take_resumed().empty());
  ASSERT_TRUE(put(*q, record_of(2, "after"), error)) << error;
  bool kept_aside = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.path))
    kept_aside |= e.path().filename().string().rfind("data.mdb.corrupt-", 0) == 0;
  EXPECT_TRUE(kept_aside);
}

TEST(DiskQueue, UnusableDirectoryIsAnErrorNamingIt) {
  TempDir dir;
  std::filesystem::create_directories(dir.path);
  { std::ofstream(dir.path / "file") << "x"; }
  std::string error;
  EXPECT_FALSE(DiskQueue::open((dir.path / "file" / "queue").string(), 1 << 20, error));
  EXPECT_NE(error.find((dir.path / "file" / "queue").string()), std::string::npos) << error;
}

TEST(DiskQueue, FullStoreRefusesThePutAndKeepsWhatItHas) {
  TempDir dir;
  std::string error;
  auto q = DiskQueue::open(dir.path, 0, error);  // map: the 16 MiB floor only
  ASSERT_TRUE(q) << error;
  const std::string body(1 << 20, 'x');
  int stored = 0;
  while (put(*q, record_of(2, body), error)) ++stored;
  EXPECT_NE(error.find("the store is full"), std::string::npos) << error;
  EXPECT_GT(stored, 5);
  EXPECT_TRUE(q->get(1, error));
}

HttpExportConfig disk_config(const std::string& endpoint, const std::filesystem::path& dir) {
  HttpExportConfig config = fast_config(endpoint);
  config.queue.storage = QueueStorage::kDisk;
  config.queue.directory = dir.string();
  return config;
}

ExportBatch batch_of(std::uint64_t id, int spans, const std::string& service) {
  ExportBatch b = make_batch(id, spans);
  b.services = {ServiceCount{service, static_cast<std::uint64_t>(spans)}};
  return b;
}

TEST(HttpExporterDisk, BatchesOfAnAbandonedExporterAreResumedFirstAndReportedAsResumed) {
  TempDir dir;
  OtlpReceiver receiver;
  receiver.stop();  // nothing gets through before the "crash"
  {
    Harness h(disk_config(receiver.endpoint(), dir.path));
    ASSERT_TRUE(h.exporter.enqueue(batch_of(1, 2, "llm")));
    ASSERT_TRUE(h.exporter.enqueue(batch_of(2, 3, "kv")));
    h.io.run_for(50ms);
    EXPECT_TRUE(h.results.empty());
  }  // destroyed without shutdown: what a SIGKILL leaves
  receiver.start();
  Harness h(disk_config(receiver.endpoint(), dir.path));
  EXPECT_EQ(h.exporter.resumed(), (std::vector<ServiceCount>{{"kv", 3}, {"llm", 2}}));
  EXPECT_EQ(h.exporter.queued_spans(), 5u);
  ASSERT_TRUE(h.exporter.enqueue(batch_of(7, 1, "llm")));
  ASSERT_TRUE(h.run_until_results(3));
  EXPECT_TRUE(h.results[0].resumed);
  EXPECT_EQ(h.results[0].id, 0u);
  EXPECT_EQ(h.results[0].services, (std::vector<ServiceCount>{{"llm", 2}}));
  EXPECT_EQ(h.results[0].outcome, ExportOutcome::kAccepted);
  EXPECT_EQ(h.result(7).services, (std::vector<ServiceCount>{{"llm", 1}}));
  EXPECT_FALSE(h.result(7).resumed);
  EXPECT_EQ(receiver.span_count(), 6u);
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_TRUE(same_message(requests[0].message, make_request(2, 1)));  // the oldest first
}

TEST(HttpExporterDisk, AnsweredBatchesAreDeletedSoARestartResendsNothing) {
  TempDir dir;
  OtlpReceiver receiver;
  {
    Harness h(disk_config(receiver.endpoint(), dir.path));
    for (std::uint64_t id = 1; id <= 4; ++id) ASSERT_TRUE(h.exporter.enqueue(batch_of(id, 1, "llm")));
    ASSERT_TRUE(h.run_until_results(4));
  }
  Harness h(disk_config(receiver.endpoint(), dir.path));
  EXPECT_TRUE(h.exporter.resumed().empty());
  EXPECT_EQ(h.exporter.queued_batches(), 0u);
}

TEST(HttpExporterDisk, ShutdownWithTheBackendDownKeepsEveryBatchForTheNextStart) {
  TempDir dir;
  OtlpReceiver receiver;
  receiver.stop();
  {
    Harness h(disk_config(receiver.endpoint(), dir.path));
    for (std::uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(h.exporter.enqueue(batch_of(id, 2, "llm")));
    bool done = false;
    h.exporter.shutdown(std::chrono::steady_clock::now() + 2s, [&] { done = true; });
    ASSERT_TRUE(h.run_until([&] { return done; }));
    ASSERT_EQ(h.results.size(), 3u);
    for (const auto& r : h.results) EXPECT_EQ(r.outcome, ExportOutcome::kKeptInQueue) << r.message;
  }
  Harness h(disk_config(receiver.endpoint(), dir.path));
  EXPECT_EQ(h.exporter.resumed(), (std::vector<ServiceCount>{{"llm", 6}}));
}

TEST(HttpExporterDisk, SecondExporterOnTheSameDirectoryThrowsNamingIt) {
  TempDir dir;
  OtlpReceiver receiver;
  Harness first(disk_config(receiver.endpoint(), dir.path));
  boost::asio::io_context io;
  try {
    HttpExporter second(io, disk_config(receiver.endpoint(), dir.path), [](const ExportResult&) {});
    ADD_FAILURE() << "a second exporter opened a locked queue";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another spanring-agent"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spanring::agent

namespace spanring::agent {
namespace {

TEST(HttpExporterMemory, WhatAKilledRunHeldIsCountedByTheNextStart) {
  TempDir dir;
  OtlpReceiver receiver;
  receiver.stop();
  auto config = fast_config(receiver.endpoint());
  config.queue.directory = dir.path.string();
  {
    Harness h(config);
    EXPECT_TRUE(h.exporter.lost_by_earlier_run().empty());
    ASSERT_TRUE(h.exporter.enqueue(batch_of(1, 2, "llm")));
    ASSERT_TRUE(h.exporter.enqueue(batch_of(2, 3, "kv")));
    ASSERT_TRUE(h.exporter.enqueue(batch_of(3, 4, "llm")));
    h.io.run_for(50ms);
  }  // destroyed without shutdown: what a SIGKILL leaves (the tally file keeps its counts)
  Harness h(config);
  auto lost = h.exporter.lost_by_earlier_run();
  std::sort(lost.begin(), lost.end(), [](const ServiceCount& a, const ServiceCount& b) { return a.service < b.service; });
  EXPECT_EQ(lost, (std::vector<ServiceCount>{{"kv", 3}, {"llm", 6}}));
  EXPECT_TRUE(h.exporter.resumed().empty()) << "nothing of it can be sent: memory died with the process";
}

TEST(HttpExporterMemory, AnsweredBatchesLeaveNothingToCount) {
  TempDir dir;
  OtlpReceiver receiver;
  auto config = fast_config(receiver.endpoint());
  config.queue.directory = dir.path.string();
  {
    Harness h(config);
    for (std::uint64_t id = 1; id <= 3; ++id) ASSERT_TRUE(h.exporter.enqueue(batch_of(id, 2, "llm")));
    ASSERT_TRUE(h.run_until_results(3));
  }
  Harness h(config);
  EXPECT_TRUE(h.exporter.lost_by_earlier_run().empty());
}

}  // namespace
}  // namespace spanring::agent
