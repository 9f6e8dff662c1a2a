// Polls a Jaeger remote sampling endpoint (SPEC §7.b) for each service the agent has seen.
//
// Every poll_interval, and at once for a newly added service, it sends
// GET <endpoint>?service=<name> (name percent-encoded; `&service=` when the endpoint already has
// a query), one request at a time, each bounded by `timeout` from resolve to last byte and by
// max_response_bytes. A 200 whose body parses (parse_remote_strategy_response) goes to
// on_update; anything else (unreachable, timeout, non-200, bad JSON, too large) goes to on_error
// and is counted, and nothing is updated: the sampler keeps the last good strategy, or the
// config's until the first success (jaeger-client-go does the same).
//
// Threading: the io_context's thread only; callbacks run there. After stop() (or destruction)
// no callback runs, even for a request that was in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "agent/export/url.hpp"
#include "agent/sampling/config.hpp"

namespace spanring::agent {

// RFC 3986: everything but ALPHA / DIGIT / "-" / "." / "_" / "~" as %XX.
std::string percent_encode(std::string_view text);
// The request target for `service` on `endpoint`.
std::string strategy_target(const HttpUrl& endpoint, std::string_view service);

struct RemotePollerCounters {
  std::uint64_t polls_ok = 0;
  std::uint64_t polls_failed = 0;
};
class Registry;
// Reports the fields above as spanring_remote_sampling_polls_total{result} (sampling_metrics.cpp).
void report_metrics(const RemotePollerCounters& counters, Registry& registry);

class RemoteSamplingPoller {
 public:
  using UpdateFn = std::function<void(std::string service, ServiceStrategy strategy)>;
  using ErrorFn = std::function<void(std::string message)>;

  // `config.endpoint` must satisfy parse_http_url (parse_sampling_config checks it); if it does
  // not, every poll fails with a message.
  RemoteSamplingPoller(boost::asio::io_context& io, RemoteSamplingConfig config, UpdateFn on_update,
                       ErrorFn on_error);
  ~RemoteSamplingPoller();
  RemoteSamplingPoller(const RemoteSamplingPoller&) = delete;
  RemoteSamplingPoller& operator=(const RemoteSamplingPoller&) = delete;

  // A service to poll from now on (duplicates are ignored). Polled soon after start().
  void add_service(std::string service);
  void start();
  // Cancels the timer and any request in flight. Idempotent.
  void stop();
  RemotePollerCounters counters() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace spanring::agent
