// The one schema walker of the agent's YAML: "visit this map, these keys are allowed, call this
// for each", reporting every problem as `file:line:col: a.b.c: problem`. Used by the config file
// (agent/config/config.cpp) and its sampling section (agent/sampling/config.cpp), so both find
// unknown keys, duplicates and wrong types the same way and word them the same way.
//
// It walks instead of calling yaml-cpp's as<T>(): as<T>() accepts values we refuse ("yes" for a
// bool, "1.5" for an integer) and its exceptions carry no key path.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace spanring::agent {

// One value being visited.
struct YamlItem {
  YAML::Node value;
  std::string path;  // dotted key path from the root, e.g. exporter.otlp.timeout; "" = the root
  YAML::Mark mark;   // where to report it: the value's position, its key's when it is empty
};

class YamlWalker {
 public:
  // `source` prefixes every message (the file name). `has_marks` false: the tree was
  // YAML::Clone()d, which drops positions, so messages name the file and key path only.
  YamlWalker(std::string source, std::vector<std::string>& errors, bool has_marks = true);

  // Appends "source:line:col: path: problem" (1-based; "(top level)" for the root's path).
  void error(const YAML::Mark& mark, std::string_view path, std::string_view problem);

  using Visit = std::function<void(const YamlItem&)>;
  struct Key {
    std::string_view name;
    Visit visit;
  };

  // Visits, in file order, each key of the map `item` with the handler of the same name. An
  // unknown key, a repeated key (yaml-cpp keeps both; taking one would hide an editing mistake)
  // or a non-scalar key is reported and skipped. A value that is not a map is reported and false
  // returned; a null value (`section:` with nothing under it) is an empty map when
  // `null_is_empty`, else reported like any other non-map.
  bool map(const YamlItem& item, const std::vector<Key>& keys, bool null_is_empty = true);

  // The n-th element of the sequence `item`, with its path "item.path[n]".
  YamlItem element(const YamlItem& item, std::size_t n) const;

  // The scalar's text, or nullptr after reporting "<expected>, got <what it is>".
  const std::string* scalar(const YamlItem& item, std::string_view expected);

  // true / false in any case; YAML 1.1's yes/no/on/off are refused (`on` meaning true surprises).
  std::optional<bool> boolean(const YamlItem& item);

  bool has_marks() const noexcept { return has_marks_; }
  std::size_t error_count() const noexcept { return errors_.size(); }
  // The position of every value map() visited, by key path (for rules checked after the walk).
  const std::map<std::string, YAML::Mark>& marks() const noexcept { return marks_; }
  // Records another position, e.g. a header's name, which a later rule is about.
  void mark(const std::string& path, const YAML::Mark& mark) { marks_[path] = mark; }

 private:
  std::string source_;
  std::vector<std::string>& errors_;
  bool has_marks_;
  std::map<std::string, YAML::Mark> marks_;
};

// Where to report `value`, written after a key at `key_mark`: an empty value is marked at the
// next token, often on the following line, so empty and null values are reported at their key.
YAML::Mark value_mark(const YAML::Mark& key_mark, const YAML::Node& value);

}  // namespace spanring::agent
