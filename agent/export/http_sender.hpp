// Innermost export layer for OTLP/HTTP (protobuf or JSON, plain or TLS): one timeout-bounded
// attempt over a reused keep-alive connection.
#pragma once

#include "agent/base/log.hpp"
#include "agent/export/export_config.hpp"
#include "agent/export/sender.hpp"
#include "agent/export/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spanring::agent {

struct HttpSenderOptions {
  HttpUrl url;  // url.tls: HTTPS through `tls_context`
  std::chrono::nanoseconds timeout = std::chrono::seconds{10};  // whole attempt; 0 = no limit
  std::size_t max_response_bytes = std::size_t{4} << 20;  // SPEC §2.1; above -> kPermanent
  bool json = false;  // http/json: the payload is rewritten as OTLP/JSON (sinks/otlp_json.hpp)
  Compression compression = Compression::kNone;
  std::map<std::string, std::string> headers;  // extra request headers (validated by the config)
  std::string user_agent = "spanring-agent";
  // Required when url.tls. Shared by every sender of one exporter; built by make_tls_context.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  // Name the server certificate must carry, and the SNI sent; empty = url.host.
  std::string server_name;
  bool verify = true;  // false = tls.insecure_skip_verify
};

// Resolves the host on every new connection (addresses may change) and keeps the connection for
// the next request unless the server says "Connection: close" or anything fails. A request that
// fails on a reused connection before any byte of an answer arrived is resent once on a new
// connection inside the same attempt: servers close idle connections at will, and that is not a
// backend failure worth a backoff.
//
// Over TLS the handshake is part of the attempt (and of its timeout): a failed handshake (an
// untrusted, expired or wrongly named certificate, a server that never answers) is kRetryable,
// like a refused connection, and its message names the endpoint and OpenSSL's reason.
//
// The request is built from the payload once (content type, JSON conversion, gzip, headers) and
// kept while the same payload is resent by the retry layer.
//
// Transport errors and timeouts are kRetryable; the answer is classified by classify_response.
// Must be owned by a shared_ptr (handlers keep it alive).
class HttpSender final : public Sender, public std::enable_shared_from_this<HttpSender> {
 public:
  HttpSender(boost::asio::any_io_executor executor, HttpSenderOptions options);

  void send(ExportPayload request, SendCallback done) override;
  void cancel() override;
  void close() override;

 private:
  enum class Abort { kNone, kTimeout, kCancel };
  // The body points into the payload (protobuf as is) or into encoded_ (JSON, gzip): no copy of
  // the bytes the queue already holds.
  using Request = boost::beast::http::request<boost::beast::http::span_body<const char>>;
  // Beast's ssl_stream, not asio's: it coalesces the header and body buffers into one TLS record
  // per write (asio's stream encrypts one buffer per write, two records and sends per request).
  using TlsStream = boost::beast::ssl_stream<boost::asio::ip::tcp::socket>;

  bool build_request(const ExportPayload& payload);
  boost::asio::ip::tcp::socket& socket();
  // Calls f with the stream the HTTP exchange runs over: the TLS stream or the plain socket.
  template <class F>
  void with_stream(F&& f);
  void connect();
  void handshake();
  void write();
  void read();
  void on_read(const boost::system::error_code& ec);
  // Every I/O completion goes through here first: it turns an abort into its result.
  bool aborted();
  void fail(std::string_view step, const boost::system::error_code& ec);
  void fail_handshake(const boost::system::error_code& ec);
  void fail_oversized();
  void abort_io();
  void finish(SendResult result);

  HttpSenderOptions options_;
  boost::asio::any_io_executor executor_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket plain_;
  std::unique_ptr<TlsStream> tls_;  // a fresh one per connection when options_.url.tls
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  ExportPayload payload_;  // the request's bytes (and the body's storage when not encoded)
  std::string encoded_;    // JSON and/or gzip form of payload_
  std::optional<Request> request_;
  SendCallback done_;
  std::uint64_t generation_ = 0;  // bumped per attempt so a late timer cannot touch the next one
  bool busy_ = false;
  bool reused_ = false;  // the connection in use already carried an earlier exchange
  bool resent_ = false;  // the stale-connection resend of this attempt was used
  Abort abort_ = Abort::kNone;
  // A failed handshake is logged when it happens (not only when the batch's retries run out),
  // at most once per 30 s: the operator sees a certificate problem while it is retried.
  LogLimiter handshake_log_{1, std::chrono::seconds(30)};
};

}  // namespace spanring::agent
