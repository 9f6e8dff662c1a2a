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

#include "agent/config/config.hpp"
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
  o.discovery = c.discovery;
  o.drain = c.drain;
  o.batch = c.batch;
  o.state = c.state;
  return o;
}

// Where the agent keeps its lock: the runtime directory systemd creates for the service
// (RuntimeDirectory=spanring-agent gives /run/spanring-agent, owned by the service's user and
// exported as $RUNTIME_DIRECTORY; with several directories the variable lists them separated by
// ':', the first is ours). Only that user can create files there, so a lock left by a run as
// another user (root) cannot stand in the way. Without the variable (a manual run): /dev/shm.
std::string lock_directory_path() {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime == nullptr || *runtime == '\0') return "/dev/shm";
  std::string dir(runtime);
  if (const auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
  return dir;
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
  const std::string path = dir + "/spanring-agent" + prefix.substr(std::strlen("spanring")) + "lock";
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
                 "spanring-agent: service=%s created=%llu received=%llu exported=%llu sampled_out=%llu dropped=%llu%s\n",
                 s.name.c_str(), static_cast<unsigned long long>(s.created), static_cast<unsigned long long>(s.received),
                 static_cast<unsigned long long>(s.exported), static_cast<unsigned long long>(s.sampled_out),
                 static_cast<unsigned long long>(s.dropped_total()), drops.c_str());
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
  sa::AgentConfig config;
  std::vector<std::string> errors, warnings;
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
  sa::set_log_level(config.log.level);

  const int lock_fd = lock_directory(lock_directory_path(), config.discovery.segment_prefix);
  if (lock_fd < 0) return 1;

  boost::asio::io_context io;
  sa::Agent agent(io, core_options(config));
  std::unique_ptr<sa::Exporter> exporter;
  if (const sa::Status st = sa::make_exporter(io, config.exporter, agent.make_result_callback(), exporter); !st.ok()) {
    SPANRING_LOG_ERROR("exporter: %s", st.message().c_str());
    return 1;
  }
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
    if (const sa::Status st = metrics->listen(config.metrics); !st.ok()) {
      SPANRING_LOG_ERROR("metrics: cannot listen on %s: %s", config.metrics.listen.c_str(), st.message().c_str());
      return 1;
    }
  }

  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  boost::asio::signal_set hup(io, SIGHUP);
  boost::asio::steady_timer watchdog(io);
  boost::asio::steady_timer file_watch(io);
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
      io.stop();
    });
  });

  // Reload (SIGHUP, or the config file changed): an invalid file is reported and the running
  // config stays; a valid one takes effect between two spans, so nothing is dropped or
  // duplicated. Sampling and the log level apply at once; other sections need a restart.
  auto reload = [&](const char* why) {
    sa::sd_notify("RELOADING=1");
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

  // The config file's modification time, checked every 2 s (no inotify: the file may be
  // replaced by a rename, as editors and configuration managers do).
  auto file_stamp = [&]() -> std::pair<long long, long long> {
    struct stat st;
    if (cl.config_path.empty() || ::stat(cl.config_path.c_str(), &st) != 0) return {0, 0};
    return {static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec, static_cast<long long>(st.st_ino)};
  };
  auto stamp = file_stamp();
  std::function<void()> watch = [&] {
    if (cl.config_path.empty()) return;
    file_watch.expires_after(2s);
    file_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (const auto now = file_stamp(); now != stamp) {
        stamp = now;
        reload("config file changed");
      }
      watch();
    });
  };
  watch();

  std::function<void()> ping = [&] {
    if (watchdog_every.count() == 0) return;
    sa::sd_notify("WATCHDOG=1");
    watchdog.expires_after(watchdog_every);
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) ping();
    });
  };

  agent.start();
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
