// spanring-agent configuration: one struct with a default for every key, loaded from (in
// increasing priority) built-in defaults, OTEL_* environment variables and a YAML file.
// agent/config/agent.example.yaml documents every key; a test loads it, so it cannot rot.
//
// Errors name where the value came from and which rule it broke, so an operator can fix the
// file without reading code:
//   agent.yaml:14:5: exporter.otlp.timeout: expected a duration like 10s or 500ms, got "abc"
// All errors of one file are reported together; any error means the config is not used.
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

#include <yaml-cpp/yaml.h>

#include "agent/export/export_config.hpp"
#include "agent/metrics/metrics_config.hpp"

// LogLevel: the enum the agent's log takes, so log.level needs no conversion.
#include "agent/base/log.hpp"
// ProducerRule: discovery.producers is parsed straight into the core's type.
#include "agent/core/trust.hpp"
#include "agent/base/status.hpp"

namespace spanring::agent {

// Durations keep nanoseconds so "250us" survives; asio timers take any std::chrono duration.
using Duration = std::chrono::nanoseconds;

// Each section's validate() reports a broken rule with the keys it is about, relative to the
// section ("scan_interval"), first the one the rule is about, then any it compares with, as
// HttpExportConfig::validate and MetricsConfig::validate do. load_config() turns them into
// "file:line:col: section.key: problem"; validate() is the only place a section's rules live.
using SectionReport = ValidationReport;

struct DiscoveryConfig {
  // Segments are always the spanring.* files in /dev/shm: engines create them with shm_open,
  // which has no other directory, so the place is not configurable.
  Duration scan_interval = std::chrono::seconds(1);
  // Only segments whose names start with this are drained ("spanring.<service>.<pid>"), e.g.
  // "spanring.llm-" for one family of services. Must start with "spanring.".
  std::string segment_prefix = "spanring.";
  // Which users/groups may feed which service names (agent/core/trust.hpp). Empty: any user may
  // feed any name. User and group names are resolved to ids when the config loads.
  std::vector<ProducerRule> producers;

  // scan_interval > 0 and whole milliseconds; segment_prefix starts with "spanring.", no '/'.
  // The producers rules (a service, users or groups) are checked as the file is read, where
  // names are resolved to ids.
  void validate(const SectionReport& report) const;

  bool operator==(const DiscoveryConfig&) const = default;
};

struct DrainConfig {
  // The drain loop polls every min_poll_interval while spans arrive and backs off towards
  // max_poll_interval while the rings are empty, so an idle agent costs almost no CPU.
  Duration min_poll_interval = std::chrono::milliseconds(1);
  Duration max_poll_interval = std::chrono::milliseconds(100);
  std::uint32_t max_spans_per_pass = 65536;  // bounds one pass so timers and HTTP stay served

  // min_poll_interval > 0, both intervals whole milliseconds, min <= max; max_spans_per_pass >= 1.
  void validate(const SectionReport& report) const;

  bool operator==(const DrainConfig&) const = default;
};

enum class ExporterType { kOtlp, kConsole, kFile, kNone };

struct FileExporterConfig {
  std::string path = "spans.jsonl";  // OTLP/JSON, one ExportTraceServiceRequest per line

  void validate(const SectionReport& report) const;  // path not empty

  bool operator==(const FileExporterConfig&) const = default;
};

struct ConsoleExporterConfig {
  std::uint32_t max_traces = 5;  // waterfalls printed per flush; 0 = all

  bool operator==(const ConsoleExporterConfig&) const = default;
};

struct ExporterConfig {
  ExporterType type = ExporterType::kOtlp;
  // The OTLP exporter's own config (agent/export/export_config.hpp), filled in place and handed
  // to the exporter as it is; its `queue` member is the file's top-level `queue` section.
  HttpExportConfig otlp;
  FileExporterConfig file;
  ConsoleExporterConfig console;

  bool operator==(const ExporterConfig&) const = default;
};

struct BatchConfig {
  std::uint32_t max_spans = 512;  // a batch is exported when it holds this many spans,
  Duration timeout = std::chrono::seconds(1);  // or when its oldest span waited this long

  // max_spans >= 1; timeout > 0 and whole milliseconds. queue.max_spans >= max_spans is the
  // agent's rule between two components (validate_config).
  void validate(const SectionReport& report) const;

  bool operator==(const BatchConfig&) const = default;
};

struct ShutdownConfig {
  Duration deadline = std::chrono::seconds(5);  // on SIGTERM: drain and flush within this

  void validate(const SectionReport& report) const;  // deadline > 0

  bool operator==(const ShutdownConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;

  // No validate(): every LogLevel is valid, and the parser accepts only their names.
  bool operator==(const LogConfig&) const = default;
};

struct StateConfig {
  bool remove_drained_segments = true;  // unlink segments of exited engines once drained

  bool operator==(const StateConfig&) const = default;
};

// The `agent` section: how the agent itself runs.
// Drain threads beyond 4 buy nothing at the design point (8 engines × 16 threads, 1 M spans/s:
// one drain thread decodes and encodes ~4 M spans/s) and take cores from the engines on the
// same host; the shared export stage (one io_context thread) bounds the total anyway.
inline constexpr std::uint32_t kMaxDrainThreads = 4;
struct AgentSectionConfig {
  // Threads that drain, decode, sample and encode; segments are sharded between them
  // (agent/core/drain_workers.hpp). 0: one per core, at most kMaxDrainThreads.
  std::uint32_t drain_threads = 0;

  void validate(const SectionReport& report) const;  // 0..kMaxDrainThreads

  bool operator==(const AgentSectionConfig&) const = default;
};

struct AgentConfig {
  AgentSectionConfig agent;
  DiscoveryConfig discovery;
  DrainConfig drain;
  ExporterConfig exporter;
  BatchConfig batch;
  MetricsConfig metrics;  // the metrics endpoint's own config (agent/metrics/metrics_config.hpp)
  ShutdownConfig shutdown;
  LogConfig log;
  StateConfig state;
  // The `sampling` section, validated and interpreted by agent/sampling (parse_sampling_config);
  // a null node when the file has none. The node keeps its marks for file:line:col errors.
  YAML::Node sampling;
  std::string source = "(defaults)";  // the config file's path, or "(defaults)"
};

struct ConfigError {
  std::string message;  // already formatted "file:line:col: key: problem"
};

// Loads defaults, then the OTEL_* environment, then the file at `path` (empty: no file);
// keys present in the file win over the environment.
//
// Environment (SPEC §4; an empty value counts as unset):
//   OTEL_EXPORTER_OTLP_ENDPOINT         base URL; "/v1/traces" is appended after ensuring a "/"
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  used as-is ("/" when it has no path); wins over the above
//   OTEL_EXPORTER_OTLP_[TRACES_]HEADERS     k1=v1,k2=v2, percent-decoded
//   OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT     integer milliseconds, 0 = no limit
//   OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION none | gzip
//   OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL    http/protobuf only (checked, sets nothing)
//   OTEL_TRACES_EXPORTER                    otlp | console | none
// (the TRACES_ form wins over the generic one). An invalid value is an ERROR naming the
// variable ("OTEL_EXPORTER_OTLP_ENDPOINT: https is not supported ..."), found by --check-config,
// so the agent never runs on a silent fallback. It is only a warning when the value would not
// be used anyway: the file sets the key the variable feeds (keys in the file win), or the
// TRACES_ form of the variable is set.
// The other trace-SDK variables of SPEC §4 (OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, TLS
// certificates and keys, OTEL_EXPORTER_OTLP_[TRACES_]INSECURE, OTEL_PROPAGATORS,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED, OTEL_CONFIG_FILE) are not
// supported: each one that is set adds one warning naming what to use instead.
//
// Returns true when `out` holds a valid config; false with at least one entry in `errors`
// otherwise (then `out` is unspecified). Both vectors are appended to, not cleared.
bool load_config(const std::string& path, AgentConfig& out, std::vector<std::string>& errors,
                 std::vector<std::string>& warnings,
                 const std::function<const char*(const char*)>& getenv_fn = ::getenv);

// Same, with the errors as ConfigError values.
bool load_config(const std::string& path, AgentConfig& out, std::vector<ConfigError>& errors,
                 std::vector<std::string>& warnings,
                 const std::function<const char*(const char*)>& getenv_fn = ::getenv);

// Checks every rule (ranges, URL and address syntax, cross-key limits) on a config built in
// code; load_config() runs the same checks with file positions. Errors are prefixed with
// `config.source`.
bool validate_config(const AgentConfig& config, std::vector<std::string>& errors);

std::string_view to_string(ExporterType type);

// ---- command line -------------------------------------------------------------------------

struct CommandLine {
  std::string config_path;  // empty: no file, defaults plus environment
  bool help = false;
  bool version = false;
  bool check_config = false;  // load and validate the config, print the result, exit
};

// spanring-agent [--config FILE] [--help] [--version] [--check-config]
// Also accepts --config=FILE, -c FILE and -h. Returns an invalid-argument Status on an unknown
// option, a missing file argument, a repeated --config or a positional argument.
Status parse_command_line(int argc, const char* const* argv, CommandLine& out);

// The --help text, ending in a newline.
std::string usage();

// "spanring-agent <version>", ending in a newline.
std::string version_text();

}  // namespace spanring::agent
