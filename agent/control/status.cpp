#include "agent/control/status.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <yaml-cpp/yaml.h>

#include "agent/base/utf8.hpp"

namespace spanring::agent::control {
namespace {

using SystemClock = std::chrono::system_clock;

std::string iso_time(SystemClock::time_point t) {
  const std::time_t secs = SystemClock::to_time_t(t);
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string duration_text(double seconds) {
  char buf[48];
  const auto s = static_cast<long long>(seconds);
  if (s >= 86400) {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh%02lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
  } else if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", s / 3600, s % 3600 / 60, s % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  }
  return buf;
}

double boot_seconds() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Strings from segments are the producer's: shown with control characters as '?'.
std::string printable(std::string_view s) {
  std::string scratch;
  std::string out(detail::valid_utf8(s, scratch));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return out;
}

void line(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  out += buf;
}

std::string exporter_target(const ExporterConfig& e) {
  switch (e.type) {
    case ExporterType::kOtlp: return e.otlp.endpoint;
    case ExporterType::kFile: return e.file.path;
    case ExporterType::kConsole: return "stdout";
    case ExporterType::kNone: return "(discarded)";
  }
  return "";
}

}  // namespace

void RateWindow::sample(std::vector<Totals> totals, std::chrono::steady_clock::time_point now) {
  // Overwrite the older slot; the other one becomes the base.
  const int slot = count_ == 0 ? 0 : 1 - newest_;
  newest_ = slot;
  samples_[slot] = std::move(totals);
  times_[slot] = now;
  ++count_;
  older_ = count_ == 1 ? slot : 1 - slot;
}

std::vector<RateWindow::Totals> service_totals(Agent& agent) {
  std::vector<RateWindow::Totals> out;
  for (const ServiceStats& s : agent.services())
    out.push_back({s.name, s.created, s.exported, s.sampled_out, s.dropped_total()});
  return out;
}

std::string render_status(Agent& agent, const StatusContext& c, const RateWindow& rates) {
  std::string out;
  const auto now = SystemClock::now();
  line(out, "spanring-agent %s, up %s (since %s), pid %d\n", c.version.c_str(),
       duration_text(std::chrono::duration<double>(now - c.started_at).count()).c_str(), iso_time(c.started_at).c_str(),
       static_cast<int>(::getpid()));
  line(out, "config: %s\n", c.config->source.c_str());
  if (c.watch != nullptr) {
    line(out, "  loaded %s, crc32 %08" PRIx32 ", reloads: %" PRIu64 " ok, %" PRIu64 " failed%s\n",
         iso_time(c.watch->applied_at()).c_str(), c.watch->hash(), c.watch->reloads_ok(), c.watch->reloads_failed(),
         c.watch->last_ok() ? "" : " (the last one failed: the config above stays in force)");
  }
  line(out, "metrics: %s   control: %s (%" PRIu64 " tapping, %" PRIu64 " spans not sent to slow clients)\n",
       c.metrics_address.empty() ? "off" : ("http://" + c.metrics_address + "/metrics").c_str(), c.socket_path.c_str(),
       c.tapping_clients, c.tap_spans_lost);

  // Engines: one line per segment, then its threads' rings.
  const auto& sources = agent.sources();
  line(out, "\nengines attached: %zu\n", sources.size());
  const double boot = boot_seconds();
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& [name, src] : sources) {
    const auto& r = src->reader;
    const auto& h = r.header();
    const double uptime = tick > 0 ? boot - static_cast<double>(src->identity.start_time) / tick : 0;
    line(out, "  %s  service=%s pid=%u up %s  rings=%u×%u  engine drops: ring_full=%" PRIu64 " no_ring=%" PRIu64 "%s\n",
         printable(name).c_str(), printable(r.service_name()).c_str(), static_cast<unsigned>(h.producer_pid),
         duration_text(std::max(0.0, uptime)).c_str(), r.ring_count(), static_cast<unsigned>(h.ring_capacity),
         r.spans_dropped_full(), r.spans_dropped_no_ring(), src->producer_gone ? "  (exited: draining)" : "");
    for (std::uint32_t i = 0; i < r.ring_count(); ++i) {
      const std::uint32_t tid = r.ring_owner(i);
      const std::uint64_t head = r.head(i);
      const std::uint64_t tail = r.tail(i);
      const std::uint64_t unread = head >= tail ? head - tail : 0;
      if (tid == 0 && unread == 0) continue;  // a free, empty ring
      line(out, "    ring %2u  thread %-8u fill %5.1f%%%s\n", i, tid,
           h.ring_capacity ? 100.0 * static_cast<double>(unread) / h.ring_capacity : 0.0,
           r.quarantined(i) ? "  QUARANTINED" : "");
    }
  }

  // Services: counters, rates, drops by reason.
  const auto& services = agent.services();
  const double window =
      rates.ready() ? std::chrono::duration<double>(std::chrono::steady_clock::now() - rates.base_time()).count() : 0;
  line(out, "\nservices: %zu", services.size());
  if (window >= 1) line(out, "   (rates over the last %.0f s)", window);
  out += '\n';
  for (const ServiceStats& s : services) {
    line(out, "  %s  created=%" PRIu64 " exported=%" PRIu64 " sampled_out=%" PRIu64 " dropped=%" PRIu64
              "  segments=%u ring_fill=%.1f%%\n",
         printable(s.name).c_str(), s.created, s.exported, s.sampled_out, s.dropped_total(), s.segments,
         100.0 * s.ring_fill);
    if (window >= 1) {
      for (const auto& b : rates.base()) {
        if (b.service != s.name) continue;
        const auto rate = [&](std::uint64_t now_v, std::uint64_t then) {
          return now_v >= then ? static_cast<double>(now_v - then) / window : 0.0;
        };
        line(out, "    per second: created %.1f  exported %.1f  sampled_out %.1f  dropped %.1f\n",
             rate(s.created, b.created), rate(s.exported, b.exported), rate(s.sampled_out, b.sampled_out),
             rate(s.dropped_total(), b.dropped));
      }
    }
    std::string drops;
    for (std::uint32_t i = 0; i < kDropReasonCount; ++i)
      if (s.dropped[i]) drops += std::string(" ") + to_string(static_cast<DropReason>(i)) + "=" + std::to_string(s.dropped[i]);
    if (!drops.empty()) line(out, "    dropped by reason:%s\n", drops.c_str());
  }

  // Exporter.
  const ExporterConfig& e = c.config->exporter;
  line(out, "\nexporter: %s -> %s\n", std::string(to_string(e.type)).c_str(), exporter_target(e).c_str());
  line(out, "  in flight: %" PRIu64 " requests   queued: %" PRIu64 " spans, %" PRIu64 " bytes\n",
       agent.export_in_flight(), agent.queued_spans(), agent.queued_bytes());
  // The backend's words (a remote peer's text): shown printable.
  line(out, "  last error: %s\n", agent.last_export_error().empty() ? "none" : printable(agent.last_export_error()).c_str());

  // Sampling in force.
  out += "\nsampling (in force since the config load above):\n";
  if (!c.config->sampling || c.config->sampling.IsNull()) {
    out += "  (no sampling section: every trace is kept)\n";
  } else {
    YAML::Emitter em;
    em << c.config->sampling;
    std::string text = em.c_str();
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t nl = text.find('\n', pos);
      out += "  " + text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) + "\n";
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  return out;
}

}  // namespace spanring::agent::control
