#include "agent/control/control_server.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <istream>
#include <list>

#include "agent/base/log.hpp"
#include "agent/control/protocol.hpp"

namespace spanring::agent::control {

using boost::asio::local::stream_protocol;

// What outlives the server object while handlers are queued: the acceptor and the connections.
struct ControlServer::State {
  explicit State(boost::asio::io_context& io) : acceptor(io) {}
  stream_protocol::acceptor acceptor;
  std::list<std::shared_ptr<Connection>> connections;
  bool stopped = false;
};

class ControlServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ControlServer& server, stream_protocol::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()), request_(kMaxRequestBytes) {}

  void start() {
    timer_.expires_after(server_.options_.request_timeout);
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (const auto self = weak.lock(); self && !ec && !self->tapping_ && !self->answered_) self->close();
    });
    boost::asio::async_read_until(socket_, request_, '\n',
                                  [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                                    self->on_request(ec);
                                  });
  }

  // Queues a shared frame unless this client's buffer is full; then its spans count as lost.
  void offer(const std::shared_ptr<const std::string>& frame, std::uint64_t spans) {
    if (queued_bytes_ + frame->size() > server_.options_.max_client_bytes) {
      lost_spans_ += spans;
      server_.counters_.spans_lost += spans;
      return;
    }
    push(frame);
  }

  void close() noexcept {
    if (closed_) return;
    closed_ = true;
    if (tapping_) --server_.tapping_;
    tapping_ = false;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.state_->connections.remove(shared_from_this());
  }

  bool tapping() const noexcept { return tapping_; }

 private:
  void on_request(const boost::system::error_code& ec) {
    if (closed_) return;
    if (ec) {  // EOF, too long (no newline in kMaxRequestBytes), reset
      ++server_.counters_.refused;
      close();
      return;
    }
    std::istream in(&request_);
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == kRequestStatus) {
      answered_ = true;
      push(std::make_shared<const std::string>(server_.status_()));
      close_after_write_ = true;
    } else if (line == kRequestTap) {
      answered_ = true;
      tapping_ = true;
      ++server_.tapping_;
      timer_.cancel();
      watch_for_close();
    } else {
      answered_ = true;
      ++server_.counters_.refused;
      std::string shown = line.substr(0, 40);
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
      push(std::make_shared<const std::string>("error: unknown request \"" + shown + "\" (expected status or tap)\n"));
      close_after_write_ = true;
    }
  }

  // A tapping client sends nothing more: a read completes only when it goes away.
  void watch_for_close() {
    socket_.async_read_some(boost::asio::buffer(sink_), [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
      if (self->closed_) return;
      if (ec) {
        self->close();
      } else {
        self->watch_for_close();
      }
    });
  }

  void push(std::shared_ptr<const std::string> frame) {
    queued_bytes_ += frame->size();
    out_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (out_.empty() && lost_spans_ != 0 && tapping_) {
      // Room again: tell the client what it missed.
      const std::string payload = encode_u64(lost_spans_);
      lost_spans_ = 0;
      auto frame = std::make_shared<const std::string>(frame_header(kFrameLost, 8) + payload);
      queued_bytes_ += frame->size();
      out_.push_back(std::move(frame));
    }
    if (out_.empty()) {
      writing_ = false;
      if (close_after_write_) close();
      return;
    }
    writing_ = true;
    boost::asio::async_write(socket_, boost::asio::buffer(*out_.front()),
                             [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                               if (self->closed_) return;
                               self->queued_bytes_ -= self->out_.front()->size();
                               self->out_.pop_front();
                               if (ec) {
                                 self->close();
                                 return;
                               }
                               self->write_next();
                             });
  }

  ControlServer& server_;
  stream_protocol::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::streambuf request_;
  std::array<char, 64> sink_{};
  std::deque<std::shared_ptr<const std::string>> out_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t lost_spans_ = 0;
  bool writing_ = false;
  bool tapping_ = false;
  bool answered_ = false;
  bool close_after_write_ = false;
  bool closed_ = false;
};

ControlServer::ControlServer(boost::asio::io_context& io, ServerOptions options, StatusText status)
    : io_(io), options_(std::move(options)), status_(std::move(status)), state_(std::make_shared<State>(io)) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  const std::string& path = options_.path;
  struct sockaddr_un probe;
  if (path.size() >= sizeof(probe.sun_path))
    return Status::invalid("control socket path " + path + " is longer than " + std::to_string(sizeof(probe.sun_path) - 1) + " bytes");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return Status::invalid("control socket path " + path + " exists and is not a socket: remove it");
    ::unlink(path.c_str());  // left by an agent that did not stop cleanly; we hold the lock
  }
  boost::system::error_code ec;
  auto& acceptor = state_->acceptor;
  acceptor.open(stream_protocol(), ec);
  if (!ec) acceptor.bind(stream_protocol::endpoint(path), ec);
  if (ec) return Status::unavailable("cannot create the control socket " + path + ": " + ec.message());
  // Owner and group only, whatever the umask: spanringctl runs as a member of the agent's group.
  if (::chmod(path.c_str(), 0660) != 0) {
    const int e = errno;
    acceptor.close(ec);
    ::unlink(path.c_str());
    return Status::unavailable("cannot set mode 0660 on the control socket " + path + ": " + std::strerror(e));
  }
  acceptor.listen(static_cast<int>(options_.max_clients), ec);
  if (ec) return Status::unavailable("cannot listen on the control socket " + path + ": " + ec.message());
  accept();
  return {};
}

void ControlServer::accept() {
  state_->acceptor.async_accept([this, state = state_](const boost::system::error_code& ec, stream_protocol::socket socket) {
    if (state->stopped || ec == boost::asio::error::operation_aborted) return;
    if (!ec) {
      ++counters_.connections;
      if (state->connections.size() >= options_.max_clients) {
        ++counters_.refused;
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto c = std::make_shared<Connection>(*this, std::move(socket));
        state->connections.push_back(c);
        c->start();
      }
    }
    accept();
  });
}

void ControlServer::publish(std::string bytes, std::uint64_t spans) {
  if (tapping_ == 0) return;
  ++counters_.batches_published;
  auto frame = std::make_shared<std::string>(frame_header(kFrameBatch, static_cast<std::uint32_t>(bytes.size())));
  frame->append(bytes);
  const std::shared_ptr<const std::string> shared = std::move(frame);
  // offer() may close nothing, but copy the list: close() removes from it.
  const auto connections = state_->connections;
  for (const auto& c : connections)
    if (c->tapping()) c->offer(shared, spans);
}

void ControlServer::stop() noexcept {
  if (state_->stopped) return;
  state_->stopped = true;
  boost::system::error_code ignored;
  const bool was_open = state_->acceptor.is_open();
  state_->acceptor.close(ignored);
  const auto connections = state_->connections;
  for (const auto& c : connections) c->close();
  if (was_open) ::unlink(options_.path.c_str());
}

}  // namespace spanring::agent::control
