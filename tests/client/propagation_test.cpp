// W3C Trace Context propagation: the §5.2 traceparent vectors and the §5.3 tracestate table of
// ../shared/SPEC.md, plus formatting, truncation and extract().
#include "spanring/span_context.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace spanring {
namespace {

// SpanContext carries a 512-byte buffer; heap-allocate it so tests stay small on the stack.
std::unique_ptr<SpanContext> make_context() { return std::make_unique<SpanContext>(); }

std::string hex_of(const TraceId& id) {
  std::string s(32, '?');
  to_hex(id, s.data());
  return s;
}

std::string hex_of(const SpanId& id) {
  std::string s(16, '?');
  to_hex(id, s.data());
  return s;
}

std::string formatted(const SpanContext& ctx) {
  std::string s(kTraceparentLength, '?');
  format_traceparent(ctx, s.data());
  return s;
}

// A context that a failed parse must leave exactly as it was.
std::unique_ptr<SpanContext> make_sentinel_context() {
  auto ctx = make_context();
  std::memset(ctx->trace_id.bytes, 0xaa, sizeof ctx->trace_id.bytes);
  std::memset(ctx->span_id.bytes, 0xbb, sizeof ctx->span_id.bytes);
  ctx->trace_flags = 0x01;
  std::memcpy(ctx->trace_state, "old=1", 5);
  ctx->trace_state_length = 5;
  return ctx;
}

void expect_is_sentinel(const SpanContext& ctx) {
  EXPECT_EQ(hex_of(ctx.trace_id), std::string(32, 'a'));
  EXPECT_EQ(hex_of(ctx.span_id), std::string(16, 'b'));
  EXPECT_EQ(ctx.trace_flags, 0x01);
  EXPECT_FALSE(ctx.is_remote);
  EXPECT_EQ(ctx.trace_state_view(), "old=1");
}

// ---------------------------------------------------------------------------------------------
// traceparent: SPEC §5.2, one row per vector (16 has two inputs).

constexpr std::string_view kT = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kP = "00f067aa0ba902b7";
constexpr std::string_view kHarnessT = "12345678901234567890123456789012";
constexpr std::string_view kHarnessP = "1234567890123456";

struct TraceparentVector {
  const char* name;  // gtest parameter name: alphanumerics and '_' only
  std::string_view input;
  bool valid;
  bool sampled = false;
  bool random = false;
  std::string_view trace_id = {};
  std::string_view parent_id = {};
};

void PrintTo(const TraceparentVector& v, std::ostream* os) { *os << v.name; }

const TraceparentVector kTraceparentVectors[] = {
    {"v01_sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true, true, false, kT, kP},
    {"v02_not_sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true, false, false, kT, kP},
    {"v03_sampled_random", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", true, true, true, kT, kP},
    {"v04_random_not_sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", true, false, true, kT, kP},
    {"v05_unknown_flag_bit", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", true, true, false, kT, kP},
    {"v06_future_version", "cc-12345678901234567890123456789012-1234567890123456-01", true, true, false, kHarnessT,
     kHarnessP},
    {"v07_future_version_extra_fields",
     "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", true, true, false,
     kHarnessT, kHarnessP},
    {"v08_ows_trimmed", " 00-12345678901234567890123456789012-1234567890123456-01\t", true, true, false, kHarnessT,
     kHarnessP},
    {"v09_version_ff", "ff-12345678901234567890123456789012-1234567890123456-01", false},
    {"v10_zero_trace_id", "00-00000000000000000000000000000000-1234567890123456-01", false},
    {"v11_zero_parent_id", "00-12345678901234567890123456789012-0000000000000000-01", false},
    {"v12_uppercase_hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false},
    {"v13_v00_trailing_fields", "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
     false},
    {"v14_v00_trailing_char", "00-12345678901234567890123456789012-1234567890123456-01.", false},
    {"v15_future_flags_not_followed_by_dash",
     "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like", false},
    {"v16a_version_one_char", "0-12345678901234567890123456789012-1234567890123456-01", false},
    {"v16b_version_three_chars", "000-12345678901234567890123456789012-1234567890123456-01", false},
    {"v17_non_hex_version", ".0-12345678901234567890123456789012-1234567890123456-01", false},
    {"v18_trace_id_33_chars", "00-123456789012345678901234567890123-1234567890123456-01", false},
    {"v19_parent_id_15_chars", "00-12345678901234567890123456789012-123456789012345-01", false},
    {"v20_flags_one_char", "00-12345678901234567890123456789012-1234567890123456-1", false},
    {"v21_non_hex_flags", "00-12345678901234567890123456789012-1234567890123456-.0", false},
};

class TraceparentSpecVector : public ::testing::TestWithParam<TraceparentVector> {};

TEST_P(TraceparentSpecVector, ParsesAsTheSpecTableSays) {
  const TraceparentVector& v = GetParam();
  auto ctx = make_sentinel_context();
  ASSERT_EQ(parse_traceparent(v.input, *ctx), v.valid);
  if (!v.valid) {
    expect_is_sentinel(*ctx);
    return;
  }
  EXPECT_EQ(hex_of(ctx->trace_id), v.trace_id);
  EXPECT_EQ(hex_of(ctx->span_id), v.parent_id);
  EXPECT_EQ(ctx->sampled(), v.sampled);
  EXPECT_EQ((ctx->trace_flags & kTraceFlagRandom) != 0, v.random);
  EXPECT_TRUE(ctx->is_remote);
}

INSTANTIATE_TEST_SUITE_P(Section5_2, TraceparentSpecVector, ::testing::ValuesIn(kTraceparentVectors),
                         [](const ::testing::TestParamInfo<TraceparentVector>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(Traceparent, RejectsUppercaseHex) {
  auto ctx = make_context();
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902B7-01", *ctx));
}

TEST(Traceparent, KeepsUnknownFlagBitsAsReceived) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", *ctx));
  EXPECT_EQ(ctx->trace_flags, 0x09);
}

TEST(Traceparent, ClearsTheTracestateOfTheTarget) {
  auto ctx = make_sentinel_context();
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

TEST(Traceparent, AcceptsFutureVersionWithTrailingDashOnly) {
  auto ctx = make_context();
  EXPECT_TRUE(parse_traceparent("cc-12345678901234567890123456789012-1234567890123456-01-", *ctx));
}

TEST(Traceparent, RejectsFutureVersionShorterThanVersion00Layout) {
  auto ctx = make_context();
  EXPECT_FALSE(parse_traceparent("cc-12345678901234567890123456789012-1234567890123456", *ctx));
}

TEST(Traceparent, RejectsFutureVersionWithUppercaseHex) {
  auto ctx = make_context();
  EXPECT_FALSE(parse_traceparent("cc-12345678901234567890123456789012-123456789012345A-01", *ctx));
}

TEST(Traceparent, RejectsEmptyAndWhitespaceOnlyValues) {
  auto ctx = make_context();
  EXPECT_FALSE(parse_traceparent("", *ctx));
  EXPECT_FALSE(parse_traceparent(" \t ", *ctx));
}

TEST(Traceparent, RejectsMissingDelimiter) {
  auto ctx = make_context();
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", *ctx));
}

TEST(Traceparent, FormatZeroesUnknownFlagBits) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", *ctx));
  EXPECT_EQ(formatted(*ctx), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST(Traceparent, FormatKeepsSampledAndRandomFlags) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", *ctx));
  EXPECT_EQ(formatted(*ctx), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
}

TEST(Traceparent, FormatReemitsFutureVersionAsVersion00) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_traceparent(
      "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", *ctx));
  EXPECT_EQ(formatted(*ctx), "00-12345678901234567890123456789012-1234567890123456-01");
}

TEST(Traceparent, FormatWritesExactly55Bytes) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", *ctx));
  char buf[kTraceparentLength + 1];
  std::memset(buf, '#', sizeof buf);
  format_traceparent(*ctx, buf);
  EXPECT_EQ(buf[kTraceparentLength], '#');
}

TEST(Traceparent, RoundTripsThroughFormatAndParse) {
  auto original = make_context();
  for (std::uint8_t i = 0; i < 16; ++i) original->trace_id.bytes[i] = static_cast<std::uint8_t>(0xf1 - 7 * i);
  for (std::uint8_t i = 0; i < 8; ++i) original->span_id.bytes[i] = static_cast<std::uint8_t>(0x0e + 31 * i);
  original->trace_flags = kTraceFlagSampled | kTraceFlagRandom;

  auto parsed = make_context();
  ASSERT_TRUE(parse_traceparent(formatted(*original), *parsed));
  EXPECT_EQ(parsed->trace_id, original->trace_id);
  EXPECT_EQ(parsed->span_id, original->span_id);
  EXPECT_EQ(parsed->trace_flags, original->trace_flags);
}

// ---------------------------------------------------------------------------------------------
// to_hex

TEST(ToHex, WritesTraceIdAsLowercase32Chars) {
  TraceId id;
  const std::uint8_t bytes[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                  0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
  std::memcpy(id.bytes, bytes, 16);
  char buf[33];
  std::memset(buf, '#', sizeof buf);
  to_hex(id, buf);
  EXPECT_EQ(std::string_view(buf, 32), kT);
  EXPECT_EQ(buf[32], '#');
}

TEST(ToHex, WritesSpanIdAsLowercase16Chars) {
  SpanId id;
  const std::uint8_t bytes[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  std::memcpy(id.bytes, bytes, 8);
  char buf[17];
  std::memset(buf, '#', sizeof buf);
  to_hex(id, buf);
  EXPECT_EQ(std::string_view(buf, 16), kP);
  EXPECT_EQ(buf[16], '#');
}

TEST(ToHex, CoversEveryNibbleValue) {
  TraceId id;
  for (std::uint8_t i = 0; i < 16; ++i) id.bytes[i] = static_cast<std::uint8_t>(i * 0x11);
  EXPECT_EQ(hex_of(id), "00112233445566778899aabbccddeeff");
}

// ---------------------------------------------------------------------------------------------
// tracestate: SPEC §5.3 table and limits.

// "k00=v,k01=v,..." with `n` members.
std::string members(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i != 0) s += ',';
    s += 'k';
    s += static_cast<char>('0' + i / 10);
    s += static_cast<char>('0' + i % 10);
    s += "=v";
  }
  return s;
}

std::vector<std::string_view> split_entries(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    out.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

bool accepts(std::string_view tracestate) {
  auto ctx = make_context();
  return parse_tracestate(tracestate, *ctx);
}

TEST(Tracestate, KeepsBothMembers) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("foo=1,bar=2", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=1,bar=2");
}

TEST(Tracestate, KeepsAllMembersSeparatedByOws) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("foo=1 \t , \t bar=2, \t baz=3", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=1 \t , \t bar=2, \t baz=3");
}

TEST(Tracestate, TrimsSurroundingWhitespace) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(" \tfoo=1,bar=2 \t", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=1,bar=2");
}

TEST(Tracestate, RejectsUppercaseKey) { EXPECT_FALSE(accepts("FOO=1")); }

TEST(Tracestate, RejectsDotInKey) { EXPECT_FALSE(accepts("foo.bar=1")); }

TEST(Tracestate, RejectsSpaceBeforeEquals) { EXPECT_FALSE(accepts("foo =1")); }

TEST(Tracestate, RejectsEqualsInValue) { EXPECT_FALSE(accepts("foo=bar=baz")); }

TEST(Tracestate, RejectsEmptyValue) { EXPECT_FALSE(accepts("foo=,bar=3")); }

TEST(Tracestate, RejectsMemberWithoutEquals) { EXPECT_FALSE(accepts("foo=1,bar")); }

TEST(Tracestate, RejectsNonPrintableValue) { EXPECT_FALSE(accepts("foo=a\tb")); }

TEST(Tracestate, KeepsLeadingSpacesOfValue) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("foo=  1", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=  1");
}

TEST(Tracestate, Accepts32Members) {
  auto ctx = make_context();
  const std::string header = members(32);
  ASSERT_TRUE(parse_tracestate(header, *ctx));
  EXPECT_EQ(ctx->trace_state_view(), header);
}

TEST(Tracestate, Rejects33Members) { EXPECT_FALSE(accepts(members(33))); }

TEST(Tracestate, DoesNotCountEmptyMembersTowardsTheLimit) {
  // 32 real members with an empty one before each and one at the end: 65 comma-separated items.
  const std::string all = members(32);
  std::string header;
  for (std::string_view m : split_entries(all)) header += ", \t," + std::string(m);
  header += ",";
  EXPECT_TRUE(accepts(header));
}

TEST(Tracestate, SkipsEmptyMembers) { EXPECT_TRUE(accepts("foo=1,, \t ,bar=2,")); }

TEST(Tracestate, Accepts256CharKey) { EXPECT_TRUE(accepts(std::string(256, 'z') + "=1")); }

TEST(Tracestate, Rejects257CharKey) { EXPECT_FALSE(accepts(std::string(257, 'z') + "=1")); }

TEST(Tracestate, Accepts256CharValue) { EXPECT_TRUE(accepts("foo=" + std::string(256, 'v'))); }

TEST(Tracestate, Rejects257CharValue) { EXPECT_FALSE(accepts("foo=" + std::string(257, 'v'))); }

TEST(Tracestate, AcceptsTrailingAtSignInKeyUnderLevel2) { EXPECT_TRUE(accepts("foo@=1,bar=2")); }

TEST(Tracestate, RejectsKeyStartingWithAtSign) { EXPECT_FALSE(accepts("@foo=1,bar=2")); }

TEST(Tracestate, AcceptsLevel1MultiTenantKey) { EXPECT_TRUE(accepts("fw529a3039@dt=1")); }

TEST(Tracestate, AcceptsKeyStartingWithDigit) { EXPECT_TRUE(accepts("1foo=1")); }

// W3C: a receiver MUST forward tracestate and MAY drop only the duplicate entries (SPEC §5.3).
// The left-most entry is the most recently updated one (mutations move a key to the left), so
// the first occurrence is kept and later ones are dropped.
TEST(Tracestate, DropsLaterDuplicatesAndKeepsTheRest) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("bar=1,foo=1,foo=2,baz=3", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "bar=1,foo=1,baz=3");
}

TEST(Tracestate, KeepsOneOfTwoIdenticalMembers) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("foo=1,foo=1", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=1");
}

TEST(Tracestate, KeepsTheFirstValueOfARepeatedKey) {
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate("foo=1,bar=2,foo=3", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "foo=1,bar=2");
}

TEST(Tracestate, CountsDuplicatesTowardsThe32MemberLimit) {
  // 33 list members (the grammar's limit is on the header), one of them a repeat.
  EXPECT_FALSE(accepts(members(32) + ",k00=v"));
}

TEST(Tracestate, StillRejectsAnInvalidMemberAfterADuplicate) { EXPECT_FALSE(accepts("foo=1,foo=2,BAR=3")); }

TEST(Tracestate, LeavesStateEmptyWhenInvalid) {
  auto ctx = make_sentinel_context();
  ASSERT_FALSE(parse_tracestate("foo=1,FOO=2", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

TEST(Tracestate, TreatsEmptyValueAsValidAndEmpty) {
  auto ctx = make_sentinel_context();
  ASSERT_TRUE(parse_tracestate("", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

TEST(Tracestate, TreatsWhitespaceOnlyValueAsValidAndEmpty) {
  auto ctx = make_sentinel_context();
  ASSERT_TRUE(parse_tracestate(" \t , ", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

// Truncation (W3C: remove whole entries, first those over 128 chars, then from the right end).

// An entry of exactly `length` chars: "<key>=vvv...".
std::string entry(std::string_view key, std::size_t length) {
  return std::string(key) + "=" + std::string(length - key.size() - 1, 'v');
}

TEST(Tracestate, TruncatesFromTheRightByWholeEntries) {
  std::string header;
  std::vector<std::string> entries;
  for (int i = 0; i < 8; ++i) {
    entries.push_back(entry("k" + std::to_string(i), 100));
    header += (i ? "," : "") + entries.back();
  }
  ASSERT_GT(header.size(), kMaxTraceStateLength);
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(header, *ctx));
  // 5 entries of 100 plus 4 commas = 504; a sixth would need 605.
  const std::vector<std::string_view> kept = split_entries(ctx->trace_state_view());
  ASSERT_EQ(kept.size(), 5u);
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i], entries[i]);
}

TEST(Tracestate, TruncationDropsEntriesOver128CharsFirst) {
  const std::string big = entry("big", 200);
  std::string header = big;
  std::vector<std::string> small;
  for (int i = 0; i < 4; ++i) {
    small.push_back(entry("s" + std::to_string(i), 100));
    header += "," + small.back();
  }
  ASSERT_GT(header.size(), kMaxTraceStateLength);
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(header, *ctx));
  const std::vector<std::string_view> kept = split_entries(ctx->trace_state_view());
  ASSERT_EQ(kept.size(), small.size());
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i], small[i]);
}

TEST(Tracestate, TruncationKeepsLargeEntriesThatFitOnceTheRestIsDropped) {
  // Two large entries: dropping the right-most one is enough, so the left one survives.
  const std::string left = entry("left", 250);
  const std::string right = entry("right", 250);
  const std::string small = entry("small", 20);
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(left + "," + small + "," + right, *ctx));
  EXPECT_EQ(ctx->trace_state_view(), left + "," + small);
}

TEST(Tracestate, TruncationNeverExceedsTheLimit) {
  std::string header;
  for (int i = 0; i < 32; ++i) header += (i ? "," : "") + entry("k" + std::to_string(i), 10 + 7 * i);
  ASSERT_GT(header.size(), kMaxTraceStateLength);
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(header, *ctx));
  EXPECT_LE(ctx->trace_state_length, kMaxTraceStateLength);
  for (std::string_view e : split_entries(ctx->trace_state_view())) {
    EXPECT_NE(header.find(e), std::string::npos) << e;
  }
}

TEST(Tracestate, DropsAllEntriesWhenTheOnlyOneIsTooLong) {
  // 256-char key + '=' + 256-char value = 513 chars: valid, but larger than what we carry.
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(std::string(256, 'k') + "=" + std::string(256, 'v'), *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

TEST(Tracestate, RemovesOwsInsteadOfEntriesWhenThatIsEnough) {
  std::string header;
  for (int i = 0; i < 5; ++i) header += (i ? " \t ,,, \t " : "") + entry("k" + std::to_string(i), 100);
  ASSERT_GT(header.size(), kMaxTraceStateLength);
  auto ctx = make_context();
  ASSERT_TRUE(parse_tracestate(header, *ctx));
  EXPECT_EQ(split_entries(ctx->trace_state_view()).size(), 5u);
  EXPECT_EQ(ctx->trace_state_length, 5u * 100 + 4);
}

// ---------------------------------------------------------------------------------------------
// extract

constexpr std::string_view kValidTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Extract, ReturnsFalseWithoutTraceparent) {
  auto ctx = make_sentinel_context();
  EXPECT_FALSE(extract("", "foo=1", *ctx));
  expect_is_sentinel(*ctx);
}

TEST(Extract, DropsTracestateWhenTraceparentIsInvalid) {
  auto ctx = make_context();
  EXPECT_FALSE(extract("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", "foo=1", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
  EXPECT_FALSE(ctx->valid());
}

TEST(Extract, LeavesTargetUntouchedWhenTraceparentIsInvalid) {
  auto ctx = make_sentinel_context();
  EXPECT_FALSE(extract("ff-12345678901234567890123456789012-1234567890123456-01", "foo=1", *ctx));
  expect_is_sentinel(*ctx);
}

TEST(Extract, CarriesTracestateWithValidTraceparent) {
  auto ctx = make_context();
  ASSERT_TRUE(extract(kValidTraceparent, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", *ctx));
  EXPECT_EQ(hex_of(ctx->trace_id), kT);
  EXPECT_EQ(hex_of(ctx->span_id), kP);
  EXPECT_TRUE(ctx->is_remote);
  EXPECT_EQ(ctx->trace_state_view(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

TEST(Extract, KeepsTraceparentWhenTracestateIsInvalid) {
  auto ctx = make_context();
  ASSERT_TRUE(extract(kValidTraceparent, "foo=1,FOO=2", *ctx));
  EXPECT_TRUE(ctx->valid());
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

TEST(Extract, ForwardsTracestateWithADuplicatedKeyMinusTheDuplicate) {
  auto ctx = make_context();
  ASSERT_TRUE(extract(kValidTraceparent, "bar=1,foo=1,foo=2,baz=3", *ctx));
  EXPECT_EQ(ctx->trace_state_view(), "bar=1,foo=1,baz=3");
}

TEST(Extract, ReplacesAnEarlierTracestateWhenTheNewOneIsAbsent) {
  auto ctx = make_sentinel_context();
  ASSERT_TRUE(extract(kValidTraceparent, "", *ctx));
  EXPECT_EQ(ctx->trace_state_length, 0u);
}

// ---------------------------------------------------------------------------------------------
// The official W3C suite (w3c/trace-context test/test.py, Level 2, STRICT_LEVEL=2), one vector
// per request it sends, applied to extract() as a service built on this API does: several
// header fields of one name arrive joined with "," (RFC 9110), and the outgoing traceparent is
// format_traceparent of a child of the extracted context. Cases about header *names*
// (test_traceparent_header_name*, test_tracestate_header_name*) are the HTTP layer's lookup,
// not the parser's, and have no vector here. test_multiple_requests_* (distinct child span
// ids per outgoing call) is a Span property, covered by
// Correlation.OutgoingCallsOfOneRequestShareTheTraceWithDistinctParentIds.

constexpr std::string_view kSuiteTraceId = "12345678901234567890123456789012";
constexpr std::string_view kSuiteParent = "00-12345678901234567890123456789012-1234567890123456-00";

struct SuiteVector {
  const char* name;  // suite test name, plus a letter per request it sends
  std::string_view traceparent;
  std::vector<std::string> tracestate_fields;
  bool continued;                // the trace id is kept (else extract fails: a new trace)
  std::string expected_state;    // tracestate forwarded downstream ("" = none)
  std::uint8_t expected_flags = 0;
};

void PrintTo(const SuiteVector& v, std::ostream* os) { *os << v.name; }

std::string joined(const std::vector<std::string>& fields) {
  std::string s;
  for (std::size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + fields[i];
  return s;
}

std::string suite_members(int first, int last) {
  std::string s;
  for (int i = first; i <= last; ++i) {
    const std::string n = (i < 10 ? "0" : "") + std::to_string(i);
    s += (i != first ? "," : "") + ("bar" + n) + "=" + n;
  }
  return s;
}

const std::string kAllKeyChars = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
const std::string kAllValueChars = [] {
  std::string v;
  for (char c = 0x20; c <= 0x2b; ++c) v += c;
  for (char c = 0x2d; c <= 0x3c; ++c) v += c;
  for (char c = 0x3e; c <= 0x7e; ++c) v += c;
  return v;
}();

const std::vector<SuiteVector>& suite_vectors() {
  static const std::vector<SuiteVector> v = {
      {"both_traceparent_and_tracestate_missing", "", {}, false, ""},
      {"traceparent_included_tracestate_missing", "00-12345678901234567890123456789012-1234567890123456-01", {}, true,
       "", 0x01},
      // Two traceparent fields joined: version 00 with trailing characters, so a new trace.
      {"traceparent_duplicated",
       "00-12345678901234567890123456789011-1234567890123456-01,00-12345678901234567890123456789012-1234567890123456-01",
       {}, false, ""},
      {"traceparent_version_0x00_a", "00-12345678901234567890123456789012-1234567890123456-01.", {}, false, ""},
      {"traceparent_version_0x00_b", "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
       {}, false, ""},
      {"traceparent_version_0xcc_a", "cc-12345678901234567890123456789012-1234567890123456-01", {}, true, "", 0x01},
      {"traceparent_version_0xcc_b", "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
       {}, true, "", 0x01},
      {"traceparent_version_0xcc_c", "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
       {}, false, ""},
      {"traceparent_version_0xff", "ff-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_version_illegal_characters_a", ".0-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_version_illegal_characters_b", "0.-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_version_too_long_a", "000-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_version_too_long_b", "0000-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_version_too_short", "0-12345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_trace_id_all_zero", "00-00000000000000000000000000000000-1234567890123456-01", {}, false, ""},
      {"traceparent_trace_id_illegal_characters_a", "00-.2345678901234567890123456789012-1234567890123456-01", {}, false, ""},
      {"traceparent_trace_id_illegal_characters_b", "00-1234567890123456789012345678901.-1234567890123456-01", {}, false, ""},
      {"traceparent_trace_id_too_long", "00-123456789012345678901234567890123-1234567890123456-01", {}, false, ""},
      {"traceparent_trace_id_too_short", "00-1234567890123456789012345678901-1234567890123456-01", {}, false, ""},
      {"traceparent_parent_id_all_zero", "00-12345678901234567890123456789012-0000000000000000-01", {}, false, ""},
      {"traceparent_parent_id_illegal_characters_a", "00-12345678901234567890123456789012-.234567890123456-01", {}, false, ""},
      {"traceparent_parent_id_illegal_characters_b", "00-12345678901234567890123456789012-123456789012345.-01", {}, false, ""},
      {"traceparent_parent_id_too_long", "00-12345678901234567890123456789012-12345678901234567-01", {}, false, ""},
      {"traceparent_parent_id_too_short", "00-12345678901234567890123456789012-123456789012345-01", {}, false, ""},
      {"traceparent_trace_flags_illegal_characters_a", "00-12345678901234567890123456789012-1234567890123456-.0", {}, false, ""},
      {"traceparent_trace_flags_illegal_characters_b", "00-12345678901234567890123456789012-1234567890123456-0.", {}, false, ""},
      {"traceparent_trace_flags_too_long", "00-12345678901234567890123456789012-1234567890123456-001", {}, false, ""},
      {"traceparent_trace_flags_too_short", "00-12345678901234567890123456789012-1234567890123456-1", {}, false, ""},
      {"traceparent_ows_handling_a", " 00-12345678901234567890123456789012-1234567890123456-01", {}, true, "", 0x01},
      {"traceparent_ows_handling_b", "\t00-12345678901234567890123456789012-1234567890123456-01", {}, true, "", 0x01},
      {"traceparent_ows_handling_c", "00-12345678901234567890123456789012-1234567890123456-01 ", {}, true, "", 0x01},
      {"traceparent_ows_handling_d", "00-12345678901234567890123456789012-1234567890123456-01\t", {}, true, "", 0x01},
      {"traceparent_ows_handling_e", "\t 00-12345678901234567890123456789012-1234567890123456-01 \t", {}, true, "", 0x01},
      {"tracestate_included_traceparent_missing_a", "", {"foo=1"}, false, ""},
      {"tracestate_included_traceparent_missing_b", "", {"foo=1,bar=2"}, false, ""},
      {"tracestate_included_traceparent_included", kSuiteParent, {"foo=1,bar=2"}, true, "foo=1,bar=2"},
      {"tracestate_empty_header_a", kSuiteParent, {""}, true, ""},
      {"tracestate_empty_header_b", kSuiteParent, {"foo=1", ""}, true, "foo=1,"},
      {"tracestate_empty_header_c", kSuiteParent, {"", "foo=1"}, true, ",foo=1"},
      {"tracestate_multiple_headers_different_keys", kSuiteParent, {"foo=1,bar=2", "rojo=1,congo=2", "baz=3"}, true,
       "foo=1,bar=2,rojo=1,congo=2,baz=3"},
      // Level 2 (#477): the tracestate is forwarded; the duplicate may be kept or dropped.
      {"tracestate_duplicated_keys_a", kSuiteParent, {"foo=1,foo=1"}, true, "foo=1"},
      {"tracestate_duplicated_keys_b", kSuiteParent, {"foo=1,foo=2"}, true, "foo=1"},
      {"tracestate_duplicated_keys_c", kSuiteParent, {"foo=1", "foo=1"}, true, "foo=1"},
      {"tracestate_duplicated_keys_d", kSuiteParent, {"foo=1", "foo=2"}, true, "foo=1"},
      {"tracestate_duplicated_keys_issue8", kSuiteParent, {"bar=1,foo=1,foo=2,baz=3"}, true, "bar=1,foo=1,baz=3"},
      {"tracestate_all_allowed_characters_a", kSuiteParent, {kAllKeyChars + "=" + kAllValueChars}, true,
       kAllKeyChars + "=" + kAllValueChars},
      {"tracestate_all_allowed_characters_b", kSuiteParent, {kAllKeyChars + "@a-z0-9_-*/=" + kAllValueChars}, true,
       kAllKeyChars + "@a-z0-9_-*/=" + kAllValueChars},
      {"tracestate_ows_handling_a", kSuiteParent, {"foo=1 \t , \t bar=2, \t baz=3"}, true, "foo=1 \t , \t bar=2, \t baz=3"},
      {"tracestate_ows_handling_b", kSuiteParent, {"foo=1\t \t,\t \tbar=2,\t \tbaz=3"}, true,
       "foo=1\t \t,\t \tbar=2,\t \tbaz=3"},
      {"tracestate_ows_handling_c", kSuiteParent, {" foo=1"}, true, "foo=1"},
      {"tracestate_ows_handling_d", kSuiteParent, {"\tfoo=1"}, true, "foo=1"},
      {"tracestate_ows_handling_e", kSuiteParent, {"foo=1 "}, true, "foo=1"},
      {"tracestate_ows_handling_f", kSuiteParent, {"foo=1\t"}, true, "foo=1"},
      {"tracestate_ows_handling_g", kSuiteParent, {"\t foo=1 \t"}, true, "foo=1"},
      {"tracestate_key_illegal_characters_a", kSuiteParent, {"foo =1"}, true, ""},
      {"tracestate_key_illegal_characters_b", kSuiteParent, {"FOO=1"}, true, ""},
      {"tracestate_key_illegal_characters_c", kSuiteParent, {"foo.bar=1"}, true, ""},
      {"tracestate_key_illegal_vendor_format_a", kSuiteParent, {"foo@=1,bar=2"}, true, "foo@=1,bar=2"},
      {"tracestate_key_illegal_vendor_format_b", kSuiteParent, {"@foo=1,bar=2"}, true, ""},
      {"tracestate_key_illegal_vendor_format_c", kSuiteParent, {"foo@@bar=1,bar=2"}, true, "foo@@bar=1,bar=2"},
      {"tracestate_key_illegal_vendor_format_d", kSuiteParent, {"foo@bar@baz=1,bar=2"}, true, "foo@bar@baz=1,bar=2"},
      {"tracestate_member_count_limit_a", kSuiteParent,
       {suite_members(1, 10), suite_members(11, 20), suite_members(21, 30), suite_members(31, 32)}, true,
       suite_members(1, 32)},
      {"tracestate_member_count_limit_b", kSuiteParent,
       {suite_members(1, 10), suite_members(11, 20), suite_members(21, 30), suite_members(31, 33)}, true, ""},
      {"tracestate_key_length_limit_a", kSuiteParent, {"foo=1", std::string(256, 'z') + "=1"}, true,
       "foo=1," + std::string(256, 'z') + "=1"},
      {"tracestate_key_length_limit_b", kSuiteParent, {"foo=1", std::string(257, 'z') + "=1"}, true, ""},
      {"tracestate_key_length_limit_c", kSuiteParent, {"foo=1", std::string(241, 't') + "@" + std::string(14, 'v') + "=1"},
       true, "foo=1," + std::string(241, 't') + "@" + std::string(14, 'v') + "=1"},
      {"tracestate_key_length_limit_d", kSuiteParent, {"foo=1", std::string(242, 't') + "@v=1"}, true,
       "foo=1," + std::string(242, 't') + "@v=1"},
      {"tracestate_key_length_limit_e", kSuiteParent, {"foo=1", "t@" + std::string(15, 'v') + "=1"}, true,
       "foo=1,t@" + std::string(15, 'v') + "=1"},
      {"tracestate_value_illegal_characters_a", kSuiteParent, {"foo=bar=baz"}, true, ""},
      {"tracestate_value_illegal_characters_b", kSuiteParent, {"foo=,bar=3"}, true, ""},
      {"multiple_requests_with_illegal_traceparent", "00-00000000000000000000000000000000-1234567890123456-01", {}, false,
       ""},
      {"propagates_random_flag", "00-12345678901234567890123456789012-1234567890123456-02", {}, true, "", 0x02},
  };
  return v;
}

class W3cSuite : public ::testing::TestWithParam<SuiteVector> {};

TEST_P(W3cSuite, ExtractKeepsOrRestartsAndForwardsAsTheSuiteExpects) {
  const SuiteVector& v = GetParam();
  auto ctx = make_context();
  ASSERT_EQ(extract(v.traceparent, joined(v.tracestate_fields), *ctx), v.continued);
  if (!v.continued) {
    // The engine starts a new root and sends no tracestate (there is no context to carry it).
    EXPECT_FALSE(ctx->valid());
    return;
  }
  EXPECT_EQ(hex_of(ctx->trace_id), kSuiteTraceId);
  EXPECT_EQ(ctx->trace_state_view(), v.expected_state);
  // What goes downstream: same trace id, our span id (a child's), flags as received.
  SpanContext child = *ctx;
  std::memset(child.span_id.bytes, 0x42, sizeof child.span_id.bytes);
  const std::string out = formatted(child);
  EXPECT_EQ(out.substr(3, 32), kSuiteTraceId);
  EXPECT_EQ(out.substr(53, 2), v.expected_flags == 0 ? "00" : v.expected_flags == 1 ? "01" : "02");
}

INSTANTIATE_TEST_SUITE_P(Level2Strict, W3cSuite, ::testing::ValuesIn(suite_vectors()),
                         [](const ::testing::TestParamInfo<SuiteVector>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace spanring
