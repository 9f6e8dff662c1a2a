// Innermost export layer: one timeout-bounded HTTP attempt over a reused keep-alive connection.
#pragma once

#include "agent/export/sender.hpp"
#include "agent/export/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace spanring::agent {

struct HttpSenderOptions {
  HttpUrl url;
  std::chrono::nanoseconds timeout = std::chrono::seconds{10};  // whole attempt; 0 = no limit
  std::size_t max_response_bytes = std::size_t{4} << 20;  // SPEC §2.1; above -> kPermanent
};

// Resolves the host on every new connection (addresses may change) and keeps the connection for
// the next request unless the server says "Connection: close" or anything fails. A request that
// fails on a reused connection before any byte of an answer arrived is resent once on a new
// connection inside the same attempt: servers close idle connections at will, and that is not a
// backend failure worth a backoff.
//
// Transport errors and timeouts are kRetryable; the answer is classified by classify_response.
// Must be owned by a shared_ptr (handlers keep it alive).
class HttpSender final : public Sender, public std::enable_shared_from_this<HttpSender> {
 public:
  HttpSender(boost::asio::any_io_executor executor, HttpSenderOptions options);

  void send(std::shared_ptr<const HttpRequest> request, SendCallback done) override;
  void cancel() override;
  // Drops the connection (aborting an attempt in flight, as cancel() does).
  void close();

 private:
  enum class Abort { kNone, kTimeout, kCancel };

  void connect();
  void write();
  void read();
  void on_read(const boost::system::error_code& ec);
  // Every I/O completion goes through here first: it turns an abort into its result.
  bool aborted();
  void fail(std::string_view step, const boost::system::error_code& ec);
  void fail_oversized();
  void abort_io();
  void finish(SendResult result);

  HttpSenderOptions options_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<const HttpRequest> request_;
  SendCallback done_;
  std::uint64_t generation_ = 0;  // bumped per attempt so a late timer cannot touch the next one
  bool busy_ = false;
  bool reused_ = false;  // the connection in use already carried an earlier exchange
  bool resent_ = false;  // the stale-connection resend of this attempt was used
  Abort abort_ = Abort::kNone;
};

}  // namespace spanring::agent
