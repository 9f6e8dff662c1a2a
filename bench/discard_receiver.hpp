// An OTLP/HTTP endpoint for benchmarks: accepts POSTs on 127.0.0.1 (keep-alive), over plain TCP
// or TLS, reads each body, optionally hands it to a callback, and answers 200 with an empty body.
// It decodes nothing unless the callback does, so the agent's cost is what a benchmark measures.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <functional>
#include <string>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace spanring::bench {

class DiscardReceiver {
 public:
  using OnBody = std::function<void(const std::string&)>;
  // TLS (HTTPS) with this PEM certificate and key when cert_file is not empty.
  struct Tls {
    std::string cert_file;
    std::string key_file;
  };
  explicit DiscardReceiver(OnBody on_body = {}, Tls tls = {}) : on_body_(std::move(on_body)), acceptor_(io_) {
    if (!tls.cert_file.empty()) {
      tls_.emplace(boost::asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(tls.cert_file);
      tls_->use_private_key_file(tls.key_file, boost::asio::ssl::context::pem);
    }
    namespace ip = boost::asio::ip;
    acceptor_.open(ip::tcp::v4());
    acceptor_.set_option(ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(ip::tcp::endpoint(ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~DiscardReceiver() {
    stop_ = true;
    boost::system::error_code ec;
    // Wake a blocking accept with a throwaway connection.
    boost::asio::ip::tcp::socket s(io_);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  std::string endpoint() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
  }
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t bytes() const { return bytes_.load(); }

 private:
  void serve() {
    std::vector<std::thread> connections;
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> sockets;
    while (!stop_) {
      auto sock = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      boost::system::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec || stop_) continue;
      sockets.push_back(sock);
      // One thread per connection: a client that opens a second connection (after a timeout,
      // say) is served at once instead of waiting behind the first.
      connections.emplace_back([this, sock] {
        if (!tls_) return serve_connection(*sock);
        boost::asio::ssl::stream<boost::asio::ip::tcp::socket&> stream(*sock, *tls_);
        boost::system::error_code hec;
        stream.handshake(boost::asio::ssl::stream_base::server, hec);
        if (!hec) serve_connection(stream);
      });
    }
    for (auto& s : sockets) {
      boost::system::error_code ec;
      s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
    for (auto& t : connections) t.join();
  }

  template <class Stream>
  void serve_connection(Stream& sock) {
    namespace http = boost::beast::http;
    boost::beast::flat_buffer buf;
    boost::system::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(256u << 20);
      http::read(sock, buf, parser, ec);
      if (ec) return;
      const auto& req = parser.get();
      bytes_ += req.body().size();
      if (on_body_) on_body_(req.body());
      ++requests_;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/x-protobuf");
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(sock, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }

  OnBody on_body_;
  boost::asio::io_context io_;
  std::optional<boost::asio::ssl::context> tls_;
  boost::asio::ip::tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> requests_{0}, bytes_{0};
  std::thread thread_;
};

}  // namespace spanring::bench
