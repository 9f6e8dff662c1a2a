#include "agent/core/agent.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "agent/base/log.hpp"
#include "agent/sampling/sampler.hpp"

namespace spanring::agent {

Agent::Agent(boost::asio::io_context& io, CoreOptions options)
    : options_(std::move(options)),
      discovery_(io, options_, [this](Source& s) { attached(s); }),
      builder_(options_.batch.max_spans),
      ledger_([this](SourceId id, const std::vector<std::uint64_t>& positions) { commit(id, positions); }),
      io_(io),
      scan_timer_(io),
      poll_timer_(io),
      poll_interval_(options_.drain.min_poll_interval) {}

Agent::~Agent() = default;

void Agent::set_exporter(std::unique_ptr<Exporter> exporter) {
  exporter_ = std::move(exporter);
  if (exporter_) {
    for (const ServiceCount& s : exporter_->resumed()) accounting_.resumed(s.service, s.spans);
    for (const ServiceCount& s : exporter_->lost_by_earlier_run()) accounting_.lost_by_earlier_run(s.service, s.spans);
  }
}

void Agent::set_sampler(std::unique_ptr<Sampler> sampler) {
  if (sampler_)
    for (auto& [name, s] : discovery_.sources()) sampler_->release_slot(s->batch.sampling_slot);
  sampler_ = std::move(sampler);
  builder_.set_sampler(sampler_.get());
  if (sampler_)
    for (auto& [name, s] : discovery_.sources()) s->batch.sampling_slot = sampler_->service_slot(s->identity.service_name);
}

ResultCallback Agent::make_result_callback() {
  return [this](const ExportResult& r) { on_export_result(r); };
}

void Agent::attached(Source& s) {
  s.batch.service = accounting_.service(s.identity.service_name);
  if (sampler_) s.batch.sampling_slot = sampler_->service_slot(s.identity.service_name);
}

void Agent::start() {
  discovery_.watch();
  discovery_.scan_now();
  schedule_scan();
  schedule_poll(Duration::zero());
}

void Agent::schedule_scan() {
  scan_timer_.expires_after(options_.discovery.scan_interval);
  scan_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || phase_ != Phase::kRunning) return;
    discovery_.scan_now();
    schedule_scan();
  });
}

void Agent::schedule_poll(Duration delay) {
  poll_timer_.expires_after(delay);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || phase_ != Phase::kRunning) return;
    drain_now();
    if (builder_.spans() > 0 && Clock::now() - builder_.opened() >= options_.batch.timeout) flush_batch();
    // Adaptive polling: poll just often enough that the fullest ring stays below 1/8 of its
    // capacity between passes. A pass that found a ring more than 1/8 full halves the interval
    // (down to the minimum); one that found every ring under 1/32 full, or nothing at all,
    // doubles it (up to the maximum). An idle agent wakes ~10 times a second; at 10k spans/s
    // it settles near 100 wake-ups a second instead of 1000.
    if (last_max_fill_ > 1.0 / 8) poll_interval_ = std::max(options_.drain.min_poll_interval, poll_interval_ / 2);
    else if (last_max_fill_ < 1.0 / 32)
      poll_interval_ = std::min(options_.drain.max_poll_interval, std::max<Duration>(poll_interval_ * 2, std::chrono::milliseconds(1)));
    auto delay_next = poll_interval_;
    if (builder_.spans() > 0) {
      const auto due =
          std::chrono::duration_cast<Duration>(builder_.opened() + options_.batch.timeout - Clock::now());
      if (due < delay_next) delay_next = std::max(due, Duration::zero());
    }
    schedule_poll(delay_next);
  });
}

// One source's rings, each up to max_spans_per_pass records: ring → batch builder → batch.
void Agent::drain(Source& s, std::uint64_t& total) {
  s.reader.clock().refresh();
  const double capacity = s.reader.header().ring_capacity;
  for (std::uint32_t r = 0; r < s.reader.ring_count(); ++r) {
    if (s.reader.quarantined(r)) continue;
    const std::uint64_t head = s.reader.head(r);
    if (head >= s.read_pos[r]) last_max_fill_ = std::max(last_max_fill_, std::min(1.0, double(head - s.read_pos[r]) / capacity));
    std::uint64_t budget = options_.drain.max_spans_per_pass;  // records; bounds one pass
    while (budget > 0) {
      // Never read more records than the open batch has room for spans (a span takes at
      // least one record), so a batch fills exactly at the end of a read and the position
      // recorded with it covers precisely its spans.
      const std::uint64_t before = s.reader.counters().spans_read;
      const std::uint64_t pos = s.reader.read(r, s.read_pos[r], std::min(budget, builder_.room()), [&](const shm::SpanView& v) {
        accounting_.span(s.batch.service, builder_.add(s.batch, v));
      });
      const std::uint64_t moved = pos - s.read_pos[r];
      total += s.reader.counters().spans_read - before;
      if (moved == 0) break;
      s.read_pos[r] = pos;
      s.dirty = true;
      budget -= std::min(budget, moved);
      if (builder_.full()) close_batch();
    }
  }
  accounting_.counters(s.batch.service, s.reader, s.counters, s.name, s.identity.service_name, s.identity.pid);
  // The producer shrank its segment under us (SIGBUS, caught by the reader): nothing in it can
  // be trusted any more. What was read so far is exported; the rest is lost and the segment is
  // left alone. A segment fault, not span drops: no span is known lost.
  if (discovery_.newly_faulted(s)) accounting_.segment_fault(s.batch.service);
}

std::uint64_t Agent::drain_now() {
  std::uint64_t total = 0;
  last_max_fill_ = 0;
  for (auto& [name, s] : discovery_.sources())
    if (!s->faulted) drain(*s, total);
  mark_progress();
  settle();
  retire_resolved();
  return total;
}

// Positions that moved with no span in the open batch (all rejected, or sampled out) need no
// export: the ledger carries them through its FIFO so they commit in order.
void Agent::mark_progress() {
  if (builder_.spans() != 0) return;  // they ride with the open batch
  for (auto& [name, s] : discovery_.sources()) {
    if (!s->dirty) continue;
    s->dirty = false;
    ledger_.add_mark(s->id, s->read_pos);
  }
}

void Agent::flush_batch() {
  close_batch();
  settle();
  retire_resolved();
}

// Batches the exporter holds become safe together, once per drain pass (a disk queue syncs
// them in one transaction): their positions may move from then on.
void Agent::settle() {
  if (unsynced_.empty()) return;
  exporter_->sync();
  for (BatchId id : unsynced_) ledger_.resolve(id, CommitLedger::Fate::kCommit);
  unsynced_.clear();
}

void Agent::close_batch() {
  if (builder_.spans() == 0) return;
  // The positions read so far cover every span in this batch (and only spans already in it
  // or resolved otherwise): reading is sequential per ring.
  std::vector<Mark> marks;
  for (auto& [name, s] : discovery_.sources())
    if (s->dirty || builder_.holds(s->batch)) {
      marks.push_back(Mark{s->id, s->read_pos});
      s->dirty = false;
    }
  std::vector<ServiceSpans> services;
  ExportBatch b = builder_.close(services);
  const BatchId id = b.id;
  const std::uint64_t spans = b.spans;
  for (const ServiceSpans& s : services) b.services.push_back(ServiceCount{accounting_.services()[s.service].name, s.spans});
  ledger_.add_batch(id, std::move(marks), std::move(services));
  if (exporter_ && exporter_->enqueue(std::move(b))) {
    // Safe in the exporter's queue once settle() synced it: the positions may move then.
    if (exporter_->holds_batches()) unsynced_.push_back(id);
  } else {
    if (phase_ != Phase::kRunning) {
      // Shutting down with a full queue: leave these spans in the rings (positions not
      // committed) for the next agent instead of dropping them, and read no more.
      accounting_.batch_dropped(*ledger_.resolve(id, CommitLedger::Fate::kKeepInRings), kDropShutdown);
      if (phase_ == Phase::kFinalDrain) phase_ = Phase::kFlushing;
    } else {
      accounting_.batch_dropped(*ledger_.resolve(id, CommitLedger::Fate::kCommit), kDropQueueFull);
      SPANRING_LOG_DEBUG("export queue full: dropped a batch of %llu spans", static_cast<unsigned long long>(spans));
    }
  }
}

void Agent::on_export_result(const ExportResult& r) {
  // Where the rings are the buffer, the answer releases the positions (over the answered prefix:
  // the ledger retires in FIFO order). Not sent before the shutdown deadline: the spans stay in
  // the rings for the next agent.
  if (!r.resumed && !exporter_->holds_batches()) {
    const auto fate = r.outcome == ExportOutcome::kDroppedShutdown ? CommitLedger::Fate::kKeepInRings
                                                                   : CommitLedger::Fate::kCommit;
    if (!ledger_.resolve(r.id, fate)) {
      SPANRING_LOG_ERROR("export result for unknown batch %llu ignored", static_cast<unsigned long long>(r.id));
      return;
    }
  }
  if (latency_observer_) latency_observer_(std::chrono::duration<double>(r.latency).count());
  accounting_.batch_answered(r);
  if (r.outcome != ExportOutcome::kAccepted && r.outcome != ExportOutcome::kKeptInQueue) {
    last_export_error_ = std::string(to_string(r.outcome)) + ": " + r.message;
    SPANRING_LOG_WARN("export of %llu spans: %s (HTTP %d, %u attempt(s)) %s", static_cast<unsigned long long>(r.spans),
                      to_string(r.outcome), r.http_status, r.attempts, r.message.c_str());
  } else {
    last_export_error_.clear();
  }
  retire_resolved();
}

void Agent::commit(SourceId id, const std::vector<std::uint64_t>& positions) {
  Source* s = discovery_.find(id);
  if (!s) return;
  for (std::uint32_t r = 0; r < positions.size() && r < s->reader.ring_count(); ++r) s->reader.commit(r, positions[r]);
}

void Agent::retire_resolved() {
  ledger_.retire();
  // Sources with nothing left to commit: faulted ones, and exited engines' fully drained ones.
  auto& sources = discovery_.sources();
  for (auto it = sources.begin(); it != sources.end();) {
    Source& s = *it->second;
    const bool settled = ledger_.holds(s.id) == 0 && !s.dirty && !builder_.holds(s.batch);
    const bool faulted = settled && s.faulted;
    const bool drained = settled && !faulted && s.producer_gone && Discovery::fully_committed(s);
    if (!faulted && !drained) {
      ++it;
      continue;
    }
    if (drained) accounting_.counters(s.batch.service, s.reader, s.counters, s.name, s.identity.service_name, s.identity.pid);
    if (sampler_) sampler_->release_slot(s.batch.sampling_slot);
    ledger_.forget(s.id);
    it = faulted ? discovery_.detach_faulted(it) : discovery_.detach_drained(it);
  }
}

const std::vector<ServiceStats>& Agent::services() noexcept {
  accounting_.reset_gauges();
  for (auto& [name, s] : discovery_.sources()) accounting_.observe(s->batch.service, s->reader);
  return accounting_.services();
}

void Agent::stop(Clock::time_point deadline, std::function<void()> done) {
  if (phase_ != Phase::kRunning) return;
  scan_timer_.cancel();
  poll_timer_.cancel();
  discovery_.stop();
  // Final drain: everything the rings hold now (bounded: rings are bounded and engines may
  // still write, so stop after a few passes).
  for (auto& [name, s] : discovery_.sources()) discovery_.check_liveness(*s);
  phase_ = Phase::kFinalDrain;
  for (int i = 0; i < 8 && phase_ == Phase::kFinalDrain && drain_now() > 0; ++i) {
  }
  flush_batch();
  phase_ = Phase::kFlushing;
  auto finish = [this, done = std::move(done)] {
    retire_resolved();
    phase_ = Phase::kStopped;
    SPANRING_LOG_INFO("stopped: %zu batch(es) unresolved", ledger_.size());
    done();
  };
  if (exporter_) exporter_->shutdown(deadline, std::move(finish));
  else boost::asio::post(io_, std::move(finish));
}

}  // namespace spanring::agent
