#include "otlp_receiver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

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

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::move(text).str();
}

// OTLP/JSON -> message with protobuf's own JSON parser. OTLP writes ids as hex where proto3 JSON
// has base64; hex digits are base64 digits, so the parser decodes an id as base64 without error,
// and encoding those bytes back to base64 gives the hex text again, which is then decoded as hex.
std::string base64(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (i != bytes.size()) throw std::runtime_error("id length is not a multiple of 3 bytes");
  return out;
}

std::optional<std::string> unhex(const std::string& text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

bool fix_id(std::string* id) {
  if (id->empty()) return true;
  const auto bytes = unhex(base64(*id));
  if (!bytes) return false;
  *id = *bytes;
  return true;
}

bool parse_otlp_json(const std::string& body, opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // SPEC §2.4
  if (!google::protobuf::util::JsonStringToMessage(body, &out, options).ok()) return false;
  try {
    for (auto& rs : *out.mutable_resource_spans()) {
      for (auto& ss : *rs.mutable_scope_spans()) {
        for (auto& span : *ss.mutable_spans()) {
          if (!fix_id(span.mutable_trace_id()) || !fix_id(span.mutable_span_id()) ||
              !fix_id(span.mutable_parent_span_id())) {
            return false;
          }
          for (auto& link : *span.mutable_links()) {
            if (!fix_id(link.mutable_trace_id()) || !fix_id(link.mutable_span_id())) return false;
          }
        }
      }
    }
  } catch (const std::runtime_error&) {
    return false;
  }
  return true;
}

// google.rpc.Status with one google.rpc.RetryInfo{retry_delay} detail, as a gRPC server sends it
// in grpc-status-details-bin. RetryInfo is encoded by hand (field 1, a Duration).
std::string retry_info_status(int code, const std::string& message, std::int64_t seconds) {
  google::rpc::Status status;
  status.set_code(code);
  status.set_message(message);
  google::protobuf::Duration delay;
  delay.set_seconds(seconds);
  const std::string duration = delay.SerializeAsString();
  auto* any = status.add_details();
  any->set_type_url("type.googleapis.com/google.rpc.RetryInfo");
  any->set_value(std::string(1, '\x0a') + static_cast<char>(duration.size()) + duration);
  return status.SerializeAsString();
}

}  // namespace

// One listener plus its connections, on one io_context and one thread. Destroying it (after
// stop()) closes every socket.
class OtlpReceiver::Server {
 public:
  Server(OtlpReceiver& owner, std::uint16_t port, const ReceiverOptions& options)
      : owner_(owner), acceptor_(io_), silent_(options.silent) {
    if (!options.cert_file.empty()) {
      tls_.emplace(asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(options.cert_file);
      tls_->use_private_key_file(options.key_file, asio::ssl::context::pem);
      if (!options.client_ca_file.empty()) {
        tls_->load_verify_file(options.client_ca_file);
        tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      }
    }
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
    Session(OtlpReceiver& owner, tcp::socket socket, asio::ssl::context* tls)
        : owner_(owner), socket_(std::move(socket)), timer_(socket_.get_executor()) {
      if (tls != nullptr) stream_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls);
    }

    void start() {
      if (!stream_) return read();
      stream_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const error_code& ec) {
        if (ec) return self->close();  // e.g. a client without the certificate mutual TLS needs
        self->read();
      });
    }

    void read() {
      parser_.emplace();
      parser_->body_limit(kMaxBody);
      with_stream([this](auto& stream) {
        http::async_read(stream, buffer_, *parser_, [self = shared_from_this()](const error_code& ec, std::size_t) {
          if (ec) return self->close();
          self->on_request();
        });
      });
    }

   private:
    template <class F>
    void with_stream(F&& f) {
      if (stream_) {
        f(*stream_);
      } else {
        f(socket_);
      }
    }

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
      with_stream([this](auto& stream) {
        http::async_write(stream, response_, [self = shared_from_this()](const error_code& ec, std::size_t) {
          if (ec || !self->keep_alive_) return self->close();
          self->read();
        });
      });
    }

    void close() {
      error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
    }

    OtlpReceiver& owner_;
    tcp::socket socket_;
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> stream_;  // TLS over socket_, when on
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
      if (silent_) {
        silent_sockets_.push_back(std::move(socket));  // held open, never read
      } else {
        std::make_shared<Session>(owner_, std::move(socket), tls_ ? &*tls_ : nullptr)->start();
      }
      accept();
    });
  }

  OtlpReceiver& owner_;
  asio::io_context io_;
  std::optional<asio::ssl::context> tls_;
  tcp::acceptor acceptor_;
  bool silent_ = false;
  std::vector<tcp::socket> silent_sockets_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

// The gRPC side: the generated service, served by a grpc::Server (its own threads).
class OtlpReceiver::GrpcServer final : public opentelemetry::proto::collector::trace::v1::TraceService::Service {
 public:
  GrpcServer(OtlpReceiver& owner, std::uint16_t port, const ReceiverOptions& options) : owner_(owner) {
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (!options.cert_file.empty()) {
      grpc::SslServerCredentialsOptions ssl(options.client_ca_file.empty()
                                                ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      ssl.pem_key_cert_pairs.push_back({read_file(options.key_file), read_file(options.cert_file)});
      if (!options.client_ca_file.empty()) ssl.pem_root_certs = read_file(options.client_ca_file);
      credentials = grpc::SslServerCredentials(ssl);
    }
    grpc::ServerBuilder builder;
    int selected = 0;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), credentials, &selected);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    if (!server_ || selected == 0) throw std::runtime_error("gRPC receiver cannot listen on port " + std::to_string(port));
    port_ = static_cast<std::uint16_t>(selected);
  }

  ~GrpcServer() override {
    // Calls still waiting in a scripted delay are cancelled: the backend went away.
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    server_->Wait();
  }

  std::uint16_t port() const { return port_; }

  grpc::Status Export(grpc::ServerContext* context,
                      const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* request,
                      opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse* response) override {
    std::map<std::string, std::string> headers;
    for (const auto& [key, value] : context->client_metadata()) {
      headers[std::string(key.data(), key.size())] = std::string(value.data(), value.size());
    }
    GrpcReply reply = owner_.handle_grpc(std::move(headers), *request);
    const auto deadline = std::chrono::steady_clock::now() + owner_.delay();
    while (std::chrono::steady_clock::now() < deadline && !context->IsCancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (reply.code != 0) return grpc::Status(static_cast<grpc::StatusCode>(reply.code), reply.message, reply.details);
    *response = std::move(reply.response);
    return grpc::Status::OK;
  }

 private:
  OtlpReceiver& owner_;
  std::unique_ptr<grpc::Server> server_;
  std::uint16_t port_ = 0;
};

OtlpReceiver::OtlpReceiver(ReceiverOptions options) : options_(std::move(options)) { start_server(); }

OtlpReceiver::~OtlpReceiver() { stop(); }

std::string OtlpReceiver::endpoint() const {
  const std::string scheme = options_.cert_file.empty() ? "http://" : "https://";
  return scheme + "127.0.0.1:" + std::to_string(port_) + (options_.grpc ? "" : "/v1/traces");
}

void OtlpReceiver::start_server() {
  if (options_.grpc) {
    grpc_server_ = std::make_unique<GrpcServer>(*this, port_, options_);
    port_ = grpc_server_->port();
  } else {
    server_ = std::make_unique<Server>(*this, port_, options_);
    port_ = server_->port();
  }
}

void OtlpReceiver::stop() {
  server_.reset();
  grpc_server_.reset();
}

void OtlpReceiver::start() {
  if (!server_ && !grpc_server_) start_server();
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
  const bool json = headers["content-type"] == "application/json";
  if (!json && headers["content-type"] != "application/x-protobuf") {
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
  if (!decoded || !(json ? parse_otlp_json(*decoded, received.message) : received.message.ParseFromString(*decoded))) {
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
    if (json) {
      google::protobuf::util::MessageToJsonString(response, &reply.body);
      reply.content_type = "application/json";
    } else {
      reply.body = response.SerializeAsString();
    }
  }
  if (oversized_reply_ > 0) reply.body.assign(oversized_reply_, '\0');
  return reply;
}

OtlpReceiver::GrpcReply OtlpReceiver::handle_grpc(
    std::map<std::string, std::string> headers,
    const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request) {
  std::lock_guard lock(mutex_);
  GrpcReply reply;
  post_times_.push_back(std::chrono::steady_clock::now());
  posted_.notify_all();
  if (fail_count_ > 0) {
    --fail_count_;
    switch (fail_status_) {
      case 429:
      case 503: reply.code = grpc::StatusCode::UNAVAILABLE; break;
      case 400: reply.code = grpc::StatusCode::INVALID_ARGUMENT; break;
      case 401: reply.code = grpc::StatusCode::UNAUTHENTICATED; break;
      default: reply.code = grpc::StatusCode::INTERNAL; break;
    }
    reply.message = fail_message_;
    if (!fail_retry_after_.empty()) {
      reply.details = retry_info_status(reply.code, fail_message_, std::stoll(fail_retry_after_));
    }
    return reply;
  }
  ReceivedRequest received;
  received.message = request;
  received.headers = std::move(headers);
  received.wire_bytes = request.ByteSizeLong();
  requests_.push_back(std::move(received));
  if (partial_rejected_ != 0 || !partial_message_.empty()) {
    reply.response.mutable_partial_success()->set_rejected_spans(partial_rejected_);
    reply.response.mutable_partial_success()->set_error_message(partial_message_);
  }
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
