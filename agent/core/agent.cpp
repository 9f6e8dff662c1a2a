#include "agent/core/agent.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>

#include "agent/base/log.hpp"
#include "agent/sampling/sampler.hpp"

namespace spanring::agent {

namespace {

std::size_t drain_threads(const CoreOptions& o) {
  return o.agent.drain_threads == 0 ? default_drain_threads()
                                    : std::min<std::size_t>(o.agent.drain_threads, kMaxDrainThreads);
}

std::vector<std::unique_ptr<DrainShard>> make_shards(const CoreOptions& o) {
  const std::size_t n = drain_threads(o);
  std::vector<std::unique_ptr<DrainShard>> shards;
  for (std::size_t k = 0; k < n; ++k) shards.push_back(std::make_unique<DrainShard>(o.batch.max_spans, k + 1, n));
  return shards;
}

}  // namespace

Agent::Agent(boost::asio::io_context& io, CoreOptions options)
    : options_(std::move(options)),
      discovery_(io, options_, [this](Source& s) { attached(s); }),
      shards_(make_shards(options_)),
      pool_(shards_.size()),
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
  for (auto& shard : shards_) shard->builder.set_sampler(sampler_.get(), shards_.size() > 1 ? &sampler_mu_ : nullptr);
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
    if (open_spans() > 0 && Clock::now() - oldest_open() >= options_.batch.timeout) flush_batch();
    // Adaptive polling: poll just often enough that the fullest ring stays below 1/8 of its
    // capacity between passes. A pass that found a ring more than 1/8 full halves the interval
    // (down to the minimum); one that found every ring under 1/32 full, or nothing at all,
    // doubles it (up to the maximum). An idle agent wakes ~10 times a second; at 10k spans/s
    // it settles near 100 wake-ups a second instead of 1000.
    if (last_max_fill_ > 1.0 / 8) poll_interval_ = std::max(options_.drain.min_poll_interval, poll_interval_ / 2);
    else if (last_max_fill_ < 1.0 / 32)
      poll_interval_ = std::min(options_.drain.max_poll_interval, std::max<Duration>(poll_interval_ * 2, std::chrono::milliseconds(1)));
    auto delay_next = more_to_read_ ? Duration::zero() : poll_interval_;  // a shard yielded: go on at once
    if (open_spans() > 0) {
      const auto due = std::chrono::duration_cast<Duration>(oldest_open() + options_.batch.timeout - Clock::now());
      if (due < delay_next) delay_next = std::max(due, Duration::zero());
    }
    schedule_poll(delay_next);
  });
}

void Agent::assign_sources() {
  for (auto& shard : shards_) shard->sources.clear();
  for (auto& [name, s] : discovery_.sources()) shards_[s->id % shards_.size()]->sources.push_back(s.get());
}

std::uint64_t Agent::open_spans() const noexcept {
  std::uint64_t n = 0;
  for (const auto& shard : shards_) n += shard->builder.spans();
  return n;
}

Agent::Clock::time_point Agent::oldest_open() const noexcept {
  Clock::time_point t = Clock::time_point::max();
  for (const auto& shard : shards_)
    if (shard->builder.spans() > 0) t = std::min(t, shard->builder.opened());
  return t;
}

bool Agent::holds(const Source& s) const noexcept { return shards_[s.id % shards_.size()]->builder.holds(s.batch); }

void Agent::drain_shard(DrainShard& shard) {
  for (Source* s : shard.sources)
    if (!s->faulted && !shard.must_yield()) drain(shard, *s);
}

// One source's rings, each up to max_spans_per_pass records: ring → batch builder → batch.
// Runs on the shard's drain thread: touches only the shard and the source.
void Agent::drain(DrainShard& shard, Source& s) {
  s.reader.clock().refresh();
  BatchBuilder& builder = shard.builder;
  const double capacity = s.reader.header().ring_capacity;
  for (std::uint32_t r = 0; r < s.reader.ring_count(); ++r) {
    if (s.reader.quarantined(r)) continue;
    const std::uint64_t head = s.reader.head(r);
    if (head >= s.read_pos[r]) shard.max_fill = std::max(shard.max_fill, std::min(1.0, double(head - s.read_pos[r]) / capacity));
    std::uint64_t budget = options_.drain.max_spans_per_pass;  // records; bounds one pass
    while (budget > 0 && !shard.must_yield()) {
      // Never read more records than the open batch has room for spans (a span takes at
      // least one record), so a batch fills exactly at the end of a read and the position
      // recorded with it covers precisely its spans.
      const std::uint64_t before = s.reader.counters().spans_read;
      const std::uint64_t pos = s.reader.read(r, s.read_pos[r], std::min(budget, builder.room()), [&](const shm::SpanView& v) {
        shard.tally.span(s.batch.service, builder.add(s.batch, v));
      });
      const std::uint64_t moved = pos - s.read_pos[r];
      shard.spans_read += s.reader.counters().spans_read - before;
      if (moved == 0) break;
      s.read_pos[r] = pos;
      s.dirty = true;
      budget -= std::min(budget, moved);
      if (builder.full()) shard.close();
    }
  }
}

std::uint64_t Agent::drain_now() {
  assign_sources();
  std::vector<bool> work(shards_.size());
  for (std::size_t k = 0; k < shards_.size(); ++k) {
    DrainShard& shard = *shards_[k];
    shard.max_fill = 0;
    shard.spans_read = 0;
    work[k] = !shard.sources.empty();
  }
  pool_.run(work, [this](std::size_t k) { drain_shard(*shards_[k]); });
  // Joined: everything below is on the io_context thread again.
  std::uint64_t total = 0;
  last_max_fill_ = 0;
  more_to_read_ = false;
  for (auto& shard : shards_) {
    total += shard->spans_read;
    last_max_fill_ = std::max(last_max_fill_, shard->max_fill);
    more_to_read_ = more_to_read_ || shard->must_yield();
    accounting_.spans(shard->tally);
    for (auto& c : shard->closed) hand_off(c);
    shard->closed.clear();
  }
  for (auto& [name, s] : discovery_.sources()) {
    if (s->faulted) continue;
    accounting_.counters(s->batch.service, s->reader, s->counters, s->name, s->identity.service_name, s->identity.pid);
    // The producer shrank its segment under us (SIGBUS, caught by the reader): nothing in it
    // can be trusted any more. What was read so far is exported; the rest is lost and the
    // segment is left alone. A segment fault, not span drops: no span is known lost.
    if (discovery_.newly_faulted(*s)) accounting_.segment_fault(s->batch.service);
  }
  mark_progress();
  settle();
  retire_resolved();
  return total;
}

// Positions that moved with no span in their shard's open batch (all rejected, or sampled
// out) need no export: the ledger carries them through its FIFO so they commit in order.
void Agent::mark_progress() {
  for (auto& shard : shards_) {
    if (shard->builder.spans() != 0) continue;  // they ride with the shard's open batch
    for (Source* s : shard->sources) {
      if (!s->dirty) continue;
      s->dirty = false;
      ledger_.add_mark(s->id, s->read_pos);
    }
  }
}

void Agent::flush_batch() {
  if (open_spans() == 0) return;
  assign_sources();
  for (auto& shard : shards_) {
    if (shard->builder.spans() == 0) continue;
    // The positions read so far cover every span in this batch (and only spans already in it
    // or resolved otherwise): reading is sequential per ring.
    shard->close();
    for (auto& c : shard->closed) hand_off(c);
    shard->closed.clear();
  }
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

void Agent::hand_off(DrainShard::Closed& c) {
  const BatchId id = c.batch.id;
  const std::uint64_t spans = c.batch.spans;
  // By name: a batch kept on disk outlives this process's service indices.
  for (const ServiceSpans& s : c.services)
    c.batch.services.push_back(ServiceCount{accounting_.services()[s.service].name, s.spans});
  ledger_.add_batch(id, std::move(c.marks), std::move(c.services));
  if (exporter_ && exporter_->enqueue(std::move(c.batch))) {
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
  // Accounting charges services by the names the result carries (a resumed batch has no other
  // record): an exporter that does not hand back the batch's `services` loses its spans from
  // the balance. Never silently.
  std::uint64_t named = 0;
  for (const ServiceCount& s : r.services) named += s.spans;
  if (named != r.spans) {
    static LogLimiter log{1, std::chrono::minutes(1)};
    log.log(LogLevel::kError, "exporter bug: a result for %llu spans names %llu of them by service; the rest are not counted",
            static_cast<unsigned long long>(r.spans), static_cast<unsigned long long>(named));
  }
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
    const bool settled = ledger_.holds(s.id) == 0 && !s.dirty && !holds(s);
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
  // still write, so stop after a few passes). A pass in which a shard had to yield (its
  // closed batches went to the exporter mid-pass) is not a whole pass: it does not count
  // towards the few, within a hard bound.
  for (auto& [name, s] : discovery_.sources()) discovery_.check_liveness(*s);
  phase_ = Phase::kFinalDrain;
  for (int pass = 0, whole = 0; pass < 256 && whole < 8 && phase_ == Phase::kFinalDrain; ++pass) {
    const std::uint64_t read = drain_now();
    if (more_to_read_) continue;
    ++whole;
    if (read == 0) break;
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
