// Self-observability: the registry's Prometheus text (golden strings), and the /metrics and
// /healthz endpoint over a real socket.
//
// Server tests run the server's io_context on the test thread (run_until), so every server
// call and registry update happens on its thread, as in the agent; blocking HTTP clients run
// on std::async threads with their own sockets.
#include <chrono>
#include <cmath>
#include <functional>
#include <future>
#include <limits>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "agent/metrics/metrics.hpp"
#include "agent/metrics/metrics_server.hpp"

namespace spanring::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// ---- registry and exposition -----------------------------------------------------------------

TEST(Registry, EmptyRegistryRendersNothing) { EXPECT_EQ(Registry().render(), ""); }

TEST(Registry, RendersCountersGaugesAndHistogramsExactly) {
  Registry r;
  Counter& dropped = r.counter("spanring_spans_dropped", "Spans dropped by the agent.",
                               {{"service", "llm-engine"}, {"reason", "queue_full"}});
  r.counter("spanring_spans_dropped", "Spans dropped by the agent.",
            {{"service", "llm-engine"}, {"reason", "export_failed"}});
  Gauge& segments = r.gauge("spanring_segments_attached", "Segments being drained.");
  const double bounds[] = {0.05, 0.1};
  Histogram& latency = r.histogram("spanring_export_duration_seconds", "Export latency.",
                                   {{"exporter", "otlp"}}, bounds);
  dropped.inc(3);
  segments.set(2);
  latency.observe(0.01);
  latency.observe(0.1);
  latency.observe(0.5);
  latency.observe(1.5);

  EXPECT_EQ(r.render(),
            "# HELP spanring_spans_dropped_total Spans dropped by the agent.\n"
            "# TYPE spanring_spans_dropped_total counter\n"
            "spanring_spans_dropped_total{service=\"llm-engine\",reason=\"queue_full\"} 3\n"
            "spanring_spans_dropped_total{service=\"llm-engine\",reason=\"export_failed\"} 0\n"
            "# HELP spanring_segments_attached Segments being drained.\n"
            "# TYPE spanring_segments_attached gauge\n"
            "spanring_segments_attached 2\n"
            "# HELP spanring_export_duration_seconds Export latency.\n"
            "# TYPE spanring_export_duration_seconds histogram\n"
            "spanring_export_duration_seconds_bucket{exporter=\"otlp\",le=\"0.05\"} 1\n"
            "spanring_export_duration_seconds_bucket{exporter=\"otlp\",le=\"0.1\"} 2\n"
            "spanring_export_duration_seconds_bucket{exporter=\"otlp\",le=\"+Inf\"} 4\n"
            "spanring_export_duration_seconds_sum{exporter=\"otlp\"} 2.11\n"
            "spanring_export_duration_seconds_count{exporter=\"otlp\"} 4\n");
}

TEST(Registry, CounterNameGetsTotalSuffixExactlyOnce) {
  Registry r;
  r.counter("a", "").inc();
  r.counter("b_total", "").inc(2);
  EXPECT_EQ(r.render(),
            "# TYPE a_total counter\n"
            "a_total 1\n"
            "# TYPE b_total counter\n"
            "b_total 2\n");
}

TEST(Registry, SameNameAndLabelsInAnyOrderIsTheSameSeries) {
  Registry r;
  Counter& first = r.counter("c", "help", {{"service", "s"}, {"reason", "r"}});
  Counter& again = r.counter("c", "help", {{"reason", "r"}, {"service", "s"}});
  Counter& other = r.counter("c", "help", {{"service", "s"}, {"reason", "other"}});
  EXPECT_EQ(&first, &again);
  EXPECT_NE(&first, &other);
}

TEST(Registry, ReferencesStayValidWhileMoreSeriesAreRegistered) {
  Registry r;
  Counter& first = r.counter("c", "h", {{"service", "0"}});
  Gauge& gauge = r.gauge("g", "h", {{"service", "0"}});
  Histogram& histogram = r.histogram("hist", "h", {{"service", "0"}});
  for (int i = 1; i < 2000; ++i) {
    r.counter("c", "h", {{"service", std::to_string(i)}});
    r.gauge("g", "h", {{"service", std::to_string(i)}});
    r.histogram("hist", "h", {{"service", std::to_string(i)}});
    r.counter("family_" + std::to_string(i), "h");
  }
  first.inc(7);
  gauge.set(1.5);
  histogram.observe(0.2);
  EXPECT_EQ(&first, &r.counter("c", "h", {{"service", "0"}}));
  EXPECT_EQ(r.counter("c", "h", {{"service", "0"}}).value(), 7u);
  EXPECT_EQ(r.gauge("g", "h", {{"service", "0"}}).value(), 1.5);
  EXPECT_EQ(r.histogram("hist", "h", {{"service", "0"}}).count(), 1u);
}

TEST(Registry, LabelValuesEscapeBackslashQuoteAndNewline) {
  Registry r;
  r.gauge("g", "", {{"path", "C:\\dir\n\"x\""}}).set(1);
  EXPECT_EQ(r.render(),
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

// Issue: a service name from a segment, "\xff\xfe\x00", went into /metrics raw and made the
// whole page invalid for a strict scraper.
TEST(Registry, LabelValuesFromProducersAreValidUtf8WithoutControlCharacters) {
  Registry r;
  r.counter("c", "", {{"service", std::string("ab\xff\xfe\x00z", 6)}}).inc();
  r.counter("c", "", {{"service", "caf\xc3\xa9\x1b[31m"}}).inc();
  EXPECT_EQ(r.render(),
            "# TYPE c_total counter\n"
            "c_total{service=\"ab\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz\"} 1\n"
            "c_total{service=\"caf\xc3\xa9\xef\xbf\xbd[31m\"} 1\n");
  // Two raw names that read the same once repaired are one series, never two equal lines.
  EXPECT_EQ(&r.counter("c", "", {{"service", std::string("ab\xfe\xff\x01z", 6)}}),
            &r.counter("c", "", {{"service", std::string("ab\xff\xfe\x00z", 6)}}));
}

TEST(Registry, LabelValuesThatLookLikeLabelListsStayDistinctSeries) {
  Registry r;
  Counter& a = r.counter("c", "", {{"a", "x"}, {"b", "y"}});
  Counter& b = r.counter("c", "", {{"a", "x\"},b={\"y"}});
  EXPECT_NE(&a, &b);
}

TEST(Registry, HelpEscapesBackslashAndNewlineButNotQuotes) {
  Registry r;
  r.gauge("g", "a \\ b\n\"c\"");
  EXPECT_EQ(r.render(),
            "# HELP g a \\\\ b\\n\"c\"\n"
            "# TYPE g gauge\n"
            "g 0\n");
}

TEST(Registry, GaugeValuesUseShortestTextAndPrometheusSpecialValues) {
  Registry r;
  r.gauge("g", "", {{"v", "a"}}).set(0.1);
  r.gauge("g", "", {{"v", "b"}}).set(-3);
  r.gauge("g", "", {{"v", "c"}}).set(std::numeric_limits<double>::infinity());
  r.gauge("g", "", {{"v", "d"}}).set(-std::numeric_limits<double>::infinity());
  r.gauge("g", "", {{"v", "e"}}).set(std::nan(""));
  r.gauge("g", "", {{"v", "f"}}).set(1e21);
  EXPECT_EQ(r.render(),
            "# TYPE g gauge\n"
            "g{v=\"a\"} 0.1\n"
            "g{v=\"b\"} -3\n"
            "g{v=\"c\"} +Inf\n"
            "g{v=\"d\"} -Inf\n"
            "g{v=\"e\"} NaN\n"
            "g{v=\"f\"} 1e+21\n");
}

TEST(Histogram, BucketsAreCumulativeAndIncludeTheirBound) {
  const double bounds[] = {1, 2, 4};
  Histogram h(bounds);
  for (double v : {0.5, 1.0, 2.0, 3.0, 4.0, 100.0}) h.observe(v);
  EXPECT_EQ(h.cumulative_count(0), 2u);  // 0.5 and 1.0 (le is inclusive)
  EXPECT_EQ(h.cumulative_count(1), 3u);
  EXPECT_EQ(h.cumulative_count(2), 5u);
  EXPECT_EQ(h.cumulative_count(3), 6u);  // +Inf
  EXPECT_EQ(h.count(), 6u);
  EXPECT_EQ(h.sum(), 110.5);
}

TEST(Histogram, NanCountsOnlyInTheInfBucket) {
  const double bounds[] = {1};
  Histogram h(bounds);
  h.observe(std::nan(""));
  EXPECT_EQ(h.cumulative_count(0), 0u);
  EXPECT_EQ(h.cumulative_count(1), 1u);
  EXPECT_TRUE(std::isnan(h.sum()));
}

TEST(Histogram, RejectsUnsortedOrInfiniteBounds) {
  const double unsorted[] = {1, 1};
  const double infinite[] = {1, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(Histogram{unsorted}, std::invalid_argument);
  EXPECT_THROW(Histogram{infinite}, std::invalid_argument);
}

TEST(Registry, DefaultHistogramBucketsAreTheExportLatencyBuckets) {
  Registry r;
  r.histogram("d_seconds", "").observe(0.003);
  EXPECT_EQ(r.render(),
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"0.005\"} 1\n"
            "d_seconds_bucket{le=\"0.01\"} 1\n"
            "d_seconds_bucket{le=\"0.025\"} 1\n"
            "d_seconds_bucket{le=\"0.05\"} 1\n"
            "d_seconds_bucket{le=\"0.1\"} 1\n"
            "d_seconds_bucket{le=\"0.25\"} 1\n"
            "d_seconds_bucket{le=\"0.5\"} 1\n"
            "d_seconds_bucket{le=\"1\"} 1\n"
            "d_seconds_bucket{le=\"2.5\"} 1\n"
            "d_seconds_bucket{le=\"5\"} 1\n"
            "d_seconds_bucket{le=\"10\"} 1\n"
            "d_seconds_bucket{le=\"+Inf\"} 1\n"
            "d_seconds_sum 0.003\n"
            "d_seconds_count 1\n");
}

TEST(Registry, RejectsInvalidMetricAndLabelNames) {
  Registry r;
  EXPECT_THROW(r.counter("1abc", ""), std::invalid_argument);
  EXPECT_THROW(r.counter("a-b", ""), std::invalid_argument);
  EXPECT_THROW(r.gauge("__reserved", ""), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "", {{"bad-label", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "", {{"a:b", "x"}}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "", {{"a", "x"}, {"a", "y"}}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "", {{"le", "1"}}), std::invalid_argument);
  EXPECT_EQ(r.render(), "");  // nothing half-registered
}

TEST(Registry, RejectsOneNameWithTwoDefinitions) {
  Registry r;
  r.counter("x", "help");
  EXPECT_THROW(r.gauge("x_total", "help"), std::invalid_argument);  // the counter is x_total
  r.gauge("y", "help");
  EXPECT_THROW(r.gauge("y", "other help"), std::invalid_argument);
  const double other_bounds[] = {1, 2};
  r.histogram("h", "help");
  EXPECT_THROW(r.histogram("h", "help", {}, other_bounds), std::invalid_argument);
}

// ---- HTTP server -----------------------------------------------------------------------------

struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string allow;
  std::string connection;
  std::string body;
  std::string error;  // set when the exchange failed at the transport level
};

Reply read_reply(tcp::socket& socket) {
  Reply reply;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(socket, buffer, res, ec);
  if (ec) {
    reply.error = ec.message();
    return reply;
  }
  reply.status = res.result_int();
  reply.content_type = std::string(res[http::field::content_type]);
  reply.allow = std::string(res[http::field::allow]);
  reply.connection = std::string(res[http::field::connection]);
  reply.body = res.body();
  return reply;
}

Reply exchange(tcp::socket& socket, http::verb verb, const std::string& target,
               const std::string& extra_header_value = "") {
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "localhost");
  if (!extra_header_value.empty()) req.set("X-Padding", extra_header_value);
  req.prepare_payload();
  beast::error_code ec;
  http::write(socket, req, ec);
  if (ec) return Reply{0, "", "", "", "", ec.message()};
  return read_reply(socket);
}

class MetricsServerTest : public testing::Test {
 protected:
  void start(MetricsServerOptions options = {}) {
    server_ = std::make_unique<MetricsServer>(io_, registry_, [this] { return health_; },
                                              std::move(options));
    const Status st = server_->start("127.0.0.1", 0);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_NE(server_->port(), 0);
  }

  void TearDown() override {
    // Stopping closes the server's sockets, which releases any client thread still blocked.
    if (server_) server_->stop();
    for (auto& pending : pending_) {
      if (pending.valid()) {
        EXPECT_TRUE(run_until([&] { return ready(pending); }));
      }
    }
    server_.reset();
  }

  static bool ready(const std::future<Reply>& f) {
    return f.wait_for(0s) == std::future_status::ready;
  }

  // Serves on this thread until `done`; the cap turns a broken server into a failure, not a hang.
  [[nodiscard]] bool run_until(const std::function<bool()>& done) {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < give_up) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(10ms);
    }
    return done();
  }

  tcp::socket connect() {
    tcp::socket socket(client_io_);
    socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), server_->port()));
    return socket;
  }

  // Runs `exchange` on `socket` in another thread. The future is kept by the fixture, so a
  // failing test still waits for the thread (after stop() has unblocked it) in TearDown.
  std::future<Reply>& exchange_async(tcp::socket socket, http::verb verb, std::string target,
                                     std::string padding = "") {
    return pending_.emplace_back(std::async(
        std::launch::async,
        [s = std::move(socket), verb, target = std::move(target),
         padding = std::move(padding)]() mutable { return exchange(s, verb, target, padding); }));
  }

  // One request on a fresh connection, served by this thread.
  Reply request(http::verb verb, const std::string& target, const std::string& padding = "") {
    std::future<Reply>& reply = exchange_async(connect(), verb, target, padding);
    if (!run_until([&] { return ready(reply); })) {
      ADD_FAILURE() << "no reply within 10 s";
      server_->stop();  // unblocks the client thread
      if (!run_until([&] { return ready(reply); })) return Reply{};
    }
    return reply.get();
  }

  Reply get(const std::string& target) { return request(http::verb::get, target); }

  asio::io_context client_io_;  // client sockets only; their blocking calls never run it
  asio::io_context io_;
  Registry registry_;
  HealthStatus health_;
  std::unique_ptr<MetricsServer> server_;
  std::list<std::future<Reply>> pending_;
};

TEST_F(MetricsServerTest, MetricsAnswersTheExpositionWithItsContentType) {
  registry_.counter("spanring_spans_exported", "Spans exported.", {{"service", "api"}}).inc(42);
  start();
  const Reply reply = get("/metrics");
  ASSERT_EQ(reply.error, "");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(reply.body,
            "# HELP spanring_spans_exported_total Spans exported.\n"
            "# TYPE spanring_spans_exported_total counter\n"
            "spanring_spans_exported_total{service=\"api\"} 42\n");
}

TEST_F(MetricsServerTest, MetricsShowsUpdatesMadeBetweenScrapes) {
  Counter& exported = registry_.counter("exported", "");
  start();
  EXPECT_EQ(get("/metrics").body, "# TYPE exported_total counter\nexported_total 0\n");
  exported.inc(5);
  EXPECT_EQ(get("/metrics").body, "# TYPE exported_total counter\nexported_total 5\n");
}

TEST_F(MetricsServerTest, OnScrapeRunsBeforeEachRender) {
  Gauge& depth = registry_.gauge("queue_depth", "");
  int scrapes = 0;
  MetricsServerOptions options;
  options.on_scrape = [&] { depth.set(++scrapes * 10); };
  start(std::move(options));
  EXPECT_EQ(get("/metrics").body, "# TYPE queue_depth gauge\nqueue_depth 10\n");
  EXPECT_EQ(get("/metrics").body, "# TYPE queue_depth gauge\nqueue_depth 20\n");
}

TEST_F(MetricsServerTest, HealthzIsOkWhileHealthy) {
  start();
  const Reply reply = get("/healthz");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_EQ(reply.body, "ok\n");
  EXPECT_EQ(reply.content_type, "text/plain; charset=utf-8");
}

TEST_F(MetricsServerTest, HealthzIs503WithTheReasonWhenUnhealthy) {
  start();
  health_ = HealthStatus{false, "exporter failing for 60s"};
  const Reply reply = get("/healthz");
  EXPECT_EQ(reply.status, 503u);
  EXPECT_EQ(reply.body, "exporter failing for 60s\n");
}

TEST_F(MetricsServerTest, ThrowingHealthCallbackIsUnhealthyNotACrash) {
  server_ = std::make_unique<MetricsServer>(io_, registry_, []() -> HealthStatus {
    throw std::runtime_error("boom");
  });
  const Status st = server_->start("127.0.0.1", 0);
  ASSERT_TRUE(st.ok()) << st.message();
  const Reply reply = get("/healthz");
  EXPECT_EQ(reply.status, 503u);
  EXPECT_EQ(reply.body, "health check failed: boom\n");
}

TEST_F(MetricsServerTest, QueryStringDoesNotChangeTheRoute) {
  start();
  EXPECT_EQ(get("/healthz?verbose=1").status, 200u);
}

TEST_F(MetricsServerTest, UnknownPathIs404) {
  start();
  const Reply reply = get("/metricz");
  EXPECT_EQ(reply.status, 404u);
  EXPECT_EQ(reply.body, "not found\n");
}

TEST_F(MetricsServerTest, NonGetIs405AndNamesTheAllowedMethod) {
  start();
  const Reply reply = request(http::verb::post, "/metrics");
  EXPECT_EQ(reply.status, 405u);
  EXPECT_EQ(reply.allow, "GET");
}

TEST_F(MetricsServerTest, KeepAliveConnectionServesSeveralRequests) {
  start();
  tcp::socket socket = connect();
  for (const auto& [target, status] :
       std::vector<std::pair<std::string, unsigned>>{{"/healthz", 200}, {"/metricz", 404},
                                                     {"/healthz", 200}}) {
    // The same socket goes back and forth between this thread and the client thread.
    auto reply = std::async(std::launch::async, [&socket, target = target] {
      return exchange(socket, http::verb::get, target);
    });
    if (!run_until([&] { return ready(reply); })) {
      ADD_FAILURE() << "no reply within 10 s";
      server_->stop();  // unblocks the client thread before the future's destructor waits
    }
    EXPECT_EQ(reply.get().status, status) << target;
  }
  EXPECT_EQ(server_->active_connections(), 1u);
}

TEST_F(MetricsServerTest, OversizedRequestHeaderIsRefusedWith431) {
  MetricsServerOptions options;
  options.max_request_bytes = 1024;
  start(std::move(options));
  const Reply reply = request(http::verb::get, "/metrics", std::string(4096, 'x'));
  ASSERT_EQ(reply.error, "");
  EXPECT_EQ(reply.status, 431u);
  EXPECT_EQ(reply.connection, "close");
  EXPECT_TRUE(run_until([&] { return server_->active_connections() == 0; }));
}

// A body far larger than the kernel's socket buffers: closing with that much unread would
// reset the connection, so the client would fail its write and lose the answer.
TEST_F(MetricsServerTest, RefusedClientStillGetsTheAnswerAfterSendingMuchMore) {
  MetricsServerOptions options;
  options.max_request_bytes = 1024;
  start(std::move(options));
  auto reply = std::async(std::launch::async, [socket = connect()]() mutable {
    http::request<http::string_body> req{http::verb::post, "/metrics", 11};
    req.set(http::field::host, "localhost");
    req.body() = std::string(16 << 20, 'x');
    req.prepare_payload();
    beast::error_code ec;
    http::write(socket, req, ec);
    if (ec) return Reply{0, "", "", "", "", "write: " + ec.message()};
    return read_reply(socket);
  });
  if (!run_until([&] { return ready(reply); })) {
    ADD_FAILURE() << "no reply within 10 s";
    server_->stop();
  }
  const Reply r = reply.get();
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.body, "request body too large\n");
}

TEST_F(MetricsServerTest, IdleConnectionIsClosedAfterTheTimeout) {
  MetricsServerOptions options;
  options.timeout = 50ms;
  start(std::move(options));
  tcp::socket idle = connect();
  ASSERT_TRUE(run_until([&] { return server_->active_connections() == 1; }));
  ASSERT_TRUE(run_until([&] { return server_->active_connections() == 0; }));
  // The server closed its end: the client sees end of stream, not a hang.
  char byte = 0;
  beast::error_code ec;
  idle.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(MetricsServerTest, ConnectionsBeyondTheLimitWaitUntilOneCloses) {
  MetricsServerOptions options;
  options.max_connections = 2;
  start(std::move(options));
  tcp::socket a = connect();
  tcp::socket b = connect();
  ASSERT_TRUE(run_until([&] { return server_->active_connections() == 2; }));

  // connect() returns once the kernel completed the handshake, so the third client is in the
  // listen backlog now: had the server armed accept, the listening socket would be readable
  // and the accept would complete while we serve below. run_for bounds how long this thread
  // serves; nothing asserts on elapsed time.
  std::future<Reply>& third = exchange_async(connect(), http::verb::get, "/healthz");
  io_.run_for(200ms);
  EXPECT_EQ(server_->active_connections(), 2u);
  EXPECT_FALSE(ready(third));

  a.close();  // frees a slot: the third client is accepted and answered
  ASSERT_TRUE(run_until([&] { return ready(third); }));
  EXPECT_EQ(third.get().status, 200u);
}

TEST_F(MetricsServerTest, StopClosesOpenConnections) {
  start();
  tcp::socket open = connect();
  ASSERT_TRUE(run_until([&] { return server_->active_connections() == 1; }));
  server_->stop();
  ASSERT_TRUE(run_until([&] { return server_->active_connections() == 0; }));
  char byte = 0;
  beast::error_code ec;
  open.read_some(asio::buffer(&byte, 1), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST_F(MetricsServerTest, PortInUseIsReportedNotThrown) {
  start();
  MetricsServer second(io_, registry_, nullptr);
  const Status st = second.start("127.0.0.1", server_->port());
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_EQ(st.message(), "cannot listen on 127.0.0.1:" + std::to_string(server_->port()) +
                       ": bind: Address already in use");
}

}  // namespace
}  // namespace spanring::agent
