// Command line of spanring-loadgen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace spanring::loadgen {

inline constexpr int kMaxServices = 256;
inline constexpr int kMaxThreads = 1024;  // per service; the ABI's ring limit
inline constexpr int kMinSpansPerRequest = 4;  // root, one lookup, attention, response
inline constexpr int kMaxSpansPerRequest = 100000;

struct Config {
  double rate = 100.0;      // requests/s over all services and threads; 0 = as fast as possible
  double duration_s = 5.0;
  std::vector<std::string> services{"llm-server"};
  int threads = 1;          // per service
  int spans_per_request = 12;
  double error_rate = 0.02;
  std::uint64_t seed = 1;
  std::uint64_t shm_size = 0;  // 0: the client's default (or SPANRING_SHM_SIZE)
  bool quiet = false;
  bool simulate_work = false;  // spans sleep for plausible durations (demo waterfalls)
};

enum class ParseResult { kRun, kHelp, kError };

// Fills `config` from argv. kError leaves a one-line reason in `error`.
ParseResult parse_options(int argc, char** argv, Config& config, std::string& error);

// The --help text.
std::string usage();

}  // namespace spanring::loadgen
