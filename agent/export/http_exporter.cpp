// HttpExporter: glues the layers together (queue -> retry -> attempts) and turns each batch's
// final SendResult into its single ExportResult.
#include "agent/export/bounded_queue.hpp"
#include "agent/export/disk_queue.hpp"
#include "agent/export/http_exporter.hpp"
#include "agent/export/memory_tally.hpp"
#include "agent/export/retry_sender.hpp"
#include "agent/export/sender_factory.hpp"

#include "agent/base/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <map>
#include <set>
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
        bounds_(config_.queue),
        retry_(config_.retry),
        deadline_timer_(io) {
    // The first Sender was made (and its TLS files checked) by the caller; the others the same way.
    slots_.push_back(Slot{std::move(attempt), 0, false, nullptr});
    for (std::uint32_t i = 1; i < config_.max_in_flight; ++i) {
      std::shared_ptr<Sender> sender;
      if (Status st = make_sender(io.get_executor(), config_, sender); !st.ok()) throw std::invalid_argument(st.message());
      slots_.push_back(Slot{std::move(sender), 0, false, nullptr});
    }
    if (config_.queue.storage == QueueStorage::kDisk) open_disk();
    if (config_.queue.storage == QueueStorage::kMemory) open_tally();
  }

  bool enqueue(ExportBatch batch) {
    if (abandoned_ || shutdown_started_) return false;
    Entry e;
    e.spans = batch.spans;
    e.id = batch.id;
    e.services = std::move(batch.services);
    e.enqueued_at = steady_clock::now();
    // The body is the batch's serialized request: its size is exact, and a batch the queue
    // refuses or that is too large is never copied.
    const std::size_t size = batch.body.size();
    e.original_bytes = size;
    e.too_large = size > config_.max_request_bytes;
    e.bytes = e.too_large ? 0 : size;
    if (!bounds_.fits(e.spans, e.bytes)) return false;
    if (!e.too_large) e.body = std::move(batch.body);
    const std::uint64_t seq = next_seq_++;
    if (tally_) tally_->add(e.services);
    const bool stage = disk_ && !e.too_large;
    add(seq, std::move(e), /*ready=*/!stage);
    if (stage) {
      // Stored with the rest of this drain pass in one synced transaction: by sync(), or by the
      // posted fallback when the caller does not call it.
      staged_.push_back(seq);
      if (!sync_scheduled_) {
        sync_scheduled_ = true;
        asio::post(io_, [self = shared_from_this()] {
          self->sync_scheduled_ = false;
          if (!self->abandoned_) self->sync();
        });
      }
    } else {
      schedule_pump();
    }
    return true;
  }

  void sync() {
    if (staged_.empty()) return;
    std::vector<std::uint64_t> staged = std::exchange(staged_, {});
    std::vector<DiskRecord> records;
    records.reserve(staged.size());
    std::vector<std::pair<std::uint64_t, const DiskRecord*>> refs;
    for (std::uint64_t seq : staged) {
      Entry& e = entries_.at(seq);
      records.push_back(DiskRecord{e.spans, e.services, std::move(e.body)});
    }
    for (std::size_t i = 0; i < staged.size(); ++i) refs.emplace_back(staged[i], &records[i]);
    std::string error;
    if (disk_->put(refs, error)) {
      // Read back for each attempt: memory holds only what is in flight.
      for (std::uint64_t seq : staged) ready_.insert(seq);
      schedule_pump();
      return;
    }
    std::uint64_t spans = 0;
    for (const DiskRecord& r : records) spans += r.spans;
    disk_log_.log(LogLevel::kError, "%s: %zu batch(es) of %llu spans dropped (queue_full)", error.c_str(), staged.size(),
                  static_cast<unsigned long long>(spans));
    // Never inside sync(): the caller may be in the middle of its own bookkeeping.
    for (std::uint64_t seq : staged) {
      unstored_.push_back(seq);
    }
    asio::post(io_, [self = shared_from_this()] {
      for (std::uint64_t seq : std::exchange(self->unstored_, {})) {
        if (self->abandoned_) return;
        self->complete(seq, ExportOutcome::kDroppedQueueFull, "not stored in the disk queue");
      }
      self->maybe_finish_shutdown();
    });
  }

  // Sends what the disk queue resumed (the constructor cannot: handlers need shared_from_this).
  void start() {
    if (!ready_.empty()) schedule_pump();
  }

  const BoundedQueue& bounds() const { return bounds_; }
  // memory and disk keep a batch until its answer; rings leave that to the engines' rings.
  bool holds_batches() const { return config_.queue.storage != QueueStorage::kRings; }
  std::size_t in_flight() const {
    return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy; }));
  }
  const std::vector<ServiceCount>& resumed() const { return resumed_; }
  const std::vector<ServiceCount>& lost() const { return lost_; }
  const DiskQueue* disk() const { return disk_.get(); }

  // Every Sender is rebuilt from the files as they are now (all first, so that one unusable file
  // leaves every Sender as it was). An idle one is swapped at once; a busy one finishes the
  // request it carries on its old connection, then is closed and swapped (on_sent).
  Status reload_files() {
    const auto url = resolved_endpoint(config_);
    if (abandoned_ || !url || !url->tls) return Status();
    std::vector<std::shared_ptr<Sender>> fresh(slots_.size());
    for (auto& f : fresh)
      if (Status st = make_sender(io_.get_executor(), config_, f); !st.ok()) return st;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].busy) {
        slots_[i].replacement = std::move(fresh[i]);
      } else {
        slots_[i].sender->close();
        slots_[i].sender = std::move(fresh[i]);
      }
    }
    return Status();
  }

  void shutdown(steady_clock::time_point deadline, std::function<void()> done) {
    if (abandoned_ || shutdown_started_) return;
    shutdown_started_ = true;
    shutdown_done_ = std::move(done);
    sync();
    // Retries stop first so the queue can flush in the time left instead of waiting on one batch:
    // each wait ends now, and on_wait_over() completes its batch (never inside shutdown()).
    for (auto& [seq, e] : entries_)
      if (e.wait) e.wait->cancel();
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
    for (auto& [seq, e] : entries_)
      if (e.wait) e.wait->cancel();
    for (Slot& s : slots_) s.sender->close();
    // A Sender keeps its completion (which holds this core) until it runs: let go of the Senders
    // so that no cycle outlives the io_context, and close the store now so that its lock is
    // free for the next exporter (handlers still queued find abandoned_ set and touch neither).
    slots_.clear();
    if (disk_) disk_->remove(std::exchange(removals_, {}));
    disk_.reset();
  }

 private:
  struct Entry {
    std::uint64_t id = 0;  // the caller's; 0 for a batch resumed from the disk queue
    std::uint64_t spans = 0;
    std::uint64_t bytes = 0;  // counted against queue.max_bytes
    std::vector<ServiceCount> services;
    steady_clock::time_point enqueued_at{};
    bool resumed = false;
    bool too_large = false;
    std::size_t original_bytes = 0;
    // Memory and rings: the body until the first attempt, then shared with the Sender and kept
    // for retries (each Sender frames and compresses it itself). Disk: empty; each attempt reads
    // the body back from the store.
    std::string body;
    ExportPayload payload;
    RetryState retry;
    std::unique_ptr<asio::steady_timer> wait;  // set while waiting for the next attempt
    SendResult last;                           // the failure that wait will retry
  };
  struct Slot {
    std::shared_ptr<Sender> sender;
    std::uint64_t seq = 0;  // the batch it carries, when busy
    bool busy = false;
    std::shared_ptr<Sender> replacement;  // reload_files() while busy: swapped in once free
  };

  void open_disk() {
    const std::string dir = config_.queue.directory.empty() ? default_queue_directory() : config_.queue.directory;
    std::string error;
    disk_ = DiskQueue::open(dir, config_.queue.max_bytes, error);
    if (!disk_) throw std::runtime_error(error);
    // A restarted agent resumes the queue before new spans: these have the lowest sequence
    // numbers, and the oldest ready batch is always sent first.
    std::map<std::string, std::uint64_t> by_service;
    for (DiskQueue::Resumed& r : disk_->take_resumed()) {
      Entry e;
      e.spans = r.spans;
      e.bytes = r.bytes;
      e.services = std::move(r.services);
      e.enqueued_at = steady_clock::now();
      e.resumed = true;
      for (const ServiceCount& s : e.services) by_service[s.service] += s.spans;
      add(r.seq, std::move(e));
    }
    for (auto& [service, spans] : by_service) resumed_.push_back(ServiceCount{service, spans});
    next_seq_ = disk_->next_seq();
    if (!entries_.empty())
      SPANRING_LOG_INFO("queue.directory %s: resuming %zu batch(es) of %llu spans left by an earlier run", dir.c_str(),
                        entries_.size(), static_cast<unsigned long long>(bounds_.spans()));
  }

  // Memory: what a SIGKILL would lose is counted where the next start finds it. Without a
  // usable directory the queue works uncounted (one warning).
  void open_tally() {
    const std::string dir = config_.queue.directory.empty() ? default_queue_directory() : config_.queue.directory;
    std::string error;
    tally_ = MemoryTally::open(dir, error);
    if (!tally_) {
      SPANRING_LOG_WARN("queue.storage memory: %s; spans a crash loses will not be counted at the next start",
                        error.c_str());
      return;
    }
    lost_ = tally_->take_lost();
    for (const ServiceCount& s : lost_)
      SPANRING_LOG_WARN("queue.storage memory: the previous run was killed with %llu spans of service %s queued: "
                        "lost (counted as dropped{agent_crash})",
                        static_cast<unsigned long long>(s.spans), s.service.c_str());
  }

  void add(std::uint64_t seq, Entry e, bool ready = true) {
    bounds_.add(e.spans, e.bytes);
    entries_.emplace(seq, std::move(e));
    if (ready) ready_.insert(seq);
  }

  ExportOutcome shutdown_outcome() const {
    return disk_ ? ExportOutcome::kKeptInQueue : ExportOutcome::kDroppedShutdown;
  }

  void schedule_pump() {
    if (pump_scheduled_) return;
    pump_scheduled_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->pump_scheduled_ = false;
      self->pump();
    });
  }

  // Starts the oldest ready batches on idle Senders; batches that need no I/O complete here.
  void pump() {
    while (!abandoned_ && !ready_.empty()) {
      const std::uint64_t seq = *ready_.begin();
      Entry& e = entries_.at(seq);
      if (e.too_large) {
        complete(seq, ExportOutcome::kDroppedTooLarge,
                 "body of " + std::to_string(e.original_bytes) + " bytes exceeds max_request_bytes " +
                     std::to_string(config_.max_request_bytes));
        continue;
      }
      if (deadline_passed_) {
        complete(seq, shutdown_outcome(), "shutdown deadline passed before sending");
        continue;
      }
      const auto idle = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
      if (idle == slots_.end()) break;
      ExportPayload payload = e.payload;
      if (!payload) {
        std::string body;
        if (disk_) {
          std::string error;
          auto record = disk_->get(seq, error);
          if (!record) {
            SPANRING_LOG_ERROR("%s: a batch of %llu spans is dropped", error.c_str(),
                               static_cast<unsigned long long>(e.spans));
            complete(seq, ExportOutcome::kFailedPermanent, error);
            continue;
          }
          body = std::move(record->body);
        } else {
          body = std::exchange(e.body, {});
        }
        payload = std::make_shared<const std::string>(std::move(body));
        if (!disk_) e.payload = payload;  // memory: kept for retries
      }
      ready_.erase(seq);
      idle->busy = true;
      idle->seq = seq;
      retry_.started(e.retry, steady_clock::now());
      const std::size_t slot = static_cast<std::size_t>(idle - slots_.begin());
      idle->sender->send(std::move(payload),
                         [self = shared_from_this(), slot](SendResult r) { self->on_sent(slot, std::move(r)); });
    }
    maybe_finish_shutdown();
  }

  void on_sent(std::size_t slot, SendResult r) {
    if (abandoned_) return;
    Slot& s = slots_[slot];
    s.busy = false;
    if (s.replacement) {
      s.sender->close();
      s.sender = std::move(s.replacement);
    }
    const std::uint64_t seq = s.seq;
    Entry& e = entries_.at(seq);
    r.attempts = e.retry.attempts;
    switch (r.cls) {
      case SendClass::kOk:
        complete(seq, r.rejected_spans > 0 ? ExportOutcome::kPartiallyRejected : ExportOutcome::kAccepted,
                 std::move(r.message), r.http_status, std::min<std::uint64_t>(r.rejected_spans, e.spans));
        break;
      case SendClass::kPermanent:
        complete(seq, ExportOutcome::kFailedPermanent, std::move(r.message), r.http_status);
        break;
      case SendClass::kRetryable:
      case SendClass::kThrottled: {
        if (shutdown_started_) {
          complete(seq, shutdown_outcome(), r.message + "; not retried: shutting down", r.http_status);
          break;
        }
        std::string why;
        const auto wait = retry_.next_wait(e.retry, r, steady_clock::now(), why);
        if (!wait) {
          complete(seq, ExportOutcome::kFailedRetriesExhausted, r.message + "; " + why, r.http_status);
          break;
        }
        // The Sender is free again: other batches go out while this one waits.
        e.last = std::move(r);
        e.wait = std::make_unique<asio::steady_timer>(io_, *wait);
        e.wait->async_wait([self = shared_from_this(), seq](const boost::system::error_code&) {
          self->on_wait_over(seq);
        });
        break;
      }
    }
    pump();
  }

  void on_wait_over(std::uint64_t seq) {
    // A batch completed meanwhile (shutdown) is gone; sequence numbers are never reused.
    const auto it = entries_.find(seq);
    if (abandoned_ || it == entries_.end() || !it->second.wait) return;
    it->second.wait.reset();
    if (shutdown_started_) {
      SendResult last = std::move(it->second.last);
      complete(seq, shutdown_outcome(), last.message + "; not retried: shutting down", last.http_status);
    } else {
      ready_.insert(seq);
    }
    pump();
  }

  void complete(std::uint64_t seq, ExportOutcome outcome, std::string message, int http_status = 0,
                std::uint64_t rejected = 0) {
    auto node = entries_.extract(seq);
    Entry& e = node.mapped();
    ready_.erase(seq);
    if (e.wait) e.wait->cancel();
    bounds_.remove(e.spans, e.bytes);
    if (tally_) tally_->remove(e.services);
    if (disk_ && outcome != ExportOutcome::kKeptInQueue && outcome != ExportOutcome::kDroppedQueueFull && !e.too_large)
      remove_from_disk(seq);
    ExportResult result;
    result.outcome = outcome;
    result.id = e.id;
    result.spans = e.spans;
    result.services = std::move(e.services);
    result.resumed = e.resumed;
    const bool failed = outcome != ExportOutcome::kAccepted && outcome != ExportOutcome::kPartiallyRejected;
    result.rejected_spans = failed ? e.spans : rejected;
    result.http_status = http_status;
    result.message = std::move(message);
    result.latency = steady_clock::now() - e.enqueued_at;
    result.attempts = e.retry.attempts;
    // A copy: on_result may destroy the HttpExporter, which clears on_result_.
    if (auto on_result = on_result_) on_result(result);
  }

  // Deleted with every other batch answered in this turn of the event loop, in one transaction:
  // the window in which a SIGKILL can leave an answered batch on disk (to be sent again) holds
  // only batches that were in flight.
  void remove_from_disk(std::uint64_t seq) {
    removals_.push_back(seq);
    if (removals_scheduled_) return;
    removals_scheduled_ = true;
    asio::post(io_, [self = shared_from_this()] {
      self->removals_scheduled_ = false;
      if (self->disk_) self->disk_->remove(std::exchange(self->removals_, {}));
    });
  }

  void on_deadline() {
    deadline_passed_ = true;
    // Their results come back through on_sent (shutting down: not retried); pump() ends the rest.
    for (Slot& s : slots_)
      if (s.busy) s.sender->cancel();
    pump();
  }

  void maybe_finish_shutdown() {
    if (!shutdown_started_ || shutdown_finished_ || abandoned_ || !entries_.empty()) return;
    shutdown_finished_ = true;
    if (disk_) disk_->remove(std::exchange(removals_, {}));
    deadline_timer_.cancel();
    for (Slot& s : slots_) s.sender->close();
    if (shutdown_done_) asio::post(io_, std::move(shutdown_done_));
    shutdown_done_ = nullptr;
  }

  asio::io_context& io_;
  HttpExportConfig config_;
  ResultCallback on_result_;
  BoundedQueue bounds_;
  RetryPolicy retry_;
  std::unique_ptr<DiskQueue> disk_;
  std::unique_ptr<MemoryTally> tally_;
  std::vector<ServiceCount> lost_;
  std::vector<Slot> slots_;
  std::map<std::uint64_t, Entry> entries_;  // every batch not answered yet, by sequence number
  std::set<std::uint64_t> ready_;           // those waiting for a Sender, oldest first
  std::uint64_t next_seq_ = 1;
  std::vector<std::uint64_t> staged_;    // disk: accepted, not stored yet (no ready_ entry)
  std::vector<std::uint64_t> unstored_;  // disk: a failed sync(), to be reported
  std::vector<std::uint64_t> removals_;  // disk: answered, not deleted yet
  bool sync_scheduled_ = false;
  bool removals_scheduled_ = false;
  std::vector<ServiceCount> resumed_;
  LogLimiter disk_log_{10, std::chrono::minutes(1)};
  asio::steady_timer deadline_timer_;
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
  core_->start();
}

HttpExporter::~HttpExporter() { core_->abandon(); }

bool HttpExporter::enqueue(ExportBatch batch) { return core_->enqueue(std::move(batch)); }
std::size_t HttpExporter::queued_batches() const { return core_->bounds().batches(); }
std::uint64_t HttpExporter::queued_spans() const { return core_->bounds().spans(); }
std::uint64_t HttpExporter::queued_bytes() const { return core_->bounds().bytes(); }
std::size_t HttpExporter::in_flight() const { return core_->in_flight(); }
bool HttpExporter::holds_batches() const { return core_->holds_batches(); }
std::vector<ServiceCount> HttpExporter::resumed() const { return core_->resumed(); }
std::vector<ServiceCount> HttpExporter::lost_by_earlier_run() const { return core_->lost(); }
std::uint64_t HttpExporter::corrupt_records() const {
  return core_->disk() ? core_->disk()->corrupt_records() + core_->disk()->store_resets() : 0;
}
std::uint64_t HttpExporter::store_resets() const { return core_->disk() ? core_->disk()->store_resets() : 0; }

void HttpExporter::sync() { core_->sync(); }

Status HttpExporter::reload_files() { return core_->reload_files(); }

void HttpExporter::shutdown(steady_clock::time_point deadline, std::function<void()> done) {
  core_->shutdown(deadline, std::move(done));
}

}  // namespace spanring::agent
