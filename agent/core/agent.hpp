// The agent's core loop, on one io_context thread:
//
//   discover segments ──▶ drain rings ──▶ convert to OTLP ──▶ batch ──▶ Exporter
//          ▲                                                              │
//          └──── commit ring tails, in FIFO order, once a batch ◀─────────┘
//                is resolved (accepted, or dropped with a counted reason)
//
// Delivery: a ring's read position (tail, in shared memory) moves only after the backend has
// answered for every span below it. A SIGKILLed agent therefore loses nothing: its successor
// re-reads from the tails. What it can duplicate is the batch whose 200 arrived but whose
// commit did not happen yet — a window of microseconds between two lines of on_result().
//
// Accounting, per service (closes once the queue is flushed):
//   created  = written + dropped{ring_full} + dropped{no_ring}          (engine counters)
//   written  = received + dropped{invalid}         (what this agent took from the rings)
//   received = exported + sampled_out + dropped{queue_full, export_failed, rejected,
//              shutdown} + in flight
// `written` counts spans by their position in the rings, as the agent reads them, not from the
// engine's own spans_written counter: that counter and a ring's head are two stores, so no
// reading of both at attach can tell exactly which spans an earlier agent consumed while the
// engine writes flat out. Spans the engine still holds in its rings are not created yet for
// the agent; a span an engine was killed in the middle of writing was never completed.
//
// Untrusted segments (all of them: any local user can create spanring.* files) cost at most
// one log line per event kind and rate-limited logs: a file that is not a segment, or one that
// never becomes ready, is retried quietly by the periodic scan and shown in
// spanring_segments_not_ready{reason}; a segment refused for good (bad header, another ABI,
// not trusted) in spanring_segments_rejected{reason}; a ring that keeps failing validation is
// quarantined (counted once), and a segment that faults (truncated under the mapping) is
// counted as a segment fault, neither as span drops.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/exporter.hpp"
#include "base/log.hpp"
#include "core/otlp_convert.hpp"
#include "core/trust.hpp"
#include <google/protobuf/arena.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "core/trust.hpp"
#include "sampling/decision.hpp"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

class Sampler;

struct CoreOptions {
  std::string shm_dir = "/dev/shm";
  // Only segments whose names start with this are attached (e.g. "spanring.llm-" for one
  // family of services, or a test's own prefix). Must start with "spanring.".
  std::string segment_prefix = "spanring.";
  std::chrono::milliseconds scan_interval{1000};
  std::chrono::milliseconds min_poll_interval{1};
  std::chrono::milliseconds max_poll_interval{100};
  std::uint64_t max_spans_per_pass = 65536;
  std::size_t batch_max_spans = 512;
  std::chrono::milliseconds batch_timeout{1000};
  bool remove_drained_segments = true;
  std::string host_name;  // empty: gethostname()
  std::vector<ProducerRule> producers;  // discovery.producers: which owners may feed which names; empty: any
  // A segment that is not ready (or not readable) this long after it was first seen is logged
  // once and shown in spanring_segments_not_ready; until then it is an engine being born.
  std::chrono::milliseconds not_ready_grace{5000};
};

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

// Why a span did not reach the backend. Names match the metric label values.
enum DropReason : std::uint32_t {
  kDropRingFull = 0,   // engine: its ring was full
  kDropNoRing,         // engine: more threads than rings
  kDropInvalid,        // agent: a record failed validation
  kDropQueueFull,      // agent: export queue at its bound
  kDropExportFailed,   // backend: permanent error, retries exhausted, or too large
  kDropRejected,       // backend: partial success, these spans refused
  kDropShutdown,       // agent: still queued at the shutdown deadline
  kDropReasonCount,
};
const char* to_string(DropReason r) noexcept;

struct ServiceStats {
  std::string name;
  std::uint64_t created = 0;   // engine spans created (written + engine drops)
  std::uint64_t written = 0;   // engine spans written to rings
  std::uint64_t received = 0;  // spans the agent read and decoded
  std::uint64_t exported = 0;  // accepted by the backend
  std::uint64_t sampled_out = 0;
  std::uint64_t sampled_out_by[kSampleReasonCount] = {};  // by SampleReason
  std::uint64_t dropped[kDropReasonCount] = {};
  double ring_fill = 0;        // max over the service's rings of unread/capacity, 0..1
  std::uint32_t segments = 0;  // live segments
  std::uint64_t rings_quarantined = 0;  // rings that kept failing validation, no longer read
  std::uint64_t segment_faults = 0;     // segments truncated under the agent's mapping
  std::uint64_t dropped_total() const noexcept;
};

class Agent {
 public:
  using Clock = std::chrono::steady_clock;

  Agent(boost::asio::io_context& io, CoreOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // The exporter must report results through on_export_result() (see make_result_callback).
  void set_exporter(std::unique_ptr<Exporter> exporter);
  ResultCallback make_result_callback();
  // Sampling (none: keep every span). The sampler stays owned by the agent; reconfigure it
  // through sampler() on the agent's thread.
  void set_sampler(std::unique_ptr<Sampler> sampler);
  Sampler* sampler() noexcept { return sampler_.get(); }
  // Called once per new service name (e.g. to poll its remote sampling strategy).
  void on_new_service(std::function<void(const std::string&)> fn) { on_new_service_ = std::move(fn); }

  // Starts discovery and draining (the first scan runs at once).
  void start();
  // Stops discovery, drains what the rings hold, flushes the queue until `deadline`, then
  // calls done(). Segments of exited engines are removed when fully exported.
  void stop(Clock::time_point deadline, std::function<void()> done);

  // One discovery scan and one drain pass, synchronously (tests and benchmarks).
  void scan_now();
  std::uint64_t drain_now();
  // Closes the open batch, if any, and hands it to the exporter.
  void flush_batch();

  const std::vector<ServiceStats>& services() noexcept;  // refreshes ring_fill and segments
  std::uint64_t batches_in_flight() const noexcept { return pending_.size(); }
  std::uint64_t queued_spans() const noexcept { return exporter_ ? exporter_->queued_spans() : 0; }
  std::uint64_t queued_bytes() const noexcept { return exporter_ ? exporter_->queued_bytes() : 0; }
  // Export latency observer (seconds), for the metrics histogram.
  void on_export_latency(std::function<void(double)> fn) { latency_observer_ = std::move(fn); }
  bool stopping() const noexcept { return stopping_; }
  // Segment files not drained, by reason (retried ones only once past the grace period).
  std::array<std::uint32_t, static_cast<std::size_t>(Unattached::kCount)> unattached() const;
  const std::string& last_export_error() const noexcept { return last_export_error_; }

 private:
  struct Source;
  struct Pending;

  void schedule_scan();
  void schedule_rescan(std::chrono::milliseconds delay);
  void watch_directory();
  void read_directory_events();
  void schedule_poll(std::chrono::milliseconds delay);
  struct Candidate;
  void attach(const std::string& name);
  void not_attached(const std::string& name, Unattached why, const std::string& message);
  Unattached check_trust(const Source& s, std::string& why) const;  // kCount: trusted
  void check_liveness(Source& s);
  void account_counters(Source& s);
  void add_span(Source& s, const shm::SpanView& span);
  void mark_progress();
  void on_export_result(const ExportResult& r);
  void retire_resolved();
  std::size_t service_index(const std::string& name);

  boost::asio::io_context& io_;
  CoreOptions options_;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<Sampler> sampler_;
  std::function<void(const std::string&)> on_new_service_;
  std::string trace_state_scratch_;  // reused by sampling annotations
  boost::asio::steady_timer scan_timer_;
  boost::asio::steady_timer poll_timer_;
  boost::asio::steady_timer rescan_timer_;
  bool rescan_pending_ = false;
  boost::asio::posix::stream_descriptor inotify_;  // segment directory events
  std::array<char, 4096> inotify_buf_{};
  std::chrono::milliseconds poll_interval_;
  double last_max_fill_ = 0;  // fullest ring seen by the last pass (unread / capacity)
  bool stopping_ = false;
  bool stop_requested_ = false;          // stop() began: a refused batch stays in the rings
  bool refused_while_stopping_ = false;  // ...and one was: stop reading more
  bool keeping_in_rings_ = false;        // a batch was left in the rings: commit nothing more

  std::map<std::string, std::unique_ptr<Source>> sources_;  // by segment name
  std::unordered_map<std::uint64_t, Source*> sources_by_id_;
  // Segment names seen but not attached, with why; bounded (a user can create any number).
  static constexpr std::size_t kMaxUnattached = 4096;
  std::map<std::string, Candidate> unattached_;
  std::uint64_t untracked_names_ = 0;  // names over kMaxUnattached in the last scan
  // Producers choose how often these events happen: rate-limited lines.
  LogLimiter segment_log_{20, std::chrono::minutes(1)};
  LogLimiter record_log_{10, std::chrono::minutes(1)};
  std::uint64_t next_source_id_ = 1;

  std::vector<ServiceStats> services_;
  std::unordered_map<std::string, std::size_t> service_by_name_;

  // The open batch, built in an arena that is reset after each batch is serialized: a span's
  // messages and strings cost a pointer bump, not a malloc/free pair (half of the agent's
  // time went to the allocator when the request was reused instead).
  std::unique_ptr<google::protobuf::Arena> arena_;
  opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest* request_ = nullptr;
  void new_request();
  std::uint64_t batch_seq_ = 1;
  std::uint64_t batch_spans_ = 0;
  Clock::time_point batch_opened_{};
  std::vector<std::pair<std::size_t, std::uint64_t>> batch_services_;  // service → spans

  std::deque<std::unique_ptr<Pending>> pending_;  // FIFO of batches awaiting a result
  std::function<void(double)> latency_observer_;
  std::string last_export_error_;
  std::string host_name_;
};

}  // namespace spanring::agent
