#include "agent/export/http_sender.hpp"

#include "agent/export/gzip.hpp"
#include "agent/export/response.hpp"
#include "agent/export/tls.hpp"
#include "agent/sinks/otlp_json.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

namespace spanring::agent {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

// Boost 1.74's beast::string_view is boost::string_view, not std::string_view.
std::string_view std_view(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

HttpSender::HttpSender(asio::any_io_executor executor, HttpSenderOptions options)
    : options_(std::move(options)), executor_(executor), resolver_(executor), plain_(executor), timer_(executor) {}

bool HttpSender::build_request(const ExportPayload& payload) {
  std::string_view body = *payload;
  encoded_.clear();
  if (options_.json) {
    // The one OTLP/JSON writer (the file exporter's): protobuf bytes back to the message, then
    // JSON. A payload that does not parse was not written by the agent: a permanent failure.
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest message;
    if (!message.ParseFromArray(body.data(), static_cast<int>(body.size()))) return false;
    append_otlp_json(message, encoded_);
    body = encoded_;
  }
  if (options_.compression == Compression::kGzip) {
    auto compressed = gzip_compress(body);
    if (!compressed) return false;
    encoded_ = std::move(*compressed);
    body = encoded_;
  }
  request_.emplace(http::verb::post, options_.url.target, 11);
  Request& r = *request_;
  r.set(http::field::host, options_.url.host_header());
  r.set(http::field::user_agent, options_.user_agent);
  r.set(http::field::content_type, options_.json ? "application/json" : "application/x-protobuf");
  for (const auto& [name, value] : options_.headers) r.set(name, value);
  if (options_.compression == Compression::kGzip) r.set(http::field::content_encoding, "gzip");
  r.body() = boost::beast::span<const char>(body.data(), body.size());
  r.prepare_payload();
  payload_ = payload;
  return true;
}

void HttpSender::send(ExportPayload payload, SendCallback done) {
  done_ = std::move(done);
  busy_ = true;
  resent_ = false;
  abort_ = Abort::kNone;
  const std::uint64_t generation = ++generation_;
  // A retry of the same payload reuses the request built for it (JSON, gzip done once).
  if (payload != payload_ || !request_) {
    if (!build_request(payload)) {
      SendResult r;
      r.cls = SendClass::kPermanent;
      r.message = options_.json ? "payload is not an ExportTraceServiceRequest, or gzip failed"
                                : "gzip compression failed";
      asio::post(executor_, [self = shared_from_this(), r = std::move(r)]() mutable { self->finish(std::move(r)); });
      return;
    }
  }
  if (options_.timeout.count() > 0) {
    timer_.expires_after(options_.timeout);
    timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
      if (ec || generation != self->generation_ || !self->busy_) return;
      self->abort_ = Abort::kTimeout;
      self->abort_io();
    });
  }
  // Leftover bytes would be taken as the start of this answer: only a clean connection is reused.
  if (socket().is_open() && buffer_.size() == 0) {
    reused_ = true;
    write();
  } else {
    connect();
  }
}

tcp::socket& HttpSender::socket() { return tls_ ? tls_->next_layer() : plain_; }

template <class F>
void HttpSender::with_stream(F&& f) {
  if (tls_) {
    f(*tls_);
  } else {
    f(plain_);
  }
}

void HttpSender::cancel() {
  if (!busy_) return;
  abort_ = Abort::kCancel;
  abort_io();
}

void HttpSender::close() {
  if (busy_) abort_ = Abort::kCancel;
  abort_io();
}

void HttpSender::abort_io() {
  // Closing the socket completes its pending operation with operation_aborted; the handler then
  // sees abort_ and reports it. The resolver is cancelled the same way. A TLS session is not
  // shut down politely: the peer sees a closed TCP connection, which OTLP servers accept.
  resolver_.cancel();
  error_code ignored;
  socket().close(ignored);
}

bool HttpSender::aborted() {
  if (abort_ == Abort::kNone) return false;
  SendResult r;
  r.cls = SendClass::kRetryable;
  if (abort_ == Abort::kTimeout) {
    // Whole milliseconds when exact, else microseconds: "timeout after 0 ms" would mislead.
    const auto t = options_.timeout;
    r.message = t % std::chrono::milliseconds(1) == std::chrono::nanoseconds::zero()
                    ? "timeout after " + std::to_string(t / std::chrono::milliseconds(1)) + " ms"
                    : "timeout after " + std::to_string(t / std::chrono::microseconds(1)) + " us";
    r.message += " (" + options_.url.host_header() + ")";
  } else {
    r.message = "aborted";
    r.stopped = true;
  }
  finish(std::move(r));
  return true;
}

void HttpSender::connect() {
  error_code ignored;
  socket().close(ignored);
  buffer_.consume(buffer_.size());
  reused_ = false;
  if (options_.url.tls) {
    // A fresh SSL object per connection: sessions are not resumed across a failure.
    tls_ = std::make_unique<TlsStream>(executor_, *options_.tls_context);
    SSL* ssl = tls_->native_handle();
    const std::string& name = options_.server_name.empty() ? options_.url.host : options_.server_name;
    const bool ip = is_ip_literal(name);
    // SNI carries names only (RFC 6066 §3).
    if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (options_.verify) {
      // OpenSSL's own check (RFC 6125 names, IP SANs), so a mismatch has its own verify result
      // ("hostname mismatch") for the log line.
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
      }
    }
  }
  resolver_.async_resolve(
      options_.url.host, std::to_string(options_.url.port),
      [self = shared_from_this()](const error_code& ec, const tcp::resolver::results_type& results) {
        if (self->aborted()) return;
        if (ec) return self->fail("resolve", ec);
        asio::async_connect(self->socket(), results, [self](const error_code& cec, const tcp::endpoint&) {
          if (self->aborted()) return;
          if (cec) return self->fail("connect", cec);
          // One request, then wait for the answer: Nagle's algorithm would hold the last TLS
          // record of a request until the server's delayed ACK (~40 ms per request).
          error_code no_delay_ec;
          self->socket().set_option(tcp::no_delay(true), no_delay_ec);
          if (self->tls_) return self->handshake();
          self->write();
        });
      });
}

void HttpSender::handshake() {
  tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](const error_code& ec) {
    if (self->aborted()) return;
    if (ec) return self->fail_handshake(ec);
    self->write();
  });
}

void HttpSender::write() {
  with_stream([this](auto& stream) {
    http::async_write(stream, *request_, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->aborted()) return;
      if (ec) return self->fail("write", ec);
      self->read();
    });
  });
}

void HttpSender::read() {
  parser_.emplace();
  parser_->body_limit(options_.max_response_bytes);
  // Header first: Beast 1.74's eager parse loses the body_limit error raised for a too large
  // Content-Length when header and body arrive in one read (the error is overwritten as parsing
  // continues into the body), so the declared length is checked here. Chunked and
  // read-to-EOF bodies are limited by the parser itself.
  auto on_header = [self = shared_from_this()](const error_code& ec, std::size_t) {
    if (self->aborted()) return;
    const bool too_long = !ec && self->parser_->content_length().value_or(0) > self->options_.max_response_bytes;
    if (ec == http::error::body_limit || too_long) {
      return self->fail_oversized();
    }
    if (ec) return self->fail("read", ec);
    self->with_stream([&self](auto& stream) {
      http::async_read(stream, self->buffer_, *self->parser_,
                       [self](const error_code& body_ec, std::size_t) { self->on_read(body_ec); });
    });
  };
  with_stream([&](auto& stream) { http::async_read_header(stream, buffer_, *parser_, std::move(on_header)); });
}

void HttpSender::fail_oversized() {
  SendResult r;
  r.cls = SendClass::kPermanent;
  r.http_status = static_cast<int>(parser_->get().result_int());
  r.message = "response body larger than " + std::to_string(options_.max_response_bytes) + " bytes";
  error_code ignored;
  socket().close(ignored);  // the rest of the body is never read: the connection is unusable
  finish(std::move(r));
}

void HttpSender::on_read(const error_code& ec) {
  if (aborted()) return;
  if (ec == http::error::body_limit) return fail_oversized();
  if (ec) return fail("read", ec);
  auto& response = parser_->get();
  SendResult r = classify_response(static_cast<int>(response.result_int()),
                                   std_view(response[http::field::content_type]), response.body(),
                                   std_view(response[http::field::retry_after]), std::chrono::system_clock::now());
  if (!parser_->keep_alive()) {
    error_code ignored;
    socket().close(ignored);
  }
  finish(std::move(r));
}

void HttpSender::fail(std::string_view step, const error_code& ec) {
  const bool nothing_received = step != "read" || !parser_->got_some();
  if (reused_ && !resent_ && nothing_received && (step == "write" || step == "read")) {
    resent_ = true;
    connect();
    return;
  }
  error_code ignored;
  socket().close(ignored);
  SendResult r;
  r.cls = SendClass::kRetryable;
  r.message = std::string(step) + " " + options_.url.host_header() + ": " + ec.message();
  finish(std::move(r));
}

void HttpSender::fail_handshake(const error_code& ec) {
  const long verify_result = SSL_get_verify_result(tls_->native_handle());
  error_code ignored;
  socket().close(ignored);
  SendResult r;
  r.cls = SendClass::kRetryable;  // as a refused connection: the server or its certificate may be fixed
  r.message = "TLS handshake with " + options_.url.host_header() + " failed: " + tls_failure_reason(ec, verify_result);
  handshake_log_.log(LogLevel::kWarn, "export: %s (retried like a connection error)", r.message.c_str());
  finish(std::move(r));
}

void HttpSender::finish(SendResult result) {
  busy_ = false;
  ++generation_;
  timer_.cancel();
  // Kept for a retry of the same payload only: a final answer releases the bytes now.
  if (result.cls == SendClass::kOk || result.cls == SendClass::kPermanent) {
    request_.reset();
    payload_.reset();
    std::string().swap(encoded_);
  }
  // Moved out first: `done` may start the next send() right away.
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace spanring::agent
