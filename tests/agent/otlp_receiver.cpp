#include "otlp_receiver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "google/rpc/status.pb.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

namespace spanring::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxBody = std::size_t{64} << 20;

std::optional<std::string> gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - zs.avail_out);
    if (out.size() > kMaxBody) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // truncated input
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

std::string status_body(int code, const std::string& message) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(message);
  return status.SerializeAsString();
}

}  // namespace

// One listener plus its connections, on one io_context and one thread. Destroying it (after
// stop()) closes every socket.
class OtlpReceiver::Server {
 public:
  Server(OtlpReceiver& owner, std::uint16_t port) : owner_(owner), acceptor_(io_) {
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    // Not inherited by the processes tests spawn (engines, agents): a child holding the listener
    // would keep the port after stop(), and start() could not bind it again.
    ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Server() {
    asio::post(io_, [this] {
      error_code ignored;
      acceptor_.close(ignored);
      io_.stop();
    });
    thread_.join();
    // Still-pending handlers own the sessions; the io_context destructor destroys them, which
    // closes their sockets, so clients see the backend go away.
  }

  std::uint16_t port() const { return port_; }

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(OtlpReceiver& owner, tcp::socket socket)
        : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

    void read() {
      parser_.emplace();
      parser_->body_limit(kMaxBody);
      http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (ec) return self->close();
        self->on_request();
      });
    }

   private:
    void on_request() {
      const auto& req = parser_->get();
      std::map<std::string, std::string> headers;
      for (const auto& field : req) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        headers[name] = std::string(field.value());
      }
      keep_alive_ = req.keep_alive();
      // Counted on arrival, before the delay, so tests see when a request came in.
      auto reply = owner_.handle(std::string(req.method_string()), std::string(req.target()), std::move(headers),
                                 req.body());
      response_ = {};
      response_.version(11);
      response_.result(static_cast<unsigned>(reply.status));
      response_.set(http::field::content_type, reply.content_type);
      if (!reply.retry_after.empty()) response_.set(http::field::retry_after, reply.retry_after);
      response_.body() = std::move(reply.body);
      response_.keep_alive(keep_alive_);
      response_.prepare_payload();
      const auto delay = owner_.delay();
      if (delay.count() == 0) return write();
      timer_.expires_after(delay);
      timer_.async_wait([self = shared_from_this()](const error_code& ec) {
        if (!ec) self->write();
      });
    }

    void write() {
      http::async_write(socket_, response_, [self = shared_from_this()](const error_code& ec, std::size_t) {
        if (ec || !self->keep_alive_) return self->close();
        self->read();
      });
    }

    void close() {
      error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }

    OtlpReceiver& owner_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> response_;
    bool keep_alive_ = true;
  };

  void accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec) return;  // closed by stop()
      owner_.count_connection();
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      std::make_shared<Session>(owner_, std::move(socket))->read();
      accept();
    });
  }

  OtlpReceiver& owner_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

OtlpReceiver::OtlpReceiver() {
  server_ = std::make_unique<Server>(*this, 0);
  port_ = server_->port();
}

OtlpReceiver::~OtlpReceiver() { stop(); }

std::string OtlpReceiver::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
}

void OtlpReceiver::stop() { server_.reset(); }

void OtlpReceiver::start() {
  if (!server_) {
    server_ = std::make_unique<Server>(*this, port_);
  }
}

void OtlpReceiver::fail_next(int count, int status, std::string retry_after, std::string message) {
  std::lock_guard lock(mutex_);
  fail_count_ = count;
  fail_status_ = status;
  fail_retry_after_ = std::move(retry_after);
  fail_message_ = std::move(message);
}

void OtlpReceiver::fail_30_percent(bool on) {
  std::lock_guard lock(mutex_);
  fail_30_percent_ = on;
}

void OtlpReceiver::set_partial_reject(std::int64_t rejected_spans, std::string error_message) {
  std::lock_guard lock(mutex_);
  partial_rejected_ = rejected_spans;
  partial_message_ = std::move(error_message);
}

void OtlpReceiver::set_oversized_reply(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  oversized_reply_ = bytes;
}

void OtlpReceiver::set_delay(std::chrono::milliseconds delay) {
  std::lock_guard lock(mutex_);
  delay_ = delay;
}

std::chrono::milliseconds OtlpReceiver::delay() const {
  std::lock_guard lock(mutex_);
  return delay_;
}

OtlpReceiver::Reply OtlpReceiver::handle(const std::string& method, const std::string& target,
                                         std::map<std::string, std::string> headers, const std::string& body) {
  std::lock_guard lock(mutex_);
  Reply reply;
  if (target != "/v1/traces") {
    reply.status = 404;
    reply.body = status_body(5, "unknown path " + target);
    return reply;
  }
  if (method != "POST") {
    reply.status = 405;
    reply.body = status_body(12, "only POST");
    return reply;
  }
  post_times_.push_back(std::chrono::steady_clock::now());
  posted_.notify_all();
  // 3 of every 10 POSTs (the 1st, 4th and 7th), deterministic so a run can be repeated.
  const bool share_fails = fail_30_percent_ && (post_times_.size() - 1) % 10 % 3 == 0 && (post_times_.size() - 1) % 10 < 9;
  if (fail_count_ > 0 || share_fails) {
    if (fail_count_ > 0) --fail_count_;
    reply.status = fail_status_;
    reply.retry_after = fail_retry_after_;
    reply.body = status_body(14, fail_message_);
    return reply;
  }
  if (headers["content-type"] != "application/x-protobuf") {
    reply.status = 415;
    reply.body = status_body(3, "unsupported content type \"" + headers["content-type"] + "\"");
    return reply;
  }
  std::optional<std::string> decoded = body;
  const auto encoding = headers.find("content-encoding");
  if (encoding != headers.end() && encoding->second == "gzip") {
    decoded = gunzip(body);
  } else if (encoding != headers.end() && encoding->second != "identity") {
    decoded.reset();
  }
  ReceivedRequest received;
  if (!decoded || !received.message.ParseFromString(*decoded)) {
    reply.status = 400;
    reply.body = status_body(3, "undecodable request body");
    return reply;
  }
  received.headers = std::move(headers);
  received.wire_bytes = body.size();
  requests_.push_back(std::move(received));
  if (partial_rejected_ != 0 || !partial_message_.empty()) {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse response;
    response.mutable_partial_success()->set_rejected_spans(partial_rejected_);
    response.mutable_partial_success()->set_error_message(partial_message_);
    reply.body = response.SerializeAsString();
  }
  if (oversized_reply_ > 0) reply.body.assign(oversized_reply_, '\0');
  return reply;
}

std::vector<ReceivedRequest> OtlpReceiver::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::vector<ReceivedSpan> OtlpReceiver::spans() const {
  std::lock_guard lock(mutex_);
  std::vector<ReceivedSpan> out;
  for (const auto& request : requests_) {
    for (const auto& rs : request.message.resource_spans()) {
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& span : ss.spans()) out.push_back({rs.resource(), ss.scope(), span});
      }
    }
  }
  return out;
}

std::size_t OtlpReceiver::span_count() const { return spans().size(); }

void OtlpReceiver::count_connection() {
  std::lock_guard lock(mutex_);
  ++connections_;
}

std::size_t OtlpReceiver::connection_count() const {
  std::lock_guard lock(mutex_);
  return connections_;
}

std::size_t OtlpReceiver::post_count() const {
  std::lock_guard lock(mutex_);
  return post_times_.size();
}

std::vector<std::chrono::steady_clock::time_point> OtlpReceiver::post_times() const {
  std::lock_guard lock(mutex_);
  return post_times_;
}

bool OtlpReceiver::wait_for_posts(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return posted_.wait_for(lock, timeout, [&] { return post_times_.size() >= n; });
}

}  // namespace spanring::test
