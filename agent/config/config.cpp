// Config loading: defaults → OTEL_* environment → YAML file, then one validation pass.
//
// The file is walked by the schema walker (yaml_walker.hpp) with a table of known keys per
// section. Every value's position is remembered by key path, so rules checked afterwards,
// including those of each component's validate() and those that span keys (min <= max), can
// still point at the line the operator wrote.
#include <grp.h>
#include <pwd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "agent/config/config.hpp"
#include "agent/config/input_file.hpp"
#include "agent/config/text.hpp"
#include "agent/config/yaml_walker.hpp"
#include "agent/export/url.hpp"
#include "spanring/shm/text.hpp"

namespace spanring::agent {
namespace {

using Marks = std::map<std::string, YAML::Mark>;
using Item = YamlItem;

std::string position(const std::string& source, const YAML::Mark* mark) {
  if (mark == nullptr || mark->is_null()) return source;
  // yaml-cpp counts from 0; editors and compilers count from 1.
  return source + ":" + std::to_string(mark->line + 1) + ":" + std::to_string(mark->column + 1);
}

std::string format_error(const std::string& source, const YAML::Mark* mark, std::string_view key,
                         std::string_view problem) {
  std::string out = position(source, mark);
  out += ": ";
  out += key.empty() ? std::string_view("(top level)") : key;
  out += ": ";
  out += problem;
  return out;
}

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};

constexpr EnumName<ExporterType> kExporterTypes[] = {{"otlp", ExporterType::kOtlp},
                                                     {"console", ExporterType::kConsole},
                                                     {"file", ExporterType::kFile},
                                                     {"none", ExporterType::kNone}};
constexpr EnumName<Protocol> kProtocols[] = {{"grpc", Protocol::kGrpc},
                                             {"http/protobuf", Protocol::kHttpProtobuf},
                                             {"http/json", Protocol::kHttpJson}};
constexpr EnumName<Compression> kCompressions[] = {{"none", Compression::kNone},
                                                   {"gzip", Compression::kGzip}};
constexpr EnumName<QueueStorage> kQueueStorages[] = {{"disk", QueueStorage::kDisk},
                                                     {"memory", QueueStorage::kMemory},
                                                     {"rings", QueueStorage::kRings}};
constexpr EnumName<LogLevel> kLogLevels[] = {{"debug", LogLevel::kDebug},
                                             {"info", LogLevel::kInfo},
                                             {"warn", LogLevel::kWarn},
                                             {"error", LogLevel::kError}};

template <class E, std::size_t N>
std::optional<E> find_enum(const EnumName<E> (&names)[N], std::string_view text) {
  const std::string wanted = lower(trim(text));
  for (const auto& entry : names) {
    if (entry.name == wanted) return entry.value;
  }
  return std::nullopt;
}

template <class E, std::size_t N>
std::string enum_choices(const EnumName<E> (&names)[N]) {
  std::string out;
  for (const auto& entry : names) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

// ---- the YAML file -----------------------------------------------------------------------------

class FileLoader {
 public:
  explicit FileLoader(YamlWalker& walker) : walker_(walker) {}

  void load(const YAML::Node& root, AgentConfig& cfg) {
    const Item item{root, "", root.Mark()};
    section(item, {
        {"agent", [&](const Item& i) { section(i, {{"drain_threads", u32(cfg.agent.drain_threads)}}); }},
        {"discovery", [&](const Item& i) {
           section(i, {{"scan_interval", duration(cfg.discovery.scan_interval)},
                       {"segment_prefix", string(cfg.discovery.segment_prefix)},
                       {"producers", producers(cfg.discovery.producers)}});
         }},
        {"drain", [&](const Item& i) {
           section(i, {{"min_poll_interval", duration(cfg.drain.min_poll_interval)},
                       {"max_poll_interval", duration(cfg.drain.max_poll_interval)},
                       {"max_spans_per_pass", u32(cfg.drain.max_spans_per_pass)}});
         }},
        {"exporter", [&](const Item& i) { exporter(i, cfg.exporter); }},
        {"batch", [&](const Item& i) {
           section(i, {{"max_spans", u32(cfg.batch.max_spans)},
                       {"timeout", duration(cfg.batch.timeout)}});
         }},
        {"queue", [&](const Item& i) {
           QueueConfig& queue = cfg.exporter.otlp.queue;
           section(i, {{"max_batches", u32(queue.max_batches)},
                       {"max_spans", u64(queue.max_spans)},
                       {"max_bytes", size(queue.max_bytes)},
                       {"storage", enumeration(queue.storage, kQueueStorages)},
                       {"directory", string(queue.directory)}});
         }},
        {"metrics", [&](const Item& i) { section(i, {{"listen", string(cfg.metrics.listen)}}); }},
        {"shutdown",
         [&](const Item& i) { section(i, {{"deadline", duration(cfg.shutdown.deadline)}}); }},
        {"log", [&](const Item& i) {
           section(i, {{"level", enumeration(cfg.log.level, kLogLevels)}});
         }},
        {"state", [&](const Item& i) {
           section(i, {{"remove_drained_segments", boolean(cfg.state.remove_drained_segments)}});
         }},
        // Interpreted by the sampling library (agent/sampling/config.hpp); kept as the node
        // itself, not a clone, so its errors can still name line and column.
        {"sampling", [&](const Item& i) { cfg.sampling = i.value; }},
    });
  }

 private:
  using Handler = YamlWalker::Visit;

  void error(const YAML::Mark& mark, std::string_view path, std::string_view problem) {
    walker_.error(mark, path, problem);
  }

  void exporter(const Item& item, ExporterConfig& cfg) {
    section(item, {
        {"type", enumeration(cfg.type, kExporterTypes)},
        {"otlp", [&](const Item& i) {
           section(i, {{"protocol", enumeration(cfg.otlp.protocol, kProtocols)},
                       {"endpoint", string(cfg.otlp.endpoint)},
                       {"tls", [&](const Item& t) {
                          TlsConfig& tls = cfg.otlp.tls;
                          section(t, {{"ca_file", string(tls.ca_file)},
                                      {"cert_file", string(tls.cert_file)},
                                      {"key_file", string(tls.key_file)},
                                      {"server_name", string(tls.server_name)},
                                      {"insecure_skip_verify", boolean(tls.insecure_skip_verify)},
                                      {"insecure", boolean(tls.insecure)}});
                        }},
                       {"headers", headers(cfg.otlp.headers)},
                       {"timeout", duration(cfg.otlp.timeout)},
                       {"compression", enumeration(cfg.otlp.compression, kCompressions)},
                       {"max_in_flight", u32(cfg.otlp.max_in_flight)},
                       {"retry", [&](const Item& r) {
                          RetryConfig& retry = cfg.otlp.retry;
                          section(r, {{"enabled", boolean(retry.enabled)},
                                      {"initial_interval", duration(retry.initial_interval)},
                                      {"max_interval", duration(retry.max_interval)},
                                      {"max_elapsed_time", duration(retry.max_elapsed_time)}});
                        }}});
         }},
        {"file", [&](const Item& i) { section(i, {{"path", string(cfg.file.path)}}); }},
        {"console", [&](const Item& i) {
           section(i, {{"max_traces", u32(cfg.console.max_traces)}});
         }},
    });
  }

  void section(const Item& item, const std::vector<YamlWalker::Key>& keys) { walker_.map(item, keys); }

  const std::string* scalar(const Item& item, std::string_view expected) { return walker_.scalar(item, expected); }

  Handler string(std::string& dst) {
    return [this, &dst](const Item& item) {
      if (const std::string* text = scalar(item, "expected a string")) dst = *text;
    };
  }

  Handler duration(Duration& dst) {
    return [this, &dst](const Item& item) {
      static constexpr std::string_view kExpected = "expected a duration like 10s or 500ms";
      const std::string* text = scalar(item, kExpected);
      if (text == nullptr) return;
      if (const auto d = parse_duration(*text)) {
        dst = *d;
      } else {
        error(item.mark, item.path, std::string(kExpected) + ", got " + quote(*text));
      }
    };
  }

  Handler size(std::uint64_t& dst) {
    return [this, &dst](const Item& item) {
      static constexpr std::string_view kExpected = "expected a size like 65536, 512KiB or 64MiB";
      const std::string* text = scalar(item, kExpected);
      if (text == nullptr) return;
      if (const auto bytes = shm::parse_size(*text)) {
        dst = *bytes;
      } else {
        error(item.mark, item.path, std::string(kExpected) + ", got " + quote(*text));
      }
    };
  }

  // Plain decimal digits only: "1e3", "0x10", "-1" and "1.5" are typos here, not numbers.
  std::optional<std::uint64_t> integer(const Item& item, std::uint64_t max) {
    const std::string expected = "expected an integer from 0 to " + std::to_string(max);
    const std::string* text = scalar(item, expected);
    if (text == nullptr) return std::nullopt;
    const std::string_view t = trim(*text);
    bool digits_only = !t.empty();
    for (char c : t) digits_only = digits_only && c >= '0' && c <= '9';
    if (digits_only && t.size() <= 20) {
      std::uint64_t value = 0;
      bool overflow = false;
      for (char c : t) {
        overflow = overflow || __builtin_mul_overflow(value, 10u, &value) ||
                   __builtin_add_overflow(value, static_cast<unsigned>(c - '0'), &value);
      }
      if (!overflow && value <= max) return value;
    }
    error(item.mark, item.path, expected + ", got " + quote(*text));
    return std::nullopt;
  }

  Handler u32(std::uint32_t& dst) {
    return [this, &dst](const Item& item) {
      if (const auto v = integer(item, UINT32_MAX)) dst = static_cast<std::uint32_t>(*v);
    };
  }

  Handler u64(std::uint64_t& dst) {
    return [this, &dst](const Item& item) {
      if (const auto v = integer(item, UINT64_MAX)) dst = *v;
    };
  }

  Handler boolean(bool& dst) {
    return [this, &dst](const Item& item) {
      if (const auto b = walker_.boolean(item)) dst = *b;
    };
  }

  template <class E, std::size_t N>
  Handler enumeration(E& dst, const EnumName<E> (&names)[N]) {
    return [this, &dst, &names](const Item& item) {
      const std::string expected = "expected one of " + enum_choices(names);
      const std::string* text = scalar(item, expected);
      if (text == nullptr) return;
      if (const auto v = find_enum(names, *text)) {
        dst = *v;
      } else {
        error(item.mark, item.path, expected + ", got " + quote(*text));
      }
    };
  }

  // discovery.producers: a list of {service, users, groups}; see agent/core/trust.hpp.
  Handler producers(std::vector<ProducerRule>& dst) {
    return [this, &dst](const Item& item) {
      dst.clear();
      if (item.value.IsNull()) return;
      if (!item.value.IsSequence()) {
        error(item.mark, item.path,
              "expected a list of {service, users, groups} entries, got " + describe(item.value));
        return;
      }
      for (std::size_t n = 0; n < item.value.size(); ++n) {
        const YAML::Node entry = item.value[n];
        const std::string path = item.path + "[" + std::to_string(n) + "]";
        const YAML::Mark mark = value_mark(item.mark, entry);
        if (!entry.IsMap()) {
          error(mark, path, "expected a map with service, users and groups, got " + describe(entry));
          continue;
        }
        ProducerRule rule;
        const std::size_t errors_before = walker_.error_count();
        section(Item{entry, path, mark},
                {{"service", string(rule.service)},
                 {"users", ids(rule.users, "user", &resolve_user)},
                 {"groups", ids(rule.groups, "group", &resolve_group)}});
        if (walker_.error_count() != errors_before) continue;
        if (rule.service.empty()) {
          error(mark, path + ".service", "must not be empty (\"*\" matches every service)");
          continue;
        }
        if (rule.users.empty() && rule.groups.empty()) {
          // Such a rule would refuse every producer of the services it matches.
          error(mark, path, "needs users or groups (names or numeric ids) allowed to feed " +
                                quote(rule.service));
          continue;
        }
        dst.push_back(std::move(rule));
      }
    };
  }

  static std::optional<std::uint32_t> resolve_user(const std::string& name) {
    std::vector<char> buf(16384);
    struct passwd pw;
    struct passwd* found = nullptr;
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return std::nullopt;
    }
    return found->pw_uid;
  }

  static std::optional<std::uint32_t> resolve_group(const std::string& name) {
    std::vector<char> buf(65536);  // groups with many members have long entries
    struct group gr;
    struct group* found = nullptr;
    if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return std::nullopt;
    }
    return found->gr_gid;
  }

  // A list of user (or group) names and numeric ids, resolved to ids now: a name that does not
  // exist is an error here rather than a rule that silently matches nobody.
  template <class Id>
  Handler ids(std::vector<Id>& dst, std::string_view what,
              std::optional<std::uint32_t> (*resolve)(const std::string&)) {
    return [this, &dst, what, resolve](const Item& item) {
      if (!item.value.IsSequence()) {
        error(item.mark, item.path, "expected a list of " + std::string(what) +
                                        " names or numeric ids, got " + describe(item.value));
        return;
      }
      for (std::size_t n = 0; n < item.value.size(); ++n) {
        const YAML::Node value = item.value[n];
        const std::string path = item.path + "[" + std::to_string(n) + "]";
        const YAML::Mark mark = value_mark(item.mark, value);
        const std::string* text = scalar(Item{value, path, mark}, "expected a " + std::string(what) +
                                                                     " name or numeric id");
        if (text == nullptr) continue;
        const std::string_view t = trim(*text);
        bool digits_only = !t.empty() && t.size() <= 10;
        std::uint64_t id = 0;
        for (char c : t) {
          digits_only = digits_only && c >= '0' && c <= '9';
          if (digits_only) id = id * 10 + static_cast<unsigned>(c - '0');
        }
        if (digits_only) {
          // (uid_t)-1 means "no change" to chown/setreuid; no real account has it.
          if (id >= UINT32_MAX) {
            error(mark, path, "numeric " + std::string(what) + " id out of range, got " + quote(*text));
          } else {
            dst.push_back(static_cast<Id>(id));
          }
        } else if (const auto resolved = resolve(std::string(t))) {
          dst.push_back(static_cast<Id>(*resolved));
        } else {
          error(mark, path, "unknown " + std::string(what) + " " + quote(*text) +
                                " (not in the " + (what == "user" ? "passwd" : "group") +
                                " database)");
        }
      }
    };
  }

  Handler headers(std::map<std::string, std::string>& dst) {
    return [this, &dst](const Item& item) {
      // The file's map replaces the environment's headers as a whole, like any other key.
      dst.clear();
      if (item.value.IsNull()) return;
      if (!item.value.IsMap()) {
        error(item.mark, item.path,
              "expected a map of header names to values, got " + describe(item.value));
        return;
      }
      std::map<std::string, int> first_line;  // by lower-case name: HTTP names ignore case
      for (auto it = item.value.begin(); it != item.value.end(); ++it) {
        const YAML::Node key = it->first;  // copies: `it->` yields a temporary proxy
        const YAML::Node value = it->second;
        const YAML::Mark key_mark = key.Mark();
        if (!key.IsScalar()) {
          error(key_mark, item.path, "expected a header name, got " + describe(key));
          continue;
        }
        const std::string path = item.path + "." + key.Scalar();
        const auto [seen, inserted] = first_line.emplace(lower(key.Scalar()), key_mark.line + 1);
        if (!inserted) {
          error(key_mark, path,
                "duplicate header (first at line " + std::to_string(seen->second) + ")");
          continue;
        }
        // validate() judges header names, so point it at the name.
        walker_.mark(path, key_mark);
        const YAML::Mark mark = value_mark(key_mark, value);
        if (const std::string* text = scalar(Item{value, path, mark}, "expected a string")) {
          dst[key.Scalar()] = *text;
        }
      }
    };
  }

  YamlWalker& walker_;
};

// ---- OTEL_* environment ------------------------------------------------------------------------

// An OTEL_* value the agent cannot use. It stops the start (an error naming the variable) unless
// the setting it would feed is decided elsewhere: by the config file (file wins) or by the
// variable's TRACES_ form. Then it is only warned about.
struct EnvIssue {
  std::string key;          // config key the variable feeds, e.g. exporter.otlp.endpoint
  std::string message;      // "OTEL_X: problem, got \"value\""
  bool overridden = false;  // the TRACES_ form is set and wins
};

// OTEL_* variables of SPEC §4 the agent does not implement, and what to use instead. Each one
// that is set gets one warning at start: silently ignoring it would leave the operator believing
// it works, refusing to start would break hosts that set them for their applications.
struct UnsupportedVariable {
  std::string_view name;
  std::string_view instead;
};
constexpr UnsupportedVariable kUnsupportedVariables[] = {
    {"OTEL_SDK_DISABLED", "the agent is not an SDK; to export nothing use exporter.type: none"},
    {"OTEL_SERVICE_NAME", "service names come from each engine's segment; set them in the engine"},
    {"OTEL_RESOURCE_ATTRIBUTES", "resource attributes come from each engine; set them in the engine"},
    {"OTEL_TRACES_SAMPLER", "use the sampling section of the config file (sampling.default_strategy, "
                            "sampling.strategies, sampling.remote)"},
    {"OTEL_TRACES_SAMPLER_ARG", "use the sampling section of the config file"},
    {"OTEL_PROPAGATORS", "context propagation happens in the engines, not in the agent"},
    {"OTEL_BSP_SCHEDULE_DELAY", "use batch.timeout"},
    {"OTEL_BSP_EXPORT_TIMEOUT", "use exporter.otlp.timeout (per attempt) and "
                                "exporter.otlp.retry.max_elapsed_time"},
    {"OTEL_BSP_MAX_QUEUE_SIZE", "use queue.max_spans"},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "use batch.max_spans"},
    {"OTEL_CONFIG_FILE", "the agent reads its own YAML (--config, see agent.example.yaml), not "
                         "OpenTelemetry declarative configuration"},
};

// Which OTEL_* variable set a config key (key -> variable), so a rule broken by a value from the
// environment names the variable, as a value from the file names its line.
using EnvSources = std::map<std::string, std::string>;

class EnvLoader {
 public:
  EnvLoader(const std::function<const char*(const char*)>& getenv_fn,
            std::vector<std::string>& warnings, std::vector<EnvIssue>& issues, EnvSources& sources)
      : getenv_(getenv_fn), warnings_(warnings), issues_(issues), sources_(sources) {}

  void load(AgentConfig& cfg) {
    HttpExportConfig& otlp = cfg.exporter.otlp;
    // The endpoint variables are applied by resolve_endpoint(), once the protocol (which may come
    // from the file) is known: gRPC uses OTEL_EXPORTER_OTLP_ENDPOINT as is, HTTP appends v1/traces.
    feeds("exporter.otlp.headers", "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
    if (const auto v = get("OTEL_EXPORTER_OTLP_HEADERS")) {
      set_headers("OTEL_EXPORTER_OTLP_HEADERS", *v, otlp.headers);
    }
    feeds("exporter.otlp.headers");
    if (const auto v = get("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) {
      set_headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS", *v, otlp.headers);
    }
    feeds("exporter.otlp.timeout", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT");
    if (const auto v = get("OTEL_EXPORTER_OTLP_TIMEOUT")) {
      set_timeout("OTEL_EXPORTER_OTLP_TIMEOUT", *v, otlp.timeout);
    }
    feeds("exporter.otlp.timeout");
    if (const auto v = get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")) {
      set_timeout("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", *v, otlp.timeout);
    }
    constexpr const char* kCompression[] = {"OTEL_EXPORTER_OTLP_COMPRESSION",
                                            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"};
    feeds("exporter.otlp.compression", kCompression[1]);
    for (const char* name : kCompression) {
      if (const auto v = get(name)) {
        if (const auto c = find_enum(kCompressions, *v)) {
          otlp.compression = *c;
        } else {
          invalid(name, "expected none or gzip", *v);
        }
      }
      feeds("exporter.otlp.compression");
    }
    constexpr const char* kProtocol[] = {"OTEL_EXPORTER_OTLP_PROTOCOL",
                                         "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"};
    feeds("exporter.otlp.protocol", kProtocol[1]);
    for (const char* name : kProtocol) {
      if (const auto v = get(name)) {
        if (const auto p = find_enum(kProtocols, *v)) {
          otlp.protocol = *p;
          sources_["exporter.otlp.protocol"] = name;
        } else {
          invalid(name, "expected one of grpc, http/protobuf, http/json", *v);
        }
      }
      feeds("exporter.otlp.protocol");
    }
    // TLS files (PEM paths): checked by the exporter's validate(), whose error then names the
    // variable (EnvSources).
    struct TlsVariable {
      const char* generic;
      const char* traces;
      const char* key;
      std::string TlsConfig::*field;
    };
    static const TlsVariable kTlsFiles[] = {
        {"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "exporter.otlp.tls.ca_file",
         &TlsConfig::ca_file},
        {"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
         "exporter.otlp.tls.cert_file", &TlsConfig::cert_file},
        {"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "exporter.otlp.tls.key_file",
         &TlsConfig::key_file},
    };
    for (const TlsVariable& t : kTlsFiles) {
      for (const char* name : {t.generic, t.traces}) {
        if (const auto v = get(name)) {
          otlp.tls.*t.field = std::string(*v);
          sources_[t.key] = name;
        }
      }
    }
    constexpr const char* kInsecure[] = {"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE"};
    for (const char* name : kInsecure) {
      // SPEC §4 booleans: only "true" (any case) is true, "false" is false, anything else is
      // warned about and ignored.
      if (const auto v = get(name)) {
        const std::string b = lower(trim(*v));
        if (b == "true" || b == "false") {
          otlp.tls.insecure = b == "true";
          sources_["exporter.otlp.tls.insecure"] = name;
        } else {
          warnings_.push_back(std::string(name) + ": expected true or false, got " + quote(*v) + "; ignored");
        }
      }
    }
    feeds("exporter.type");
    if (const auto v = get("OTEL_TRACES_EXPORTER")) {
      // The file exporter has no OTEL_ name; only the spec's values are accepted here.
      static constexpr EnumName<ExporterType> kEnvExporters[] = {
          {"otlp", ExporterType::kOtlp},
          {"console", ExporterType::kConsole},
          {"none", ExporterType::kNone}};
      if (const auto t = find_enum(kEnvExporters, *v)) {
        cfg.exporter.type = *t;
      } else {
        invalid("OTEL_TRACES_EXPORTER", "expected one of otlp, console, none", *v);
      }
    }
    for (const UnsupportedVariable& u : kUnsupportedVariables) {
      if (get(std::string(u.name).c_str())) {
        warnings_.push_back(std::string(u.name) + " is not supported by spanring-agent and is "
                            "ignored; " + std::string(u.instead));
      }
    }
  }

  // The endpoint from the variables, for the protocol now known; `file_sets` = the file's
  // exporter.otlp.endpoint wins (the variables' problems are then only warnings).
  void resolve_endpoint(HttpExportConfig& otlp, bool file_sets) {
    std::optional<std::string> url;
    feeds("exporter.otlp.endpoint", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if (const auto v = get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
      std::string base(*v);
      // SPEC §4: HTTP appends v1/traces to the base URL; gRPC uses it unchanged.
      if (otlp.protocol != Protocol::kGrpc) {
        if (base.empty() || base.back() != '/') base += '/';
        base += "v1/traces";
      }
      if (checked_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", *v, base, otlp.protocol)) url = base;
    }
    feeds("exporter.otlp.endpoint");
    if (const auto v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
      const std::string traces = with_root_path(*v);
      url = checked_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", *v, traces, otlp.protocol)
                ? std::optional<std::string>(traces)
                : std::nullopt;
    }
    if (file_sets) return;
    if (url) {
      otlp.endpoint = *url;
    } else {
      otlp.endpoint = default_endpoint(otlp.protocol);  // the spec's default for the protocol
    }
  }

 private:
  // Empty counts as unset (SPEC §4).
  std::optional<std::string_view> get(const char* name) const {
    const char* v = getenv_(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string_view(v);
  }

  // The variables read next feed config key `key`; `traces_form`, when set, is the variable
  // that wins over them.
  void feeds(const char* key, const char* traces_form = nullptr) {
    key_ = key;
    overridden_ = traces_form != nullptr && get(traces_form).has_value();
  }

  void issue(std::string message) {
    issues_.push_back(EnvIssue{key_, std::move(message), overridden_});
  }

  void invalid(std::string_view name, std::string_view problem, std::string_view value) {
    issue(std::string(name) + ": " + std::string(problem) + ", got " + quote(value));
  }

  // A traces endpoint without a path means "/", not "" (SPEC §4).
  static std::string with_root_path(std::string_view url) {
    std::string out(url);
    const auto scheme_end = out.find("://");
    const std::size_t authority_start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    const auto path_start = out.find_first_of("/?", authority_start);
    if (path_start == std::string::npos) {
      out += '/';
    } else if (out[path_start] == '?') {
      out.insert(path_start, "/");
    }
    return out;
  }

  bool checked_endpoint(const char* name, std::string_view raw, const std::string& url, Protocol protocol) {
    if (const auto problem = endpoint_problem(url, protocol)) {
      issue(std::string(name) + ": " + *problem + (url == raw ? "" : " (from " + quote(raw) + ")"));
      return false;
    }
    return true;
  }

  void set_timeout(const char* name, std::string_view raw, Duration& dst) {
    const std::string_view t = trim(raw);
    std::uint64_t ms = 0;
    bool ok = !t.empty() && t.size() <= 12;  // 10^12 ms is 31 years: anything larger is junk
    for (char c : t) {
      ok = ok && c >= '0' && c <= '9';
      if (ok) ms = ms * 10 + static_cast<unsigned>(c - '0');
    }
    if (!ok) {
      invalid(name, "expected integer milliseconds", raw);
      return;
    }
    dst = std::chrono::milliseconds(ms);
  }

  // k1=v1,k2=v2 with percent-encoding; any bad entry discards the whole variable, as the
  // spec asks for OTEL_RESOURCE_ATTRIBUTES, so a half-applied auth header never goes out.
  void set_headers(const char* name, std::string_view raw,
                   std::map<std::string, std::string>& dst) {
    std::map<std::string, std::string> parsed;
    std::string_view rest = raw;
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view entry = trim(rest.substr(0, comma));
      if (!entry.empty()) {
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos) {
          invalid(name, "expected key=value pairs separated by commas", raw);
          return;
        }
        const auto key = shm::percent_decode(trim(entry.substr(0, eq)));
        const auto value = shm::percent_decode(trim(entry.substr(eq + 1)));
        if (!key || !value) {
          invalid(name, "invalid percent-encoding", raw);
          return;
        }
        if (auto problem = header_name_problem(*key)) {
          invalid(name, "header " + quote(*key) + " " + *problem, raw);
          return;
        }
        if (auto problem = header_value_problem(*value)) {
          invalid(name, *problem, raw);
          return;
        }
        parsed[*key] = *value;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    dst = std::move(parsed);
  }

  const std::function<const char*(const char*)>& getenv_;
  std::vector<std::string>& warnings_;
  std::vector<EnvIssue>& issues_;
  EnvSources& sources_;
  std::string key_;
  bool overridden_ = false;
};

// Environment problems become errors, except where the value would not be used anyway.
void resolve_env_issues(const std::vector<EnvIssue>& issues, const Marks* file_marks,
                        const std::string& source, std::vector<ConfigError>& errors,
                        std::vector<std::string>& warnings) {
  for (const EnvIssue& i : issues) {
    if (i.overridden) {
      warnings.push_back(i.message + "; ignored: the TRACES_ form of the variable is set and wins");
    } else if (file_marks != nullptr && file_marks->count(i.key) != 0) {
      warnings.push_back(i.message + "; ignored: " + source + " sets " + i.key);
    } else {
      errors.push_back(ConfigError{i.message});
    }
  }
}

// ---- validation --------------------------------------------------------------------------------

class Validator {
 public:
  Validator(const AgentConfig& cfg, const Marks* marks, std::vector<ConfigError>& errors,
            const EnvSources* env = nullptr)
      : cfg_(cfg), marks_(marks), errors_(errors), env_(env) {}

  void run() {
    const AgentConfig& c = cfg_;
    c.agent.validate(section_report("agent."));
    c.discovery.validate(section_report("discovery."));
    c.drain.validate(section_report("drain."));
    // The exporter's own rules; its keys are relative to exporter.otlp, except the queue's,
    // which the file spells at top level.
    c.exporter.otlp.validate([&](std::initializer_list<std::string_view> keys, const std::string& problem) {
      std::vector<std::string> paths;
      for (std::string_view key : keys) {
        paths.push_back(key.starts_with("queue.") ? std::string(key) : "exporter.otlp." + std::string(key));
      }
      fail(paths, problem);
    });
    c.exporter.file.validate(section_report("exporter.file."));
    c.batch.validate(section_report("batch."));
    const QueueConfig& queue = c.exporter.otlp.queue;
    if (queue.max_spans >= 1 && queue.max_spans < c.batch.max_spans) {
      // Otherwise a single full batch could never be queued.
      fail({"queue.max_spans", "batch.max_spans"},
           "must be >= batch.max_spans (" + std::to_string(c.batch.max_spans) + "), got " +
               std::to_string(queue.max_spans));
    }
    c.metrics.validate(section_report("metrics."));
    c.shutdown.validate(section_report("shutdown."));
  }

 private:
  // A component's Report (its keys relative to its section) as errors at the full key paths.
  SectionReport section_report(std::string prefix) {
    return [this, prefix = std::move(prefix)](std::initializer_list<std::string_view> keys,
                                              const std::string& problem) {
      std::vector<std::string> paths;
      for (std::string_view key : keys) paths.push_back(prefix + std::string(key));
      fail(paths, problem);
    };
  }

  // Points at the first of `keys` the file set; a rule between two keys is reported at the
  // one the operator wrote, even when the other is a default.
  void fail(std::initializer_list<std::string_view> keys, std::string_view problem) {
    fail(std::vector<std::string>(keys.begin(), keys.end()), problem);
  }

  void fail(const std::vector<std::string>& keys, std::string_view problem) {
    const YAML::Mark* mark = nullptr;
    if (marks_ != nullptr) {
      for (const std::string& key : keys) {
        const auto it = marks_->find(key);
        if (it != marks_->end()) {
          mark = &it->second;
          break;
        }
      }
    }
    std::string text = format_error(cfg_.source, mark, keys.front(), problem);
    // A value the file did not set but a variable did: say which variable.
    if (mark == nullptr && env_ != nullptr) {
      if (const auto it = env_->find(keys.front()); it != env_->end()) text += " (set by " + it->second + ")";
    }
    errors_.push_back(ConfigError{std::move(text)});
  }

  const AgentConfig& cfg_;
  const Marks* marks_;
  std::vector<ConfigError>& errors_;
  const EnvSources* env_;
};

}  // namespace

std::string_view to_string(ExporterType type) {
  for (const auto& entry : kExporterTypes) {
    if (entry.value == type) return entry.name;
  }
  return "?";
}

namespace {

void positive(const SectionReport& report, std::string_view key, Duration d) {
  if (d.count() <= 0) report({key}, "must be greater than 0, got " + format_duration(d));
}

// The drain loop's own intervals are whole milliseconds: finer polling or scanning only burns
// CPU. (Every duration, these included, reaches its asio timer in nanoseconds, as written.)
void whole_ms(const SectionReport& report, std::string_view key, Duration d) {
  if (d.count() > 0 && d % std::chrono::milliseconds(1) != Duration::zero()) {
    report({key}, "must be a whole number of milliseconds (the drain loop's resolution), got " + format_duration(d));
  }
}

void at_least_one(const SectionReport& report, std::string_view key, std::uint64_t v) {
  if (v < 1) report({key}, "must be at least 1, got " + std::to_string(v));
}

}  // namespace

void DiscoveryConfig::validate(const SectionReport& report) const {
  positive(report, "scan_interval", scan_interval);
  whole_ms(report, "scan_interval", scan_interval);
  if (segment_prefix.rfind("spanring.", 0) != 0 || segment_prefix.find('/') != std::string::npos) {
    report({"segment_prefix"}, "must start with \"spanring.\" and contain no '/', got " + quote(segment_prefix));
  }
}

void AgentSectionConfig::validate(const SectionReport& report) const {
  if (drain_threads > kMaxDrainThreads)
    report({"drain_threads"}, "must be at most " + std::to_string(kMaxDrainThreads) + " (0 = one per core, at most " +
                                  std::to_string(kMaxDrainThreads) + "), got " + std::to_string(drain_threads));
}

void DrainConfig::validate(const SectionReport& report) const {
  positive(report, "min_poll_interval", min_poll_interval);
  whole_ms(report, "min_poll_interval", min_poll_interval);
  whole_ms(report, "max_poll_interval", max_poll_interval);
  if (min_poll_interval > max_poll_interval) {
    report({"min_poll_interval", "max_poll_interval"},
           "must be <= drain.max_poll_interval (" + format_duration(max_poll_interval) + "), got " +
               format_duration(min_poll_interval));
  }
  at_least_one(report, "max_spans_per_pass", max_spans_per_pass);
}

void FileExporterConfig::validate(const SectionReport& report) const {
  if (path.empty()) report({"path"}, "must not be empty");
}

void BatchConfig::validate(const SectionReport& report) const {
  at_least_one(report, "max_spans", max_spans);
  positive(report, "timeout", timeout);
  whole_ms(report, "timeout", timeout);
}

void ShutdownConfig::validate(const SectionReport& report) const { positive(report, "deadline", deadline); }

bool load_config(const std::string& path, AgentConfig& out, std::vector<ConfigError>& errors,
                 std::vector<std::string>& warnings,
                 const std::function<const char*(const char*)>& getenv_fn) {
  out = AgentConfig{};
  std::vector<EnvIssue> env_issues;
  EnvSources env_sources;
  EnvLoader env(getenv_fn, warnings, env_issues, env_sources);
  env.load(out);
  const std::size_t errors_before = errors.size();
  if (path.empty()) {
    env.resolve_endpoint(out.exporter.otlp, false);
    resolve_env_issues(env_issues, nullptr, out.source, errors, warnings);
    if (errors.size() != errors_before) return false;
    Validator(out, nullptr, errors, &env_sources).run();
    return errors.size() == errors_before;
  }

  out.source = path;
  // Never YAML::LoadFile(path): it reads /dev/zero until bad_alloc and blocks on a FIFO.
  std::string read_problem;
  const auto text = read_input_file(path, kMaxInputFileBytes, read_problem);
  if (!text) {
    errors.push_back(ConfigError{path + ": config file " + read_problem});
    return false;
  }
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    errors.push_back(ConfigError{position(path, &e.mark) + ": invalid YAML: " + e.msg});
    return false;
  }
  std::vector<std::string> walk_errors;
  YamlWalker walker(path, walk_errors);
  FileLoader(walker).load(root, out);
  for (std::string& e : walk_errors) errors.push_back(ConfigError{std::move(e)});
  const Marks& marks = walker.marks();
  env.resolve_endpoint(out.exporter.otlp, marks.count("exporter.otlp.endpoint") != 0);
  resolve_env_issues(env_issues, &marks, path, errors, warnings);
  // A value that failed to parse kept its previous value; validating that would only add
  // noise next to the real error.
  if (errors.size() != errors_before) return false;
  Validator(out, &marks, errors, &env_sources).run();
  return errors.size() == errors_before;
}

bool load_config(const std::string& path, AgentConfig& out, std::vector<std::string>& errors,
                 std::vector<std::string>& warnings,
                 const std::function<const char*(const char*)>& getenv_fn) {
  std::vector<ConfigError> config_errors;
  const bool ok = load_config(path, out, config_errors, warnings, getenv_fn);
  for (ConfigError& e : config_errors) errors.push_back(std::move(e.message));
  return ok;
}

bool validate_config(const AgentConfig& config, std::vector<std::string>& errors) {
  std::vector<ConfigError> config_errors;
  Validator(config, nullptr, config_errors).run();
  for (ConfigError& e : config_errors) errors.push_back(std::move(e.message));
  return config_errors.empty();
}

}  // namespace spanring::agent
