// OpenTelemetry consistent probability sampling (SPEC §7.e): 56-bit randomness R and rejection
// threshold T, keep iff R >= T, and the `th` / `rv` sub-keys of the `ot` tracestate member.
//
// Because R comes from the trace (its id, or an explicit rv) and T from the configuration, every
// span of a trace gets the same answer, in any order, in any process with the same T: the
// probabilistic path needs no memory and no coordination.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace spanring::agent {

inline constexpr std::uint64_t kRandomnessMask = (std::uint64_t{1} << 56) - 1;
// T = 2^56 rejects every R: probability 0. Not encodable as th (probability sampling needs p > 0).
inline constexpr std::uint64_t kNeverSampleThreshold = std::uint64_t{1} << 56;

// The least-significant 56 bits of the trace id: its last 7 bytes, big-endian.
inline std::uint64_t trace_id_randomness(const std::array<std::uint8_t, 16>& trace_id) noexcept {
  std::uint64_t v;
  std::memcpy(&v, trace_id.data() + 8, sizeof v);
  return __builtin_bswap64(v) & kRandomnessMask;
}

// T = 2^56 − round(p × 2^56), p clamped to [0, 1] (NaN counts as 0). p = 0 gives 2^56.
std::uint64_t probability_to_threshold(double p) noexcept;
// The same, rounded to `precision` hex digits (1..14; 0 = all 14), with one more digit for every
// leading 0 or f that p or 1−p would otherwise cost (collector-contrib's
// ProbabilityToThresholdWithPrecision): 0.1 at precision 4 ⇒ e666, 0.01 ⇒ fd70a.
std::uint64_t probability_to_threshold(double p, int precision) noexcept;
double threshold_to_probability(std::uint64_t threshold) noexcept;

// th text: T as 14 lowercase hex digits with trailing zeros stripped; T = 0 ⇒ "0". Writes at most
// 14 characters to `out` and returns how many. T must be < 2^56.
std::size_t encode_threshold(std::uint64_t threshold, char* out) noexcept;
std::string encode_threshold(std::uint64_t threshold);
// 1–14 lowercase hex digits, right-padded with zeros; nullopt when malformed.
std::optional<std::uint64_t> decode_threshold(std::string_view th) noexcept;
// Exactly 14 lowercase hex digits; nullopt when malformed.
std::optional<std::uint64_t> decode_randomness(std::string_view rv) noexcept;

struct OtTraceState {
  bool has_rv = false;
  bool has_th = false;
  std::uint64_t rv = 0;
  std::uint64_t th = 0;
};

// rv and th from the `ot` member of a W3C tracestate. Malformed sub-values are ignored, as if
// absent (the spec's "probability unknown"). No allocation.
OtTraceState parse_ot_trace_state(std::string_view trace_state) noexcept;

// Writes `trace_state` to `out` with th replaced by `threshold` in the `ot` member (inserted if
// absent; erased when `threshold` is nullopt). Other ot sub-keys (rv, ...) are kept after th;
// the ot member moves to the left as W3C asks of a modified key; other members keep their order,
// and the right-most are dropped beyond 32 members. An ot member left empty is removed.
void set_trace_state_threshold(std::string_view trace_state, std::optional<std::uint64_t> threshold,
                               std::string& out);

}  // namespace spanring::agent
