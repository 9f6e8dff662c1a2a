// spanringctl — talks to the running spanring-agent over its control socket.
//
//   spanringctl status
//   spanringctl tail [--service S] [--min-duration D] [--errors] [--trace ID]
//   spanringctl dump --out FILE [--duration D] [--format otlp-json|otlp-proto|chrome-json]
//
// The socket is found where the agent puts it (agent/base/runtime_dir.hpp): --socket PATH, else
// $RUNTIME_DIRECTORY (as the agent would see it), /run/spanring-agent (systemd), /dev/shm (a
// manual run); for another segment prefix, --prefix. tail and dump receive a copy of each
// batch the agent's exporter accepts; the export itself is not affected, and a client too
// slow to keep up is told how many spans it missed.
#include <getopt.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "agent/base/runtime_dir.hpp"
#include "agent/config/text.hpp"
#include "agent/control/protocol.hpp"
#include "agent/export/exporter.hpp"
#include "agent/sinks/chrome_trace.hpp"
#include "agent/sinks/console_exporter.hpp"
#include "agent/sinks/otlp_json.hpp"

namespace sa = spanring::agent;
namespace ctl = spanring::agent::control;
using boost::asio::local::stream_protocol;

namespace {

constexpr const char* kUsage =
    "usage: spanringctl [--socket PATH | --prefix PREFIX] COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  status                       engines attached, counters and rates, exporter state, sampling in force\n"
    "  tail [--service S] [--min-duration D] [--errors] [--trace ID]\n"
    "                               live traces as waterfalls (Ctrl-C stops); D like 250ms, 2s\n"
    "  dump --out FILE [--duration D] [--format otlp-json|otlp-proto|chrome-json]\n"
    "                               what the agent exports during D (default 10s; Ctrl-C ends early):\n"
    "                               otlp-json: one ExportTraceServiceRequest per line (OTLP/JSON);\n"
    "                               otlp-proto: one ExportTraceServiceRequest (binary protobuf);\n"
    "                               chrome-json: trace-event JSON for ui.perfetto.dev / chrome://tracing\n"
    "\n"
    "options:\n"
    "  --socket PATH   the agent's control socket (default: found in $RUNTIME_DIRECTORY,\n"
    "                  /run/spanring-agent, /dev/shm)\n"
    "  --prefix P      the agent's discovery.segment_prefix, when not spanring.\n"
    "  --help, --version\n";

struct Args {
  std::string command;
  std::string socket;
  std::string prefix = "spanring.";
  std::string service;
  std::optional<std::chrono::nanoseconds> min_duration;
  bool errors = false;
  std::string trace;  // lowercase hex, 32 digits
  std::string out;
  std::chrono::nanoseconds duration = std::chrono::seconds(10);
  std::string format = "otlp-json";
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "spanringctl: %s\n\n%s", message.c_str(), kUsage);
  std::exit(2);
}

std::chrono::nanoseconds duration_arg(const char* flag, const char* text) {
  const auto d = sa::parse_duration(text);
  if (!d || d->count() < 0) usage_error(std::string(flag) + ": expected a duration like 500ms or 2s, got \"" + text + "\"");
  return *d;
}

Args parse(int argc, char** argv) {
  Args a;
  enum { kSocket = 1, kPrefix, kService, kMinDuration, kErrors, kTrace, kOut, kDuration, kFormat, kHelp, kVersion };
  static const option kOptions[] = {
      {"socket", required_argument, nullptr, kSocket},       {"prefix", required_argument, nullptr, kPrefix},
      {"service", required_argument, nullptr, kService},     {"min-duration", required_argument, nullptr, kMinDuration},
      {"errors", no_argument, nullptr, kErrors},             {"trace", required_argument, nullptr, kTrace},
      {"out", required_argument, nullptr, kOut},             {"duration", required_argument, nullptr, kDuration},
      {"format", required_argument, nullptr, kFormat},       {"help", no_argument, nullptr, kHelp},
      {"version", no_argument, nullptr, kVersion},           {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  // '+' would stop at the command; options may come before or after it, so permute.
  while ((c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1) {
    switch (c) {
      case kSocket: a.socket = optarg; break;
      case kPrefix: a.prefix = optarg; break;
      case kService: a.service = optarg; break;
      case kMinDuration: a.min_duration = duration_arg("--min-duration", optarg); break;
      case kErrors: a.errors = true; break;
      case kTrace: {
        std::string t = optarg;
        for (char& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (t.size() != 32 || t.find_first_not_of("0123456789abcdef") != std::string::npos)
          usage_error("--trace: expected a trace id of 32 hex digits, got \"" + std::string(optarg) + "\"");
        a.trace = t;
        break;
      }
      case kOut: a.out = optarg; break;
      case kDuration: a.duration = duration_arg("--duration", optarg); break;
      case kFormat: a.format = optarg; break;
      case 'h':
      case kHelp: std::fputs(kUsage, stdout); std::exit(0);
      case kVersion: std::printf("spanringctl %s\n", SPANRING_VERSION); std::exit(0);
      default: usage_error(std::string("unknown option ") + (optind > 0 && optind <= argc ? argv[optind - 1] : "?"));
    }
  }
  if (optind >= argc) usage_error("missing command (status, tail or dump)");
  a.command = argv[optind];
  if (optind + 1 < argc) usage_error("unexpected argument \"" + std::string(argv[optind + 1]) + "\"");
  const bool tail_flags = !a.service.empty() || a.min_duration || a.errors || !a.trace.empty();
  if (a.command == "status") {
    if (tail_flags || !a.out.empty()) usage_error("status takes no options besides --socket and --prefix");
  } else if (a.command == "tail") {
    if (!a.out.empty()) usage_error("--out is for dump");
  } else if (a.command == "dump") {
    if (tail_flags) usage_error("--service, --min-duration, --errors and --trace are for tail");
    if (a.out.empty()) usage_error("dump needs --out FILE");
    if (a.format != "otlp-json" && a.format != "otlp-proto" && a.format != "chrome-json")
      usage_error("--format: expected otlp-json, otlp-proto or chrome-json, got \"" + a.format + "\"");
  } else {
    usage_error("unknown command \"" + a.command + "\" (status, tail or dump)");
  }
  return a;
}

// The socket path, and a message for when nothing answers there.
std::vector<std::string> candidate_sockets(const Args& a) {
  if (!a.socket.empty()) return {a.socket};
  std::vector<std::string> dirs;
  if (const char* rd = std::getenv("RUNTIME_DIRECTORY"); rd != nullptr && *rd != '\0') dirs.push_back(sa::agent_runtime_directory());
  dirs.push_back(sa::kSystemdRuntimeDirectory);
  dirs.push_back(sa::kFallbackRuntimeDirectory);
  std::vector<std::string> out;
  for (const auto& d : dirs) out.push_back(sa::agent_file_path(d, a.prefix, ctl::kSocketExtension));
  return out;
}

// Connects to the first candidate that exists; exits 1 with what to do when none answers.
int connect_agent(const Args& a) {
  const auto candidates = candidate_sockets(a);
  std::string tried;
  for (const auto& path : candidates) {
    struct stat st;
    const int stat_rc = ::stat(path.c_str(), &st);
    const int stat_errno = errno;
    if (stat_rc != 0 && stat_errno == ENOENT) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    if (stat_rc != 0) {
      std::fprintf(stderr, "spanringctl: cannot reach the agent's socket %s: %s%s\n", path.c_str(), std::strerror(stat_errno),
                   stat_errno == EACCES ? " (the agent's runtime directory admits its user and group only: "
                                          "add yourself to the group, e.g. usermod -aG spanring $USER, then log in again)"
                                        : "");
      std::exit(1);
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
      std::fprintf(stderr, "spanringctl: socket path too long: %s\n", path.c_str());
      std::exit(1);
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
    const int e = errno;
    ::close(fd);
    if (e == ECONNREFUSED) {
      std::fprintf(stderr,
                   "spanringctl: no spanring-agent is running: nothing listens on %s (left by an agent that stopped)\n",
                   path.c_str());
    } else if (e == EACCES) {
      std::fprintf(stderr,
                   "spanringctl: permission denied on %s: the socket admits the agent's user and group only "
                   "(add yourself to the group, e.g. usermod -aG spanring $USER, then log in again)\n",
                   path.c_str());
    } else {
      std::fprintf(stderr, "spanringctl: cannot connect to %s: %s\n", path.c_str(), std::strerror(e));
    }
    std::exit(1);
  }
  std::fprintf(stderr,
               "spanringctl: no spanring-agent is running (no control socket at %s). Start it: systemctl start "
               "spanring-agent, or spanring-agent --config FILE; or name the socket with --socket.\n",
               tried.c_str());
  std::exit(1);
}

bool send_request(int fd, std::string_view request) {
  std::string line(request);
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::send(fd, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

int run_status(const Args& a) {
  const int fd = connect_agent(a);
  if (!send_request(fd, ctl::kRequestStatus)) {
    std::fprintf(stderr, "spanringctl: the agent closed the connection: %s\n", std::strerror(errno));
    return 1;
  }
  char buf[65536];
  ssize_t n;
  bool any = false;
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "spanringctl: reading the agent's answer: %s\n", std::strerror(errno));
      return 1;
    }
    any = true;
    std::fwrite(buf, 1, static_cast<std::size_t>(n), stdout);
  }
  ::close(fd);
  if (!any) {
    std::fprintf(stderr, "spanringctl: the agent closed the connection without an answer\n");
    return 1;
  }
  return 0;
}

// Reads frames from a tapping connection and hands each batch (or lost count) to the caller,
// until the agent goes away or stop() is called.
class TapReader {
 public:
  using OnBatch = std::function<void(sa::ExportTraceServiceRequest&)>;
  using OnLost = std::function<void(std::uint64_t)>;

  TapReader(boost::asio::io_context& io, int fd, OnBatch on_batch, OnLost on_lost, std::function<void()> on_end)
      : socket_(io, stream_protocol(), fd), on_batch_(std::move(on_batch)), on_lost_(std::move(on_lost)),
        on_end_(std::move(on_end)) {}

  void start() { read_header(); }
  void stop() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read_header() {
    boost::asio::async_read(socket_, boost::asio::buffer(header_), [this](const boost::system::error_code& ec, std::size_t) {
      if (ec) return end(ec);
      const std::uint32_t len = ctl::frame_length(header_.data());
      if (len > ctl::kMaxFramePayload) {
        std::fprintf(stderr, "spanringctl: the agent sent a %u-byte frame (limit %u): stopping\n", len, ctl::kMaxFramePayload);
        return end({});
      }
      payload_.resize(len);
      boost::asio::async_read(socket_, boost::asio::buffer(payload_), [this](const boost::system::error_code& ec2, std::size_t) {
        if (ec2) return end(ec2);
        if (header_[0] == ctl::kFrameBatch) {
          sa::ExportTraceServiceRequest request;
          if (request.ParseFromString(payload_)) {
            on_batch_(request);
          } else {
            std::fprintf(stderr, "spanringctl: a batch from the agent did not parse as OTLP: skipped\n");
          }
        } else if (header_[0] == ctl::kFrameLost) {
          on_lost_(ctl::decode_u64(payload_));
        }  // other types: newer agents; ignored
        read_header();
      });
    });
  }

  void end(const boost::system::error_code& ec) {
    if (ec && ec != boost::asio::error::operation_aborted && ec != boost::asio::error::eof)
      std::fprintf(stderr, "spanringctl: connection to the agent: %s\n", ec.message().c_str());
    if (ec == boost::asio::error::eof) std::fprintf(stderr, "spanringctl: the agent closed the connection (stopped?)\n");
    if (on_end_) on_end_();
  }

  stream_protocol::socket socket_;
  std::array<char, ctl::kFrameHeaderBytes> header_{};
  std::string payload_;
  OnBatch on_batch_;
  OnLost on_lost_;
  std::function<void()> on_end_;
};

void report_lost(std::uint64_t spans) {
  std::fprintf(stderr, "spanringctl: %llu spans not received (this client fell behind; the export is not affected)\n",
               static_cast<unsigned long long>(spans));
}

int run_tail(const Args& a) {
  const int fd = connect_agent(a);
  if (!send_request(fd, ctl::kRequestTap)) {
    std::fprintf(stderr, "spanringctl: the agent closed the connection\n");
    return 1;
  }
  boost::asio::io_context io;
  sa::ConsoleOptions o;
  o.max_traces = 0;
  o.hold = std::chrono::milliseconds(1000);
  o.root_wait = std::chrono::milliseconds(10000);
  const std::string service = a.service;
  const auto min_duration = a.min_duration;
  const bool errors = a.errors;
  o.keep = [service, min_duration, errors](const sa::TraceFacts& t) {
    if (errors && !t.has_error) return false;
    if (min_duration && t.duration_ns < static_cast<std::uint64_t>(min_duration->count())) return false;
    if (!service.empty()) {
      bool found = false;
      for (const auto s : t.services) found = found || s == service;
      if (!found) return false;
    }
    return true;
  };
  auto console = sa::make_console_exporter(io, nullptr, o);
  std::string trace_bytes;
  if (!a.trace.empty()) {
    for (std::size_t i = 0; i < 32; i += 2) trace_bytes += static_cast<char>(std::stoi(a.trace.substr(i, 2), nullptr, 16));
  }
  bool ended = false;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  std::unique_ptr<TapReader> reader;
  auto finish = [&] {
    if (ended) return;
    ended = true;
    signals.cancel();
    reader->stop();
    console->shutdown(std::chrono::steady_clock::now(), [&] { io.stop(); });
  };
  reader = std::make_unique<TapReader>(
      io, fd,
      [&](sa::ExportTraceServiceRequest& request) {
        if (!trace_bytes.empty()) {
          // Only that trace's spans (a cheap pre-filter: other traces are never buffered).
          for (auto& rs : *request.mutable_resource_spans())
            for (auto& ss : *rs.mutable_scope_spans()) {
              auto* spans = ss.mutable_spans();
              for (int i = spans->size() - 1; i >= 0; --i)
                if (spans->Get(i).trace_id() != trace_bytes) spans->DeleteSubrange(i, 1);
            }
        }
        std::uint64_t spans = 0;
        for (const auto& rs : request.resource_spans())
          for (const auto& ss : rs.scope_spans()) spans += static_cast<std::uint64_t>(ss.spans_size());
        console->enqueue(sa::ExportBatch(request, spans));
      },
      report_lost, finish);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) finish();
  });
  std::fprintf(stderr, "spanringctl: tailing (Ctrl-C stops)%s%s\n", a.trace.empty() ? "" : ", trace ", a.trace.c_str());
  reader->start();
  io.run();
  return 0;
}

int run_dump(const Args& a) {
  std::FILE* out = std::fopen(a.out.c_str(), a.format == "otlp-proto" ? "wb" : "w");
  if (out == nullptr) {
    std::fprintf(stderr, "spanringctl: --out %s: %s\n", a.out.c_str(), std::strerror(errno));
    return 1;
  }
  const int fd = connect_agent(a);
  if (!send_request(fd, ctl::kRequestTap)) {
    std::fprintf(stderr, "spanringctl: the agent closed the connection\n");
    return 1;
  }
  boost::asio::io_context io;
  sa::ChromeTraceBuilder chrome;
  std::uint64_t spans = 0, batches = 0, lost = 0;
  bool write_error = false;
  std::unique_ptr<TapReader> reader;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer timer(io);
  auto finish = [&] {
    signals.cancel();
    timer.cancel();
    if (reader) reader->stop();
  };
  reader = std::make_unique<TapReader>(
      io, fd,
      [&](sa::ExportTraceServiceRequest& request) {
        ++batches;
        for (const auto& rs : request.resource_spans())
          for (const auto& ss : rs.scope_spans()) spans += static_cast<std::uint64_t>(ss.spans_size());
        if (a.format == "otlp-json") {
          std::string line;
          sa::append_otlp_json(request, line);
          line += '\n';
          write_error = write_error || std::fwrite(line.data(), 1, line.size(), out) != line.size();
        } else if (a.format == "otlp-proto") {
          // Serialized messages of one type concatenate into one message whose repeated fields
          // hold them all: the file is a single ExportTraceServiceRequest.
          const std::string bytes = request.SerializeAsString();
          write_error = write_error || std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size();
        } else {
          chrome.add(request);
        }
      },
      [&](std::uint64_t n) {
        lost += n;
        report_lost(n);
      },
      finish);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) finish();
  });
  timer.expires_after(a.duration);
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) finish();
  });
  reader->start();
  io.run();
  if (a.format == "chrome-json") {
    const std::string doc = chrome.json();
    write_error = write_error || std::fwrite(doc.data(), 1, doc.size(), out) != doc.size();
    if (chrome.over_limit() != 0)
      std::fprintf(stderr, "spanringctl: chrome-json keeps %zu spans; %llu more were left out\n", chrome.spans(),
                   static_cast<unsigned long long>(chrome.over_limit()));
  }
  if (std::fclose(out) != 0 || write_error) {
    std::fprintf(stderr, "spanringctl: writing %s failed: %s\n", a.out.c_str(), std::strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "spanringctl: wrote %llu spans in %llu batches to %s (%s)%s\n",
               static_cast<unsigned long long>(spans), static_cast<unsigned long long>(batches), a.out.c_str(),
               a.format.c_str(), lost ? ", some were missed: see above" : "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.command == "status") return run_status(a);
  if (a.command == "tail") return run_tail(a);
  return run_dump(a);
}
