// A scriptable OTLP trace receiver for tests, on 127.0.0.1 (ephemeral port, fixed across
// stop()/start()), running on its own thread(s):
//   - OTLP/HTTP: a Boost.Beast server accepting POST /v1/traces with protobuf or OTLP/JSON bodies
//     (optionally gzip), over plain TCP or TLS (Beast over an asio ssl::stream, OpenSSL);
//   - OTLP/gRPC: a grpc::Server with the generated TraceService::Service, plaintext or TLS.
// Both decode with the generated classes, keep what they received and share one script (fail
// the next N requests, partial success, delay). Mutual TLS when a client CA is given. Every
// method is thread-safe.
#pragma once

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace spanring::test {

struct ReceiverOptions {
  bool grpc = false;        // OTLP/gRPC instead of OTLP/HTTP
  std::string cert_file;    // TLS with this PEM certificate and key when set
  std::string key_file;
  std::string client_ca_file;  // mutual TLS: client certificates must chain to this CA
  // HTTP only: accept TCP connections and never read or answer (a TLS server that hangs).
  bool silent = false;
};

struct ReceivedRequest {
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest message;
  std::map<std::string, std::string> headers;  // names lowercased
  std::size_t wire_bytes = 0;                  // body as received (compressed when gzip)
};

struct ReceivedSpan {
  opentelemetry::proto::resource::v1::Resource resource;
  opentelemetry::proto::common::v1::InstrumentationScope scope;
  opentelemetry::proto::trace::v1::Span span;
};

class OtlpReceiver {
 public:
  // Starts listening at once.
  OtlpReceiver() : OtlpReceiver(ReceiverOptions{}) {}
  explicit OtlpReceiver(ReceiverOptions options);
  ~OtlpReceiver();
  OtlpReceiver(const OtlpReceiver&) = delete;
  OtlpReceiver& operator=(const OtlpReceiver&) = delete;

  std::uint16_t port() const { return port_; }
  // http[s]://127.0.0.1:<port>/v1/traces; gRPC: http[s]://127.0.0.1:<port>
  std::string endpoint() const;

  // Closes the listener and every open connection (a backend that went down); blocks until done.
  void stop();
  // Listens again on the same port.
  void start();

  // Script: the next `count` POSTs get `status` with a google.rpc.Status body carrying
  // `message`, and a Retry-After header when `retry_after` is not empty. Failures are injected
  // before decoding, so failed requests are not stored. On gRPC the status maps to a code
  // (429/503 -> UNAVAILABLE, 400 -> INVALID_ARGUMENT, 401 -> UNAUTHENTICATED, else INTERNAL)
  // and a Retry-After of N seconds to a google.rpc.RetryInfo{retry_delay: N s} detail.
  void fail_next(int count, int status, std::string retry_after = {}, std::string message = "injected failure");
  // Script: from now on 3 POSTs of every 10 get the fail_next() status (503 unless set), a
  // fixed pattern rather than a random draw so that a failing run can be repeated.
  void fail_30_percent(bool on);
  // Script: every later accepted request answers partial_success{rejected_spans, error_message}.
  void set_partial_reject(std::int64_t rejected_spans, std::string error_message);
  // Script: accepted requests are answered with a 200 body of this many bytes (0 = normal body),
  // to play a server whose answer exceeds the client's response limit.
  void set_oversized_reply(std::size_t bytes);
  // Script: wait this long before answering each request.
  void set_delay(std::chrono::milliseconds delay);

  // Requests answered with 2xx, in arrival order.
  std::vector<ReceivedRequest> requests() const;
  // Their spans, flattened, each with its resource and scope.
  std::vector<ReceivedSpan> spans() const;
  std::size_t span_count() const;
  // Every POST that arrived, failed or not, and when.
  std::size_t post_count() const;
  std::vector<std::chrono::steady_clock::time_point> post_times() const;
  // TCP connections accepted since construction (keep-alive reuse shows as fewer than posts).
  std::size_t connection_count() const;
  // Blocks until post_count() >= n or the timeout passes; returns whether it was reached.
  bool wait_for_posts(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  class Server;
  class GrpcServer;
  friend class Server;
  friend class GrpcServer;

  struct Reply {
    int status = 200;
    std::string content_type = "application/x-protobuf";
    std::string body;
    std::string retry_after;
  };
  // Called by the server thread for each complete request.
  Reply handle(const std::string& method, const std::string& target, std::map<std::string, std::string> headers,
               const std::string& body);
  // The shared script for gRPC: the status to answer with, and the decoded request kept.
  struct GrpcReply {
    int code = 0;
    std::string message;
    std::string details;  // serialized google.rpc.Status (grpc-status-details-bin)
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
  };
  GrpcReply handle_grpc(std::map<std::string, std::string> headers,
                        const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request);
  std::chrono::milliseconds delay() const;
  void count_connection();
  void start_server();

  ReceiverOptions options_;
  std::unique_ptr<GrpcServer> grpc_server_;

  mutable std::mutex mutex_;
  mutable std::condition_variable posted_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Server> server_;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::chrono::steady_clock::time_point> post_times_;
  std::size_t connections_ = 0;
  int fail_count_ = 0;
  bool fail_30_percent_ = false;
  int fail_status_ = 503;
  std::string fail_retry_after_;
  std::string fail_message_;
  std::int64_t partial_rejected_ = 0;
  std::string partial_message_;
  std::chrono::milliseconds delay_{0};
  std::size_t oversized_reply_ = 0;
};

}  // namespace spanring::test
