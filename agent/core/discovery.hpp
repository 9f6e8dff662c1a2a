// Discovery: which segment files become sources, and when a source's producer is gone.
//
// New files are noticed at once through inotify and by a periodic scan (the agent's loop calls
// scan_now()). A file is attached when the reader accepts its header and the trust rules accept
// its owner (trust.hpp); otherwise it is remembered with why (Unattached), bounded, and either
// retried by every scan or refused until its name disappears.
//
// Untrusted segments (all of them: any local user can create spanring.* files) cost at most
// one log line per event kind and rate-limited logs: a file that is not a segment, or one that
// never becomes ready, is retried quietly by the periodic scan and shown in
// spanring_segments_not_ready{reason}; a segment refused for good (bad header, another ABI,
// not trusted) in spanring_segments_rejected{reason}; a ring that keeps failing validation is
// quarantined (counted once), and a segment that faults (truncated under the mapping) is
// counted as a segment fault, neither as span drops.
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "agent/base/log.hpp"
#include "agent/core/accounting.hpp"
#include "agent/core/batch_builder.hpp"
#include "agent/core/ledger.hpp"
#include "agent/core/options.hpp"
#include "agent/core/otlp_convert.hpp"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

// Why a segment file is not drained. The first group is retried by every scan (the file may
// still become a segment); the second is refused until the name disappears.
enum class Unattached : std::uint8_t {
  kTooShort = 0,     // smaller than a segment header (an empty file: sized next, or never)
  kUnready,          // `ready` not set (the engine is initialising, or died doing so)
  kPermission,       // the agent may not open it (mode or group; see the README's access model)
  kNotRegular,       // a directory, FIFO, device or symbolic link
  kRetriedCount,
  kInvalidHeader = kRetriedCount,  // magic, sizes or offsets wrong
  kAbiMismatch,      // another ABI major
  kUntrusted,        // hard link, writable by all, or owned by another user than its producer
  kRefused,          // discovery.producers does not let its owner feed that service name
  kFaulted,          // truncated under the mapping while attached (SIGBUS)
  kOther,            // another OS error (message logged)
  kDrained,          // drained after its engine exited, but could not be removed (not shown)
  kCount,
};
const char* to_string(Unattached r) noexcept;

// One attached segment.
struct Source {
  SourceId id = 0;
  std::string name;
  shm::SegmentReader reader;
  ProcessIdentity identity;
  BatchOrigin batch;                    // service, Resource, sampler slot, place in the open batch
  CounterCursor counters;               // engine and reader counters, as last accounted
  std::vector<std::uint64_t> read_pos;  // per ring: read, maybe not yet committed
  bool dirty = false;                   // read_pos moved since it was last handed to the ledger
  bool faulted = false;                 // the mapping faulted: never read again
  bool producer_gone = false;
};

class Discovery {
 public:
  using Clock = std::chrono::steady_clock;
  using Sources = std::map<std::string, std::unique_ptr<Source>>;  // by segment name

  // `on_attach` runs for each segment that passed every check, before its rings are read
  // (to give it its service and sampler slot).
  Discovery(boost::asio::io_context& io, const CoreOptions& options, std::function<void(Source&)> on_attach);

  // Watches the segment directory (inotify): new files are scanned for at once.
  void watch();
  // No more directory events or rescans.
  void stop();
  // Lists the directory, attaches what it can, forgets vanished names, checks liveness.
  void scan_now();
  void check_liveness(Source& s);
  // Marks `s` faulted if its mapping faulted since the last call (logged once); true then.
  bool newly_faulted(Source& s);
  // Whether every ring of `s` is read up to its head and committed (quarantined rings aside).
  static bool fully_committed(const Source& s);
  // Detaches a source: a faulted one stays refused while its name exists; a drained one's file
  // is removed (if configured), or refused while it stays. Returns the next source.
  Sources::iterator detach_faulted(Sources::iterator it);
  Sources::iterator detach_drained(Sources::iterator it);

  Sources& sources() noexcept { return sources_; }
  Source* find(SourceId id) const noexcept;
  // Segment files not drained, by reason (retried ones only once past the grace period).
  std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> unattached() const;

 private:
  // A segment name seen but not attached.
  struct Candidate {
    Unattached reason = Unattached::kUnready;
    Clock::time_point since{};
    bool logged = false;
    bool retried() const noexcept { return reason < Unattached::kRetriedCount; }
  };

  void read_directory_events();
  void schedule_rescan(std::chrono::milliseconds delay);
  void attach(const std::string& name);
  void not_attached(const std::string& name, Unattached why, const std::string& message);
  Unattached check_trust(const Source& s, std::string& why) const;  // kCount: trusted
  Sources::iterator erase(Sources::iterator it);

  const CoreOptions& options_;
  std::function<void(Source&)> on_attach_;
  std::string host_name_;
  bool stopped_ = false;  // stop() ran: queued directory events and rescans do nothing
  boost::asio::posix::stream_descriptor inotify_;  // segment directory events
  std::array<char, 4096> inotify_buf_{};
  boost::asio::steady_timer rescan_timer_;
  bool rescan_pending_ = false;

  Sources sources_;
  std::unordered_map<SourceId, Source*> sources_by_id_;
  // Segment names seen but not attached, with why; bounded (a user can create any number).
  static constexpr std::size_t kMaxUnattached = 4096;
  std::map<std::string, Candidate> unattached_;
  std::uint64_t untracked_names_ = 0;  // names over kMaxUnattached in the last scan
  // Producers choose how often these events happen: rate-limited lines.
  LogLimiter segment_log_{20, std::chrono::minutes(1)};
  SourceId next_source_id_ = 1;
};

}  // namespace spanring::agent
