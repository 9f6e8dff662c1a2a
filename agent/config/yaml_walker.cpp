#include "agent/config/yaml_walker.hpp"

#include <utility>

#include "agent/config/text.hpp"

namespace spanring::agent {

YAML::Mark value_mark(const YAML::Mark& key_mark, const YAML::Node& value) {
  return value.IsNull() || value.Mark().is_null() ? key_mark : value.Mark();
}

YamlWalker::YamlWalker(std::string source, std::vector<std::string>& errors, bool has_marks)
    : source_(std::move(source)), errors_(errors), has_marks_(has_marks) {}

void YamlWalker::error(const YAML::Mark& mark, std::string_view path, std::string_view problem) {
  std::string out = source_;
  if (has_marks_ && !mark.is_null()) {
    // yaml-cpp counts from 0; editors and compilers count from 1.
    out += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  out += ": ";
  out += path.empty() ? std::string_view("(top level)") : path;
  out += ": ";
  out += problem;
  errors_.push_back(std::move(out));
}

bool YamlWalker::map(const YamlItem& item, const std::vector<Key>& keys, bool null_is_empty) {
  if (item.value.IsNull() && null_is_empty) return true;
  if (!item.value.IsMap()) {
    error(item.mark, item.path, "expected a map of keys, got " + describe(item.value));
    return false;
  }
  std::map<std::string, int> first_line;
  for (auto it = item.value.begin(); it != item.value.end(); ++it) {
    const YAML::Node key = it->first;  // copies: `it->` yields a temporary proxy
    const YAML::Node value = it->second;
    const YAML::Mark key_mark = key.Mark();
    if (!key.IsScalar()) {
      error(key_mark, item.path, "expected a key name, got " + describe(key));
      continue;
    }
    const std::string path = item.path.empty() ? key.Scalar() : item.path + "." + key.Scalar();
    const auto [seen, inserted] = first_line.emplace(key.Scalar(), key_mark.line + 1);
    if (!inserted) {
      error(key_mark, path,
            has_marks_ ? "duplicate key (first at line " + std::to_string(seen->second) + ")" : "duplicate key");
      continue;
    }
    const Key* found = nullptr;
    for (const Key& k : keys) {
      if (k.name == key.Scalar()) found = &k;
    }
    if (found == nullptr) {
      std::string known;
      for (const Key& k : keys) {
        if (!known.empty()) known += ", ";
        known += k.name;
      }
      error(key_mark, path, "unknown key; expected one of " + known);
      continue;
    }
    const YAML::Mark mark = value_mark(key_mark, value);
    marks_[path] = mark;
    found->visit(YamlItem{value, path, mark});
  }
  return true;
}

YamlItem YamlWalker::element(const YamlItem& item, std::size_t n) const {
  const YAML::Node value = item.value[n];
  return YamlItem{value, item.path + "[" + std::to_string(n) + "]", value_mark(item.mark, value)};
}

const std::string* YamlWalker::scalar(const YamlItem& item, std::string_view expected) {
  if (item.value.IsScalar()) return &item.value.Scalar();
  error(item.mark, item.path, std::string(expected) + ", got " + describe(item.value));
  return nullptr;
}

std::optional<bool> YamlWalker::boolean(const YamlItem& item) {
  static constexpr std::string_view kExpected = "expected true or false";
  const std::string* text = scalar(item, kExpected);
  if (text == nullptr) return std::nullopt;
  const std::string l = lower(trim(*text));
  if (l == "true" || l == "false") return l == "true";
  error(item.mark, item.path, std::string(kExpected) + ", got " + quote(*text));
  return std::nullopt;
}

}  // namespace spanring::agent
