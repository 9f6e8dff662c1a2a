#include "agent/core/discovery.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "agent/base/utf8.hpp"

namespace spanring::agent {

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

Discovery::Discovery(boost::asio::io_context& io, const CoreOptions& options, std::function<void(Source&)> on_attach)
    : options_(options),
      on_attach_(std::move(on_attach)),
      host_name_(options_.host_name.empty() ? local_host_name() : options_.host_name),
      inotify_(io),
      rescan_timer_(io) {}

// New segments are noticed at once through inotify (a new engine's ring fills in
// milliseconds under load); the periodic scan stays as the fallback, and for liveness.
void Discovery::watch() {
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

void Discovery::stop() {
  stopped_ = true;
  rescan_timer_.cancel();
  boost::system::error_code ignored;
  inotify_.close(ignored);
}

void Discovery::read_directory_events() {
  inotify_.async_read_some(boost::asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, std::size_t) {
    if (ec || stopped_) return;
    schedule_rescan(std::chrono::milliseconds(0));  // which file does not matter: scan all
    read_directory_events();
  });
}

void Discovery::schedule_rescan(std::chrono::milliseconds delay) {
  if (rescan_pending_ || stopped_) return;
  rescan_pending_ = true;
  rescan_timer_.expires_after(delay);
  rescan_timer_.async_wait([this](const boost::system::error_code& ec) {
    rescan_pending_ = false;
    if (!ec && !stopped_) scan_now();
  });
}

void Discovery::scan_now() {
  DIR* d = opendir(options_.shm_dir.c_str());
  if (!d) {
    SPANRING_LOG_ERROR("cannot list %s: %s", options_.shm_dir.c_str(), std::strerror(errno));
    return;
  }
  std::set<std::string> names;
  const std::string& prefix = options_.discovery.segment_prefix;
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

void Discovery::not_attached(const std::string& name, Unattached why, const std::string& message) {
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

void Discovery::attach(const std::string& name) {
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
  make_resource(s->identity, s->batch.resource);
  on_attach_(*s);
  s->read_pos.resize(s->reader.ring_count());
  std::uint64_t unread = 0;
  for (std::uint32_t r = 0; r < s->reader.ring_count(); ++r) {
    s->read_pos[r] = s->reader.tail(r);
    unread += s->reader.count_spans(r, s->read_pos[r], s->reader.head(r));
  }
  // Spans below the tails were consumed by an earlier agent and belong to its accounting; ours
  // counts spans as it takes them from the rings (accounting.hpp). The engine's drops are all
  // ours to report: no one else can (an earlier agent's counters died with it), so the
  // counter cursors start at zero.
  SPANRING_LOG_INFO("attached %s: service=%s pid=%u uid=%u rings=%u capacity=%u unread_spans=%llu", name.c_str(),
                    s->identity.service_name.c_str(), h.producer_pid, s->reader.mapping().file().uid, h.ring_count,
                    h.ring_capacity, static_cast<unsigned long long>(unread));
  check_liveness(*s);
  sources_by_id_[s->id] = s.get();
  sources_.emplace(name, std::move(s));
}

Unattached Discovery::check_trust(const Source& s, std::string& why) const {
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
  if (!producer_allowed(options_.discovery.producers, s.identity.service_name, f.uid, f.gid)) {
    why = "discovery.producers does not let uid " + std::to_string(f.uid) + " (group " + std::to_string(f.gid) +
          ") feed service \"" + s.identity.service_name + "\"";
    return Unattached::kRefused;
  }
  return Unattached::kCount;
}

std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> Discovery::unattached() const {
  std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> out{};
  const auto now = Clock::now();
  for (const auto& [name, c] : unattached_)
    if (!c.retried() || now - c.since >= options_.not_ready_grace) ++out[static_cast<std::size_t>(c.reason)];
  return out;
}

void Discovery::check_liveness(Source& s) {
  if (s.producer_gone) return;
  const shm::SegmentHeader& h = s.reader.header();
  if (!producer_alive(h.producer_pid, h.producer_start_time)) {
    s.producer_gone = true;
    SPANRING_LOG_INFO("engine %s (pid %u) exited%s; draining what it left", s.identity.service_name.c_str(),
                      h.producer_pid, s.reader.closed() ? "" : " without shutting down");
  }
}

bool Discovery::newly_faulted(Source& s) {
  if (s.faulted || !s.reader.faulted()) return false;
  s.faulted = true;
  segment_log_.log(LogLevel::kError, "segment %s faulted (truncated by its producer?): no longer read", s.name.c_str());
  return true;
}

bool Discovery::fully_committed(const Source& s) {
  for (std::uint32_t r = 0; r < s.reader.ring_count(); ++r)
    if (!s.reader.quarantined(r) && (s.read_pos[r] != s.reader.head(r) || s.reader.tail(r) != s.read_pos[r]))
      return false;
  return true;
}

Source* Discovery::find(SourceId id) const noexcept {
  const auto it = sources_by_id_.find(id);
  return it == sources_by_id_.end() ? nullptr : it->second;
}

Discovery::Sources::iterator Discovery::detach_faulted(Sources::iterator it) {
  unattached_[it->first] = Candidate{Unattached::kFaulted, Clock::now(), true};  // not again while it exists
  return erase(it);
}

Discovery::Sources::iterator Discovery::detach_drained(Sources::iterator it) {
  Source& s = *it->second;
  bool removed = false;
  if (options_.state.remove_drained_segments) {
    removed = shm::remove_segment_file(s.reader.mapping());
    if (!removed)
      SPANRING_LOG_WARN("segment %s drained, but cannot remove it: %s (an agent running as another user needs "
                        "CAP_FOWNER to unlink in the sticky /dev/shm; see systemd/spanring-agent.service)",
                        s.name.c_str(), std::strerror(errno));
  }
  SPANRING_LOG_INFO("segment %s drained%s", s.name.c_str(), removed ? " and removed" : "");
  // A drained segment that stays on disk is not attached again.
  if (!removed) unattached_[s.name] = Candidate{Unattached::kDrained, Clock::now(), true};
  return erase(it);
}

Discovery::Sources::iterator Discovery::erase(Sources::iterator it) {
  sources_by_id_.erase(it->second->id);
  return sources_.erase(it);
}

}  // namespace spanring::agent
