// spanring-agent: wires config, exporter, metrics and signals around the core loop
// (core/agent.hpp). Everything runs on one io_context thread.
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <sys/stat.h>

#include "agent/base/runtime_dir.hpp"
#include "agent/config/config.hpp"
#include "agent/config/config_watch.hpp"
#include "agent/control/control_server.hpp"
#include "agent/control/protocol.hpp"
#include "agent/control/status.hpp"
#include "agent/control/tap_exporter.hpp"
#include "agent/metrics/process_metrics.hpp"
#include "core/agent.hpp"
#include "base/log.hpp"
#include "core/systemd_notify.hpp"
#include "agent_metrics.hpp"
#include "agent/sinks/exporter_factory.hpp"
#include "sampling/config.hpp"
#include "sampling/remote.hpp"
#include "sampling/sampler.hpp"

namespace sa = spanring::agent;
using namespace std::chrono_literals;

namespace {

// The core takes its sections of the config as they are: no copy field by field, no conversion.
sa::CoreOptions core_options(const sa::AgentConfig& c) {
  sa::CoreOptions o;
  o.agent = c.agent;
  o.discovery = c.discovery;
  o.drain = c.drain;
  o.batch = c.batch;
  o.state = c.state;
  return o;
}

std::string user_name(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) return found->pw_name;
  return "uid " + std::to_string(uid);
}

// One agent per segment prefix: a second one would export every span twice. The lock is an
// flock() on a file named after the prefix.
int lock_directory(const std::string& dir, const std::string& prefix) {
  const std::string path = sa::agent_file_path(dir, prefix, "lock");
  // In the shared /dev/shm the file is readable by all (0644), so an agent running as another
  // user later can still open it read-only and lock it: flock() needs no write access. Any user
  // could create the file there first anyway; the runtime directory is private to the agent's
  // user, so the file stays 0600 there. O_NOFOLLOW: in a world-writable directory the name could
  // be a symlink to somewhere else.
  const mode_t mode = dir == "/dev/shm" ? 0644 : 0600;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0 && errno == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int open_errno = errno;
    struct stat st;
    if (open_errno == EACCES && ::lstat(path.c_str(), &st) == 0 && st.st_uid != ::geteuid()) {
      SPANRING_LOG_ERROR(
          "cannot open the lock file %s: it belongs to %s (uid %u, mode %04o), probably left by a spanring-agent "
          "that ran as that user. If no other spanring-agent is running, remove it (rm %s) and start again; under "
          "systemd the lock lives in $RUNTIME_DIRECTORY instead (RuntimeDirectory=spanring-agent)",
          path.c_str(), user_name(st.st_uid).c_str(), static_cast<unsigned>(st.st_uid),
          static_cast<unsigned>(st.st_mode & 07777), path.c_str());
    } else {
      SPANRING_LOG_ERROR("cannot open the lock file %s: %s", path.c_str(), std::strerror(open_errno));
    }
    return -1;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    SPANRING_LOG_ERROR("another spanring-agent is draining /dev/shm/%s* (%s is locked)", prefix.c_str(), path.c_str());
    ::close(fd);
    return -1;
  }
  return fd;
}

void print_summary(sa::Agent& agent) {
  for (const sa::ServiceStats& s : agent.services()) {
    std::string drops;
    for (std::uint32_t r = 0; r < sa::kDropReasonCount; ++r)
      if (s.dropped[r]) drops += " dropped_" + std::string(sa::to_string(static_cast<sa::DropReason>(r))) + "=" + std::to_string(s.dropped[r]);
    std::fprintf(stderr,
                 "spanring-agent: service=%s created=%llu resumed=%llu received=%llu exported=%llu sampled_out=%llu "
                 "dropped=%llu kept=%llu%s\n",
                 s.name.c_str(), static_cast<unsigned long long>(s.created), static_cast<unsigned long long>(s.resumed),
                 static_cast<unsigned long long>(s.received),
                 static_cast<unsigned long long>(s.exported), static_cast<unsigned long long>(s.sampled_out),
                 static_cast<unsigned long long>(s.dropped_total()), static_cast<unsigned long long>(s.kept), drops.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  sa::CommandLine cl;
  if (const sa::Status st = sa::parse_command_line(argc, argv, cl); !st.ok()) {
    std::fprintf(stderr, "spanring-agent: %s\n\n%s", st.message().c_str(), sa::usage().c_str());
    return 2;
  }
  std::string error;
  if (cl.help) {
    std::fputs(sa::usage().c_str(), stdout);
    return 0;
  }
  if (cl.version) {
    std::fputs(sa::version_text().c_str(), stdout);
    return 0;
  }
  const auto started_at = std::chrono::system_clock::now();
  sa::AgentConfig config;
  std::vector<std::string> errors, warnings;
  // What the running config was loaded from, for reloads, /metrics and spanringctl status.
  sa::ConfigWatch config_watch(cl.config_path);
  config_watch.begin_load();
  const bool ok = sa::load_config(cl.config_path, config, errors, warnings);
  for (const auto& w : warnings) SPANRING_LOG_WARN("%s", w.c_str());
  if (!ok) {
    for (const auto& e : errors) std::fprintf(stderr, "spanring-agent: %s\n", e.c_str());
    return 1;
  }
  sa::SamplingConfig sampling;
  if (!sa::parse_sampling_config(config.sampling, config.source, sampling, errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "spanring-agent: %s\n", e.c_str());
    return 1;
  }
  if (cl.check_config) {
    std::printf("%s: configuration is valid\n", config.source.c_str());
    return 0;
  }
  config_watch.loaded(true);
  sa::set_log_level(config.log.level);

  const std::string runtime_dir = sa::agent_runtime_directory();
  const int lock_fd = lock_directory(runtime_dir, config.discovery.segment_prefix);
  if (lock_fd < 0) return 1;

  boost::asio::io_context io;
  sa::Agent agent(io, core_options(config));

  // spanringctl's socket, next to the lock (we hold it, so a socket file there is stale).
  std::string metrics_address;
  sa::control::RateWindow rates;
  sa::control::ServerOptions control_options;
  control_options.path = sa::agent_file_path(runtime_dir, config.discovery.segment_prefix, sa::control::kSocketExtension);
  std::unique_ptr<sa::control::ControlServer> control;
  control = std::make_unique<sa::control::ControlServer>(io, control_options, [&] {
    sa::control::StatusContext c;
    c.version = SPANRING_AGENT_VERSION;
    c.started_at = started_at;
    c.config = &config;
    c.watch = &config_watch;
    c.metrics_address = metrics_address;
    c.socket_path = control->path();
    c.tapping_clients = control->tapping_clients();
    c.tap_spans_lost = control->counters().spans_lost;
    return sa::control::render_status(agent, c, rates);
  });
  if (const sa::Status st = control->start(); !st.ok()) {
    // Exporting matters more than being inspectable: run on without spanringctl.
    SPANRING_LOG_ERROR("control socket: %s; spanringctl cannot reach this agent", st.message().c_str());
    control.reset();
  }

  std::unique_ptr<sa::Exporter> exporter;
  if (const sa::Status st = sa::make_exporter(io, config.exporter, agent.make_result_callback(), exporter); !st.ok()) {
    SPANRING_LOG_ERROR("exporter: %s", st.message().c_str());
    return 1;
  }
  // tail and dump see what the exporter accepts, without taking it away from the export.
  if (control) exporter = sa::control::make_tap_exporter(std::move(exporter), *control);
  sa::Exporter* const exporter_in_use = exporter.get();  // owned by `agent` from here on
  agent.set_exporter(std::move(exporter));

  // Sampling, and the Jaeger remote strategies poller when configured.
  std::unique_ptr<sa::RemoteSamplingPoller> poller;
  auto start_poller = [&](const sa::SamplingConfig& sc) {
    if (poller) poller->stop();
    poller.reset();
    if (sc.remote.endpoint.empty()) return;
    poller = std::make_unique<sa::RemoteSamplingPoller>(
        io, sc.remote,
        [&](std::string service, sa::ServiceStrategy strategy) {
          agent.sampler()->set_remote_strategy(service, std::move(strategy));
        },
        [](std::string message) { SPANRING_LOG_WARN("remote sampling: %s (last good strategies kept)", message.c_str()); });
    for (const auto& svc : agent.services()) poller->add_service(svc.name);
    poller->start();
  };
  agent.set_sampler(std::make_unique<sa::Sampler>(sampling));
  agent.on_new_service([&](const std::string& service) {
    if (poller) poller->add_service(service);
  });
  start_poller(sampling);

  std::unique_ptr<sa::AgentMetrics> metrics;
  if (!config.metrics.listen.empty()) {
    metrics = std::make_unique<sa::AgentMetrics>(io, agent);
    metrics->add_source([&](sa::Registry& r) {
      if (poller) sa::report_metrics(poller->counters(), r);
    });
    metrics->add_source([&](sa::Registry& r) {
      r.gauge("spanring_build_info", "Always 1; the labels say which agent build runs.",
              {{"version", SPANRING_AGENT_VERSION}, {"build_type", SPANRING_BUILD_TYPE}, {"compiler", SPANRING_COMPILER}})
          .set(1);
      r.counter("spanring_config_reloads", "Config reloads (SIGHUP or the file changed), by result.", {{"result", "ok"}})
          .mirror(config_watch.reloads_ok());
      r.counter("spanring_config_reloads", "Config reloads (SIGHUP or the file changed), by result.", {{"result", "failed"}})
          .mirror(config_watch.reloads_failed());
      r.gauge("spanring_config_last_reload_successful", "1 if the last config load succeeded, 0 if it was rejected.")
          .set(config_watch.last_ok() ? 1 : 0);
      r.gauge("spanring_config_last_reload_success_timestamp_seconds",
              "When the config in force was loaded, seconds since the epoch.")
          .set(std::chrono::duration<double>(config_watch.applied_at().time_since_epoch()).count());
      r.gauge("spanring_config_hash", "CRC-32 of the config file in force (0: no file).").set(double(config_watch.hash()));
      r.gauge("spanring_control_clients_tapping", "spanringctl tail/dump clients connected.")
          .set(control ? double(control->tapping_clients()) : 0);
      r.counter("spanring_control_spans_lost", "Spans not copied to a slow spanringctl client (the export is not affected).")
          .mirror(control ? control->counters().spans_lost : 0);
      sa::report_process_metrics(r);
    });
    if (const sa::Status st = metrics->listen(config.metrics); !st.ok()) {
      SPANRING_LOG_ERROR("metrics: cannot listen on %s: %s", config.metrics.listen.c_str(), st.message().c_str());
      return 1;
    }
    metrics_address = metrics->address();
  }

  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  boost::asio::signal_set hup(io, SIGHUP);
  boost::asio::steady_timer watchdog(io);
  boost::asio::steady_timer file_watch(io);
  boost::asio::steady_timer rate_timer(io);
  const auto watchdog_every = sa::sd_watchdog_interval();

  stop_signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    SPANRING_LOG_INFO("signal %d: draining and flushing (deadline %s)", signo,
                      sa::format_duration(config.shutdown.deadline).c_str());
    sa::sd_notify("STOPPING=1\nSTATUS=draining and flushing");
    agent.stop(std::chrono::steady_clock::now() + config.shutdown.deadline, [&] {
      hup.cancel();
      watchdog.cancel();
      file_watch.cancel();
      if (poller) poller->stop();
      if (metrics) metrics->stop();
      rate_timer.cancel();
      if (control) control->stop();
      io.stop();
    });
  });

  // Reload (SIGHUP, or the config file changed): an invalid file is reported and the running
  // config stays; a valid one takes effect between two spans, so nothing is dropped or
  // duplicated. Sampling and the log level apply at once; other sections need a restart.
  auto reload = [&](const char* why) {
    sa::sd_notify("RELOADING=1");
    // Whatever started it, this load takes the file's current stamp: the watcher will not load
    // the same change again (config_watch.hpp).
    config_watch.begin_load();
    sa::AgentConfig next;
    sa::SamplingConfig next_sampling;
    std::vector<std::string> errs, warns;
    const bool valid = sa::load_config(cl.config_path, next, errs, warns) &&
                       sa::parse_sampling_config(next.sampling, next.source, next_sampling, errs);
    if (valid) {
      sa::set_log_level(next.log.level);
      config.log = next.log;
      const bool remote_changed = !(next_sampling.remote == sampling.remote);
      agent.sampler()->update(next_sampling);
      if (remote_changed) start_poller(next_sampling);
      sampling = std::move(next_sampling);
      config.sampling = next.sampling;
      // TLS certificates and keys are read anew (rotation); the file names themselves, like
      // every other exporter setting, need a restart.
      if (const sa::Status st = exporter_in_use->reload_files(); !st.ok()) {
        SPANRING_LOG_ERROR("%s: TLS files not reloaded, the ones in use stay: %s", why, st.message().c_str());
      }
      SPANRING_LOG_INFO("%s: reloaded %s (sampling, log level and TLS files applied; other changes need a restart)",
                        why, next.source.c_str());
    } else {
      for (const auto& e : errs) SPANRING_LOG_ERROR("%s: reload rejected, running config kept: %s", why, e.c_str());
    }
    config_watch.loaded(valid);
    sa::sd_notify("READY=1");
  };
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload("SIGHUP");
      wait_hup();
    });
  };
  wait_hup();

  // The config file's stamp, checked every 2 s (no inotify: the file may be replaced by a
  // rename, as editors and configuration managers do).
  std::function<void()> watch = [&] {
    if (cl.config_path.empty()) return;
    file_watch.expires_after(2s);
    file_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (config_watch.changed()) reload("config file changed");
      watch();
    });
  };
  watch();

  // Samples for the rates `spanringctl status` shows (one cheap pass over the services).
  std::function<void()> sample_rates = [&] {
    rates.sample(sa::control::service_totals(agent), std::chrono::steady_clock::now());
    rate_timer.expires_after(10s);
    rate_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) sample_rates();
    });
  };

  std::function<void()> ping = [&] {
    if (watchdog_every.count() == 0) return;
    sa::sd_notify("WATCHDOG=1");
    watchdog.expires_after(watchdog_every);
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) ping();
    });
  };

  agent.start();
  sample_rates();
  // The exporter with, for OTLP, how and where it sends: "otlp(grpc https://collector:4317)".
  std::string exporter_text(sa::to_string(config.exporter.type));
  if (config.exporter.type == sa::ExporterType::kOtlp) {
    exporter_text += "(" + std::string(sa::to_string(config.exporter.otlp.protocol)) + " " + config.exporter.otlp.endpoint + ")";
  }
  SPANRING_LOG_INFO("spanring-agent started: config=%s segments=/dev/shm/%s* exporter=%s metrics=%s", config.source.c_str(),
                    config.discovery.segment_prefix.c_str(), exporter_text.c_str(),
                    config.metrics.listen.empty() ? "off" : (metrics ? metrics->address().c_str() : ""));
  sa::sd_notify("READY=1\nSTATUS=draining");
  ping();
  io.run();
  print_summary(agent);
  ::close(lock_fd);
  return 0;
}
