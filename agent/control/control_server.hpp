// spanringctl's way into a running agent: a Unix socket serving `status` and `tap` (protocol.hpp).
//
// Cost when nobody is connected: publish() is never called (TapExporter checks tapping(), one
// load), no timer runs, the acceptor waits in the io_context. While a client taps, each batch
// the exporter accepts is serialized once and shared by every tapping client.
//
// Bounds: at most `max_clients` connections (more are closed at once); a client must send its
// request within `request_timeout`; each tapping client has at most `max_client_bytes` queued.
// A batch that does not fit is not queued for that client, and its spans are reported to it in
// the next 'L' frame: a slow or stopped client loses data with a count, the agent never blocks
// or grows.
//
// Permissions: the socket is made 0660 (owner and group), and lives in the agent's runtime
// directory (0750 under systemd), so the agent's user and group get in and nobody else.
//
// Threading: every method runs on the io_context's thread (the agent's).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "agent/base/status.hpp"

namespace spanring::agent::control {

struct ServerOptions {
  std::string path;  // the socket file
  std::size_t max_clients = 16;
  std::size_t max_client_bytes = 16u << 20;
  std::chrono::milliseconds request_timeout{2000};
};

struct ServerCounters {
  std::uint64_t connections = 0;       // accepted
  std::uint64_t refused = 0;           // over max_clients, or a bad request
  std::uint64_t batches_published = 0; // batches copied to at least one tapping client
  std::uint64_t spans_lost = 0;        // spans not sent to a tapping client for want of room
};

class ControlServer {
 public:
  using StatusText = std::function<std::string()>;

  ControlServer(boost::asio::io_context& io, ServerOptions options, StatusText status);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Removes a stale socket file at the path (the caller holds the agent's lock, so no live agent
  // owns it), binds, sets mode 0660 and accepts. The message names the path and the OS error.
  Status start();
  // Closes the socket and every connection and removes the file.
  void stop() noexcept;

  // Whether any client is tapping: the only check the export path makes when nobody is.
  bool tapping() const noexcept { return tapping_ != 0; }
  std::size_t tapping_clients() const noexcept { return tapping_; }
  // A batch the exporter accepted, serialized (OTLP protobuf), with its span count.
  void publish(std::string bytes, std::uint64_t spans);

  const ServerCounters& counters() const noexcept { return counters_; }
  const std::string& path() const noexcept { return options_.path; }

 private:
  class Connection;
  friend class Connection;
  void accept();

  boost::asio::io_context& io_;
  ServerOptions options_;
  StatusText status_;
  struct State;
  std::shared_ptr<State> state_;
  std::size_t tapping_ = 0;
  ServerCounters counters_;
};

}  // namespace spanring::agent::control
