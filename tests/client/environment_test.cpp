// What init() takes from the environment: service name, resource attributes (merged under
// the API's), and the segment's file mode.
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>

#include "spanring/shm/layout.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using Resource = std::vector<std::pair<std::string, std::string>>;

class Environment : public TracerTest {
 protected:
  // init() with no service name in the options: the environment decides it.
  SegmentContents init_from_environment(Options o = {}) {
    o.shm_size = kSmallSegment;
    const InitStatus st = spanring::init(o);
    EXPECT_TRUE(st.ok()) << st.message;
    segment_ = st.segment;
    warning_ = st.message;
    return read_segment(st.segment);
  }

  std::uint32_t segment_mode() {
    struct stat st {};
    EXPECT_EQ(::stat(("/dev/shm/" + segment_).c_str(), &st), 0) << segment_;
    return st.st_mode & 07777;
  }

  std::string warning_;
};

TEST_F(Environment, OtelServiceNameIsUsedWhenOptionsHaveNone) {
  ScopedEnv env("OTEL_SERVICE_NAME", service_);
  const SegmentContents c = init_from_environment();
  EXPECT_EQ(c.service, service_);
  EXPECT_EQ(segments_of(service_), std::vector<std::string>{segment_});
}

TEST_F(Environment, OptionServiceNameWinsOverOtelServiceName) {
  ScopedEnv env("OTEL_SERVICE_NAME", service_ + ".env");
  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(read_segment(segment_).service, service_);
}

TEST_F(Environment, ServiceNameFromResourceAttributesIsTheFallback) {
  ScopedEnv env("OTEL_RESOURCE_ATTRIBUTES", "team=infer,service.name=" + service_);
  const SegmentContents c = init_from_environment();
  EXPECT_EQ(c.service, service_);
  // service.name lives in the header's own field, not twice.
  EXPECT_THAT(c.resource, UnorderedElementsAre(Pair("team", "infer")));
}

TEST_F(Environment, OtelServiceNameWinsOverServiceNameInResourceAttributes) {
  ScopedEnv attrs("OTEL_RESOURCE_ATTRIBUTES", "service.name=" + service_ + ".attrs");
  ScopedEnv name("OTEL_SERVICE_NAME", service_);
  const SegmentContents c = init_from_environment();
  EXPECT_EQ(c.service, service_);
  EXPECT_THAT(c.resource, IsEmpty());
}

TEST_F(Environment, WithoutAnyNameTheServiceIsUnknownServiceAndTheExecutable) {
  const SegmentContents c = init_from_environment();
  EXPECT_THAT(c.service, ::testing::StartsWith("unknown_service:"));
  EXPECT_GT(c.service.size(), std::string("unknown_service:").size());
}

TEST_F(Environment, ResourceAttributesArePercentDecoded) {
  ScopedEnv name("OTEL_SERVICE_NAME", service_);
  ScopedEnv env("OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod, team=a%2Cb ,k%3Dey=v%3d1,space=two%20words,utf8=caf%C3%A9,plus=a+b");
  const SegmentContents c = init_from_environment();
  EXPECT_THAT(c.resource, UnorderedElementsAre(Pair("deployment.environment", "prod"), Pair("team", "a,b"),
                                               Pair("k=ey", "v=1"), Pair("space", "two words"),
                                               Pair("utf8", "caf\xc3\xa9"), Pair("plus", "a+b")));
  EXPECT_EQ(warning_, "");
}

class EnvironmentInvalidResource : public Environment, public ::testing::WithParamInterface<const char*> {};

TEST_P(EnvironmentInvalidResource, DiscardsTheWholeVariableWithAWarning) {
  ScopedEnv name("OTEL_SERVICE_NAME", service_);
  ScopedEnv env("OTEL_RESOURCE_ATTRIBUTES", GetParam());
  Options o;
  o.resource_attributes = {{"from.api", "kept"}};
  const SegmentContents c = init_from_environment(o);
  EXPECT_THAT(c.resource, UnorderedElementsAre(Pair("from.api", "kept")));
  EXPECT_THAT(warning_, HasSubstr("OTEL_RESOURCE_ATTRIBUTES ignored"));
}

INSTANTIATE_TEST_SUITE_P(Malformed, EnvironmentInvalidResource,
                         ::testing::Values("good=1,bad=%zz", "good=1,noequals", "good=1,=empty-key", "good=1,trail=%4",
                                           "good=1,trail=%"));

TEST_F(Environment, ApiResourceAttributesWinOverTheEnvironment) {
  ScopedEnv name("OTEL_SERVICE_NAME", service_);
  ScopedEnv env("OTEL_RESOURCE_ATTRIBUTES", "team=env,region=eu");
  Options o;
  o.resource_attributes = {{"team", "api"}, {"host.name", "h1"}};
  const SegmentContents c = init_from_environment(o);
  EXPECT_THAT(c.resource, UnorderedElementsAre(Pair("team", "api"), Pair("region", "eu"), Pair("host.name", "h1")));
}

TEST_F(Environment, SegmentModeIs0600ByDefault) {
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(segment_mode(), 0600u);
}

TEST_F(Environment, SegmentModeIs0660WithGroupWriteAccess) {
  Options o;
  o.access = Access::kGroupWrite;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(segment_mode(), 0660u);
}

TEST_F(Environment, SegmentModeIgnoresTheUmask) {
  const mode_t old = ::umask(0077);
  Options o;
  o.access = Access::kGroupWrite;
  const InitStatus st = start_tracer(o);
  ::umask(old);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(segment_mode(), 0660u);
}

TEST_F(Environment, ShmModeVariableAppliesWhenAccessIsUnset) {
  ScopedEnv env("SPANRING_SHM_MODE", "0660");
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(segment_mode(), 0660u);
}

// tracer.hpp, above Options: the API wins over the variable, in both directions.
TEST_F(Environment, OwnerAccessWinsOverShmModeVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", "0660");
  Options o;
  o.access = Access::kOwner;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(segment_mode(), 0600u);
}

TEST_F(Environment, GroupWriteAccessWinsOverShmModeVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", "0600");
  Options o;
  o.access = Access::kGroupWrite;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(segment_mode(), 0660u);
}

// A set option means the variable is not read, so not checked either (as for every setting).
TEST_F(Environment, InvalidShmModeVariableIsNotReadWhenAccessIsSet) {
  ScopedEnv env("SPANRING_SHM_MODE", "0640");
  Options o;
  o.access = Access::kOwner;
  const InitStatus st = start_tracer(o);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(segment_mode(), 0600u);
}

TEST_F(Environment, ShmSizeVariableSetsTheSegmentSize) {
  ScopedEnv name("OTEL_SERVICE_NAME", service_);
  ScopedEnv size("SPANRING_SHM_SIZE", "2M");
  ScopedEnv rings("SPANRING_RINGS", "3");
  Options o;
  const InitStatus st = spanring::init(o);
  ASSERT_TRUE(st.ok()) << st.message;
  segment_ = st.segment;
  struct stat s {};
  ASSERT_EQ(::stat(("/dev/shm/" + segment_).c_str(), &s), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(s.st_size), shm::layout_within(2u << 20, 3).segment_size);
  EXPECT_EQ(read_segment(segment_).ring_count, 3u);
}

}  // namespace
}  // namespace spanring::test
