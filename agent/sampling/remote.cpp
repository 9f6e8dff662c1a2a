#include "agent/sampling/remote.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "agent/export/export_config.hpp"

namespace spanring::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string strategy_target(const HttpUrl& endpoint, std::string_view service) {
  std::string t = endpoint.target;
  if (t.find('?') == std::string::npos) {
    t += '?';
  } else if (t.back() != '?' && t.back() != '&') {
    t += '&';
  }
  t += "service=";
  t += percent_encode(service);
  return t;
}

struct RemoteSamplingPoller::Impl : std::enable_shared_from_this<RemoteSamplingPoller::Impl> {
  Impl(asio::io_context& io_context, RemoteSamplingConfig cfg, UpdateFn update, ErrorFn err)
      : io(io_context),
        config(std::move(cfg)),
        endpoint(parse_http_url(config.endpoint)),
        on_update(std::move(update)),
        on_error(std::move(err)),
        timer(io_context),
        deadline(io_context),
        resolver(io_context),
        stream(io_context) {}

  asio::io_context& io;
  RemoteSamplingConfig config;
  std::variant<HttpUrl, std::string> endpoint;  // the parsed URL, or why it is not one
  UpdateFn on_update;
  ErrorFn on_error;
  asio::steady_timer timer;     // the poll interval
  asio::steady_timer deadline;  // the request in flight
  asio::ip::tcp::resolver resolver;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::empty_body> request;
  std::optional<http::response_parser<http::string_body>> parser;

  std::vector<std::string> services;
  std::deque<std::string> queue;  // services waiting for a request, each at most once
  std::set<std::string> queued;
  std::string current;
  bool started = false, stopped = false, busy = false, timed_out = false;
  std::uint64_t request_seq = 0;  // tells a stale deadline expiry from the current request's
  RemotePollerCounters counters;

  void add(std::string service) {
    for (const std::string& s : services) {
      if (s == service) return;
    }
    services.push_back(service);
    if (started) {
      enqueue(std::move(service));
      kick();
    }
  }

  void enqueue(std::string service) {
    if (queued.insert(service).second) queue.push_back(std::move(service));
  }

  void start() {
    if (started || stopped) return;
    started = true;
    for (const std::string& s : services) enqueue(s);
    kick();
    arm_timer();
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    timer.cancel();
    deadline.cancel();
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().close(ignored);
  }

  void arm_timer() {
    // parse_sampling_config refuses intervals below 1 ms, which would spin the io_context.
    timer.expires_after(config.poll_interval);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stopped) return;
      for (const std::string& s : self->services) self->enqueue(s);
      self->kick();
      self->arm_timer();
    });
  }

  void kick() {
    if (busy || stopped || queue.empty()) return;
    current = std::move(queue.front());
    queue.pop_front();
    queued.erase(current);
    if (const auto* error = std::get_if<std::string>(&endpoint)) {
      fail("invalid endpoint " + config.endpoint + " (" + *error + ")", false);
      return kick();
    }
    busy = true;
    timed_out = false;
    const std::uint64_t seq = ++request_seq;
    deadline.expires_after(config.timeout);
    deadline.async_wait([self = shared_from_this(), seq](beast::error_code ec) {
      // Cancelled, or expired just as its request finished and the next one began.
      if (ec || seq != self->request_seq || !self->busy) return;
      self->timed_out = true;
      self->resolver.cancel();
      beast::error_code ignored;
      self->stream.socket().close(ignored);
    });
    const HttpUrl& url = std::get<HttpUrl>(endpoint);
    resolver.async_resolve(url.host, std::to_string(url.port),
                           [self = shared_from_this()](beast::error_code ec, asio::ip::tcp::resolver::results_type results) {
                             if (ec) return self->finish_error("resolve", ec);
                             self->stream.async_connect(results, [self](beast::error_code ec2, const auto&) {
                               if (ec2) return self->finish_error("connect", ec2);
                               self->send();
                             });
                           });
  }

  void send() {
    request = {};
    request.method(http::verb::get);
    const HttpUrl& url = std::get<HttpUrl>(endpoint);
    request.target(strategy_target(url, current));
    request.version(11);
    request.set(http::field::host, url.host_header());
    request.set(http::field::user_agent, "spanring-agent");
    request.set(http::field::accept, "application/json");
    request.keep_alive(false);
    http::async_write(stream, request, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish_error("send", ec);
      self->buffer.clear();
      self->parser.emplace();
      self->parser->body_limit(self->config.max_response_bytes);
      // Header first: Beast 1.74's eager parse (what async_read does) loses the body_limit error
      // for a Content-Length body that arrives in the same read as the header.
      http::async_read_header(self->stream, self->buffer, *self->parser, [self](beast::error_code ec2, std::size_t) {
        if (ec2) return self->finish_error("read", ec2);
        const auto length = self->parser->content_length();
        if (length && *length > self->config.max_response_bytes) {
          return self->finish_error("read", http::error::body_limit);
        }
        http::async_read(self->stream, self->buffer, *self->parser, [self](beast::error_code ec3, std::size_t) {
          if (ec3) return self->finish_error("read", ec3);
          self->received();
        });
      });
    });
  }

  std::string request_url() const {
    const auto* url = std::get_if<HttpUrl>(&endpoint);
    return url != nullptr ? "http://" + url->host_header() + strategy_target(*url, current) : config.endpoint;
  }

  void received() {
    const auto& response = parser->get();
    if (response.result() != http::status::ok) {
      std::string body = response.body().substr(0, 200);
      for (char& c : body) {
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
      return done(false, "HTTP " + std::to_string(response.result_int()) + (body.empty() ? "" : ": " + body));
    }
    ServiceStrategy strategy;
    std::vector<std::string> errors;
    if (!parse_remote_strategy_response(response.body(), "response", strategy, errors)) {
      std::string all;
      for (const std::string& e : errors) all += (all.empty() ? "" : "; ") + e;
      return done(false, "bad strategy: " + all);
    }
    close();
    busy = false;
    ++counters.polls_ok;
    if (!stopped && on_update) on_update(current, std::move(strategy));
    kick();
  }

  void finish_error(const char* step, const beast::error_code& ec) {
    if (stopped) {
      busy = false;
      return;
    }
    if (ec == http::error::body_limit) {
      return done(false, "response larger than " + std::to_string(config.max_response_bytes) + " bytes");
    }
    done(false, timed_out ? "timed out after " + format_duration(config.timeout) + " (" + step + ")"
                          : std::string(step) + ": " + ec.message());
  }

  void close() {
    deadline.cancel();
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
  }

  void done(bool ok, const std::string& message) {
    close();
    busy = false;
    if (!ok) fail(message, true);
    kick();
  }

  void fail(const std::string& message, bool with_url) {
    ++counters.polls_failed;
    if (!stopped && on_error) {
      on_error("remote sampling: " + (with_url ? "GET " + request_url() + ": " : current + ": ") + message);
    }
  }
};

RemoteSamplingPoller::RemoteSamplingPoller(asio::io_context& io, RemoteSamplingConfig config, UpdateFn on_update,
                                           ErrorFn on_error)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(on_update), std::move(on_error))) {}

RemoteSamplingPoller::~RemoteSamplingPoller() { impl_->stop(); }

void RemoteSamplingPoller::add_service(std::string service) { impl_->add(std::move(service)); }
void RemoteSamplingPoller::start() { impl_->start(); }
void RemoteSamplingPoller::stop() { impl_->stop(); }
RemotePollerCounters RemoteSamplingPoller::counters() const noexcept { return impl_->counters; }

}  // namespace spanring::agent
