// spanring-dump: drains spanring segments and prints each span, one line per span.
//   spanring-dump [--keep] [--remove] [SEGMENT...]     (default: every /dev/shm/spanring.*)
// --keep:   do not advance the rings' read position (inspect without consuming)
// --remove: unlink segments whose producer has exited once they are drained
#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "spanring/shm/reader.hpp"

namespace {

std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::string value_text(const spanring::shm::AttrView& a) {
  switch (a.type) {
    case spanring::shm::kAttrBool: return a.bool_value ? "true" : "false";
    case spanring::shm::kAttrInt: return std::to_string(a.int_value);
    case spanring::shm::kAttrDouble: return std::to_string(a.double_value);
    case spanring::shm::kAttrString: return '"' + std::string(a.string_value) + '"';
    default: {  // an array
      std::string s = "[";
      spanring::shm::for_each_element(a, [&](const spanring::shm::AttrView& e) {
        if (s.size() > 1) s += ',';
        s += value_text(e);
      });
      return s + ']';
    }
  }
}

std::string attr_text(const spanring::shm::AttrView& a) { return std::string(a.key) + '=' + value_text(a); }

}  // namespace

int main(int argc, char** argv) {
  bool keep = false, remove = false;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--keep") keep = true;
    else if (a == "--remove") remove = true;
    else if (a == "-h" || a == "--help") {
      std::printf("usage: spanring-dump [--keep] [--remove] [SEGMENT...]\n");
      return 0;
    } else names.push_back(a);
  }
  if (names.empty()) {
    if (DIR* d = opendir("/dev/shm")) {
      while (dirent* e = readdir(d))
        if (std::strncmp(e->d_name, spanring::shm::kSegmentPrefix, std::strlen(spanring::shm::kSegmentPrefix)) == 0)
          names.emplace_back(e->d_name);
      closedir(d);
    }
  }
  int status = 0;
  for (const std::string& name : names) {
    spanring::shm::SegmentReader reader;
    std::string message;
    if (reader.open(name, message) != spanring::shm::SegmentError::kOk) {
      std::fprintf(stderr, "spanring-dump: %s\n", message.c_str());
      status = 1;
      continue;
    }
    std::printf("== %s service=%.*s pid=%u rings=%u capacity=%u\n", name.c_str(), int(reader.service_name().size()),
                reader.service_name().data(), reader.header().producer_pid, reader.ring_count(),
                reader.header().ring_capacity);
    std::uint64_t spans = 0;
    for (std::uint32_t r = 0; r < reader.ring_count(); ++r) {
      const std::uint64_t pos = reader.read(r, reader.tail(r), ~0ull, [&](const spanring::shm::SpanView& s) {
        ++spans;
        std::printf("%s %s %s %-20.*s %8.3f ms", hex(s.trace_id.data(), 16).c_str(), hex(s.span_id.data(), 8).c_str(),
                    s.has_parent ? hex(s.parent_span_id.data(), 8).c_str() : "----------------", int(s.name.size()),
                    s.name.data(), double(s.end_unix_ns - s.start_unix_ns) / 1e6);
        for (const auto& a : s.attributes) std::printf(" %s", attr_text(a).c_str());
        std::printf("\n");
      });
      if (!keep) reader.commit(r, pos);
    }
    const auto& c = reader.counters();
    std::printf("-- %" PRIu64 " spans read, %" PRIu64 " rejected; producer wrote %" PRIu64 ", dropped %" PRIu64
                " (ring full) + %" PRIu64 " (no ring)\n",
                spans, c.rejected_total(), reader.spans_written(), reader.spans_dropped_full(),
                reader.spans_dropped_no_ring());
    const bool producer_gone = ::kill(static_cast<pid_t>(reader.header().producer_pid), 0) != 0 && errno == ESRCH;
    if (remove && producer_gone && !keep) spanring::shm::remove_segment(name);
  }
  return status;
}
