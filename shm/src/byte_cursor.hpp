// A bounds-checked reader over untrusted bytes: every get fails rather than read past the end.
// Internal to shm/src: the span decoder (span_codec.cpp) and the reader's resource list
// (reader.cpp) use it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "spanring/shm/span_codec.hpp"

namespace spanring::shm::detail {

class Cursor {
 public:
  Cursor(const std::uint8_t* p, std::size_t n) : p_(p), end_(p + n) {}
  bool done() const { return p_ == end_; }
  template <class T>
  bool get(T& v) {
    if (std::size_t(end_ - p_) < sizeof(T)) return false;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return true;
  }
  bool skip(std::size_t n) {
    if (std::size_t(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const std::uint8_t* position() const { return p_; }
  bool bytes(void* dst, std::size_t n) {
    if (std::size_t(end_ - p_) < n) return false;
    std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  // Returns kRejectReasonCount on success.
  RejectReason str(StringCache& strings, std::string_view& out, std::int32_t* id = nullptr) {
    std::uint16_t n;
    if (!get(n)) return kRejectTruncated;
    if (n & kStrInterned) {
      const std::uint32_t i = n & 0x7fffu;
      if (!strings.lookup(i, out)) return kRejectBadString;
      if (id) *id = std::int32_t(i);
      return kRejectReasonCount;
    }
    if (n > kMaxStringLength) return kRejectBadString;
    if (std::size_t(end_ - p_) < n) return kRejectTruncated;
    out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    if (id) *id = -1;
    return kRejectReasonCount;
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

}  // namespace spanring::shm::detail
