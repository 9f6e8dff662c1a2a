// libspanring.so loaded the way Python loads it: late, with dlopen, into a process whose
// static-TLS surplus other dlopen'ed libraries have used up. An initial-exec build of the same
// library (the static library's TLS model, linked into a .so) is refused there ("cannot
// allocate memory in static TLS block"); the real one loads, traces from several threads and
// its spans read back. Own executable: it exhausts this process's static TLS on purpose.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "spanring/shm/reader.hpp"
#include "spanring/shm/segment.hpp"
#include "spanring/spanring.h"

namespace {

struct Api {
  decltype(&spanring_init) init = nullptr;
  decltype(&spanring_shutdown) shutdown = nullptr;
  decltype(&spanring_intern) intern = nullptr;
  decltype(&spanring_span_start) start = nullptr;
  decltype(&spanring_span_set_int) set_int = nullptr;
  decltype(&spanring_span_set_string_array) set_strings = nullptr;
  decltype(&spanring_span_end) end = nullptr;
  template <class F>
  static bool load(void* lib, const char* name, F& f) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    return f != nullptr;
  }
  bool load(void* lib) {
    return load(lib, "spanring_init", init) && load(lib, "spanring_shutdown", shutdown) &&
           load(lib, "spanring_intern", intern) && load(lib, "spanring_span_start", start) &&
           load(lib, "spanring_span_set_int", set_int) && load(lib, "spanring_span_set_string_array", set_strings) &&
           load(lib, "spanring_span_end", end);
  }
};

TEST(SharedLibrary, LoadsByDlopenAfterStaticTlsIsUsedUpAndTracesFromThreads) {
  // Use up the static-TLS surplus with initial-exec libraries, as a big Python process does.
  // Big ones until one is refused, then small ones to take the rest (each size class is tried
  // until its first refusal).
  int loaded = 0;
  std::string refusal;
  bool refused_this_size = false;
  for (int i = 0; i < SPANRING_HOG_COUNT; ++i) {
    if (refused_this_size && i < SPANRING_HOG_BIG) continue;
    const std::string path = std::string(SPANRING_HOG_DIR) + "/libspanring_tls_hog_" + std::to_string(i) + ".so";
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) {
      ++loaded;
    } else {
      refusal = dlerror();
      if (i >= SPANRING_HOG_BIG) break;
      refused_this_size = true;
    }
  }
  if (refusal.empty())
    GTEST_SKIP() << "this glibc found static TLS for " << loaded << " initial-exec libraries; nothing to prove here";
  std::printf("static TLS used up after %d initial-exec libraries: %s\n", loaded, refusal.c_str());

  // What an initial-exec build would meet (the reason libspanring.so uses TLSDESC).
  EXPECT_EQ(dlopen(SPANRING_IE_PROBE, RTLD_NOW | RTLD_LOCAL), nullptr) << "an initial-exec spanring loaded anyway";

  void* lib = dlopen(SPANRING_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  Api api;
  ASSERT_TRUE(api.load(lib)) << dlerror();

  const std::string service = "dlopen-test-" + std::to_string(::getpid());
  spanring_options o{};
  o.service_name = service.c_str();
  o.shm_size = 4u << 20;  // 15 rings: each of the 4 threads gets one (1 MiB holds 3: one thread would race for a released ring)
  char err[256];
  ASSERT_EQ(api.init(&o, err, sizeof err), 0) << err;
  constexpr int kThreads = 4, kSpans = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&api, t] {
      const spanring_key name = api.intern("dlopen.span", 11);
      const spanring_key key = api.intern("thread", 6);
      const spanring_string reasons[] = {{"stop", 4}};
      for (int i = 0; i < kSpans; ++i) {
        spanring_span s;
        api.start(&s, name, SPANRING_KIND_INTERNAL, nullptr);
        api.set_int(&s, key, t);
        api.set_strings(&s, api.intern("reasons", 7), reasons, 1);
        api.end(&s);
      }
    });
  for (auto& th : threads) th.join();
  api.shutdown();

  const std::string segment = "spanring." + service + "." + std::to_string(::getpid());
  spanring::shm::SegmentReader reader;
  std::string message;
  ASSERT_EQ(reader.open(segment, message), spanring::shm::SegmentError::kOk) << message;
  std::uint64_t spans = 0;
  for (std::uint32_t r = 0; r < reader.ring_count(); ++r)
    reader.read(r, 0, reader.head(r), [&](const spanring::shm::SpanView& v) {
      spans += v.name == "dlopen.span" && v.attributes.size() == 2;
    });
  EXPECT_EQ(spans, std::uint64_t{kThreads * kSpans});
  EXPECT_EQ(reader.counters().rejected_total(), 0u);
  spanring::shm::remove_segment(segment);
}

}  // namespace
