#include "agent/core/accounting.hpp"

#include <algorithm>

namespace spanring::agent {

const char* to_string(DropReason r) noexcept {
  switch (r) {
    case kDropRingFull: return "ring_full";
    case kDropNoRing: return "no_ring";
    case kDropInvalid: return "invalid";
    case kDropQueueFull: return "queue_full";
    case kDropExportFailed: return "export_failed";
    case kDropRejected: return "rejected";
    case kDropShutdown: return "shutdown";
    case kDropAgentCrash: return "agent_crash";
    case kDropReasonCount: break;
  }
  return "unknown";
}

std::uint64_t ServiceStats::dropped_total() const noexcept {
  std::uint64_t t = 0;
  for (std::uint64_t v : dropped) t += v;
  return t;
}

std::size_t Accounting::service(const std::string& name) {
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  services_.push_back(ServiceStats{});
  services_.back().name = name;
  by_name_.emplace(name, services_.size() - 1);
  if (on_new_service_) on_new_service_(name);
  return services_.size() - 1;
}

void Accounting::counters(std::size_t service, const shm::SegmentReader& reader, CounterCursor& seen,
                          const std::string& segment, const std::string& service_name, std::uint32_t pid) {
  ServiceStats& st = services_[service];
  // The engine's drop counters only grow; a smaller value is a hostile or corrupted segment:
  // ignore the dip.
  const std::uint64_t full = reader.spans_dropped_full();
  const std::uint64_t no_ring = reader.spans_dropped_no_ring();
  if (full > seen.dropped_full) {
    st.dropped[kDropRingFull] += full - seen.dropped_full;
    st.created += full - seen.dropped_full;
    seen.dropped_full = full;
  }
  // Counters that only grow, the dips of a hostile segment ignored: add what `now` adds to `seen`.
  auto advance = [](std::uint64_t& total, std::uint64_t& last, std::uint64_t now) {
    if (now > last) total += now - last, last = now;
  };
  advance(st.traceparent_invalid, seen.traceparent_invalid, reader.traceparent_invalid());
  advance(st.strings_interned_failed, seen.strings_interned_failed, reader.strings_interned_failed());
  if (no_ring > seen.dropped_no_ring) {
    st.dropped[kDropNoRing] += no_ring - seen.dropped_no_ring;
    st.created += no_ring - seen.dropped_no_ring;
    seen.dropped_no_ring = no_ring;
  }
  // What this agent took from the rings: decoded spans and rejected ones.
  const shm::ReaderCounters& c = reader.counters();
  const std::uint64_t read = c.spans_read - seen.read;
  const std::uint64_t rejected = c.spans_rejected() - seen.rejected;
  seen.read = c.spans_read;
  seen.rejected = c.spans_rejected();
  for (std::uint32_t r = 0; r < shm::kRejectRingIndex; ++r) advance(st.invalid_by[r], seen.rejected_by[r], c.rejected[r]);
  advance(st.clock_discontinuity_spans, seen.clock_discontinuity, c.clock_discontinuity_spans);
  st.written += read + rejected;
  st.created += read + rejected;
  if (rejected > 0) {
    st.dropped[kDropInvalid] += rejected;
    invalid_log_.log(LogLevel::kWarn, "segment %s: %llu invalid record(s) skipped", segment.c_str(),
                     static_cast<unsigned long long>(rejected));
  }
  if (c.rings_quarantined > seen.quarantined) {
    st.rings_quarantined += c.rings_quarantined - seen.quarantined;
    seen.quarantined = c.rings_quarantined;
    quarantine_log_.log(LogLevel::kError,
                        "segment %s (service %s, pid %u): %llu ring(s) kept failing validation and are no longer read",
                        segment.c_str(), service_name.c_str(), pid,
                        static_cast<unsigned long long>(c.rings_quarantined));
  }
}

void Accounting::spans(SpanTally& tally) noexcept {
  for (std::size_t svc = 0; svc < tally.counts_.size() && svc < services_.size(); ++svc) {
    SpanTally::Counts& c = tally.counts_[svc];
    ServiceStats& st = services_[svc];
    st.received += c.received;
    for (std::size_t r = 0; r < kSampleReasonCount; ++r) {
      st.sampled_out += c.sampled_out_by[r];
      st.sampled_out_by[r] += c.sampled_out_by[r];
    }
    c = SpanTally::Counts{};
  }
}

void Accounting::batch_dropped(const std::vector<ServiceSpans>& batch, DropReason reason) noexcept {
  for (const ServiceSpans& s : batch) services_[s.service].dropped[reason] += s.spans;
}

void Accounting::batch_answered(const ExportResult& r) {
  std::uint64_t rejected = r.outcome == ExportOutcome::kPartiallyRejected ? r.rejected_spans : 0;
  for (const auto& [name, n] : r.services) {
    ServiceStats& st = services_[service(name)];
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
      case ExportOutcome::kDroppedShutdown: st.dropped[kDropShutdown] += n; break;
      case ExportOutcome::kKeptInQueue: st.kept += n; break;  // the next run resumes them
      case ExportOutcome::kDroppedQueueFull: st.dropped[kDropQueueFull] += n; break;
      default: st.dropped[kDropExportFailed] += n; break;
    }
  }
}

void Accounting::reset_gauges() noexcept {
  for (auto& st : services_) {
    st.ring_fill = 0;
    st.segments = 0;
  }
}

void Accounting::observe(std::size_t service, const shm::SegmentReader& reader) noexcept {
  ServiceStats& st = services_[service];
  ++st.segments;
  const double cap = reader.header().ring_capacity;
  for (std::uint32_t r = 0; r < reader.ring_count(); ++r) {
    if (reader.quarantined(r)) continue;
    const std::uint64_t h = reader.head(r), t = reader.tail(r);
    if (h >= t) st.ring_fill = std::max(st.ring_fill, std::min(1.0, double(h - t) / cap));
  }
}

}  // namespace spanring::agent
