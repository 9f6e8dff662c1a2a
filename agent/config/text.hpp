// Text helpers shared by the config and the sampling config parsers, so both read and report
// values the same way.
#pragma once

#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

namespace spanring::agent {

// Double-quoted, with '"', '\\' and control characters escaped, so a value cannot garble a
// one-line message ("a\nb" becomes "\"a\\nb\"").
std::string quote(std::string_view s);

// ASCII lowercase copy (config enums are case-insensitive).
std::string lower(std::string_view s);

// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

// What a YAML node is, for "expected X, got Y" messages: a quoted scalar, "a list", ...
std::string describe(const YAML::Node& node);

}  // namespace spanring::agent
