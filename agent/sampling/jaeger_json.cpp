// Jaeger's two JSON forms (SPEC §7.a strategies file, §7.b remote response), read with simdjson
// On Demand in one forward pass. On Demand hands out views into the input, so every error can
// point at the byte where the offending token starts, turned into line:column here.
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "agent/config/text.hpp"
#include "agent/sampling/config.hpp"
#include "agent/sampling/config_internal.hpp"

namespace spanring::agent {
namespace {

namespace od = simdjson::ondemand;
using sampling_detail::JsonForm;
using sampling_detail::RawStrategies;

class JsonParser {
 public:
  JsonParser(std::string_view json, const std::string& source, std::vector<std::string>& errors)
      : padded_(json), source_(source), errors_(errors) {}

  // Where `p` (a pointer into the padded copy) sits in the text, as SOURCE:LINE:COL.
  std::string where(const char* p) const {
    const char* base = padded_.data();
    if (p == nullptr || p < base || p > base + padded_.size()) return source_;
    int line = 1, column = 1;
    for (const char* c = base; c < p; ++c) {
      if (*c == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return sampling_detail::position(source_, line, column);
  }

  void error(const char* at, const std::string& path, const std::string& problem) {
    errors_.push_back(where(at) + ": " + (path.empty() ? std::string("(top level)") : path) + ": " + problem);
  }

  // A simdjson error: the document cannot be read further.
  void fatal(simdjson::error_code code, const std::string& path) {
    fatal_ = true;
    const char* at = nullptr;
    if (doc_ok_) {
      const auto loc = doc_.current_location();
      if (!loc.error()) at = loc.value_unsafe();
    }
    error(at, path, std::string("invalid JSON: ") + simdjson::error_message(code));
  }

  static const char* token_start(od::value& v) { return v.raw_json_token().data(); }

  static std::string token_text(od::value& v) {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t')) {
      raw.remove_suffix(1);
    }
    if (raw.size() > 64) return std::string(raw.substr(0, 61)) + "...";
    return std::string(raw);
  }

  std::string describe(od::value& v) {
    od::json_type t;
    if (v.type().get(t)) return "invalid JSON";
    switch (t) {
      case od::json_type::array: return "a list";
      case od::json_type::object: return "an object";
      case od::json_type::null: return "null";
      default: return token_text(v);
    }
  }

  bool is_null(od::value& v) {
    od::json_type t;
    return !v.type().get(t) && t == od::json_type::null;
  }

  // Calls fn(key, key_pos, path, value) for each member; duplicate keys are errors.
  template <class Fn>
  bool object(od::value& v, const std::string& path, Fn&& fn) {
    od::object obj;
    if (const auto code = v.get_object().get(obj)) {
      if (code == simdjson::INCORRECT_TYPE) {
        error(token_start(v), path, "expected an object, got " + describe(v));
      } else {
        fatal(code, path);
      }
      return false;
    }
    std::set<std::string, std::less<>> seen;
    for (auto member : obj) {
      od::field field;
      if (const auto code = std::move(member).get(field)) {
        fatal(code, path);
        return false;
      }
      const char* key_pos = field.key().raw();
      if (key_pos != nullptr) --key_pos;  // at the opening quote
      std::string_view key;
      if (const auto code = field.unescaped_key().get(key)) {
        fatal(code, path);
        return false;
      }
      const std::string child = path.empty() ? std::string(key) : path + "." + std::string(key);
      if (!seen.emplace(key).second) {
        error(key_pos, child, "duplicate key");
        continue;
      }
      fn(key, key_pos, child, field.value());
      if (fatal_) return false;
    }
    return !fatal_;
  }

  template <class Fn>
  bool array(od::value& v, const std::string& path, Fn&& fn) {
    od::array arr;
    if (const auto code = v.get_array().get(arr)) {
      if (code == simdjson::INCORRECT_TYPE) {
        error(token_start(v), path, "expected a list, got " + describe(v));
      } else {
        fatal(code, path);
      }
      return false;
    }
    std::size_t i = 0;
    for (auto element : arr) {
      od::value item;
      const std::string child = path + "[" + std::to_string(i++) + "]";
      if (const auto code = std::move(element).get(item)) {
        fatal(code, child);
        return false;
      }
      fn(child, item);
      if (fatal_) return false;
    }
    return !fatal_;
  }

  bool number(od::value& v, const std::string& path, double& out) {
    const char* at = token_start(v);
    double d = 0;
    if (const auto code = v.get_double().get(d)) {
      if (code == simdjson::INCORRECT_TYPE) {
        error(at, path, "expected a number, got " + describe(v));
      } else {
        fatal(code, path);
      }
      return false;
    }
    if (!std::isfinite(d)) {
      error(at, path, "expected a finite number, got " + token_text(v));
      return false;
    }
    out = d;
    return true;
  }

  bool probability(od::value& v, const std::string& path, double& out) {
    double d = 0;
    if (!number(v, path, d)) return false;
    if (d < 0 || d > 1) {
      error(token_start(v), path, "must be in [0, 1], got " + token_text(v));
      return false;
    }
    out = d;
    return true;
  }

  bool rate(od::value& v, const std::string& path, double& out) {
    double d = 0;
    if (!number(v, path, d)) return false;
    if (d < 0) {
      error(token_start(v), path, "must be >= 0 (traces per second), got " + token_text(v));
      return false;
    }
    out = d;
    return true;
  }

  bool string(od::value& v, const std::string& path, std::string& out) {
    const char* at = token_start(v);
    std::string_view s;
    if (const auto code = v.get_string().get(s)) {
      if (code == simdjson::INCORRECT_TYPE) {
        error(at, path, "expected a string, got " + describe(v));
      } else {
        fatal(code, path);
      }
      return false;
    }
    out = std::string(s);
    return true;
  }

  // ---- strategies file (SPEC §7.a) ------------------------------------------------------------

  // {"service"?, "type", "param", "operation_strategies"?}
  bool file_strategy(od::value& v, const char* at, const std::string& path, bool with_service, NamedStrategy& out) {
    const std::size_t before = errors_.size();
    bool has_service = false, has_type = false, saw_param = false, has_param = false, type_ok = false;
    std::string type_text;
    const char* type_at = nullptr;
    double param = 0;
    const char* param_at = nullptr;
    std::string param_text, param_path;
    const bool ok = object(v, path, [&](std::string_view key, const char* key_pos, const std::string& child, od::value& value) {
      if (key == "service" && with_service) {
        has_service = true;
        if (string(value, child, out.service) && out.service.empty()) error(token_start(value), child, "must not be empty");
      } else if (key == "type") {
        has_type = true;
        type_at = token_start(value);
        if (string(value, child, type_text)) {
          if (type_text == "probabilistic") {
            out.strategy.type = StrategyType::kProbabilistic;
            type_ok = true;
          } else if (type_text == "ratelimiting" || type_text == "rate_limiting") {
            out.strategy.type = StrategyType::kRateLimiting;
            type_ok = true;
          } else {
            error(type_at, child, "expected probabilistic or ratelimiting, got " + quote(type_text));
          }
        }
      } else if (key == "param") {
        saw_param = true;
        param_at = token_start(value);
        param_path = child;
        param_text = token_text(value);
        has_param = number(value, child, param);
      } else if (key == "operation_strategies") {
        file_operations(value, child, out.strategy);
      } else {
        error(key_pos, child, "unknown key; expected one of " +
                                  std::string(with_service ? "service, " : "") + "type, param, operation_strategies");
      }
    });
    if (!ok) return false;
    if (with_service && !has_service) error(at, path, "missing required key \"service\"");
    if (!has_type) error(at, path, "missing required key \"type\"");
    if (!saw_param) error(at, path, "missing required key \"param\"");
    if (has_param && type_ok) {
      if (out.strategy.type == StrategyType::kProbabilistic) {
        if (param < 0 || param > 1) {
          error(param_at, param_path, "must be in [0, 1], got " + param_text);
        } else {
          out.strategy.param = param;
        }
      } else if (param < 0) {
        error(param_at, param_path, "must be >= 0 (traces per second), got " + param_text);
      } else {
        // Jaeger stores maxTracesPerSecond as int32(param): the same file, the same rate.
        out.strategy.param = std::trunc(std::min(param, 2147483647.0));
      }
    }
    return errors_.size() == before;
  }

  void file_operations(od::value& v, const std::string& path, ServiceStrategy& out) {
    if (is_null(v)) return;
    out.per_operation = true;
    std::set<std::string, std::less<>> names;
    array(v, path, [&](const std::string& child, od::value& item) {
      const char* at = token_start(item);
      OperationStrategy op;
      bool has_op = false;
      const std::size_t before = errors_.size();
      bool has_type = false, has_param = false, type_ok = false;
      double param = 0;
      const char* param_at = nullptr;
      std::string param_text;
      object(item, child, [&](std::string_view key, const char* key_pos, const std::string& field, od::value& value) {
        if (key == "operation") {
          has_op = true;
          const char* op_at = token_start(value);
          if (string(value, field, op.operation) && !names.insert(op.operation).second) {
            error(op_at, field, "duplicate operation " + quote(op.operation));
          }
        } else if (key == "type") {
          has_type = true;
          std::string t;
          const char* type_at = token_start(value);
          if (string(value, field, t)) {
            if (t == "probabilistic") {
              type_ok = true;
            } else if (t == "ratelimiting" || t == "rate_limiting") {
              error(type_at, field, "operation strategies can only be probabilistic (Jaeger skips this entry), got " + quote(t));
            } else {
              error(type_at, field, "expected probabilistic, got " + quote(t));
            }
          }
        } else if (key == "param") {
          param_at = token_start(value);
          param_text = token_text(value);
          has_param = probability(value, field, param);
        } else {
          error(key_pos, field, "unknown key; expected one of operation, type, param");
        }
      });
      if (fatal_) return;
      if (!has_op) error(at, child, "missing required key \"operation\"");
      if (!has_type) error(at, child, "missing required key \"type\"");
      if (param_at == nullptr) error(at, child, "missing required key \"param\"");
      if (errors_.size() == before && has_param && type_ok) {
        op.probability = param;
        out.operations.push_back(std::move(op));
      }
    });
  }

  void file_member(std::string_view key, const char* key_pos, const std::string& path, od::value& value,
                   RawStrategies& out) {
    if (key == "service_strategies") {
      if (is_null(value)) return;
      std::set<std::string, std::less<>> services;
      array(value, path, [&](const std::string& child, od::value& item) {
        const char* at = token_start(item);
        NamedStrategy s;
        if (!file_strategy(item, at, child, true, s)) return;
        if (!services.insert(s.service).second) {
          error(at, child + ".service", "duplicate service " + quote(s.service));
          return;
        }
        out.services.push_back(std::move(s));
      });
    } else if (key == "default_strategy") {
      if (is_null(value)) return;
      NamedStrategy s;
      if (file_strategy(value, token_start(value), path, false, s)) {
        out.has_default = true;
        out.default_strategy = std::move(s.strategy);
      }
    } else if (key == "default_lower_bound_traces_per_second") {
      if (rate(value, path, out.lower_bound)) out.has_lower_bound = true;
    } else {
      (void)key_pos;
    }
  }

  // ---- remote response (SPEC §7.b) ------------------------------------------------------------

  struct Response {
    bool has_type = false;
    StrategyType type = StrategyType::kProbabilistic;
    bool has_probabilistic = false, has_rate_limiting = false, has_operations = false;
    double sampling_rate = 0, max_traces = 0;
    double default_probability = 0, lower_bound = 0;
    std::vector<OperationStrategy> operations;
  };

  // Proto3 JSON: an absent field is its zero value, null means absent, extra fields are skipped.
  void response_member(std::string_view key, const std::string& path, od::value& value, Response& r) {
    if (is_null(value)) return;
    if (key == "strategyType") {
      const char* at = token_start(value);
      od::json_type t;
      if (value.type().get(t)) return fatal(simdjson::TAPE_ERROR, path);
      if (t == od::json_type::string) {
        std::string s;
        if (!string(value, path, s)) return;
        if (s == "PROBABILISTIC") {
          r.type = StrategyType::kProbabilistic;
        } else if (s == "RATE_LIMITING") {
          r.type = StrategyType::kRateLimiting;
        } else {
          return error(at, path, "expected PROBABILISTIC, RATE_LIMITING, 0 or 1, got " + quote(s));
        }
      } else {
        double d = -1;
        if (!number(value, path, d)) return;
        if (d != 0 && d != 1) return error(at, path, "expected PROBABILISTIC, RATE_LIMITING, 0 or 1, got " + token_text(value));
        r.type = d == 0 ? StrategyType::kProbabilistic : StrategyType::kRateLimiting;
      }
      r.has_type = true;
    } else if (key == "probabilisticSampling") {
      r.has_probabilistic = object(value, path, [&](std::string_view k, const char*, const std::string& child, od::value& v) {
        if (k == "samplingRate" && !is_null(v)) probability(v, child, r.sampling_rate);
      });
    } else if (key == "rateLimitingSampling") {
      r.has_rate_limiting = object(value, path, [&](std::string_view k, const char*, const std::string& child, od::value& v) {
        if (k == "maxTracesPerSecond" && !is_null(v)) rate(v, child, r.max_traces);
      });
    } else if (key == "operationSampling") {
      std::set<std::string, std::less<>> names;
      r.has_operations = object(value, path, [&](std::string_view k, const char*, const std::string& child, od::value& v) {
        if (is_null(v)) return;
        if (k == "defaultSamplingProbability") {
          probability(v, child, r.default_probability);
        } else if (k == "defaultLowerBoundTracesPerSecond") {
          rate(v, child, r.lower_bound);
        } else if (k == "perOperationStrategies") {
          array(v, child, [&](const std::string& item_path, od::value& item) {
            const char* at = token_start(item);
            OperationStrategy op;
            bool has_name = false;
            object(item, item_path, [&](std::string_view f, const char*, const std::string& field, od::value& fv) {
              if (is_null(fv)) return;
              if (f == "operation") {
                has_name = string(fv, field, op.operation);
              } else if (f == "probabilisticSampling") {
                object(fv, field, [&](std::string_view g, const char*, const std::string& rate_path, od::value& gv) {
                  if (g == "samplingRate" && !is_null(gv)) probability(gv, rate_path, op.probability);
                });
              }
            });
            if (fatal_) return;
            if (!has_name) return error(at, item_path, "missing required key \"operation\"");
            if (!names.insert(op.operation).second) return error(at, item_path, "duplicate operation " + quote(op.operation));
            r.operations.push_back(std::move(op));
          });
        }
      });
    }
  }

  // jaeger-client-go's order: operationSampling, else probabilisticSampling, else
  // rateLimitingSampling decides; strategyType only explains a response that has none of them.
  bool finish_response(const Response& r, ServiceStrategy& out) {
    out = ServiceStrategy{};
    if (r.has_probabilistic) {
      out.type = StrategyType::kProbabilistic;
      out.param = r.sampling_rate;
    } else if (r.has_rate_limiting) {
      out.type = StrategyType::kRateLimiting;
      out.param = r.max_traces;
    } else if (r.has_operations) {
      out.type = StrategyType::kProbabilistic;
      out.param = r.default_probability;
    } else {
      const bool rl = r.has_type && r.type == StrategyType::kRateLimiting;
      error(padded_.data(), "", std::string("no strategy in the response: expected ") +
                                    (rl ? "rateLimitingSampling" : "probabilisticSampling") +
                                    ", rateLimitingSampling or operationSampling");
      return false;
    }
    out.default_probability = out.type == StrategyType::kProbabilistic ? out.param : 1.0;
    if (r.has_operations) {
      out.per_operation = true;
      out.default_probability = r.default_probability;
      out.lower_bound_per_second = r.lower_bound;
      out.operations = r.operations;
    }
    return true;
  }

  // ---- the document ---------------------------------------------------------------------------

  bool parse(RawStrategies& file, ServiceStrategy& response, JsonForm& form) {
    const std::size_t before = errors_.size();
    if (const auto code = parser_.iterate(padded_).get(doc_)) {
      fatal(code, "");
      return false;
    }
    doc_ok_ = true;
    od::value root;
    if (const auto code = doc_.get_value().get(root)) {
      fatal(code, "");
      return false;
    }
    static constexpr std::string_view kFileKeys[] = {"service_strategies", "default_strategy",
                                                     "default_lower_bound_traces_per_second"};
    static constexpr std::string_view kResponseKeys[] = {"strategyType", "probabilisticSampling",
                                                         "rateLimitingSampling", "operationSampling"};
    const char* file_key = nullptr;
    const char* response_key = nullptr;
    std::vector<std::pair<const char*, std::string>> unknown;
    Response r;
    const bool ok = object(root, "", [&](std::string_view key, const char* key_pos, const std::string& path, od::value& value) {
      for (std::string_view k : kFileKeys) {
        if (k == key) {
          if (file_key == nullptr) file_key = key_pos;
          return file_member(key, key_pos, path, value, file);
        }
      }
      for (std::string_view k : kResponseKeys) {
        if (k == key) {
          if (response_key == nullptr) response_key = key_pos;
          return response_member(key, path, value, r);
        }
      }
      unknown.emplace_back(key_pos, path);
    });
    if (!ok) return false;
    // On Demand stops after the root value; a token left after it is trailing garbage.
    if (const auto rest = doc_.current_location(); !rest.error()) {
      error(rest.value_unsafe(), "", "unexpected content after the JSON value");
      return false;
    }
    if (file_key != nullptr && response_key != nullptr) {
      error(response_key, "", "mixes strategies-file keys (service_strategies, default_strategy) with remote "
                              "response keys (strategyType, probabilisticSampling, ...); use one form");
      return false;
    }
    if (response_key != nullptr) {
      form = JsonForm::kRemoteResponse;
      if (errors_.size() != before) return false;
      return finish_response(r, response);
    }
    form = JsonForm::kStrategiesFile;
    for (const auto& [at, path] : unknown) {
      error(at, path, "unknown key; expected one of service_strategies, default_strategy, "
                      "default_lower_bound_traces_per_second");
    }
    return errors_.size() == before;
  }

 private:
  simdjson::padded_string padded_;
  const std::string& source_;
  std::vector<std::string>& errors_;
  od::parser parser_;
  od::document doc_;
  bool doc_ok_ = false;
  bool fatal_ = false;
};

}  // namespace

namespace sampling_detail {

bool parse_json(std::string_view json, const std::string& source, RawStrategies& file, ServiceStrategy& response,
                JsonForm& form, std::vector<std::string>& errors) {
  JsonParser parser(json, source, errors);
  return parser.parse(file, response, form);
}

}  // namespace sampling_detail

bool parse_jaeger_strategies_json(std::string_view json, const std::string& source_name,
                                  SamplingConfig& out_or_part, std::vector<std::string>& errors) {
  RawStrategies raw;
  ServiceStrategy response;
  JsonForm form{};
  if (!sampling_detail::parse_json(json, source_name, raw, response, form, errors)) return false;
  if (form == JsonForm::kRemoteResponse) {
    out_or_part.default_strategy = std::move(response);
    return true;
  }
  ServiceStrategy default_strategy;
  default_strategy.param = kJaegerDefaultSamplingProbability;
  if (raw.has_default) default_strategy = raw.default_strategy;
  sampling_detail::resolve_strategies(raw, default_strategy, kJaegerDefaultSamplingProbability,
                                      raw.has_lower_bound ? raw.lower_bound : 0.0, out_or_part.services,
                                      out_or_part.default_strategy);
  return true;
}

bool parse_remote_strategy_response(std::string_view json, const std::string& source_name, ServiceStrategy& out,
                                    std::vector<std::string>& errors) {
  RawStrategies raw;
  JsonForm form{};
  const std::size_t before = errors.size();
  if (!sampling_detail::parse_json(json, source_name, raw, out, form, errors)) return false;
  if (form != JsonForm::kRemoteResponse) {
    errors.push_back(source_name + ": expected a remote sampling response (strategyType, probabilisticSampling, "
                                   "rateLimitingSampling or operationSampling)");
  }
  return errors.size() == before;
}

}  // namespace spanring::agent
