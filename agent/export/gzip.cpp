#include "agent/export/gzip.hpp"

#include <zlib.h>

#include <limits>

namespace spanring::agent {

std::optional<std::string> gzip_compress(std::string_view data) {
  // zlib counts in uInt; bodies are bounded by max_request_bytes far below 4 GiB, but refuse
  // rather than truncate if a caller ever passes more.
  if (data.size() > std::numeric_limits<uInt>::max() / 2) return std::nullopt;
  z_stream zs{};
  // windowBits 15 + 16 selects the gzip wrapper instead of zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  // deflateBound guarantees one Z_FINISH call completes.
  const int rc = deflate(&zs, Z_FINISH);
  const auto produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  out.resize(produced);
  return out;
}

}  // namespace spanring::agent
