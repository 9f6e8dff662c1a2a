// Value syntaxes and message helpers shared by the config and the sampling config parsers, so
// both read and report values the same way. Quoting lives below, in agent/base/text.hpp.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <yaml-cpp/yaml.h>

#include "agent/base/text.hpp"

namespace spanring::agent {

// What a YAML node is, for "expected X, got Y" messages: a quoted scalar, "a list", ...
std::string describe(const YAML::Node& node);

// "10s", "500ms", "1m", "2h", "250us", "100ns", "1.5s" or a bare integer of milliseconds, kept
// exactly in nanoseconds (fraction digits below 1 ns are dropped). Negative values and overflow
// are rejected. The one duration parser of the config file: a key whose consumer needs a coarser
// resolution says so in its own validation, with the key's position.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

}  // namespace spanring::agent
