// The OTLP/HTTP exporter's one config: every setting of the three layers (queue, retry, one
// attempt), its default and its rules. The agent's YAML/OTEL_* loader fills this struct in place
// (AgentConfig::exporter.otlp) and the exporter takes it as it is: there is no second copy to
// convert into, and validate() is the only place the rules are written. The YAML keys are the
// field names: exporter.otlp.<field>, except `queue`, which the file spells at top level
// (queue.max_batches ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include "agent/base/status.hpp"
#include "agent/export/url.hpp"

namespace spanring::agent {

enum class Compression { kNone, kGzip };

// How one request travels (SPEC §2, §3): exporter.otlp.protocol, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL.
enum class Protocol { kGrpc, kHttpProtobuf, kHttpJson };

// The spec's default traces endpoint for `protocol`: http://localhost:4317 for gRPC,
// http://localhost:4318/v1/traces for HTTP.
const char* default_endpoint(Protocol protocol);

// TLS of the connection to the backend (exporter.otlp.tls.*; the OTEL_EXPORTER_OTLP_[TRACES_]
// CERTIFICATE / CLIENT_KEY / CLIENT_CERTIFICATE / INSECURE variables feed it). The scheme of the
// endpoint decides whether TLS is used: https:// = TLS, http:// = plaintext; a gRPC endpoint
// without a scheme ("collector:4317") is TLS unless `insecure`. Files are PEM and read when the
// exporter is built (at start and on every reload), never on the export path.
struct TlsConfig {
  std::string ca_file;    // trust bundle replacing the system store; empty = system store
  std::string cert_file;  // client certificate (chain) for mutual TLS; needs key_file
  std::string key_file;   // its private key; needs cert_file
  // Name checked against the server's certificate and sent as SNI; empty = the endpoint's host.
  std::string server_name;
  // Skips the server certificate check (chain and name): encrypted but not authenticated. For
  // tests only; HTTP only (gRPC's stable API cannot skip it, validate() refuses the pair).
  bool insecure_skip_verify = false;
  // gRPC only: plaintext to an endpoint given without a scheme (OTEL_EXPORTER_OTLP_INSECURE). An
  // http:// or https:// scheme always wins over it (SPEC §3).
  bool insecure = false;

  bool operator==(const TlsConfig&) const = default;
};

// Retry of transient failures (429/502/503/504, connection errors, timeouts): exponential
// backoff with jitter, wait = max(Retry-After, backoff); gives up when the next attempt would
// start later than max_elapsed_time after the first one. Consumed by RetryPolicy.
struct RetryConfig {
  bool enabled = true;
  std::chrono::nanoseconds initial_interval = std::chrono::seconds{1};  // first wait, > 0
  std::chrono::nanoseconds max_interval = std::chrono::seconds{30};     // >= initial_interval
  // > 0: a batch is never retried without end. 5 min, the Collector's default: the queue
  // (on disk by default) rides out an outage of that long without dropping (README).
  std::chrono::nanoseconds max_elapsed_time = std::chrono::minutes{5};
  double multiplier = 1.5;  // not configurable: the Collector's value
  double jitter = 0.5;      // each wait is drawn uniformly from interval × [1 - jitter, 1 + jitter]

  bool operator==(const RetryConfig&) const = default;
};

// Where batches wait between the rings and the backend, and so what a crash or an outage costs.
// The ring read positions (in shared memory) are what tells a restarted agent where to resume;
// the storage decides when they may move past a batch:
enum class QueueStorage : std::uint8_t {
  // LMDB under `directory`: positions move once the batch is committed with fsync; the entry is
  // deleted once the backend answered. A SIGKILL or a power cut loses nothing; an outage fills
  // the disk queue instead of the engines' rings. The default.
  kDisk,
  // Positions move once the batch is queued in memory: an outage fills the agent's queue, but a
  // SIGKILL loses what was queued.
  kMemory,
  // The rings are the buffer (the agent's first rule): positions move only once the backend
  // answered for every batch read before. A crash loses nothing and needs no disk, but an
  // outage longer than a ring's capacity makes the engines drop (ring_full).
  kRings,
};

// Bounds of every batch the exporter holds and has not resolved yet: waiting, waiting for a
// retry, and in flight. A batch is refused (queue_full: the newest is dropped, see the README)
// when any bound would be exceeded; reaching a bound exactly is allowed. Consumed by
// BoundedQueue (counts) and DiskQueue (directory, bytes).
//
// Defaults sized for the default storage, disk: 1 GiB holds the 60 s outage at 5k
// spans/s (300k spans of ~150 bytes) many times over, and costs no memory (a disk queue keeps
// only the requests in flight in memory, plus ~100 bytes per batch). With storage memory or
// rings these bounds are memory: lower max_bytes below the unit's MemoryMax=.
struct QueueConfig {
  std::uint32_t max_batches = 16384;
  std::uint64_t max_spans = std::uint64_t{4} << 20;
  std::uint64_t max_bytes = std::uint64_t{1} << 30;  // uncompressed body bytes
  QueueStorage storage = QueueStorage::kDisk;
  // kDisk only. Empty = default_queue_directory(). Created (0700) when missing.
  std::string directory;

  bool operator==(const QueueConfig&) const = default;
};

// $STATE_DIRECTORY/queue (systemd's StateDirectory=spanring-agent: /var/lib/spanring-agent;
// the first entry when the variable lists several), else $XDG_STATE_HOME/spanring-agent/queue,
// else $HOME/.local/state/spanring-agent/queue, else /var/lib/spanring-agent/queue.
std::string default_queue_directory();

// The OTLP exporter's config, whatever the protocol (the name is historical: it began as HTTP only).
struct HttpExportConfig {
  Protocol protocol = Protocol::kHttpProtobuf;
  // Full URL of the traces endpoint: http:// or https:// (parse_endpoint_url, url.hpp). For gRPC
  // the path is ignored and "host:port" without a scheme is accepted too (TLS unless
  // tls.insecure). The config loader puts default_endpoint(protocol) here when nothing set one.
  std::string endpoint = "http://localhost:4318/v1/traces";
  TlsConfig tls;
  // Extra request headers (e.g. authentication). Names are HTTP tokens, values have no CR/LF/NUL;
  // the names the exporter owns (header_name_problem) are refused. A User-Agent given here
  // replaces `user_agent`.
  std::map<std::string, std::string> headers;
  // Bound of one attempt (resolve + connect + write + read), not of all retries together;
  // 0 = no limit (as OTEL_EXPORTER_OTLP_TIMEOUT=0): no timer is armed. Nanoseconds, as every
  // duration here: the consumers are asio timers, so "500us" stays 500 microseconds.
  std::chrono::nanoseconds timeout = std::chrono::seconds{10};
  Compression compression = Compression::kNone;
  // Export requests outstanding at once, each on its own connection, in [1, 64]. Throughput to
  // a distant backend is max_in_flight x batch.max_spans per round trip: 16 x 512 spans per
  // 50 ms is 164k spans/s in theory; BM_AgentExportRemote measures it (README).
  std::uint32_t max_in_flight = 16;
  RetryConfig retry;
  QueueConfig queue;
  // Bodies larger than this (measured before compression, SPEC §2.1) are never sent: they end
  // with kDroppedTooLarge. Not a config file key.
  std::uint64_t max_request_bytes = std::uint64_t{64} << 20;
  std::string user_agent = "spanring-agent/0.1.0";  // not a config file key

  // Reports one broken rule. `keys` names the setting the rule is about first (relative to this
  // struct: "endpoint", "headers.X-Key", "retry.max_interval", "queue.max_bytes"), then any other
  // setting the rule compares it with, so a caller that knows where each key was written can
  // point at the one the operator set.
  using Report = ValidationReport;
  void validate(const Report& report) const;
  // The same problems as "key: problem" lines; empty = valid.
  std::vector<std::string> validate() const;

  bool operator==(const HttpExportConfig&) const = default;
};

// The rules for single values, for parsers that must refuse a value before it reaches the struct
// (an OTEL_* variable names itself in its error). nullopt = acceptable.
std::optional<std::string> endpoint_problem(std::string_view url, Protocol protocol = Protocol::kHttpProtobuf);
std::optional<std::string> header_name_problem(std::string_view name);
std::optional<std::string> header_value_problem(std::string_view value);

// A duration the way the config file spells it ("1s", "250us", "1500ms"), in every message about
// one, so the text can be pasted back.
std::string format_duration(std::chrono::nanoseconds duration);

// The endpoint as the senders use it: host, port, target and whether TLS is on. For gRPC an
// endpoint without a scheme is TLS unless tls.insecure. nullopt when endpoint_problem() has one.
std::optional<HttpUrl> resolved_endpoint(const HttpExportConfig& config);

std::string_view to_string(Protocol protocol);

}  // namespace spanring::agent
