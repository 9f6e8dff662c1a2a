// Quoting of values inside one-line messages, shared by the config and the sampling config so
// both report a bad value the same way.
#pragma once

#include <string>
#include <string_view>

namespace spanring::agent {

// Double-quoted, with '"', '\\' and control characters escaped, so a value cannot garble a
// one-line message ("a\nb" becomes "\"a\\nb\"").
std::string quote(std::string_view s);

}  // namespace spanring::agent
