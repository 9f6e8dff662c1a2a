// Which custom request headers are acceptable; shared by validate() and the environment parser.
#pragma once

#include <string_view>

namespace spanring::agent {

// RFC 9110 token: the only characters allowed in a header name.
bool is_header_name(std::string_view name);
// No CR, LF or NUL: a value must not be able to start a new header line.
bool is_header_value(std::string_view value);
// Headers the exporter sets itself from the request; a custom value would corrupt the request.
bool is_reserved_header(std::string_view name);

}  // namespace spanring::agent
