// validate_header, one rejected field per test, on a header in a local buffer; and the
// create/attach errors a reader or producer can meet.
#include "spanring/shm/segment.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "spanring/shm/layout.hpp"
#include "test_support.hpp"

namespace spanring::shm {
namespace {

// A header exactly as a producer would fill it for `l`.
std::unique_ptr<SegmentHeader> valid_header(const Layout& l) {
  auto h = std::make_unique<SegmentHeader>();
  h->magic = kMagic;
  h->abi_major = kAbiMajor;
  h->abi_minor = kAbiMinor;
  h->header_size = kHeaderSize;
  h->segment_size = l.segment_size;
  h->record_size = kRecordSize;
  h->ring_count = l.ring_count;
  h->ring_capacity = l.ring_capacity;
  h->clock_source = kClockMonotonic;
  h->string_table_offset = l.string_table_offset;
  h->rings_offset = l.rings_offset;
  h->ring_data_offset = l.ring_data_offset;
  h->service_name_length = 3;
  std::memcpy(h->service_name, "svc", 3);
  return h;
}

class ValidateHeader : public ::testing::Test {
 protected:
  const Layout layout_ = layout_for(2, 64);
  std::unique_ptr<SegmentHeader> h_ = valid_header(layout_);
  std::string message_;

  SegmentError validate() { return validate_header(*h_, layout_.segment_size, message_); }
  void expect_invalid(const std::string& field) {
    EXPECT_EQ(validate(), SegmentError::kInvalidHeader);
    EXPECT_NE(message_.find(field), std::string::npos) << message_;
  }
};

TEST_F(ValidateHeader, AcceptsAHeaderMatchingItsLayout) {
  EXPECT_EQ(validate(), SegmentError::kOk) << message_;
}

TEST_F(ValidateHeader, AcceptsTscClockSource) {
  h_->clock_source = kClockTsc;
  EXPECT_EQ(validate(), SegmentError::kOk) << message_;
}

TEST_F(ValidateHeader, AcceptsANewerMinorVersion) {
  h_->abi_minor = kAbiMinor + 7;
  EXPECT_EQ(validate(), SegmentError::kOk) << message_;
}

TEST_F(ValidateHeader, AcceptsAMappingLargerThanTheSegment) {
  EXPECT_EQ(validate_header(*h_, layout_.segment_size + 4096, message_), SegmentError::kOk) << message_;
}

TEST_F(ValidateHeader, AcceptsAnAbi1SegmentWhoseBytesAreASubsetOf2) {
  h_->abi_major = 1;
  h_->abi_minor = 1;
  EXPECT_EQ(validate(), SegmentError::kOk) << message_;
}

TEST_F(ValidateHeader, RejectsWrongMagic) {
  h_->magic = kMagic ^ 1;
  expect_invalid("magic");
}

TEST_F(ValidateHeader, RejectsOtherAbiMajorAsVersionMismatchNamingTheVersion) {
  h_->abi_major = kAbiMajor + 1;
  EXPECT_EQ(validate(), SegmentError::kVersionMismatch);
  EXPECT_NE(message_.find("ABI major " + std::to_string(kAbiMajor + 1)), std::string::npos) << message_;
}

TEST_F(ValidateHeader, RejectsAbiMajorZero) {
  h_->abi_major = 0;
  EXPECT_EQ(validate(), SegmentError::kVersionMismatch);
}

TEST_F(ValidateHeader, RejectsOtherHeaderSize) {
  h_->header_size = kHeaderSize * 2;
  expect_invalid("header_size");
}

TEST_F(ValidateHeader, RejectsOtherRecordSize) {
  h_->record_size = 64;
  expect_invalid("record_size");
}

TEST_F(ValidateHeader, RejectsZeroRings) {
  h_->ring_count = 0;
  expect_invalid("ring_count");
}

TEST_F(ValidateHeader, RejectsMoreRingsThanTheMaximum) {
  h_->ring_count = kMaxRingCount + 1;
  expect_invalid("ring_count");
}

TEST_F(ValidateHeader, RejectsNonPowerOfTwoCapacity) {
  h_->ring_capacity = 96;
  expect_invalid("ring_capacity = 96");
}

TEST_F(ValidateHeader, RejectsCapacityBelowTwoLargestSpans) {
  h_->ring_capacity = 16;
  expect_invalid("ring_capacity = 16");
}

TEST_F(ValidateHeader, RejectsStringTableOffsetNotFromLayout) {
  h_->string_table_offset += 64;
  expect_invalid("string_table_offset");
}

TEST_F(ValidateHeader, RejectsRingsOffsetNotFromLayout) {
  h_->rings_offset += 4096;
  expect_invalid("rings_offset");
}

TEST_F(ValidateHeader, RejectsRingDataOffsetNotFromLayout) {
  h_->ring_data_offset -= 4096;
  expect_invalid("ring_data_offset");
}

TEST_F(ValidateHeader, RejectsSegmentSizeNotFromLayout) {
  h_->segment_size = layout_.segment_size - kRecordSize;
  expect_invalid("segment_size");
}

TEST_F(ValidateHeader, RejectsSegmentLargerThanTheMapping) {
  EXPECT_EQ(validate_header(*h_, layout_.segment_size - 1, message_), SegmentError::kInvalidHeader);
  EXPECT_NE(message_.find("larger than the object"), std::string::npos) << message_;
}

TEST_F(ValidateHeader, RejectsMappingSmallerThanAHeader) {
  EXPECT_EQ(validate_header(*h_, kHeaderSize - 1, message_), SegmentError::kInvalidHeader);
}

TEST_F(ValidateHeader, RejectsClockSourceZero) {
  h_->clock_source = 0;
  expect_invalid("clock_source = 0");
}

TEST_F(ValidateHeader, RejectsUnknownClockSource) {
  h_->clock_source = 3;
  expect_invalid("clock_source = 3");
}

TEST_F(ValidateHeader, RejectsServiceNameLongerThanItsField) {
  h_->service_name_length = kServiceNameMax + 1;
  expect_invalid("service_name_length");
}

TEST_F(ValidateHeader, RejectsResourceBytesLongerThanTheirField) {
  h_->resource_bytes_used = kResourceBytes + 1;
  expect_invalid("resource_bytes_used");
}

// ---------------------------------------------------------------------------------------------
// create / attach

class SegmentFiles : public ::testing::Test {
 protected:
  const std::string name_ = segment_name(test_support::unique_service_name(), 0, 0);
  void TearDown() override { remove_segment(name_); }
};

TEST_F(SegmentFiles, AttachToAMissingSegmentIsNotFound) {
  Mapping m;
  std::string message;
  EXPECT_EQ(attach_segment(name_, m, message), SegmentError::kNotFound);
  EXPECT_FALSE(m);
}

TEST_F(SegmentFiles, CreatingAnExistingSegmentFailsWithExists) {
  CreateOptions o;
  o.name = name_;
  o.layout = layout_for(1, 32);
  Mapping first, second;
  std::string message;
  ASSERT_EQ(create_segment(o, first, message), SegmentError::kOk) << message;
  EXPECT_EQ(create_segment(o, second, message), SegmentError::kExists);
  EXPECT_FALSE(second);
  // The failed attempt must not unlink the existing object: it is still there (not ready yet).
  Mapping attached;
  EXPECT_EQ(attach_segment(name_, attached, message), SegmentError::kNotReady);
}

TEST_F(SegmentFiles, AttachBeforeReadyIsNotReadyEvenWithAValidHeader) {
  CreateOptions o;
  o.name = name_;
  o.layout = layout_for(1, 32);
  Mapping m;
  std::string message;
  ASSERT_EQ(create_segment(o, m, message), SegmentError::kOk) << message;
  std::memcpy(m.data(), valid_header(o.layout).get(), offsetof(SegmentHeader, ready));
  Mapping attached;
  EXPECT_EQ(attach_segment(name_, attached, message), SegmentError::kNotReady);
  m.header()->ready.store(1, std::memory_order_release);
  EXPECT_EQ(attach_segment(name_, attached, message), SegmentError::kOk) << message;
  EXPECT_EQ(attached.size(), o.layout.segment_size);
}

TEST_F(SegmentFiles, CreateRejectsAnEmptyLayout) {
  CreateOptions o;
  o.name = name_;
  Mapping m;
  std::string message;
  EXPECT_EQ(create_segment(o, m, message), SegmentError::kSizeInvalid);
}

TEST_F(SegmentFiles, CreateRejectsANameWithASlash) {
  CreateOptions o;
  o.name = "spanring.a/b";
  o.layout = layout_for(1, 32);
  Mapping m;
  std::string message;
  EXPECT_EQ(create_segment(o, m, message), SegmentError::kNameInvalid);
}

TEST(SegmentName, ReplacesCharactersOutsideThePortableSet) {
  EXPECT_EQ(segment_name("llm server/v1", 42, 0), "spanring.llm_server_v1.42");
  EXPECT_EQ(segment_name("svc", 42, 3), "spanring.svc.42.3");
}

}  // namespace
}  // namespace spanring::shm
