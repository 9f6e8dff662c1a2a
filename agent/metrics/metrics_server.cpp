// Boost.Beast server for /metrics and /healthz. Each connection is a Session kept alive by the
// shared_ptr its pending handler holds; all sessions and the accept loop share one
// MetricsServerState, so handlers that complete after stop() (or after ~MetricsServer) find
// `stopped` set and touch neither the registry nor the health callback.
#include <array>
#include <exception>
#include <iterator>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "agent/metrics/metrics_server.hpp"

namespace spanring::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
class Session;
}  // namespace

namespace detail {

struct MetricsServerState {
  MetricsServerState(asio::io_context& io_context, const Registry& reg, MetricsServer::HealthFn fn,
                     MetricsServerOptions opts)
      : io(io_context),
        acceptor(io_context),
        retry_timer(io_context),
        registry(&reg),
        health(std::move(fn)),
        options(std::move(opts)) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  const Registry* registry;
  MetricsServer::HealthFn health;
  MetricsServerOptions options;
  std::list<Session*> sessions;  // live sessions, so stop() can close them
  bool started = false;
  bool stopped = false;
  bool accepting = false;  // an async_accept is pending
  std::uint16_t port = 0;
};

}  // namespace detail

namespace {

using State = detail::MetricsServerState;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
constexpr std::string_view kExposition = "text/plain; version=0.0.4; charset=utf-8";

void do_accept(const std::shared_ptr<State>& state);

Response text_response(http::status status, unsigned version, std::string body,
                       std::string_view content_type = kTextPlain) {
  Response res{status, version};
  res.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
  res.body() = std::move(body);
  return res;
}

// The health callback and on_scrape are the agent's code; an exception from them must not
// escape io_context::run() and take the agent down with it.
Response answer(State& state, const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  const bool is_metrics = target == "/metrics";
  const bool is_healthz = target == "/healthz";
  if (req.method() != http::verb::get) {
    Response res = text_response(http::status::method_not_allowed, req.version(),
                                 "method not allowed\n");
    res.set(http::field::allow, "GET");
    return res;
  }
  if (is_metrics) {
    try {
      if (state.options.on_scrape) state.options.on_scrape();
      return text_response(http::status::ok, req.version(), state.registry->render(), kExposition);
    } catch (const std::exception& e) {
      return text_response(http::status::internal_server_error, req.version(),
                           std::string("metrics unavailable: ") + e.what() + "\n");
    }
  }
  if (is_healthz) {
    HealthStatus status;
    try {
      if (state.health) status = state.health();
    } catch (const std::exception& e) {
      status = HealthStatus{false, std::string("health check failed: ") + e.what()};
    }
    if (status.healthy) return text_response(http::status::ok, req.version(), "ok\n");
    return text_response(http::status::service_unavailable, req.version(),
                         (status.reason.empty() ? std::string("unhealthy") : status.reason) + "\n");
  }
  return text_response(http::status::not_found, req.version(), "not found\n");
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<State> state, tcp::socket socket)
      : state_(std::move(state)),
        stream_(std::move(socket)),
        buffer_(state_->options.max_request_bytes) {
    self_ = state_->sessions.insert(state_->sessions.end(), this);
  }

  ~Session() {
    state_->sessions.erase(self_);
    // A slot is free again: resume accepting if the connection limit had paused it.
    do_accept(state_);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read_request(); }

  void close() noexcept {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

 private:
  void read_request() {
    // One deadline per request covers reading, answering and writing, and doubles as the idle
    // limit of a keep-alive connection.
    stream_.expires_after(state_->options.timeout);
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->options.max_request_bytes));
    parser_->body_limit(state_->options.max_request_bytes);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(beast::error_code ec) {
    if (state_->stopped) return;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      close();
      return;
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      refuse(http::status::request_header_fields_too_large, "request header too large\n");
      return;
    }
    if (ec == http::error::body_limit) {
      refuse(http::status::payload_too_large, "request body too large\n");
      return;
    }
    if (ec) {
      refuse(http::status::bad_request, "bad request\n");
      return;
    }
    const Request& req = parser_->get();
    response_ = answer(*state_, req);
    response_.keep_alive(req.keep_alive());
    response_.prepare_payload();
    write(/*close_after=*/!req.keep_alive());
  }

  // Answers a request we will not parse further, then closes.
  void refuse(http::status status, std::string body) {
    response_ = text_response(status, 11, std::move(body));
    response_.keep_alive(false);
    response_.prepare_payload();
    write(/*close_after=*/true);
  }

  void write(bool close_after) {
    http::async_write(stream_, response_,
                      [self = shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                        self->on_write(ec, close_after);
                      });
  }

  void on_write(beast::error_code ec, bool close_after) {
    if (state_->stopped) return;
    if (ec) {
      close();
      return;
    }
    if (close_after) {
      linger();
      return;
    }
    read_request();
  }

  // Closing with unread request bytes makes the kernel send RST, which can destroy the
  // response before the client reads it. So half-close, discard what the client still sends
  // into a fixed buffer until it closes or the request deadline passes, then close.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    discard();
  }

  void discard() {
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec || self->state_->stopped) {
                                self->close();
                                return;
                              }
                              self->discard();
                            });
  }

  std::shared_ptr<State> state_;
  std::list<Session*>::iterator self_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;  // its limit bounds what one connection can make us hold
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;
  std::array<char, 4096> discard_{};
};

void do_accept(const std::shared_ptr<State>& state) {
  if (state->stopped || state->accepting ||
      state->sessions.size() >= state->options.max_connections) {
    // At the limit nothing is accepted; new clients wait in the listen backlog, which the
    // kernel bounds, until a session ends and its destructor calls us again.
    return;
  }
  state->accepting = true;
  state->acceptor.async_accept([state](beast::error_code ec, tcp::socket socket) {
    state->accepting = false;
    if (state->stopped || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE: retrying at once would spin the agent's only thread.
      state->retry_timer.expires_after(std::chrono::milliseconds(100));
      state->retry_timer.async_wait([state](beast::error_code timer_ec) {
        if (!timer_ec) do_accept(state);
      });
      return;
    }
    std::make_shared<Session>(state, std::move(socket))->start();
    do_accept(state);
  });
}

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, const Registry& registry, HealthFn health,
                             MetricsServerOptions options)
    : state_(std::make_shared<detail::MetricsServerState>(io, registry, std::move(health),
                                                          std::move(options))) {}

MetricsServer::~MetricsServer() { stop(); }

Status MetricsServer::start(const std::string& host, std::uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  if (state_->started) return Status::invalid("metrics server already started");
  if (state_->options.max_connections == 0) return Status::invalid("metrics server: max_connections must be at least 1");
  beast::error_code ec;
  tcp::resolver resolver(state_->io);
  const auto results = resolver.resolve(host, std::to_string(port),
                                        tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty())
    return Status::unavailable("cannot resolve " + where + ": " + (ec ? ec.message() : std::string("no address")));
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& acceptor = state_->acceptor;
  auto fail = [&](std::string_view what) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return Status::unavailable("cannot listen on " + where + ": " + std::string(what) + ": " + ec.message());
  };
  if (acceptor.open(endpoint.protocol(), ec)) return fail("open");
  // Lets a restarted agent bind while the old connections sit in TIME_WAIT.
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec)) return fail("setsockopt");
  if (acceptor.bind(endpoint, ec)) return fail("bind");
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  state_->port = bound.port();
  state_->started = true;
  do_accept(state_);
  return Status();
}

std::uint16_t MetricsServer::port() const noexcept { return state_->port; }

std::size_t MetricsServer::active_connections() const noexcept { return state_->sessions.size(); }

void MetricsServer::stop() noexcept {
  if (state_->stopped) return;
  state_->stopped = true;
  beast::error_code ignored;
  state_->acceptor.close(ignored);
  try {
    state_->retry_timer.cancel();
  } catch (const std::exception&) {
    // Only fails if the timer's descriptor is broken; nothing is left to cancel then.
  }
  // close() only cancels; sessions die later, when their aborted handlers release them.
  for (Session* session : state_->sessions) session->close();
}

}  // namespace spanring::agent
