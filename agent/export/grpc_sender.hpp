// Innermost export layer for OTLP/gRPC (SPEC §3): one `TraceService/Export` unary call per
// attempt, through Debian's gRPC C++ library (HTTP/2 framing, TLS, gzip are the library's).
//
// gRPC runs its own threads (a completion-queue poller and the callback executor) and allocates
// per call; that is why it lives only here, in the agent's export library: the client library and
// the shared-memory reader never link it. Its callback only posts the result to the agent's
// executor, so everything else stays on the agent's one export thread, as for HTTP.
#pragma once

#include "agent/base/log.hpp"
#include "agent/export/export_config.hpp"
#include "agent/export/sender.hpp"
#include "agent/export/url.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace spanring::agent {

struct GrpcSenderOptions {
  HttpUrl url;  // host and port (the path is not used by gRPC); url.tls: TLS
  std::chrono::nanoseconds timeout = std::chrono::seconds{10};  // per call (the gRPC deadline); 0 = none
  Compression compression = Compression::kNone;  // gzip: grpc-encoding: gzip, done by the library
  std::map<std::string, std::string> headers;  // sent as metadata (names lowercased, as gRPC wants)
  std::string user_agent = "spanring-agent";
  // TLS, PEM text (read from the files by make_sender): trust roots (empty = the system trust
  // store), and the client certificate and key of mutual TLS.
  std::string root_certs;
  std::string client_cert;
  std::string client_key;
  std::string server_name;  // overrides the name checked in the server certificate; empty = host
};

// One channel (one HTTP/2 connection, reconnected by the library) per sender. gRPC's own retries
// are off and its reconnect backoff is short, so the retry layer above (retry_sender) alone
// decides when to try again, as for HTTP. A refused connection, a failed TLS handshake and the
// deadline are all kRetryable (UNAVAILABLE / DEADLINE_EXCEEDED); the codes are classified by
// classify_grpc_status. Must be owned by a shared_ptr.
class GrpcSender final : public Sender, public std::enable_shared_from_this<GrpcSender> {
 public:
  GrpcSender(boost::asio::any_io_executor executor, GrpcSenderOptions options);
  ~GrpcSender() override;

  void send(ExportPayload request, SendCallback done) override;
  void cancel() override;
  // Cancels the call in flight. The channel itself stays until the sender is destroyed.
  void close() override;

  struct Call;  // one call's context and buffers, alive until gRPC's callback ran

 private:
  struct Link;
  void on_done(std::uint64_t generation, Call& call);
  void finish(SendResult result);

  GrpcSenderOptions options_;
  boost::asio::any_io_executor executor_;
  std::shared_ptr<Link> link_;
  std::shared_ptr<Call> call_;
  SendCallback done_;
  std::uint64_t generation_ = 0;
  bool cancelled_ = false;
  // gRPC reports a failed TLS handshake as UNAVAILABLE; such failures are logged when they
  // happen, at most once per 30 s (see http_sender.hpp).
  LogLimiter handshake_log_{1, std::chrono::seconds(30)};
};

// The result of a finished call (SPEC §3): OK (with partial success decoded from `response`),
// the retryable codes (CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE,
// DATA_LOSS; RESOURCE_EXHAUSTED only with RetryInfo) as kRetryable, or kThrottled when the status
// details (google.rpc.Status) carry a google.rpc.RetryInfo; anything else kPermanent.
// `error_details` is the serialized google.rpc.Status of the trailer grpc-status-details-bin.
SendResult classify_grpc_status(int code, const std::string& message, const std::string& error_details,
                                const std::string& response);

}  // namespace spanring::agent
