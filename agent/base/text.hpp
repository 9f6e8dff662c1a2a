// Text for the agent's messages, shared by every component that validates its own config, so each
// quotes and compares values the same way.
#pragma once

#include <string>
#include <string_view>

namespace spanring::agent {

// Double-quoted, with '"', '\\' and control characters escaped, so a value cannot garble a
// one-line message ("a\nb" becomes "\"a\\nb\"").
std::string quote(std::string_view s);

// ASCII lowercase copy (config enums are case-insensitive).
std::string lower(std::string_view s);

// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);

}  // namespace spanring::agent
