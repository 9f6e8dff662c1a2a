// gzip (RFC 1952) compression of request bodies, for Content-Encoding: gzip.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spanring::agent {

// nullopt only if zlib fails (out of memory); the caller then fails the batch.
std::optional<std::string> gzip_compress(std::string_view data);

}  // namespace spanring::agent
