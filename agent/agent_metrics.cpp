#include "agent_metrics.hpp"

#include "agent/base/text.hpp"
#include "sampling/sampler.hpp"

namespace spanring::agent {

AgentMetrics::AgentMetrics(boost::asio::io_context& io, Agent& agent)
    : agent_(agent),
      export_latency_(registry_.histogram("spanring_export_duration_seconds",
                                          "Time from enqueue to the final answer for one export batch.")) {
  agent_.on_export_latency([this](double seconds) { export_latency_.observe(seconds); });
  MetricsServerOptions o;
  o.on_scrape = [this] { refresh(); };
  server_ = std::make_unique<MetricsServer>(
      io, registry_,
      [this] {
        HealthStatus h;
        if (agent_.stopping()) {
          h.healthy = false;
          h.reason = "shutting down";
        } else if (!agent_.last_export_error().empty()) {
          h.healthy = false;
          h.reason = "last export failed: " + agent_.last_export_error();
        }
        return h;
      },
      o);
  refresh();
}

AgentMetrics::~AgentMetrics() { stop(); }

void AgentMetrics::refresh() {
  for (const ServiceStats& s : agent_.services()) {
    const Labels svc{{"service", s.name}};
    registry_.counter("spanring_spans_created", "Spans engines created (written to rings or dropped there).", svc).mirror(s.created);
    registry_.counter("spanring_spans_written", "Spans the agent took from the rings (decoded or rejected).", svc).mirror(s.written);
    registry_.counter("spanring_spans_received", "Spans the agent read and decoded from rings.", svc).mirror(s.received);
    registry_.counter("spanring_spans_exported", "Spans the backend accepted.", svc).mirror(s.exported);
    registry_.counter("spanring_spans_resumed", "Spans taken from a disk queue an earlier run left (read by that run).", svc)
        .mirror(s.resumed);
    for (std::size_t r = 0; r < kSampleReasonCount; ++r)
      registry_.counter("spanring_spans_sampled_out", "Spans not exported because sampling dropped their trace, by reason.",
                               {{"service", s.name}, {"reason", to_string(static_cast<SampleReason>(r))}}).mirror(s.sampled_out_by[r]);
    for (std::uint32_t r = 0; r < kDropReasonCount; ++r)
      registry_.counter("spanring_spans_dropped", "Spans lost, by reason.",
                               {{"service", s.name}, {"reason", to_string(static_cast<DropReason>(r))}}).mirror(s.dropped[r]);
    registry_.gauge("spanring_ring_fill_ratio", "Fullest ring of the service: unread records / capacity.", svc).set(s.ring_fill);
    registry_.gauge("spanring_segments", "Attached shared-memory segments.", svc).set(s.segments);
    registry_.counter("spanring_rings_quarantined", "Rings that kept failing validation and are no longer read.", svc).mirror(s.rings_quarantined);
    registry_.counter("spanring_clock_discontinuity_spans", "Spans whose start and end straddle a TSC jump (exported, marked spanring.clock.discontinuity).", svc).mirror(s.clock_discontinuity_spans);
    for (std::uint32_t r = 0; r < shm::kRejectRingIndex; ++r)
      registry_
          .counter("spanring_records_rejected", "Records the reader rejected (counted in dropped{invalid}), by reason.",
                   {{"service", s.name}, {"reason", shm::to_string(static_cast<shm::RejectReason>(r))}})
          .mirror(s.invalid_by[r]);
    registry_.counter("spanring_engine_traceparent_invalid", "Incoming traceparent headers the engine refused.", svc)
        .mirror(s.traceparent_invalid);
    registry_
        .counter("spanring_engine_strings_interned_failed",
                 "Strings the engine could not intern (sent inline instead: larger spans).", svc)
        .mirror(s.strings_interned_failed);
    registry_.counter("spanring_segment_faults", "Segments truncated under the agent's mapping (SIGBUS).", svc).mirror(s.segment_faults);
  }
  const auto unattached = agent_.unattached();
  for (std::size_t r = 0; r < unattached.size(); ++r) {
    const auto reason = static_cast<Unattached>(r);
    if (reason == Unattached::kDrained) continue;
    const bool retried = reason < Unattached::kRetriedCount;
    registry_
        .gauge(retried ? "spanring_segments_not_ready" : "spanring_segments_rejected",
               retried ? "Segment files not attached after the grace period, retried at each scan, by reason."
                       : "Segment files refused until they are removed, by reason.",
               {{"reason", to_string(reason)}})
        .set(unattached[r]);
  }
  if (const Sampler* sampler = agent_.sampler()) report_metrics(sampler->counters(), registry_);
  for (const auto& report : sources_) report(registry_);
  registry_.gauge("spanring_export_queue_spans", "Spans waiting in the export queue.").set(double(agent_.queued_spans()));
  registry_.gauge("spanring_export_queue_bytes", "Bytes waiting in the export queue.").set(double(agent_.queued_bytes()));
  registry_.gauge("spanring_batches_unresolved", "Batches handed to the exporter without a final answer yet.")
      .set(double(agent_.batches_unresolved()));
  registry_.gauge("spanring_export_in_flight", "Export requests on the wire now (<= exporter.otlp.max_in_flight).")
      .set(double(agent_.export_in_flight()));
  registry_.counter("spanring_export_queue_corrupt", "Disk queue records lost to corruption (deleted or moved aside).")
      .mirror(agent_.queue_corrupt_records());
}

Status AgentMetrics::listen(const MetricsConfig& config) {
  const auto hp = parse_host_port(config.listen);
  if (!hp) return Status::invalid("expected host:port, got " + quote(config.listen));
  host_ = hp->host;
  return server_->start(hp->host, hp->port);
}

std::string AgentMetrics::address() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(server_->port());
}

void AgentMetrics::stop() noexcept {
  if (server_) server_->stop();
}

}  // namespace spanring::agent
