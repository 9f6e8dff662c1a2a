// The `sampling:` YAML section, the strategies file it may name, and Jaeger's merge rules.
//
// Walked by the agent's one schema walker (agent/config/yaml_walker.hpp), as the rest of the
// config file is, so keys, duplicates and types are checked and reported the same way.
#include <charconv>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "agent/config/input_file.hpp"
#include "agent/config/text.hpp"
#include "agent/config/yaml_walker.hpp"
#include "agent/export/export_config.hpp"
#include "agent/export/url.hpp"
#include "agent/sampling/config.hpp"
#include "agent/sampling/config_internal.hpp"

namespace spanring::agent {

const char* to_string(StrategyType type) noexcept {
  return type == StrategyType::kRateLimiting ? "ratelimiting" : "probabilistic";
}

const ServiceStrategy& SamplingConfig::strategy_for(std::string_view service) const noexcept {
  for (const NamedStrategy& s : services) {
    if (s.service == service) return s.strategy;
  }
  return default_strategy;
}

namespace sampling_detail {

std::string position(const std::string& source, int line, int column) {
  if (line <= 0) return source;
  return source + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void resolve_strategies(const RawStrategies& raw, const ServiceStrategy& default_strategy,
                        double global_default_probability, double lower_bound,
                        std::vector<NamedStrategy>& out_services, ServiceStrategy& out_default) {
  const auto finish = [&](ServiceStrategy s) {
    if (s.per_operation) {
      s.default_probability =
          s.type == StrategyType::kProbabilistic ? s.param : global_default_probability;
      s.lower_bound_per_second = lower_bound;
    } else {
      s.default_probability = s.type == StrategyType::kProbabilistic ? s.param : 1.0;
      s.lower_bound_per_second = 0;
    }
    return s;
  };
  out_default = finish(default_strategy);
  out_services.clear();
  for (const NamedStrategy& named : raw.services) {
    ServiceStrategy s = finish(named.strategy);
    if (out_default.per_operation) {
      if (!s.per_operation) {
        // Jaeger: a probabilistic service without its own list takes the default's list, with
        // its own rate for unlisted operations; a rate-limiting one stays rate-limiting.
        if (s.type == StrategyType::kProbabilistic) {
          s.per_operation = true;
          s.operations = out_default.operations;
          s.lower_bound_per_second = out_default.lower_bound_per_second;
        }
      } else {
        for (const OperationStrategy& op : out_default.operations) {
          bool listed = false;
          for (const OperationStrategy& own : s.operations) listed = listed || own.operation == op.operation;
          if (!listed) s.operations.push_back(op);
        }
      }
    }
    out_services.push_back(NamedStrategy{named.service, std::move(s)});
  }
}

}  // namespace sampling_detail

namespace {

using sampling_detail::RawStrategies;


// YAML::Clone() drops marks (every node reads 0:0, pos 0). Real marks put at most the document
// root and its first key at offset 0, so a tree where nothing is past offset 0 has none.
bool has_marks(const YAML::Node& node) {
  if (!node.IsDefined()) return false;
  if (node.Mark().pos > 0) return true;
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (has_marks(it->first) || has_marks(it->second)) return true;
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (has_marks(*it)) return true;
    }
  }
  return false;
}

struct Entry {
  std::string key;
  YAML::Node value;
  YAML::Mark mark;  // the value's, or the key's when the value is empty (see value_mark)
  std::string path;
};

class YamlParser {
 public:
  YamlParser(std::string file, bool marks, std::vector<std::string>& errors)
      : walker_(std::move(file), errors, marks), errors_(errors) {}

  void error(const YAML::Mark& mark, const std::string& path, const std::string& problem) {
    walker_.error(mark, path, problem);
  }

  // The keys of a map, each at most once and each in `known`; false if `node` is not a map.
  bool fields(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
              std::initializer_list<std::string_view> known, std::vector<Entry>& out) {
    std::vector<YamlWalker::Key> keys;
    for (std::string_view k : known) {
      keys.push_back({k, [&out, k](const YamlItem& item) {
                        out.push_back(Entry{std::string(k), item.value, item.mark, item.path});
                      }});
    }
    return walker_.map(YamlItem{node, path, mark}, keys, /*null_is_empty=*/false);
  }

  const std::string* scalar(const Entry& e, std::string_view expected) {
    return walker_.scalar(YamlItem{e.value, e.path, e.mark}, expected);
  }

  std::optional<double> number(const Entry& e) {
    const std::string* text = scalar(e, "expected a number");
    if (text == nullptr) return std::nullopt;
    const std::string_view t = trim(*text);
    double value = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(value)) {
      error(e.mark, e.path, "expected a number, got " + quote(*text));
      return std::nullopt;
    }
    return value;
  }

  std::optional<double> probability(const Entry& e) {
    const auto v = number(e);
    if (!v) return std::nullopt;
    if (*v < 0 || *v > 1) {
      error(e.mark, e.path, "must be in [0, 1], got " + std::string(trim(e.value.Scalar())));
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> rate(const Entry& e) {
    const auto v = number(e);
    if (!v) return std::nullopt;
    if (*v < 0) {
      error(e.mark, e.path, "must be >= 0 (traces per second), got " + std::string(trim(e.value.Scalar())));
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> boolean(const Entry& e) { return walker_.boolean(YamlItem{e.value, e.path, e.mark}); }

  std::optional<std::string> string(const Entry& e, bool allow_empty = false) {
    const std::string* text = scalar(e, "expected a string");
    if (text == nullptr) return std::nullopt;
    if (!allow_empty && trim(*text).empty()) {
      error(e.mark, e.path, "must not be empty");
      return std::nullopt;
    }
    return *text;
  }

  // Through the config's one duration parser (agent/config/text.hpp), exact to the nanosecond;
  // every sampling duration must be > 0, and `at_least` states a key's own floor.
  std::optional<std::chrono::nanoseconds> duration(const Entry& e,
                                                   std::chrono::nanoseconds at_least = std::chrono::nanoseconds(1)) {
    static constexpr std::string_view kExpected = "expected a duration like 60s or 500ms";
    const std::string* text = scalar(e, kExpected);
    if (text == nullptr) return std::nullopt;
    const auto d = parse_duration(*text);
    if (!d) {
      error(e.mark, e.path, std::string(kExpected) + ", got " + quote(*text));
      return std::nullopt;
    }
    if (d->count() <= 0) {
      error(e.mark, e.path, "must be > 0, got " + quote(*text));
      return std::nullopt;
    }
    if (*d < at_least) {
      error(e.mark, e.path, "must be at least " + format_duration(at_least) + ", got " + quote(*text));
      return std::nullopt;
    }
    return d;
  }

  std::optional<StrategyType> type(const Entry& e) {
    static constexpr std::string_view kExpected = "expected probabilistic, rate_limiting or ratelimiting";
    const std::string* text = scalar(e, kExpected);
    if (text == nullptr) return std::nullopt;
    const std::string l = lower(trim(*text));
    if (l == "probabilistic") return StrategyType::kProbabilistic;
    if (l == "rate_limiting" || l == "ratelimiting") return StrategyType::kRateLimiting;
    error(e.mark, e.path, std::string(kExpected) + ", got " + quote(*text));
    return std::nullopt;
  }

  void missing(const YAML::Mark& mark, const std::string& path, std::string_view key) {
    error(mark, path, "missing required key \"" + std::string(key) + "\"");
  }

  // A strategy map: `service` (list entries only), type, param, operation_strategies.
  bool strategy(const YAML::Node& node, const YAML::Mark& mark, const std::string& path,
                bool with_service, NamedStrategy& out) {
    std::vector<Entry> entries;
    const bool ok = with_service
                        ? fields(node, mark, path, {"service", "type", "param", "operation_strategies"}, entries)
                        : fields(node, mark, path, {"type", "param", "operation_strategies"}, entries);
    if (!ok) return false;
    const std::size_t before = errors_.size();
    bool has_service = false, has_type = false;
    const Entry* param = nullptr;
    for (const Entry& e : entries) {
      if (e.key == "service") {
        if (auto s = string(e)) out.service = *s;
        has_service = true;
      } else if (e.key == "type") {
        if (auto t = type(e)) out.strategy.type = *t;
        has_type = true;
      } else if (e.key == "param") {
        param = &e;
      } else if (e.key == "operation_strategies") {
        operations(e, out.strategy);
      }
    }
    if (with_service && !has_service) missing(mark, path, "service");
    if (!has_type) missing(mark, path, "type");
    if (param == nullptr) {
      missing(mark, path, "param");
    } else if (has_type) {
      const auto v = out.strategy.type == StrategyType::kProbabilistic ? probability(*param) : rate(*param);
      if (v) out.strategy.param = *v;
    }
    return errors_.size() == before;
  }

  void operations(const Entry& e, ServiceStrategy& out) {
    if (e.value.IsNull()) return;  // `operation_strategies:` with nothing: none
    if (!e.value.IsSequence()) {
      error(e.mark, e.path, "expected a list of {operation, type, param}, got " + describe(e.value));
      return;
    }
    out.per_operation = true;
    std::map<std::string, int> first_line;
    for (std::size_t i = 0; i < e.value.size(); ++i) {
      const YAML::Node node = e.value[i];
      const std::string path = e.path + "[" + std::to_string(i) + "]";
      std::vector<Entry> entries;
      if (!fields(node, node.Mark(), path, {"operation", "type", "param"}, entries)) continue;
      OperationStrategy op;
      bool saw_op = false, op_ok = false, saw_type = false, probabilistic = false;
      const Entry* param = nullptr;
      for (const Entry& f : entries) {
        if (f.key == "operation") {
          saw_op = true;
          if (auto s = string(f, true)) {
            op.operation = *s;
            const auto [seen, inserted] = first_line.emplace(op.operation, f.mark.line + 1);
            op_ok = inserted;
            if (!inserted) {
              error(f.mark, f.path,
                    "duplicate operation " + quote(op.operation) +
                        (marks() ? " (first at line " + std::to_string(seen->second) + ")" : ""));
            }
          }
        } else if (f.key == "type") {
          saw_type = true;
          if (auto t = type(f)) {
            probabilistic = *t == StrategyType::kProbabilistic;
            if (!probabilistic) {
              error(f.mark, f.path,
                    "operation strategies can only be probabilistic (Jaeger skips this entry), got " +
                        quote(f.value.Scalar()));
            }
          }
        } else if (f.key == "param") {
          param = &f;
        }
      }
      if (!saw_op) missing(node.Mark(), path, "operation");
      if (!saw_type) missing(node.Mark(), path, "type");
      if (param == nullptr) missing(node.Mark(), path, "param");
      std::optional<double> p;
      if (param != nullptr) p = probability(*param);
      if (op_ok && probabilistic && p) {
        op.probability = *p;
        out.operations.push_back(std::move(op));
      }
    }
  }

  bool marks() const noexcept { return walker_.has_marks(); }

 private:
  YamlWalker walker_;
  std::vector<std::string>& errors_;
};

std::string resolve_path(const std::string& file_name, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute() || file_name.empty() || file_name.front() == '(') return path;
  const std::filesystem::path dir = std::filesystem::path(file_name).parent_path();
  return dir.empty() ? path : (dir / p).lexically_normal().string();
}

}  // namespace

bool parse_sampling_config(const YAML::Node& sampling, const std::string& file_name,
                           SamplingConfig& out, std::vector<std::string>& errors) {
  out = SamplingConfig{};
  if (!sampling.IsDefined() || sampling.IsNull()) return true;
  const std::size_t before = errors.size();
  YamlParser p(file_name, has_marks(sampling), errors);

  std::vector<Entry> entries;
  if (!p.fields(sampling, sampling.Mark(), "sampling",
                {"parent_based", "strategies", "default_strategy", "default_lower_bound_traces_per_second",
                 "strategies_file", "remote", "decision_cache"},
                entries)) {
    return false;
  }
  RawStrategies inline_raw;
  std::string strategies_file;
  YAML::Mark file_mark;
  std::string file_key_path;
  for (const Entry& e : entries) {
    if (e.key == "parent_based") {
      if (auto b = p.boolean(e)) out.parent_based = *b;
    } else if (e.key == "strategies") {
      if (e.value.IsNull()) continue;
      if (!e.value.IsSequence()) {
        p.error(e.mark, e.path, "expected a list of strategies, got " + describe(e.value));
        continue;
      }
      std::map<std::string, int> first_line;
      for (std::size_t i = 0; i < e.value.size(); ++i) {
        const YAML::Node node = e.value[i];
        const std::string path = e.path + "[" + std::to_string(i) + "]";
        NamedStrategy s;
        if (!p.strategy(node, node.Mark(), path, true, s)) continue;
        const auto [seen, inserted] = first_line.emplace(s.service, node.Mark().line + 1);
        if (!inserted) {
          YAML::Mark m = node["service"].Mark();
          p.error(m, path + ".service",
                  "duplicate service " + quote(s.service) +
                      (p.marks() ? " (first at line " + std::to_string(seen->second) + ")" : ""));
          continue;
        }
        inline_raw.services.push_back(std::move(s));
      }
    } else if (e.key == "default_strategy") {
      NamedStrategy s;
      if (p.strategy(e.value, e.mark, e.path, false, s)) {
        inline_raw.has_default = true;
        inline_raw.default_strategy = std::move(s.strategy);
      }
    } else if (e.key == "default_lower_bound_traces_per_second") {
      if (auto r = p.rate(e)) {
        inline_raw.has_lower_bound = true;
        inline_raw.lower_bound = *r;
      }
    } else if (e.key == "strategies_file") {
      if (auto s = p.string(e)) {
        strategies_file = *s;
        file_mark = e.mark;
        file_key_path = e.path;
      }
    } else if (e.key == "remote") {
      std::vector<Entry> remote;
      if (!p.fields(e.value, e.mark, e.path, {"endpoint", "poll_interval", "timeout"}, remote)) continue;
      bool has_endpoint = false;
      for (const Entry& r : remote) {
        if (r.key == "endpoint") {
          has_endpoint = true;
          if (auto s = p.string(r)) {
            const auto url = parse_http_url(*s);
            if (const auto* reason = std::get_if<std::string>(&url)) {
              p.error(r.mark, r.path,
                      "expected an http:// URL like http://127.0.0.1:5778/sampling, got " + quote(*s) + " (" +
                          *reason + ")");
            } else {
              out.remote.endpoint = *s;
            }
          }
        } else if (r.key == "poll_interval") {
          // Each poll asks once per service: below 1 ms it would busy-loop the agent's io
          // thread and flood the sampling server.
          if (auto d = p.duration(r, std::chrono::milliseconds(1))) out.remote.poll_interval = *d;
        } else if (r.key == "timeout") {
          if (auto d = p.duration(r)) out.remote.timeout = *d;
        }
      }
      if (!has_endpoint) p.missing(e.mark, e.path, "endpoint");
    } else if (e.key == "decision_cache") {
      std::vector<Entry> cache;
      if (!p.fields(e.value, e.mark, e.path, {"capacity", "ttl"}, cache)) continue;
      for (const Entry& c : cache) {
        if (c.key == "capacity") {
          const auto v = p.number(c);
          if (!v) continue;
          if (*v < 1 || *v > (1 << 24) || *v != std::floor(*v)) {
            p.error(c.mark, c.path, "must be an integer from 1 to 16777216, got " + std::string(trim(c.value.Scalar())));
          } else {
            out.decision_cache_capacity = static_cast<std::size_t>(*v);
          }
        } else if (c.key == "ttl") {
          if (auto d = p.duration(c)) out.decision_cache_ttl_seconds = std::chrono::duration<double>(*d).count();
        }
      }
    }
  }

  RawStrategies file_raw;
  bool have_file = false;
  if (!strategies_file.empty()) {
    const std::string path = resolve_path(file_name, strategies_file);
    out.strategies_file = path;
    // Read through the agent's one bounded reader (agent/config/input_file.hpp): a regular file
    // of at most 16 MiB, opened without blocking, so a reload on the drain thread cannot stall
    // draining or exhaust memory whatever the key names.
    std::string problem;
    const auto text = read_input_file(path, kMaxInputFileBytes, problem);
    if (!text) {
      p.error(file_mark, file_key_path, path + " " + problem);
    } else if (trim(*text).find_first_not_of("\r\n") == std::string_view::npos) {
      p.error(file_mark, file_key_path, path + " is empty (expected a Jaeger strategies JSON object)");
    } else {
      ServiceStrategy unused;
      sampling_detail::JsonForm form{};
      if (sampling_detail::parse_json(*text, path, file_raw, unused, form, errors)) {
        if (form == sampling_detail::JsonForm::kRemoteResponse) {
          p.error(file_mark, file_key_path,
                  quote(path) + " is a remote sampling response, not a strategies file (expected "
                  "service_strategies / default_strategy)");
        } else {
          have_file = true;
        }
      }
    }
  }
  if (errors.size() != before) return false;

  // File entries win per service; the file's default and lower bound win over the inline ones.
  RawStrategies combined = inline_raw;
  if (have_file) {
    for (NamedStrategy& s : file_raw.services) {
      bool replaced = false;
      for (NamedStrategy& existing : combined.services) {
        if (existing.service == s.service) {
          existing = s;
          replaced = true;
        }
      }
      if (!replaced) combined.services.push_back(s);
    }
  }
  const double global_default = have_file ? kJaegerDefaultSamplingProbability : 1.0;
  ServiceStrategy default_strategy;
  default_strategy.param = global_default;
  if (have_file && file_raw.has_default) {
    default_strategy = file_raw.default_strategy;
  } else if (inline_raw.has_default) {
    default_strategy = inline_raw.default_strategy;
  }
  const double lower_bound = have_file && file_raw.has_lower_bound ? file_raw.lower_bound : inline_raw.lower_bound;
  sampling_detail::resolve_strategies(combined, default_strategy, global_default, lower_bound, out.services,
                                      out.default_strategy);
  return true;
}

}  // namespace spanring::agent
