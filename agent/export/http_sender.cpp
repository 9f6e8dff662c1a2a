#include "agent/export/http_sender.hpp"

#include "agent/export/response.hpp"

#include <boost/asio/connect.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

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

}  // namespace

HttpSender::HttpSender(asio::any_io_executor executor, HttpSenderOptions options)
    : options_(std::move(options)), resolver_(executor), socket_(executor), timer_(executor) {}

void HttpSender::send(std::shared_ptr<const HttpRequest> request, SendCallback done) {
  request_ = std::move(request);
  done_ = std::move(done);
  busy_ = true;
  resent_ = false;
  abort_ = Abort::kNone;
  const std::uint64_t generation = ++generation_;
  if (options_.timeout.count() > 0) {
    timer_.expires_after(options_.timeout);
    timer_.async_wait([self = shared_from_this(), generation](const error_code& ec) {
      if (ec || generation != self->generation_ || !self->busy_) return;
      self->abort_ = Abort::kTimeout;
      self->abort_io();
    });
  }
  // Leftover bytes would be taken as the start of this answer: only a clean connection is reused.
  if (socket_.is_open() && buffer_.size() == 0) {
    reused_ = true;
    write();
  } else {
    connect();
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
  // sees abort_ and reports it. The resolver is cancelled the same way.
  resolver_.cancel();
  error_code ignored;
  socket_.close(ignored);
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
  } else {
    r.message = "aborted";
    r.stopped = true;
  }
  finish(std::move(r));
  return true;
}

void HttpSender::connect() {
  error_code ignored;
  socket_.close(ignored);
  buffer_.consume(buffer_.size());
  reused_ = false;
  resolver_.async_resolve(
      options_.url.host, std::to_string(options_.url.port),
      [self = shared_from_this()](const error_code& ec, const tcp::resolver::results_type& results) {
        if (self->aborted()) return;
        if (ec) return self->fail("resolve", ec);
        asio::async_connect(self->socket_, results, [self](const error_code& cec, const tcp::endpoint&) {
          if (self->aborted()) return;
          if (cec) return self->fail("connect", cec);
          self->write();
        });
      });
}

void HttpSender::write() {
  http::async_write(socket_, *request_, [self = shared_from_this()](const error_code& ec, std::size_t) {
    if (self->aborted()) return;
    if (ec) return self->fail("write", ec);
    self->read();
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
    http::async_read(self->socket_, self->buffer_, *self->parser_,
                     [self](const error_code& body_ec, std::size_t) { self->on_read(body_ec); });
  };
  http::async_read_header(socket_, buffer_, *parser_, std::move(on_header));
}

void HttpSender::fail_oversized() {
  SendResult r;
  r.cls = SendClass::kPermanent;
  r.http_status = static_cast<int>(parser_->get().result_int());
  r.message = "response body larger than " + std::to_string(options_.max_response_bytes) + " bytes";
  error_code ignored;
  socket_.close(ignored);  // the rest of the body is never read: the connection is unusable
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
    socket_.close(ignored);
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
  socket_.close(ignored);
  SendResult r;
  r.cls = SendClass::kRetryable;
  r.message = std::string(step) + " " + options_.url.host_header() + ": " + ec.message();
  finish(std::move(r));
}

void HttpSender::finish(SendResult result) {
  busy_ = false;
  ++generation_;
  timer_.cancel();
  request_.reset();
  // Moved out first: `done` may start the next send() right away.
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace spanring::agent
