// spanring/shm/text.hpp: the one size parser and the one percent-decoder, used by the engine's
// environment and by the agent's config alike.
#include "spanring/shm/text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace {

using spanring::shm::parse_size;
using spanring::shm::percent_decode;

TEST(ParseSize, BareNumbersAreBytes) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("65536"), 65536u);
  EXPECT_EQ(parse_size("100B"), 100u);
  EXPECT_EQ(parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(ParseSize, KMGAndKiBMiBGiBArePowersOf1024) {
  EXPECT_EQ(parse_size("64K"), 65536u);
  EXPECT_EQ(parse_size("64k"), 65536u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("4M"), 4194304u);
  EXPECT_EQ(parse_size("64MiB"), 67108864u);
  EXPECT_EQ(parse_size("2G"), 2147483648u);
  EXPECT_EQ(parse_size("2GiB"), 2147483648u);
  EXPECT_EQ(parse_size("2gib"), 2147483648u);
}

TEST(ParseSize, KBMBGBArePowersOf1000) {
  EXPECT_EQ(parse_size("64KB"), 64000u);
  EXPECT_EQ(parse_size("64kb"), 64000u);
  EXPECT_EQ(parse_size("64MB"), 64000000u);
  EXPECT_EQ(parse_size("1GB"), 1000000000u);
}

TEST(ParseSize, SpacesAroundAndBeforeTheUnitAreIgnored) {
  EXPECT_EQ(parse_size(" 4 MiB\t"), 4194304u);
  EXPECT_EQ(parse_size("64 MB"), 64000000u);
}

TEST(ParseSize, RejectsOverflowInTheNumberAndInTheMultiplication) {
  EXPECT_EQ(parse_size("18446744073709551616"), std::nullopt);  // UINT64_MAX + 1
  EXPECT_EQ(parse_size("17179869184G"), std::nullopt);          // 2^34 GiB = 2^64
  EXPECT_EQ(parse_size("20000000000GB"), std::nullopt);
  EXPECT_EQ(parse_size("17179869183G"), std::uint64_t{17179869183} << 30);
}

TEST(ParseSize, RejectsGarbageSignsFractionsAndOtherUnits) {
  for (const char* text : {"", " ", "lots", "M", "KiB", "-1", "+1", "1.5M", "0x100000", "12Q", "64TB",
                           "64T", "4 MiBs", "64 mebibytes", "1 2", "1KK"}) {
    EXPECT_EQ(parse_size(text), std::nullopt) << text;
  }
}

TEST(PercentDecode, DecodesEscapesInEitherCaseAndKeepsOtherBytes) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("%2c%2C"), ",,");
  EXPECT_EQ(percent_decode("Bearer%3Dabc"), "Bearer=abc");
  EXPECT_EQ(percent_decode("a+b"), "a+b");  // not form encoding: '+' is a plus
  EXPECT_EQ(percent_decode(""), "");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(percent_decode("%e2%82%ac"), "\xe2\x82\xac");
}

TEST(PercentDecode, RejectsATruncatedOrNonHexEscape) {
  for (const char* text : {"%", "%2", "a%2", "%zz", "%2g", "%%41", "abc%"}) {
    EXPECT_EQ(percent_decode(text), std::nullopt) << text;
  }
}

}  // namespace
