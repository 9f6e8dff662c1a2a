#include "agent/config/export_options.hpp"

namespace spanring::agent {

HttpExportConfig http_export_config(const AgentConfig& c) {
  HttpExportConfig h;
  h.endpoint = c.exporter.otlp.endpoint;
  for (const auto& [k, v] : c.exporter.otlp.headers) h.headers.emplace_back(k, v);
  h.timeout = c.exporter.otlp.timeout;  // no casts: see export.hpp
  h.gzip = c.exporter.otlp.compression == Compression::kGzip;
  h.retry_enabled = c.exporter.otlp.retry.enabled;
  h.initial_backoff = c.exporter.otlp.retry.initial_interval;
  h.max_backoff = c.exporter.otlp.retry.max_interval;
  h.max_elapsed = c.exporter.otlp.retry.max_elapsed_time;
  h.queue_max_batches = c.queue.max_batches;
  h.queue_max_spans = c.queue.max_spans;
  h.queue_max_bytes = c.queue.max_bytes;
  return h;
}

}  // namespace spanring::agent
