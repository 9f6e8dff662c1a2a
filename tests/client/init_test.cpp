// spanring::init failure paths: each returns its code with a message that says what is wrong,
// creates nothing in /dev/shm, and leaves the tracer a no-op. Also the second init.
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <gmock/gmock.h>

#include "spanring/shm/segment.hpp"
#include "test_support.hpp"

namespace spanring::test {
namespace {

using ::testing::HasSubstr;

std::string init_code_name(InitCode c) {
  switch (c) {
    case InitCode::kOk: return "kOk";
    case InitCode::kAlreadyInitialized: return "kAlreadyInitialized";
    case InitCode::kInvalidArgument: return "kInvalidArgument";
    case InitCode::kNameTooLong: return "kNameTooLong";
    case InitCode::kSegmentExists: return "kSegmentExists";
    case InitCode::kPermissionDenied: return "kPermissionDenied";
    case InitCode::kNoSpace: return "kNoSpace";
    case InitCode::kUnavailable: return "kUnavailable";
    case InitCode::kDisabled: return "kDisabled";
  }
  return "?";
}

class Init : public TracerTest {
 protected:
  // init() for this test's service, expected to fail: checks the code, that the message
  // contains `message_part`, that no segment was created and that the tracer is a no-op.
  void expect_init_fails(Options options, InitCode code, const std::string& message_part) {
    if (options.service_name.empty()) options.service_name = service_;
    const InitStatus st = spanring::init(options);
    EXPECT_EQ(init_code_name(st.code), init_code_name(code)) << st.message;
    EXPECT_THAT(st.message, HasSubstr(message_part));
    EXPECT_EQ(st.segment, "");
    EXPECT_TRUE(segments_of(options.service_name).empty());
    expect_tracer_is_a_noop();
  }
};

TEST_F(Init, RejectsServiceNameLongerThan128Bytes) {
  Options o;
  o.service_name = service_ + std::string(129 - service_.size(), 'x');
  o.shm_size = kSmallSegment;
  expect_init_fails(o, InitCode::kNameTooLong, "129 bytes");
}

TEST_F(Init, AcceptsServiceNameOf128Bytes) {
  service_ += std::string(128 - service_.size(), 'x');
  const InitStatus st = start_tracer();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(read_segment(st.segment).service, service_);
}

// The generation the next successful init() of this process will put in its segment name.
std::uint32_t next_generation() {
  Options o;
  o.service_name = unique_service("probe");
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_TRUE(st.ok()) << st.message;
  spanring::shutdown();
  shm::remove_segment(st.segment);
  const std::string base = shm::segment_name(o.service_name, static_cast<std::uint32_t>(::getpid()), 0);
  if (st.segment == base) return 1;
  return static_cast<std::uint32_t>(std::stoul(st.segment.substr(base.size() + 1))) + 1;
}

TEST_F(Init, RefusesToReuseAnExistingSegment) {
  const std::string name = shm::segment_name(service_, static_cast<std::uint32_t>(::getpid()), next_generation());
  shm::CreateOptions co;
  co.name = name;
  co.layout = shm::layout_within(kSmallSegment, 1);
  shm::Mapping theirs;
  std::string message;
  ASSERT_EQ(shm::create_segment(co, theirs, message), shm::SegmentError::kOk) << message;

  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(init_code_name(st.code), "kSegmentExists") << st.message;
  EXPECT_THAT(st.message, HasSubstr(name));
  expect_tracer_is_a_noop();
  // The other creator's segment is untouched: still there, header never written.
  EXPECT_EQ(::access(("/dev/shm/" + name).c_str(), F_OK), 0);
  EXPECT_EQ(theirs.header()->magic, 0u);
  EXPECT_EQ(theirs.header()->ready.load(), 0u);
}

class InitBadShmSize : public Init, public ::testing::WithParamInterface<const char*> {};

TEST_P(InitBadShmSize, IsAnInvalidArgumentNamingTheVariable) {
  ScopedEnv env("SPANRING_SHM_SIZE", GetParam());
  expect_init_fails(Options{}, InitCode::kInvalidArgument, std::string("SPANRING_SHM_SIZE='") + GetParam() + "'");
}

INSTANTIATE_TEST_SUITE_P(Garbage, InitBadShmSize, ::testing::Values("lots", "12Q", "1.5M", "M", "4 MiBs", "0x100000"));

TEST_F(Init, RejectsShmSizeTooSmallForOneRing) {
  ScopedEnv env("SPANRING_SHM_SIZE", "64K");
  expect_init_fails(Options{}, InitCode::kInvalidArgument, "segment size 65536 bytes cannot hold");
}

TEST_F(Init, RejectsOptionShmSizeTooSmallForTheRequestedRings) {
  Options o;
  o.shm_size = kSmallSegment;
  o.rings = 1024;
  expect_init_fails(o, InitCode::kInvalidArgument, "cannot hold 1024 ring(s)");
}

// A negative size must not wrap around to an enormous segment.
TEST_F(Init, RejectsNegativeShmSize) {
  ScopedEnv env("SPANRING_SHM_SIZE", "-1");
  expect_init_fails(Options{}, InitCode::kInvalidArgument, "SPANRING_SHM_SIZE='-1'");
}

// 2^64 / 2^30 = 2^34: a size that overflows once multiplied by its suffix.
TEST_F(Init, RejectsShmSizeThatOverflows) {
  ScopedEnv env("SPANRING_SHM_SIZE", "17179869184G");
  expect_init_fails(Options{}, InitCode::kInvalidArgument, "SPANRING_SHM_SIZE='17179869184G'");
}

class InitBadShmMode : public Init, public ::testing::WithParamInterface<const char*> {};

TEST_P(InitBadShmMode, IsAnInvalidArgumentNamingTheVariable) {
  ScopedEnv env("SPANRING_SHM_MODE", GetParam());
  Options o;
  o.shm_size = kSmallSegment;
  expect_init_fails(o, InitCode::kInvalidArgument, std::string("SPANRING_SHM_MODE='") + GetParam() + "'");
}

INSTANTIATE_TEST_SUITE_P(Garbage, InitBadShmMode, ::testing::Values("0777", "0644", "0666", "rw", "600x", "0o600"));

// A group-read segment cannot be drained (the agent writes `tail`): refused, and the message
// says which modes work.
class InitGroupReadShmMode : public Init, public ::testing::WithParamInterface<const char*> {};

TEST_P(InitGroupReadShmMode, IsAnInvalidArgumentNamingTheAllowedModes) {
  ScopedEnv env("SPANRING_SHM_MODE", GetParam());
  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(init_code_name(st.code), init_code_name(InitCode::kInvalidArgument)) << st.message;
  EXPECT_THAT(st.message, HasSubstr(std::string("SPANRING_SHM_MODE='") + GetParam() + "'"));
  EXPECT_THAT(st.message, HasSubstr("0600"));
  EXPECT_THAT(st.message, HasSubstr("0660"));
  EXPECT_TRUE(segments_of(service_).empty());
  expect_tracer_is_a_noop();
}

INSTANTIATE_TEST_SUITE_P(Refused, InitGroupReadShmMode, ::testing::Values("0640", "640"));

class InitBadRings : public Init, public ::testing::WithParamInterface<const char*> {};

TEST_P(InitBadRings, IsAnInvalidArgumentNamingTheVariable) {
  ScopedEnv env("SPANRING_RINGS", GetParam());
  Options o;
  o.shm_size = kSmallSegment;
  expect_init_fails(o, InitCode::kInvalidArgument, std::string("SPANRING_RINGS='") + GetParam() + "'");
}

INSTANTIATE_TEST_SUITE_P(Garbage, InitBadRings, ::testing::Values("0", "1025", "two", "-3x"));

class InitSdkDisabled : public Init, public ::testing::WithParamInterface<const char*> {};

TEST_P(InitSdkDisabled, ReturnsDisabled) {
  ScopedEnv env("OTEL_SDK_DISABLED", GetParam());
  Options o;
  o.shm_size = kSmallSegment;
  expect_init_fails(o, InitCode::kDisabled, "OTEL_SDK_DISABLED");
}

INSTANTIATE_TEST_SUITE_P(CaseInsensitiveTrue, InitSdkDisabled, ::testing::Values("true", "TRUE", "True"));

TEST_F(Init, SdkDisabledOtherThanTrueIsIgnored) {
  ScopedEnv env("OTEL_SDK_DISABLED", "false");
  EXPECT_TRUE(start_tracer().ok());
  EXPECT_TRUE(spanring::enabled());
}

TEST_F(Init, SdkDisabledLeavesPropagationWorking) {
  ScopedEnv env("OTEL_SDK_DISABLED", "true");
  Options o;
  o.service_name = service_;
  ASSERT_EQ(spanring::init(o).code, InitCode::kDisabled);
  SpanContext ctx;
  EXPECT_TRUE(extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=1", ctx));
  EXPECT_EQ(ctx.trace_state_view(), "a=1");
  // A span with that remote parent still records nothing.
  Span s("disabled.server", ctx);
  EXPECT_FALSE(s.recording());
}

TEST_F(Init, SecondInitFailsAndKeepsTheFirstSegment) {
  ASSERT_TRUE(start_tracer().ok());
  Options o;
  o.service_name = service_ + ".second";
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(init_code_name(st.code), "kAlreadyInitialized");
  EXPECT_THAT(st.message, HasSubstr(segment_));
  EXPECT_TRUE(segments_of(o.service_name).empty());
  EXPECT_TRUE(spanring::enabled());
  EXPECT_EQ(spanring::segment_name(), segment_);
  {
    Span s("still.recording");
    EXPECT_TRUE(s.recording());
  }
  EXPECT_EQ(counters().spans_written, 1u);
}

TEST_F(Init, InitAfterShutdownWritesToANewSegment) {
  ASSERT_TRUE(start_tracer().ok());
  { Span s("first"); }
  const std::string first = segment_;
  spanring::shutdown();
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_NE(segment_, first);
  { Span s("second"); }
  EXPECT_EQ(counters().spans_written, 1u);
  spanring::shutdown();
  const SegmentContents a = read_segment(first);
  const SegmentContents b = read_segment(segment_);
  ASSERT_EQ(a.spans.size(), 1u);
  ASSERT_EQ(b.spans.size(), 1u);
  EXPECT_EQ(a.spans[0].name, "first");
  EXPECT_EQ(b.spans[0].name, "second");
}

// ---------------------------------------------------------------------------------------------
// OS failures, simulated in a forked child that mounts its own tmpfs on /dev/shm in a private
// mount namespace (as root directly; otherwise inside a new user namespace).

constexpr int kChildSkip = 77;

bool write_file(const char* path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

// In the child: gives it a private /dev/shm, a tmpfs mounted with `tmpfs_options`. Returns
// false (after noting why) when namespaces are not available here.
bool private_dev_shm(const char* tmpfs_options) {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (uid != 0) {
    if (::unshare(CLONE_NEWUSER) != 0) {
      child_note(std::string("unshare(CLONE_NEWUSER): ") + std::strerror(errno));
      return false;
    }
    if (!write_file("/proc/self/setgroups", "deny") ||
        !write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      child_note("cannot write the user namespace's id maps");
      return false;
    }
  }
  if (::unshare(CLONE_NEWNS) != 0) {
    child_note(std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno));
    return false;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_options) != 0) {
    child_note(std::string("mount tmpfs on /dev/shm: ") + std::strerror(errno));
    return false;
  }
  return true;
}

// In the child: drops every capability, so even uid 0 is subject to file permissions.
bool drop_capabilities() {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) {
    child_note(std::string("capset: ") + std::strerror(errno));
    return false;
  }
  return true;
}

int dev_shm_entries() {
  int n = 0;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (const dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
    ::closedir(d);
  }
  return n;
}

// In the child: init must fail with `code`; then the tracer must be a no-op.
int expect_init_fails_in_child(const std::string& service, InitCode code, const std::string& message_part) {
  Options o;
  o.service_name = service;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  child_note("init: " + init_code_name(st.code) + " '" + st.message + "'");
  if (st.code != code) return 1;
  if (st.message.find(message_part) == std::string::npos) return 2;
  if (dev_shm_entries() != 0) return 3;
  const std::string v = noop_violations();
  if (!v.empty()) {
    child_note("not a no-op: " + v);
    return 4;
  }
  return 0;
}

void check_child(const ChildResult& r) {
  if (r.exit_code == kChildSkip) GTEST_SKIP() << "cannot make a private /dev/shm here: " << r.output;
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(Init, ReportsPermissionDeniedWhenDevShmIsNotWritable) {
  const ChildResult r = run_in_child([this] {
    if (!private_dev_shm("mode=0555") || !drop_capabilities()) return kChildSkip;
    return expect_init_fails_in_child(service_, InitCode::kPermissionDenied, std::strerror(EACCES));
  });
  check_child(r);
}

TEST_F(Init, ReportsNoSpaceWhenDevShmIsFull) {
  const ChildResult r = run_in_child([this] {
    if (!private_dev_shm("size=64k,mode=1777")) return kChildSkip;
    // The object was created before the reservation failed: it must be removed again.
    return expect_init_fails_in_child(service_, InitCode::kNoSpace, std::strerror(ENOSPC));
  });
  check_child(r);
}

TEST_F(Init, PrivateDevShmChildCanStillInit) {
  // Control for the two tests above: the namespace set-up alone does not make init fail.
  const ChildResult r = run_in_child([this] {
    if (!private_dev_shm("mode=1777")) return kChildSkip;
    Options o;
    o.service_name = service_;
    o.shm_size = kSmallSegment;
    const InitStatus st = spanring::init(o);
    child_note("init: " + init_code_name(st.code) + " '" + st.message + "'");
    if (!st.ok()) return 1;
    { Span s("in.private.shm"); }
    return counters().spans_written == 1 && dev_shm_entries() == 1 ? 0 : 2;
  });
  check_child(r);
}

}  // namespace
}  // namespace spanring::test
