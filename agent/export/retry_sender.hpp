// Middle export layer: retries transient failures with exponential backoff and jitter.
#pragma once

#include "agent/export/export_config.hpp"
#include "agent/export/sender.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>

namespace spanring::agent {

// kOk and kPermanent pass through at once. kRetryable and kThrottled are retried after
// max(server delay, backoff), unless retry is disabled, stop_retrying() was called, or the next
// attempt would start more than max_elapsed_time after the first: then the last failure is returned,
// its message saying why it ended. `attempts` counts every attempt made.
// Must be owned by a shared_ptr (handlers keep it alive).
class RetrySender final : public Sender, public std::enable_shared_from_this<RetrySender> {
 public:
  RetrySender(boost::asio::any_io_executor executor, RetryConfig policy, std::shared_ptr<Sender> next,
              std::uint64_t seed = std::random_device{}());

  void send(ExportPayload request, SendCallback done) override;
  // stop_retrying(), and aborts the attempt in flight.
  void cancel() override;
  // cancel(), and closes the attempt sender's connection.
  void close() override;
  // From now on no new wait starts, and a running wait ends at once. Such requests complete with
  // their last failure and `stopped` set. Lets a shutdown flush the queue without retry.
  void stop_retrying();
  // Later attempts go through `next` (e.g. rebuilt with re-read TLS files). During an attempt the
  // swap waits for its end; the sender replaced is then closed.
  void replace_next(std::shared_ptr<Sender> next);

 private:
  void attempt();
  void on_attempt(SendResult result);
  std::chrono::nanoseconds next_backoff();
  void finish(SendResult result);

  RetryConfig policy_;
  std::shared_ptr<Sender> next_;
  std::shared_ptr<Sender> pending_next_;  // replace_next() during an attempt
  bool in_attempt_ = false;
  boost::asio::steady_timer timer_;
  std::mt19937_64 rng_;
  ExportPayload request_;
  SendCallback done_;
  SendResult last_;  // failure that the running wait will retry
  std::chrono::steady_clock::time_point started_{};
  std::chrono::nanoseconds interval_{};
  std::uint32_t attempts_ = 0;
  bool waiting_ = false;
  bool stopped_ = false;
};

}  // namespace spanring::agent
