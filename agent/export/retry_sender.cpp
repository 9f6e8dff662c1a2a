#include "agent/export/retry_sender.hpp"

#include <algorithm>
#include <string>
#include <utility>

namespace spanring::agent {

using boost::system::error_code;
using std::chrono::nanoseconds;

namespace {

std::string ms_text(nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

}  // namespace

RetrySender::RetrySender(boost::asio::any_io_executor executor, RetryConfig policy,
                         std::shared_ptr<Sender> next, std::uint64_t seed)
    : policy_(policy), next_(std::move(next)), timer_(executor), rng_(seed) {}

void RetrySender::send(ExportPayload request, SendCallback done) {
  request_ = std::move(request);
  done_ = std::move(done);
  started_ = std::chrono::steady_clock::now();
  interval_ = policy_.initial_interval;
  attempts_ = 0;
  attempt();
}

void RetrySender::cancel() {
  const bool was_waiting = waiting_;
  stop_retrying();
  if (!was_waiting) next_->cancel();
}

void RetrySender::close() {
  cancel();
  next_->close();
}

void RetrySender::stop_retrying() {
  stopped_ = true;
  if (waiting_) timer_.cancel();
}

void RetrySender::replace_next(std::shared_ptr<Sender> next) {
  if (in_attempt_) {
    pending_next_ = std::move(next);
    return;
  }
  auto old = std::exchange(next_, std::move(next));
  old->close();
}

void RetrySender::attempt() {
  ++attempts_;
  in_attempt_ = true;
  next_->send(request_, [self = shared_from_this()](SendResult r) { self->on_attempt(std::move(r)); });
}

nanoseconds RetrySender::next_backoff() {
  std::uniform_real_distribution<double> factor(1.0 - policy_.jitter, 1.0 + policy_.jitter);
  const auto wait = nanoseconds{static_cast<nanoseconds::rep>(static_cast<double>(interval_.count()) * factor(rng_))};
  const auto grown = static_cast<double>(interval_.count()) * policy_.multiplier;
  interval_ = grown >= static_cast<double>(policy_.max_interval.count())
                  ? policy_.max_interval
                  : nanoseconds{static_cast<nanoseconds::rep>(grown)};
  return wait;
}

void RetrySender::on_attempt(SendResult result) {
  in_attempt_ = false;
  if (pending_next_) replace_next(std::exchange(pending_next_, nullptr));
  result.attempts = attempts_;
  if (result.cls == SendClass::kOk || result.cls == SendClass::kPermanent) return finish(std::move(result));
  if (stopped_) {
    result.stopped = true;
    result.message += "; not retried: shutting down";
    return finish(std::move(result));
  }
  if (!policy_.enabled) {
    result.message += "; retry disabled";
    return finish(std::move(result));
  }
  nanoseconds wait = next_backoff();
  if (result.cls == SendClass::kThrottled) wait = std::max(wait, result.retry_after);
  const auto now = std::chrono::steady_clock::now();
  if (now + wait - started_ > policy_.max_elapsed_time) {
    result.message += "; gave up after " + std::to_string(attempts_) + " attempts in " +
                      ms_text(now - started_) + " (next wait " + ms_text(wait) + " would pass max_elapsed_time " +
                      ms_text(policy_.max_elapsed_time) + ")";
    return finish(std::move(result));
  }
  last_ = std::move(result);
  waiting_ = true;
  timer_.expires_after(wait);
  timer_.async_wait([self = shared_from_this()](const error_code&) {
    self->waiting_ = false;
    // A wait that ended by timer_.cancel() and one that expired just as stop_retrying() ran are
    // the same case: stopped_ decides.
    if (self->stopped_) {
      SendResult last = std::move(self->last_);
      last.stopped = true;
      last.message += "; not retried: shutting down";
      return self->finish(std::move(last));
    }
    self->attempt();
  });
}

void RetrySender::finish(SendResult result) {
  request_.reset();
  auto done = std::move(done_);
  done_ = nullptr;
  done(std::move(result));
}

}  // namespace spanring::agent
