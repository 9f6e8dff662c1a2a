#include "core/agent.hpp"

#include <dirent.h>
#include <sys/inotify.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <boost/asio/post.hpp>

#include "base/log.hpp"
#include "base/utf8.hpp"
#include "sampling/sampler.hpp"

namespace spanring::agent {

namespace otlp = opentelemetry::proto;

const char* to_string(DropReason r) noexcept {
  switch (r) {
    case kDropRingFull: return "ring_full";
    case kDropNoRing: return "no_ring";
    case kDropInvalid: return "invalid";
    case kDropQueueFull: return "queue_full";
    case kDropExportFailed: return "export_failed";
    case kDropRejected: return "rejected";
    case kDropShutdown: return "shutdown";
    case kDropReasonCount: break;
  }
  return "unknown";
}

const char* to_string(Unattached r) noexcept {
  switch (r) {
    case Unattached::kTooShort: return "too_short";
    case Unattached::kUnready: return "unready";
    case Unattached::kPermission: return "permission_denied";
    case Unattached::kNotRegular: return "not_regular";
    case Unattached::kInvalidHeader: return "invalid_header";
    case Unattached::kAbiMismatch: return "abi_mismatch";
    case Unattached::kUntrusted: return "untrusted";
    case Unattached::kRefused: return "refused";
    case Unattached::kFaulted: return "faulted";
    case Unattached::kOther: return "other";
    case Unattached::kDrained: return "drained";
    case Unattached::kCount: break;
  }
  return "unknown";
}

std::uint64_t ServiceStats::dropped_total() const noexcept {
  std::uint64_t t = 0;
  for (std::uint64_t v : dropped) t += v;
  return t;
}

// One attached segment.
struct Agent::Source {
  std::uint64_t id = 0;
  std::string name;
  shm::SegmentReader reader;
  std::size_t service = 0;
  std::size_t sampling_slot = 0;  // Sampler::service_slot, when sampling is on
  ProcessIdentity identity;
  otlp::resource::v1::Resource resource;
  std::vector<std::uint64_t> read_pos;  // per ring: read, maybe not yet committed
  bool dirty = false;                   // read_pos moved since the last mark
  bool faulted = false;                 // the mapping faulted: never read again
  bool producer_gone = false;
  std::uint32_t pending = 0;            // Pending entries that still hold a mark for us
  // Engine drop counters and the reader's counters, as last accounted.
  std::uint64_t seen_full = 0, seen_no_ring = 0;
  std::uint64_t seen_read = 0, seen_rejected = 0, seen_quarantined = 0;
  // Where this source's spans go in the open batch.
  std::uint64_t batch_seq = 0;
  otlp::trace::v1::ScopeSpans* scope = nullptr;
};

// A batch handed to the exporter (or a pure position advance), waiting to be resolved.
struct Agent::Pending {
  std::uint64_t id = 0;  // 0: only carries positions (no batch)
  bool resolved = false;
  bool keep_in_rings = false;  // shutdown: do not commit these positions (nor any later)
  std::vector<std::pair<std::uint64_t, std::vector<std::uint64_t>>> marks;  // source id → positions
  std::vector<std::pair<std::size_t, std::uint64_t>> services;              // service → spans
};

// A segment name seen but not attached.
struct Agent::Candidate {
  Unattached reason = Unattached::kUnready;
  Clock::time_point since{};
  bool logged = false;
  bool retried() const noexcept { return reason < Unattached::kRetriedCount; }
};

namespace {

// The producer is gone when its pid is dead, or reused by a process with another start time.
bool producer_alive(std::uint32_t pid, std::uint64_t start_time) {
  if (pid == 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  const std::uint64_t now = shm::process_start_time(pid);
  return now == 0 || start_time == 0 || now == start_time;
}

std::string local_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

Agent::Agent(boost::asio::io_context& io, CoreOptions options)
    : io_(io),
      options_(std::move(options)),
      scan_timer_(io),
      poll_timer_(io),
      rescan_timer_(io),
      inotify_(io),
      poll_interval_(options_.min_poll_interval),
      host_name_(options_.host_name.empty() ? local_host_name() : options_.host_name) {
  new_request();
}

Agent::~Agent() = default;

void Agent::new_request() {
  request_ = nullptr;
  if (!arena_) {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 256 << 10;  // a 512-span batch fits a few blocks
    o.max_block_size = 1 << 20;
    arena_ = std::make_unique<google::protobuf::Arena>(o);
  } else {
    arena_->Reset();
  }
  request_ = google::protobuf::Arena::CreateMessage<opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest>(arena_.get());
}

void Agent::set_exporter(std::unique_ptr<Exporter> exporter) { exporter_ = std::move(exporter); }

void Agent::set_sampler(std::unique_ptr<Sampler> sampler) {
  if (sampler_)
    for (auto& [name, s] : sources_) sampler_->release_slot(s->sampling_slot);
  sampler_ = std::move(sampler);
  if (sampler_)
    for (auto& [name, s] : sources_) s->sampling_slot = sampler_->service_slot(s->identity.service_name);
}

ResultCallback Agent::make_result_callback() {
  return [this](const ExportResult& r) { on_export_result(r); };
}

std::size_t Agent::service_index(const std::string& name) {
  if (auto it = service_by_name_.find(name); it != service_by_name_.end()) return it->second;
  services_.push_back(ServiceStats{});
  services_.back().name = name;
  service_by_name_.emplace(name, services_.size() - 1);
  if (on_new_service_) on_new_service_(name);
  return services_.size() - 1;
}

void Agent::start() {
  watch_directory();
  scan_now();
  schedule_scan();
  schedule_poll(std::chrono::milliseconds(0));
}

// New segments are noticed at once through inotify (a new engine's ring fills in
// milliseconds under load); the periodic scan stays as the fallback, and for liveness.
void Agent::watch_directory() {
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    SPANRING_LOG_WARN("inotify unavailable (%s): new segments are found by the periodic scan only", std::strerror(errno));
    return;
  }
  if (::inotify_add_watch(fd, options_.shm_dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
    SPANRING_LOG_WARN("cannot watch %s (%s): new segments are found by the periodic scan only", options_.shm_dir.c_str(),
                      std::strerror(errno));
    ::close(fd);
    return;
  }
  inotify_.assign(fd);
  read_directory_events();
}

void Agent::read_directory_events() {
  inotify_.async_read_some(boost::asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, std::size_t) {
    if (ec || stopping_) return;
    schedule_rescan(std::chrono::milliseconds(0));  // which file does not matter: scan all
    read_directory_events();
  });
}

void Agent::schedule_rescan(std::chrono::milliseconds delay) {
  if (rescan_pending_ || stopping_) return;
  rescan_pending_ = true;
  rescan_timer_.expires_after(delay);
  rescan_timer_.async_wait([this](const boost::system::error_code& ec) {
    rescan_pending_ = false;
    if (!ec && !stopping_) scan_now();
  });
}

void Agent::schedule_scan() {
  scan_timer_.expires_after(options_.scan_interval);
  scan_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    scan_now();
    schedule_scan();
  });
}

void Agent::schedule_poll(std::chrono::milliseconds delay) {
  poll_timer_.expires_after(delay);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    drain_now();
    if (batch_spans_ > 0 && Clock::now() - batch_opened_ >= options_.batch_timeout) flush_batch();
    // Adaptive polling: poll just often enough that the fullest ring stays below 1/8 of its
    // capacity between passes. A pass that found a ring more than 1/8 full halves the interval
    // (down to the minimum); one that found every ring under 1/32 full, or nothing at all,
    // doubles it (up to the maximum). An idle agent wakes ~10 times a second; at 10k spans/s
    // it settles near 100 wake-ups a second instead of 1000.
    if (last_max_fill_ > 1.0 / 8) poll_interval_ = std::max(options_.min_poll_interval, poll_interval_ / 2);
    else if (last_max_fill_ < 1.0 / 32)
      poll_interval_ = std::min(options_.max_poll_interval, std::max(poll_interval_ * 2, std::chrono::milliseconds(1)));
    auto delay_next = poll_interval_;
    if (batch_spans_ > 0) {
      const auto due = std::chrono::duration_cast<std::chrono::milliseconds>(batch_opened_ + options_.batch_timeout - Clock::now());
      if (due < delay_next) delay_next = std::max(due, std::chrono::milliseconds(0));
    }
    schedule_poll(delay_next);
  });
}

void Agent::scan_now() {
  DIR* d = opendir(options_.shm_dir.c_str());
  if (!d) {
    SPANRING_LOG_ERROR("cannot list %s: %s", options_.shm_dir.c_str(), std::strerror(errno));
    return;
  }
  std::set<std::string> names;
  const std::string& prefix = options_.segment_prefix;
  while (dirent* e = readdir(d))
    if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) names.emplace(e->d_name);
  closedir(d);
  untracked_names_ = 0;
  for (const std::string& n : names) {
    if (sources_.count(n)) continue;
    if (auto it = unattached_.find(n); it != unattached_.end()) {
      if (!it->second.retried()) continue;  // refused until the name goes away
    } else if (unattached_.size() >= kMaxUnattached) {
      ++untracked_names_;  // bounded memory and work per scan, whatever is in the directory
      continue;
    }
    attach(n);
  }
  if (untracked_names_ > 0)
    segment_log_.log(LogLevel::kWarn,
                     "%llu %s* file(s) in %s not examined: %zu others are already waiting or refused; "
                     "remove stray files",
                     static_cast<unsigned long long>(untracked_names_), prefix.c_str(), options_.shm_dir.c_str(),
                     unattached_.size());
  // Forget names that disappeared, so a new file of that name is tried afresh.
  std::erase_if(unattached_, [&](const auto& kv) { return !names.count(kv.first); });
  for (auto& [name, s] : sources_) check_liveness(*s);
}

void Agent::not_attached(const std::string& name, Unattached why, const std::string& message) {
  const auto now = Clock::now();
  Candidate& c = unattached_.try_emplace(name, Candidate{why, now, false}).first->second;
  c.reason = why;
  if (c.logged) return;
  if (c.retried()) {
    // Most likely an engine being born (it creates the file, sizes it, sets its group and mode,
    // then marks it ready): look again shortly for a second, then at each periodic scan. Only
    // a file still not attachable after the grace period is worth a line.
    if (now - c.since < std::chrono::seconds(1)) schedule_rescan(std::chrono::milliseconds(10));
    if (now - c.since < options_.not_ready_grace) return;
    c.logged = true;
    const char* hint = why == Unattached::kPermission
                           ? "; engines running as other users need SPANRING_SHM_MODE=0660 and SPANRING_SHM_GROUP "
                             "set to the agent's group (README, \"Access model\")"
                           : "";
    segment_log_.log(LogLevel::kWarn, "segment %s not attached after %llds: %s (%s)%s; retrying at each scan",
                     name.c_str(),
                     static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(now - c.since).count()),
                     to_string(why), message.c_str(), hint);
    return;
  }
  c.logged = true;
  segment_log_.log(LogLevel::kWarn, "skipping segment %s: %s (%s)", name.c_str(), to_string(why), message.c_str());
}

void Agent::attach(const std::string& name) {
  auto s = std::make_unique<Source>();
  std::string message;
  switch (s->reader.open(name, message)) {
    case shm::SegmentError::kOk: break;
    case shm::SegmentError::kNotFound: unattached_.erase(name); return;  // gone since the listing
    case shm::SegmentError::kNotSized: return not_attached(name, Unattached::kTooShort, message);
    case shm::SegmentError::kNotReady: return not_attached(name, Unattached::kUnready, message);
    case shm::SegmentError::kPermission: return not_attached(name, Unattached::kPermission, message);
    case shm::SegmentError::kNotRegular: return not_attached(name, Unattached::kNotRegular, message);
    case shm::SegmentError::kInvalidHeader: return not_attached(name, Unattached::kInvalidHeader, message);
    case shm::SegmentError::kVersionMismatch: return not_attached(name, Unattached::kAbiMismatch, message);
    case shm::SegmentError::kUntrusted: return not_attached(name, Unattached::kUntrusted, message);
    default: return not_attached(name, Unattached::kOther, message);
  }
  const shm::SegmentHeader& h = s->reader.header();
  // The name is the producer's bytes: repaired to UTF-8 once, here, so metrics labels, logs
  // and OTLP all see the same valid string (and two spellings of one bad name are one service).
  std::string scratch;
  s->identity.service_name = std::string(detail::valid_utf8(s->reader.service_name(), scratch));
  if (const Unattached why = check_trust(*s, message); why != Unattached::kCount) return not_attached(name, why, message);
  unattached_.erase(name);
  s->id = next_source_id_++;
  s->name = name;
  s->identity.host_name = host_name_;
  s->identity.pid = h.producer_pid;
  s->identity.start_time = h.producer_start_time;
  s->identity.attributes = s->reader.resource();
  s->identity.user_id = s->reader.mapping().file().uid;
  make_resource(s->identity, s->resource);
  s->service = service_index(s->identity.service_name);
  if (sampler_) s->sampling_slot = sampler_->service_slot(s->identity.service_name);
  s->read_pos.resize(s->reader.ring_count());
  std::uint64_t unread = 0;
  for (std::uint32_t r = 0; r < s->reader.ring_count(); ++r) {
    s->read_pos[r] = s->reader.tail(r);
    unread += s->reader.count_spans(r, s->read_pos[r], s->reader.head(r));
  }
  // Spans below the tails were consumed by an earlier agent and belong to its accounting; ours
  // counts spans as it takes them from the rings (see agent.hpp). The engine's drops are all
  // ours to report: no one else can (an earlier agent's counters died with it).
  s->seen_full = 0;
  s->seen_no_ring = 0;
  SPANRING_LOG_INFO("attached %s: service=%s pid=%u uid=%u rings=%u capacity=%u unread_spans=%llu", name.c_str(),
                    s->identity.service_name.c_str(), h.producer_pid, s->reader.mapping().file().uid, h.ring_count,
                    h.ring_capacity, static_cast<unsigned long long>(unread));
  check_liveness(*s);
  sources_by_id_[s->id] = s.get();
  sources_.emplace(name, std::move(s));
}

Unattached Agent::check_trust(const Source& s, std::string& why) const {
  const shm::Mapping::File& f = s.reader.mapping().file();
  const shm::SegmentHeader& h = s.reader.header();
  // A live producer must be the file's owner: otherwise the segment names a process (and so a
  // service, pid and instance) that someone else's file speaks for.
  std::uint32_t euid = 0;
  if (producer_alive(h.producer_pid, h.producer_start_time) && shm::process_euid(h.producer_pid, euid) &&
      euid != f.uid) {
    why = "owned by uid " + std::to_string(f.uid) + ", but its producer (pid " + std::to_string(h.producer_pid) +
          ") runs as uid " + std::to_string(euid);
    return Unattached::kUntrusted;
  }
  if (!producer_allowed(options_.producers, s.identity.service_name, f.uid, f.gid)) {
    why = "discovery.producers does not let uid " + std::to_string(f.uid) + " (group " + std::to_string(f.gid) +
          ") feed service \"" + s.identity.service_name + "\"";
    return Unattached::kRefused;
  }
  return Unattached::kCount;
}

std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> Agent::unattached() const {
  std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> out{};
  const auto now = Clock::now();
  for (const auto& [name, c] : unattached_)
    if (!c.retried() || now - c.since >= options_.not_ready_grace) ++out[static_cast<std::size_t>(c.reason)];
  return out;
}

void Agent::check_liveness(Source& s) {
  if (s.producer_gone) return;
  const shm::SegmentHeader& h = s.reader.header();
  if (!producer_alive(h.producer_pid, h.producer_start_time)) {
    s.producer_gone = true;
    SPANRING_LOG_INFO("engine %s (pid %u) exited%s; draining what it left", s.identity.service_name.c_str(),
                      h.producer_pid, s.reader.closed() ? "" : " without shutting down");
  }
}

void Agent::account_counters(Source& s) {
  ServiceStats& st = services_[s.service];
  // The engine's drop counters only grow; a smaller value is a hostile or corrupted segment:
  // ignore the dip.
  const std::uint64_t full = s.reader.spans_dropped_full();
  const std::uint64_t no_ring = s.reader.spans_dropped_no_ring();
  if (full > s.seen_full) {
    st.dropped[kDropRingFull] += full - s.seen_full;
    st.created += full - s.seen_full;
    s.seen_full = full;
  }
  if (no_ring > s.seen_no_ring) {
    st.dropped[kDropNoRing] += no_ring - s.seen_no_ring;
    st.created += no_ring - s.seen_no_ring;
    s.seen_no_ring = no_ring;
  }
  // What this agent took from the rings: decoded spans and rejected ones.
  const shm::ReaderCounters& c = s.reader.counters();
  const std::uint64_t read = c.spans_read - s.seen_read;
  const std::uint64_t rejected = c.spans_rejected() - s.seen_rejected;
  s.seen_read = c.spans_read;
  s.seen_rejected = c.spans_rejected();
  st.written += read + rejected;
  st.created += read + rejected;
  if (rejected > 0) {
    st.dropped[kDropInvalid] += rejected;
    record_log_.log(LogLevel::kWarn, "segment %s: %llu invalid record(s) skipped", s.name.c_str(),
                    static_cast<unsigned long long>(rejected));
  }
  if (c.rings_quarantined > s.seen_quarantined) {
    st.rings_quarantined += c.rings_quarantined - s.seen_quarantined;
    s.seen_quarantined = c.rings_quarantined;
    segment_log_.log(LogLevel::kError,
                     "segment %s (service %s, pid %u): %llu ring(s) kept failing validation and are no longer read",
                     s.name.c_str(), s.identity.service_name.c_str(), s.identity.pid,
                     static_cast<unsigned long long>(c.rings_quarantined));
  }
}

void Agent::add_span(Source& s, const shm::SpanView& span) {
  ServiceStats& st = services_[s.service];
  ++st.received;
  SamplingDecision decision;
  if (sampler_) {
    decision = sampler_->decide(s.sampling_slot, span);
    if (!decision.keep) {
      ++st.sampled_out;
      ++st.sampled_out_by[static_cast<std::size_t>(decision.reason)];
      return;
    }
  }
  if (batch_spans_ == 0) batch_opened_ = Clock::now();
  if (s.batch_seq != batch_seq_) {
    auto* rs = request_->add_resource_spans();
    *rs->mutable_resource() = s.resource;
    s.scope = rs->add_scope_spans();
    s.scope->mutable_scope()->set_name(kSdkName);
    s.scope->mutable_scope()->set_version(kSdkVersion);
    s.batch_seq = batch_seq_;
  }
  auto* out = s.scope->add_spans();
  to_otlp(span, *out);
  if (sampler_) {
    const SamplingAnnotation a = annotate(decision, is_local_root(span), span.trace_state, trace_state_scratch_);
    if (a.trace_state_changed) out->set_trace_state(trace_state_scratch_);
    if (a.add_sampler_tags) {
      // Jaeger's adaptive sampling reads these from root spans (SPEC §7.d).
      auto* type = out->add_attributes();
      type->set_key("sampler.type");
      type->mutable_value()->set_string_value(a.sampler_type);
      auto* param = out->add_attributes();
      param->set_key("sampler.param");
      param->mutable_value()->set_double_value(a.sampler_param);
    }
  }
  ++batch_spans_;
  if (batch_services_.empty() || batch_services_.back().first != s.service) batch_services_.emplace_back(s.service, 0);
  ++batch_services_.back().second;
}

std::uint64_t Agent::drain_now() {
  std::uint64_t total = 0;
  last_max_fill_ = 0;
  for (auto& [name, sp] : sources_) {
    Source& s = *sp;
    if (s.faulted) continue;
    s.reader.clock().refresh();
    const double capacity = s.reader.header().ring_capacity;
    for (std::uint32_t r = 0; r < s.reader.ring_count(); ++r) {
      if (s.reader.quarantined(r)) continue;
      const std::uint64_t head = s.reader.head(r);
      if (head >= s.read_pos[r]) last_max_fill_ = std::max(last_max_fill_, std::min(1.0, double(head - s.read_pos[r]) / capacity));
      std::uint64_t budget = options_.max_spans_per_pass;  // records; bounds one pass
      while (budget > 0) {
        // Never read more records than the open batch has room for spans (a span takes at
        // least one record), so a batch fills exactly at the end of a read and the position
        // recorded with it covers precisely its spans.
        const std::uint64_t room = options_.batch_max_spans - batch_spans_;
        const std::uint64_t before = s.reader.counters().spans_read;
        const std::uint64_t pos =
            s.reader.read(r, s.read_pos[r], std::min(budget, room), [&](const shm::SpanView& v) { add_span(s, v); });
        const std::uint64_t moved = pos - s.read_pos[r];
        total += s.reader.counters().spans_read - before;
        if (moved == 0) break;
        s.read_pos[r] = pos;
        s.dirty = true;
        budget -= std::min(budget, moved);
        if (batch_spans_ >= options_.batch_max_spans) flush_batch();
      }
    }
    account_counters(s);
    if (s.reader.faulted()) {
      // The producer shrank its segment under us (SIGBUS, caught by the reader): nothing in
      // it can be trusted any more. What was read so far is exported; the rest is lost and
      // the segment is left alone. A segment fault, not span drops: no span is known lost.
      s.faulted = true;
      ++services_[s.service].segment_faults;
      segment_log_.log(LogLevel::kError, "segment %s faulted (truncated by its producer?): no longer read",
                       s.name.c_str());
    }
  }
  mark_progress();
  retire_resolved();
  return total;
}

// Positions that moved with no span in the open batch (all rejected, or sampled out) need no
// export: a resolved entry carries them through the FIFO so they commit in order.
void Agent::mark_progress() {
  if (batch_spans_ != 0) return;  // they ride with the open batch
  // While a batch waits for its answer, consecutive mark-only entries fold into one (its
  // positions only move forward), so a long retry does not grow the FIFO by one per poll.
  Pending* p = nullptr;
  if (!pending_.empty() && pending_.back()->resolved && pending_.back()->id == 0) p = pending_.back().get();
  std::unique_ptr<Pending> fresh;
  if (!p) {
    fresh = std::make_unique<Pending>();
    fresh->resolved = true;
    p = fresh.get();
  }
  for (auto& [name, s] : sources_) {
    if (!s->dirty) continue;
    s->dirty = false;
    auto it = std::find_if(p->marks.begin(), p->marks.end(), [&](const auto& m) { return m.first == s->id; });
    if (it != p->marks.end()) {
      it->second = s->read_pos;
    } else {
      p->marks.emplace_back(s->id, s->read_pos);
      ++s->pending;
    }
  }
  if (fresh && !fresh->marks.empty()) pending_.push_back(std::move(fresh));
}

void Agent::flush_batch() {
  if (batch_spans_ == 0) return;
  auto p = std::make_unique<Pending>();
  p->id = batch_seq_;
  p->services = std::move(batch_services_);
  batch_services_.clear();
  // The positions read so far cover every span in this batch (and only spans already in it
  // or resolved otherwise): reading is sequential per ring.
  for (auto& [name, s] : sources_)
    if (s->dirty || s->batch_seq == batch_seq_) {
      p->marks.emplace_back(s->id, s->read_pos);
      ++s->pending;
      s->dirty = false;
    }
  const std::uint64_t spans = batch_spans_;
  ExportBatch b;
  b.id = batch_seq_;
  b.spans = spans;
  request_->SerializeToString(&b.body);
  new_request();
  ++batch_seq_;
  batch_spans_ = 0;
  Pending& entry = *p;
  pending_.push_back(std::move(p));
  if (!exporter_ || !exporter_->enqueue(std::move(b))) {
    entry.resolved = true;
    if (stop_requested_) {
      // Shutting down with a full queue: leave these spans in the rings (positions not
      // committed) for the next agent instead of dropping them.
      entry.keep_in_rings = true;
      refused_while_stopping_ = true;
      for (const auto& [svc, n] : entry.services) services_[svc].dropped[kDropShutdown] += n;
    } else {
      for (const auto& [svc, n] : entry.services) services_[svc].dropped[kDropQueueFull] += n;
      SPANRING_LOG_DEBUG("export queue full: dropped a batch of %llu spans", static_cast<unsigned long long>(spans));
    }
  }
  retire_resolved();
}

void Agent::on_export_result(const ExportResult& r) {
  Pending* entry = nullptr;
  for (auto& p : pending_)
    if (!p->resolved && p->id == r.id) entry = p.get();
  if (!entry) {
    SPANRING_LOG_ERROR("export result for unknown batch %llu ignored", static_cast<unsigned long long>(r.id));
    return;
  }
  entry->resolved = true;
  // Not sent before the shutdown deadline: the spans stay in the rings for the next agent.
  entry->keep_in_rings = r.outcome == ExportOutcome::kDroppedShutdown;
  if (latency_observer_) latency_observer_(std::chrono::duration<double>(r.latency).count());
  std::uint64_t rejected = r.outcome == ExportOutcome::kPartiallyRejected ? r.rejected_spans : 0;
  for (const auto& [svc, n] : entry->services) {
    ServiceStats& st = services_[svc];
    switch (r.outcome) {
      case ExportOutcome::kAccepted: st.exported += n; break;
      case ExportOutcome::kPartiallyRejected: {
        // The backend does not say whose spans it refused: charge them in batch order.
        const std::uint64_t mine = std::min<std::uint64_t>(rejected, n);
        st.dropped[kDropRejected] += mine;
        st.exported += n - mine;
        rejected -= mine;
        break;
      }
      case ExportOutcome::kDroppedShutdown: st.dropped[kDropShutdown] += n; break;  // left in the rings
      case ExportOutcome::kDroppedQueueFull: st.dropped[kDropQueueFull] += n; break;
      default: st.dropped[kDropExportFailed] += n; break;
    }
  }
  if (r.outcome != ExportOutcome::kAccepted) {
    last_export_error_ = std::string(to_string(r.outcome)) + ": " + r.message;
    SPANRING_LOG_WARN("export of %llu spans: %s (HTTP %d, %u attempt(s)) %s", static_cast<unsigned long long>(r.spans),
                      to_string(r.outcome), r.http_status, r.attempts, r.message.c_str());
  } else {
    last_export_error_.clear();
  }
  retire_resolved();
}

void Agent::retire_resolved() {
  while (!pending_.empty() && pending_.front()->resolved) {
    // Positions are cumulative: once one batch stays in the rings, so must all after it.
    if (pending_.front()->keep_in_rings) keeping_in_rings_ = true;
    if (keeping_in_rings_) {
      for (const auto& [id, positions] : pending_.front()->marks)
        if (auto it = sources_by_id_.find(id); it != sources_by_id_.end()) --it->second->pending;
      pending_.pop_front();
      continue;
    }
    for (const auto& [id, positions] : pending_.front()->marks) {
      auto it = sources_by_id_.find(id);
      if (it == sources_by_id_.end()) continue;
      Source& s = *it->second;
      for (std::uint32_t r = 0; r < positions.size() && r < s.reader.ring_count(); ++r) s.reader.commit(r, positions[r]);
      --s.pending;
    }
    pending_.pop_front();
  }
  // Exited engines whose spans are all resolved: remove their segments.
  for (auto it = sources_.begin(); it != sources_.end();) {
    Source& s = *it->second;
    if (s.faulted && s.pending == 0 && !s.dirty && s.batch_seq != batch_seq_) {
      unattached_[s.name] = Candidate{Unattached::kFaulted, Clock::now(), true};  // not again while it exists
      if (sampler_) sampler_->release_slot(s.sampling_slot);
      sources_by_id_.erase(s.id);
      it = sources_.erase(it);
      continue;
    }
    bool drained = s.producer_gone && s.pending == 0 && !s.dirty && s.batch_seq != batch_seq_;
    for (std::uint32_t r = 0; drained && r < s.reader.ring_count(); ++r)
      drained = s.reader.quarantined(r) || (s.read_pos[r] == s.reader.head(r) && s.reader.tail(r) == s.read_pos[r]);
    if (!drained) {
      ++it;
      continue;
    }
    account_counters(s);
    bool removed = false;
    if (options_.remove_drained_segments) {
      removed = shm::remove_segment_file(s.reader.mapping());
      if (!removed)
        SPANRING_LOG_WARN("segment %s drained, but cannot remove it: %s (an agent running as another user needs "
                          "CAP_FOWNER to unlink in the sticky /dev/shm; see systemd/spanring-agent.service)",
                          s.name.c_str(), std::strerror(errno));
    }
    SPANRING_LOG_INFO("segment %s drained%s", s.name.c_str(), removed ? " and removed" : "");
    // A drained segment that stays on disk is not attached again.
    if (!removed) unattached_[s.name] = Candidate{Unattached::kDrained, Clock::now(), true};
    if (sampler_) sampler_->release_slot(s.sampling_slot);
    sources_by_id_.erase(s.id);
    it = sources_.erase(it);
  }
}

const std::vector<ServiceStats>& Agent::services() noexcept {
  for (auto& st : services_) {
    st.ring_fill = 0;
    st.segments = 0;
  }
  for (auto& [name, s] : sources_) {
    ServiceStats& st = services_[s->service];
    ++st.segments;
    const double cap = s->reader.header().ring_capacity;
    for (std::uint32_t r = 0; r < s->reader.ring_count(); ++r) {
      if (s->reader.quarantined(r)) continue;
      const std::uint64_t h = s->reader.head(r), t = s->reader.tail(r);
      if (h >= t) st.ring_fill = std::max(st.ring_fill, std::min(1.0, double(h - t) / cap));
    }
  }
  return services_;
}

void Agent::stop(Clock::time_point deadline, std::function<void()> done) {
  if (stopping_) return;
  scan_timer_.cancel();
  poll_timer_.cancel();
  rescan_timer_.cancel();
  boost::system::error_code ignored;
  inotify_.close(ignored);
  // Final drain: everything the rings hold now (bounded: rings are bounded and engines may
  // still write, so stop after a few passes).
  for (auto& [name, s] : sources_) check_liveness(*s);
  stop_requested_ = true;
  for (int i = 0; i < 8 && !refused_while_stopping_ && drain_now() > 0; ++i) {
  }
  flush_batch();
  stopping_ = true;
  auto finish = [this, done = std::move(done)] {
    retire_resolved();
    SPANRING_LOG_INFO("stopped: %zu batch(es) unresolved", pending_.size());
    done();
  };
  if (exporter_) exporter_->shutdown(deadline, std::move(finish));
  else boost::asio::post(io_, std::move(finish));
}

}  // namespace spanring::agent
