// HttpExporter: glues the layers together (queue -> retry -> attempt) and turns each request's
// SendResult into the batch's single ExportResult.
#include "agent/export/bounded_queue.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/export/retry_sender.hpp"
#include "agent/export/sender_factory.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <utility>

namespace spanring::agent {

namespace asio = boost::asio;
using std::chrono::steady_clock;

// Lives in a shared_ptr so that handlers still queued on the io_context after ~HttpExporter find
// it alive (abandoned) instead of freed.
class ExporterCore : public std::enable_shared_from_this<ExporterCore> {
 public:
  ExporterCore(asio::io_context& io, HttpExportConfig config, std::shared_ptr<Sender> attempt,
               ResultCallback on_result)
      : io_(io),
        config_(std::move(config)),
        on_result_(std::move(on_result)),
        queue_(config_.queue),
        retry_(std::make_shared<RetrySender>(io.get_executor(), config_.retry, std::move(attempt))),
        deadline_timer_(io) {}

  bool enqueue(ExportBatch batch) {
    if (abandoned_ || shutdown_started_) return false;
    QueuedBatch item;
    item.spans = batch.spans;
    item.id = batch.id;
    item.enqueued_at = steady_clock::now();
    // Sized first (this also caches every sub-message's size for the serialization below), so a
    // batch the queue refuses or that is too large is never serialized. Protobuf's cached sizes
    // are ints: a request past INT_MAX cannot be serialized and is too large whatever the limit.
    const std::size_t size = batch.request().ByteSizeLong();
    item.original_bytes = size;
    item.too_large = size > config_.max_request_bytes || size > static_cast<std::size_t>(INT_MAX);
    if (!queue_.fits(item.spans, item.too_large ? 0 : size)) return false;
    if (!item.too_large) {
      item.body.resize(size);
      batch.request().SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(item.body.data()));
    }
    queue_.try_push(std::move(item));  // cannot refuse: fits() said so and nothing ran since
    schedule_pump();
    return true;
  }

  const BoundedQueue& queue() const { return queue_; }

  Status reload_files() {
    const auto url = resolved_endpoint(config_);
    if (abandoned_ || !url || !url->tls) return Status();
    std::shared_ptr<Sender> fresh;
    if (Status st = make_sender(io_.get_executor(), config_, fresh); !st.ok()) return st;
    retry_->replace_next(std::move(fresh));
    return Status();
  }

  void shutdown(steady_clock::time_point deadline, std::function<void()> done) {
    if (abandoned_ || shutdown_started_) return;
    shutdown_started_ = true;
    shutdown_done_ = std::move(done);
    // Retry stops first so the queue can flush in the time left instead of waiting on one batch.
    retry_->stop_retrying();
    // Always through the timer, even for a past deadline: results must not run inside shutdown().
    deadline_timer_.expires_at(deadline);
    deadline_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->on_deadline();
    });
    schedule_pump();
  }

  void abandon() {
    abandoned_ = true;
    on_result_ = nullptr;
    shutdown_done_ = nullptr;
    deadline_timer_.cancel();
    retry_->close();
  }

 private:
  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->pump_scheduled_ = false;
      self->pump();
    });
  }

  // Starts the next batch when none is in flight; batches that need no I/O complete right here.
  void pump() {
    while (!abandoned_ && !in_flight_ && !queue_.empty()) {
      QueuedBatch item = std::move(*queue_.pop());
      if (deadline_passed_) {
        complete(item, ExportOutcome::kDroppedShutdown, "shutdown deadline passed before sending");
      } else if (item.too_large) {
        complete(item, ExportOutcome::kDroppedTooLarge,
                 "body of " + std::to_string(item.original_bytes) + " bytes exceeds max_request_bytes " +
                     std::to_string(config_.max_request_bytes));
      } else {
        auto payload = std::make_shared<const std::string>(std::move(item.body));
        in_flight_ = std::move(item);
        retry_->send(std::move(payload), [self = shared_from_this()](SendResult r) { self->on_sent(std::move(r)); });
      }
    }
    maybe_finish_shutdown();
  }

  void on_sent(SendResult r) {
    if (abandoned_) return;
    QueuedBatch item = std::move(*in_flight_);
    in_flight_.reset();
    ExportOutcome outcome = ExportOutcome::kAccepted;
    switch (r.cls) {
      case SendClass::kOk:
        outcome = r.rejected_spans > 0 ? ExportOutcome::kPartiallyRejected : ExportOutcome::kAccepted;
        break;
      case SendClass::kPermanent:
        outcome = ExportOutcome::kFailedPermanent;
        break;
      case SendClass::kRetryable:
      case SendClass::kThrottled:
        outcome = r.stopped ? ExportOutcome::kDroppedShutdown : ExportOutcome::kFailedRetriesExhausted;
        break;
    }
    complete(item, outcome, std::move(r.message), r.http_status, r.attempts,
             std::min<std::uint64_t>(r.rejected_spans, item.spans));
    pump();
  }

  void complete(const QueuedBatch& item, ExportOutcome outcome, std::string message, int http_status = 0,
                std::uint32_t attempts = 0, std::uint64_t rejected = 0) {
    ExportResult result;
    result.outcome = outcome;
    result.id = item.id;
    result.spans = item.spans;
    const bool failed = outcome != ExportOutcome::kAccepted && outcome != ExportOutcome::kPartiallyRejected;
    result.rejected_spans = failed ? item.spans : rejected;
    result.http_status = http_status;
    result.message = std::move(message);
    result.latency = steady_clock::now() - item.enqueued_at;
    result.attempts = attempts;
    // A copy: on_result may destroy the HttpExporter, which clears on_result_.
    if (auto on_result = on_result_) on_result(result);
  }

  void on_deadline() {
    deadline_passed_ = true;
    if (in_flight_) {
      retry_->cancel();  // its result comes back through on_sent, then pump() drops the rest
    } else {
      pump();
    }
  }

  void maybe_finish_shutdown() {
    if (!shutdown_started_ || shutdown_finished_ || abandoned_ || in_flight_ || !queue_.empty()) return;
    shutdown_finished_ = true;
    deadline_timer_.cancel();
    retry_->close();
    if (shutdown_done_) asio::post(io_, std::move(shutdown_done_));
    shutdown_done_ = nullptr;
  }

  asio::io_context& io_;
  HttpExportConfig config_;
  ResultCallback on_result_;
  BoundedQueue queue_;
  std::shared_ptr<RetrySender> retry_;
  asio::steady_timer deadline_timer_;
  std::optional<QueuedBatch> in_flight_;
  std::function<void()> shutdown_done_;
  bool pump_scheduled_ = false;
  bool shutdown_started_ = false;
  bool deadline_passed_ = false;
  bool shutdown_finished_ = false;
  bool abandoned_ = false;
};

namespace {

std::shared_ptr<Sender> checked_sender(asio::io_context& io, const HttpExportConfig& config) {
  const auto errors = config.validate();
  if (!errors.empty()) {
    std::string text = "invalid OTLP exporter config:";
    for (const auto& e : errors) text += " " + e + ";";
    text.pop_back();
    throw std::invalid_argument(text);
  }
  std::shared_ptr<Sender> sender;
  if (Status st = make_sender(io.get_executor(), config, sender); !st.ok()) throw std::invalid_argument(st.message());
  return sender;
}

}  // namespace

HttpExporter::HttpExporter(asio::io_context& io, HttpExportConfig config, ResultCallback on_result) {
  auto sender = checked_sender(io, config);
  core_ = std::make_shared<ExporterCore>(io, std::move(config), std::move(sender), std::move(on_result));
}

HttpExporter::~HttpExporter() { core_->abandon(); }

bool HttpExporter::enqueue(ExportBatch batch) { return core_->enqueue(std::move(batch)); }
std::size_t HttpExporter::queued_batches() const { return core_->queue().batches(); }
std::uint64_t HttpExporter::queued_spans() const { return core_->queue().spans(); }
std::uint64_t HttpExporter::queued_bytes() const { return core_->queue().bytes(); }

Status HttpExporter::reload_files() { return core_->reload_files(); }

void HttpExporter::shutdown(steady_clock::time_point deadline, std::function<void()> done) {
  core_->shutdown(deadline, std::move(done));
}

}  // namespace spanring::agent
