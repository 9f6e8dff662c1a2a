#include "options.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

#include "spanring/shm/abi.hpp"
#include "spanring/shm/layout.hpp"

namespace spanring::loadgen {
namespace {

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

bool parse_u64(std::string_view s, std::uint64_t& out, std::string_view& rest) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  rest = std::string_view(end, static_cast<std::size_t>(s.data() + s.size() - end));
  return ec == std::errc() && end != s.data();
}

bool parse_int(std::string_view s, int lo, int hi, int& out) {
  std::uint64_t v = 0;
  std::string_view rest;
  if (!parse_u64(s, v, rest) || !rest.empty() || v < std::uint64_t(lo) || v > std::uint64_t(hi)) return false;
  out = static_cast<int>(v);
  return true;
}

// Bytes, or with a K/M/G suffix (KiB/MiB/GiB), like SPANRING_SHM_SIZE.
bool parse_size(std::string_view s, std::uint64_t& out) {
  std::uint64_t v = 0;
  std::string_view suffix;
  if (!parse_u64(s, v, suffix)) return false;
  unsigned shift = 0;
  if (suffix.empty() || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "k" || suffix == "KiB") shift = 10;
  else if (suffix == "M" || suffix == "MiB") shift = 20;
  else if (suffix == "G" || suffix == "GiB") shift = 30;
  else return false;
  if (v > (~std::uint64_t{0} >> shift)) return false;
  out = v << shift;
  return true;
}

bool valid_service_name(std::string_view name) {
  return !name.empty() && name.size() <= shm::kServiceNameMax;
}

}  // namespace

std::string usage() {
  return R"(usage: spanring-loadgen [OPTIONS]

Simulates an LLM inference engine: serves synthetic requests at a fixed rate and traces each one
with spanring (llm_inference → cache_lookup/ssd_read, eviction/score_calculation/ssd_write/
cleanup, attention_compute, response_generation). Each service runs in its own process with its
own shared-memory segment.

Options:
  --rate REQ_PER_S        total requests per second over all services and threads
                          (default 100; 0 = as fast as possible)
  --duration SECONDS      how long to run, fractions allowed (default 5)
  --services N            run N services named llm-server-1..N (default 1: "llm-server")
  --service NAME          run a service with this name; repeat for more (not with --services)
  --threads T             request threads per service (default 1)
  --spans-per-request S   approximate spans per request; scales cache layers and evictions
                          (default 12, at least 4)
  --error-rate P          share of requests that fail, 0..1 (default 0.02)
  --seed N                seed of the request generator (default 1); same seed, same requests
  --shm-size BYTES        segment size per service, bytes or with K/M/G (default: the client's,
                          SPANRING_SHM_SIZE, else 4 MiB)
  --quiet                 no start-up lines on stderr
  --simulate-work         spans last plausible times (sleeps: cache hit 20us, SSD read 300us,
                          attention 2-8ms, 20us per output token); for waterfalls, not load
  -h, --help              this text

Output (stdout), one line per service in the order given, then a total:
  spanring-loadgen: service=NAME spans_created=N spans_written=N dropped_ring_full=N
      dropped_no_ring=N requests=N errors=N elapsed_s=X rate=X segment=NAME|-
  spanring-loadgen: total services=N spans_created=N spans_written=N dropped_ring_full=N
      dropped_no_ring=N requests=N errors=N elapsed_s=X rate=X
spans_created = spans_written + dropped_ring_full + dropped_no_ring. A service whose tracer
failed to start runs anyway and reports zeros (segment=-).

Exit status: 0 on success, 1 when a service process failed, 2 on a bad option.
)";
}

ParseResult parse_options(int argc, char** argv, Config& config, std::string& error) {
  bool have_services = false;
  std::vector<std::string> named;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") return ParseResult::kHelp;
    if (arg == "--simulate-work") {
      config.simulate_work = true;
      continue;
    }
    if (arg == "--quiet") {
      config.quiet = true;
      continue;
    }
    // Every other option takes a value: "--opt VALUE" or "--opt=VALUE".
    std::string_view name = arg, value;
    bool has_value = false;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const bool known = name == "--rate" || name == "--duration" || name == "--services" || name == "--service" ||
                       name == "--threads" || name == "--spans-per-request" || name == "--error-rate" ||
                       name == "--seed" || name == "--shm-size";
    if (!known) {
      error = "unknown option '" + std::string(arg) + "'";
      return ParseResult::kError;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        error = std::string(name) + " needs a value";
        return ParseResult::kError;
      }
      value = argv[++i];
    }
    const auto bad = [&](std::string_view expected) {
      error = std::string(name) + " '" + std::string(value) + "': expected " + std::string(expected);
      return ParseResult::kError;
    };

    if (name == "--rate") {
      if (!parse_double(value, config.rate) || config.rate < 0) return bad("requests per second >= 0");
    } else if (name == "--duration") {
      // The upper bound keeps nanosecond deadlines far from overflow.
      if (!parse_double(value, config.duration_s) || config.duration_s <= 0 || config.duration_s > 1e7)
        return bad("seconds > 0 (at most 1e7)");
    } else if (name == "--services") {
      int n = 0;
      if (!parse_int(value, 1, kMaxServices, n)) return bad("a count 1.." + std::to_string(kMaxServices));
      config.services.clear();
      if (n == 1) config.services.emplace_back("llm-server");
      for (int s = 1; n > 1 && s <= n; ++s) config.services.push_back("llm-server-" + std::to_string(s));
      have_services = true;
    } else if (name == "--service") {
      if (!valid_service_name(value))
        return bad("a service name of 1.." + std::to_string(shm::kServiceNameMax) + " bytes");
      for (const std::string& s : named)
        if (s == value) {
          error = "--service '" + s + "' given twice";
          return ParseResult::kError;
        }
      if (named.size() >= std::size_t(kMaxServices)) return bad("at most " + std::to_string(kMaxServices) + " services");
      named.emplace_back(value);
    } else if (name == "--threads") {
      if (!parse_int(value, 1, kMaxThreads, config.threads)) return bad("a count 1.." + std::to_string(kMaxThreads));
    } else if (name == "--spans-per-request") {
      if (!parse_int(value, kMinSpansPerRequest, kMaxSpansPerRequest, config.spans_per_request))
        return bad(std::to_string(kMinSpansPerRequest) + ".." + std::to_string(kMaxSpansPerRequest));
    } else if (name == "--error-rate") {
      if (!parse_double(value, config.error_rate) || config.error_rate < 0 || config.error_rate > 1)
        return bad("a share 0..1");
    } else if (name == "--seed") {
      std::string_view rest;
      if (!parse_u64(value, config.seed, rest) || !rest.empty()) return bad("an unsigned 64-bit integer");
    } else if (name == "--shm-size") {
      if (!parse_size(value, config.shm_size)) return bad("bytes, or a number with K/M/G");
      // Checked here so a typo fails the run instead of silently running untraced.
      if (shm::layout_within(config.shm_size, 0).ring_count == 0)
        return bad("a size that holds at least one ring (" +
                   std::to_string(shm::layout_for(1, shm::kDefaultRingCapacity).segment_size) + " bytes)");
    }
  }
  if (!named.empty()) {
    if (have_services) {
      error = "--service and --services exclude each other";
      return ParseResult::kError;
    }
    config.services = std::move(named);
  }
  return ParseResult::kRun;
}

}  // namespace spanring::loadgen
