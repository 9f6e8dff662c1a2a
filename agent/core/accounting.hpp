// Accounting: every ServiceStats update happens here, so the identities below can be checked
// against one file.
//
// Per service (closes once the queue is flushed):
//   created  = written + dropped{ring_full} + dropped{no_ring}          (engine counters)
//   written  = received + dropped{invalid}         (what this agent took from the rings)
//   received + resumed = exported + sampled_out + dropped{queue_full, export_failed, rejected,
//              shutdown} + kept + in flight
// so that created + resumed = exported + sampled_out + dropped + kept (+ in flight).
// `resumed` are spans of a disk queue left by an earlier run: that run read them (its `written`
// and `created` counted them), so this one counts them apart, once, when it opens the queue; they
// then end as exported or dropped here. A memory queue a killed run lost is resumed and dropped
// (agent_crash) at once. `kept` are spans still in the disk queue at exit: the
// next run resumes them. Summing a service over successive runs therefore counts every span
// once: what one run keeps, the next resumes.
// `written` counts spans by their position in the rings, as the agent reads them, not from the
// engine's own spans_written counter: that counter and a ring's head are two stores, so no
// reading of both at attach can tell exactly which spans an earlier agent consumed while the
// engine writes flat out. Spans the engine still holds in its rings are not created yet for
// the agent; a span an engine was killed in the middle of writing was never completed.
//
// Threading: one thread (the agent's io_context).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/base/log.hpp"
#include "agent/core/ledger.hpp"
#include "agent/export/exporter.hpp"
#include "agent/sampling/decision.hpp"
#include "spanring/shm/reader.hpp"

namespace spanring::agent {

// Why a span did not reach the backend. Names match the metric label values.
enum DropReason : std::uint32_t {
  kDropRingFull = 0,   // engine: its ring was full
  kDropNoRing,         // engine: more threads than rings
  kDropInvalid,        // agent: a record failed validation
  kDropQueueFull,      // agent: export queue at its bound
  kDropExportFailed,   // backend: permanent error, retries exhausted, or too large
  kDropRejected,       // backend: partial success, these spans refused
  kDropShutdown,       // agent: still queued (memory) at the shutdown deadline
  kDropAgentCrash,     // agent: queued in memory by an earlier run that was killed
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
  std::uint64_t resumed = 0;   // taken from a disk queue an earlier run left (see above)
  std::uint64_t kept = 0;      // left in the disk queue at exit, for the next run
  std::uint64_t sampled_out_by[kSampleReasonCount] = {};  // by SampleReason
  std::uint64_t dropped[kDropReasonCount] = {};
  double ring_fill = 0;        // max over the service's rings of unread/capacity, 0..1
  std::uint32_t segments = 0;  // live segments
  std::uint64_t rings_quarantined = 0;  // rings that kept failing validation, no longer read
  std::uint64_t segment_faults = 0;     // segments truncated under the agent's mapping
  // Spans whose start and end straddle a TSC jump (shm/clock.hpp): exported, marked; not a drop.
  std::uint64_t clock_discontinuity_spans = 0;
  // dropped{invalid} by the reader's reason (shm::RejectReason below kRejectRingIndex).
  std::uint64_t invalid_by[shm::kRejectRingIndex] = {};
  // Engine counters that are not span drops: traceparent headers the engine refused to parse,
  // and strings it could not intern (the span then carried the string inline).
  std::uint64_t traceparent_invalid = 0;
  std::uint64_t strings_interned_failed = 0;
  std::uint64_t dropped_total() const noexcept;
};

// What the batch builder did with one decoded span.
struct Admission {
  bool kept = true;
  SampleReason reason = SampleReason::kProbabilistic;  // why it was sampled out
};

// A segment's engine and reader counters, as last accounted (they only grow).
struct CounterCursor {
  std::uint64_t dropped_full = 0, dropped_no_ring = 0;
  std::uint64_t traceparent_invalid = 0, strings_interned_failed = 0;
  std::uint64_t read = 0, rejected = 0, quarantined = 0, clock_discontinuity = 0;
  std::uint64_t rejected_by[shm::kRejectRingIndex] = {};
};

// Spans received and sampled out, by service, counted where they are decoded (a drain thread)
// and added to the accounting afterwards (Accounting::spans).
class SpanTally {
 public:
  // One decoded span, kept or sampled out (hot: inline; allocates only for a new service).
  void span(std::size_t service, const Admission& a) {
    if (service >= counts_.size()) counts_.resize(service + 1);
    Counts& c = counts_[service];
    ++c.received;
    if (!a.kept) ++c.sampled_out_by[static_cast<std::size_t>(a.reason)];
  }

 private:
  friend class Accounting;
  struct Counts {
    std::uint64_t received = 0;
    std::uint64_t sampled_out_by[kSampleReasonCount] = {};
  };
  std::vector<Counts> counts_;
};

class Accounting {
 public:
  // The index of `name`'s stats, made on first use (then on_new_service runs).
  std::size_t service(const std::string& name);
  void on_new_service(std::function<void(const std::string&)> fn) { on_new_service_ = std::move(fn); }

  // Decoded spans, kept or sampled out, as a drain thread tallied them; clears `tally`.
  void spans(SpanTally& tally) noexcept;
  // The engine's drop counters and what the reader took from the rings since `seen`.
  // `segment` names the segment in log lines.
  void counters(std::size_t service, const shm::SegmentReader& reader, CounterCursor& seen, const std::string& segment,
                const std::string& service_name, std::uint32_t pid);
  // A batch the queue refused: every span dropped for `reason`.
  void batch_dropped(const std::vector<ServiceSpans>& batch, DropReason reason) noexcept;
  // A batch the exporter answered for (its services by name, as the result carries them).
  void batch_answered(const ExportResult& r);
  // Spans of `service` resumed from a disk queue left by an earlier run.
  void resumed(const std::string& service, std::uint64_t spans) { services_[this->service(service)].resumed += spans; }
  // Spans of `service` an earlier run held in a memory queue when it was killed: handed to this
  // run (resumed) and lost (dropped{agent_crash}), so that the balance closes.
  void lost_by_earlier_run(const std::string& service, std::uint64_t spans) {
    ServiceStats& st = services_[this->service(service)];
    st.resumed += spans;
    st.dropped[kDropAgentCrash] += spans;
  }
  void segment_fault(std::size_t service) noexcept { ++services_[service].segment_faults; }

  // Live gauges: reset_gauges(), then observe() once per attached segment.
  void reset_gauges() noexcept;
  void observe(std::size_t service, const shm::SegmentReader& reader) noexcept;

  const std::vector<ServiceStats>& services() const noexcept { return services_; }

 private:
  std::vector<ServiceStats> services_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::function<void(const std::string&)> on_new_service_;
  // Producers choose how often these happen: rate-limited lines, one limiter per kind.
  LogLimiter invalid_log_{10, std::chrono::minutes(1)};
  LogLimiter quarantine_log_{20, std::chrono::minutes(1)};
};

}  // namespace spanring::agent
