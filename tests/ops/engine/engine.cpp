// The ten-line engine of the install test: built against an installed spanring with CMake
// (find_package) and with pkg-config, then run beside the installed agent.
#include <cstdio>
#include "spanring/tracer.hpp"

int main(int argc, char** argv) {
  spanring::Options options;
  options.service_name = argc > 1 ? argv[1] : "installed-engine";
  if (auto st = spanring::init(options); !st.ok()) return std::fprintf(stderr, "%s\n", st.message.c_str()), 1;
  for (int i = 0; i < 10; ++i) {
    spanring::Span request("request", spanring::SpanContext{}, spanring::SpanKind::kServer);
    spanring::Scope scope(request);
    spanring::Span step("step");
  }
  spanring::shutdown();
  return 0;
}
