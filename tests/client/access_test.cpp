// Who can drain the segment: SPANRING_SHM_GROUP / Options::group (the segment's group, set
// before it is marked ready), and the one-line warning of an engine running as root with mode
// 0600, which no non-root agent can ever drain. Tests that need another user run it in a forked
// child that drops to nobody (tests run as root in CI); they skip, saying why, where they cannot.
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "spanring/shm/segment.hpp"
#include "test_support.hpp"
#include "../common/other_user.hpp"

namespace spanring::test {
namespace {

using ::testing::HasSubstr;

constexpr const char* kNoSuchGroup = "spanring-no-such-group";
constexpr const char* kFix = "SPANRING_SHM_MODE=0660 SPANRING_SHM_GROUP=spanring";

struct UsableGroup {
  gid_t gid;
  std::string name;
};

// A named group this process may give a file, other than its effective gid: any group when
// root, else a supplementary one.
std::optional<UsableGroup> usable_other_group() {
  const gid_t own = ::getegid();
  std::vector<gid_t> mine;
  if (::geteuid() != 0) {
    mine.resize(static_cast<std::size_t>(::getgroups(0, nullptr)) + 1);
    mine.resize(static_cast<std::size_t>(std::max(0, ::getgroups(static_cast<int>(mine.size()), mine.data()))));
  }
  std::optional<UsableGroup> found;
  ::setgrent();
  while (const group* g = ::getgrent()) {
    const bool usable = ::geteuid() == 0 || std::find(mine.begin(), mine.end(), g->gr_gid) != mine.end();
    if (g->gr_gid != own && usable) {
      found = UsableGroup{g->gr_gid, g->gr_name};
      break;
    }
  }
  ::endgrent();
  return found;
}

constexpr const char* kNoGroup = "not root and in no named supplementary group: no other group to give the segment";

class Access : public TracerTest {
 protected:
  struct stat segment_stat() {
    struct stat st {};
    EXPECT_EQ(::stat(("/dev/shm/" + segment_).c_str(), &st), 0) << segment_;
    return st;
  }
};

TEST_F(Access, GroupVariableGivesTheSegmentThatGroupByName) {
  const auto g = usable_other_group();
  if (!g) GTEST_SKIP() << kNoGroup;
  ScopedEnv mode("SPANRING_SHM_MODE", "0660");
  ScopedEnv group("SPANRING_SHM_GROUP", g->name);
  const InitStatus st = start_tracer();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st.message, "");
  // init has returned, so `ready` is set: the group an agent sees once it may attach.
  const SegmentContents c = read_segment(segment_);
  ASSERT_EQ(c.error, "");
  const struct stat s = segment_stat();
  EXPECT_EQ(s.st_gid, g->gid);
  EXPECT_EQ(s.st_uid, ::geteuid());
  EXPECT_EQ(s.st_mode & 07777, 0660u);
}

TEST_F(Access, GroupVariableAcceptsANumericGid) {
  const auto g = usable_other_group();
  if (!g) GTEST_SKIP() << kNoGroup;
  ScopedEnv mode("SPANRING_SHM_MODE", "0660");
  ScopedEnv group("SPANRING_SHM_GROUP", std::to_string(g->gid));
  ASSERT_TRUE(start_tracer().ok());
  EXPECT_EQ(segment_stat().st_gid, g->gid);
}

TEST_F(Access, GroupOptionWinsOverTheVariable) {
  const auto g = usable_other_group();
  if (!g) GTEST_SKIP() << kNoGroup;
  ScopedEnv group("SPANRING_SHM_GROUP", kNoSuchGroup);  // would fail init if it were used
  Options o;
  o.access = spanring::Access::kGroupWrite;
  o.group = g->name;
  ASSERT_TRUE(start_tracer(o).ok());
  EXPECT_EQ(segment_stat().st_gid, g->gid);
  EXPECT_EQ(segment_stat().st_mode & 07777, 0660u);
}

TEST_F(Access, UnknownGroupVariableFailsInitNamingTheVariable) {
  ScopedEnv group("SPANRING_SHM_GROUP", kNoSuchGroup);
  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(st.code, InitCode::kInvalidArgument);
  EXPECT_THAT(st.message, HasSubstr(std::string("SPANRING_SHM_GROUP='") + kNoSuchGroup + "'"));
  EXPECT_THAT(st.message, HasSubstr("no such group"));
  EXPECT_TRUE(segments_of(service_).empty());
  expect_tracer_is_a_noop();
}

TEST_F(Access, UnknownGroupOptionFailsInitNamingTheOption) {
  Options o;
  o.service_name = service_;
  o.shm_size = kSmallSegment;
  o.group = kNoSuchGroup;
  const InitStatus st = spanring::init(o);
  EXPECT_EQ(st.code, InitCode::kInvalidArgument);
  EXPECT_THAT(st.message, HasSubstr(std::string("Options::group='") + kNoSuchGroup + "'"));
  EXPECT_TRUE(segments_of(service_).empty());
}

TEST_F(Access, GroupWithMode0600SaysItHasNoEffect) {
  const auto g = usable_other_group();
  if (!g) GTEST_SKIP() << kNoGroup;
  ScopedEnv group("SPANRING_SHM_GROUP", g->name);
  const InitStatus st = start_tracer();
  ASSERT_TRUE(st.ok());
  EXPECT_THAT(st.message, HasSubstr("no effect with mode 0600"));
}

// Drops a forked child (running as root) to nobody; returns false when it cannot.
bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
}

// A user that is neither root nor in group 0 may not give its segment group 0.
TEST_F(Access, RefusedGroupFailsInitWithTheSettingAndTheOsError) {
  if (const std::string why = other_user_unavailable(65534, 65534); !why.empty()) GTEST_SKIP() << why;
  const std::string service = service_;
  const ChildResult r = run_in_child([&service] {
    if (!become_nobody()) {
      child_note(std::string("cannot become nobody: ") + std::strerror(errno));
      return 2;
    }
    ScopedEnv mode("SPANRING_SHM_MODE", "0660");
    ScopedEnv group("SPANRING_SHM_GROUP", "0");
    Options o;
    o.service_name = service;
    o.shm_size = kSmallSegment;
    const InitStatus st = spanring::init(o);
    child_note("message=" + st.message);
    if (st.code != InitCode::kPermissionDenied) return 3;
    if (!segments_of(service).empty()) return 4;  // nothing left behind
    return 0;
  });
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string message = note_value(r.output, "message");
  EXPECT_THAT(message, HasSubstr("SPANRING_SHM_GROUP='0'"));
  EXPECT_THAT(message, HasSubstr(std::strerror(EPERM)));
}

// In a forked child: fd 2 goes to a memory file while init runs; returns what was written.
std::string stderr_of_init(const std::string& service, std::optional<std::string> mode, std::string& segment) {
  const int fd = ::memfd_create("stderr", 0);
  const int saved = ::dup(2);
  ::dup2(fd, 2);
  std::optional<ScopedEnv> m;
  if (mode) m.emplace("SPANRING_SHM_MODE", *mode);
  Options o;
  o.service_name = service;
  o.shm_size = kSmallSegment;
  const InitStatus st = spanring::init(o);
  segment = st.segment;
  ::dup2(saved, 2);
  std::string out(4096, '\0');
  const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  if (!st.ok()) out += "(init failed: " + st.message + ")";
  return out;
}

TEST_F(Access, RootWithMode0600WarnsOnceOnStderrNamingTheFix) {
  if (::geteuid() != 0) GTEST_SKIP() << "the warning is about engines running as root, and this test is not root";
  const std::string service = service_;
  const ChildResult r = run_in_child([&service] {
    std::string segment;
    const std::string err = stderr_of_init(service, std::nullopt, segment);
    child_note("segment=" + segment);
    child_note("stderr=" + err.substr(0, err.find('\n')));
    child_note("lines=" + std::to_string(std::count(err.begin(), err.end(), '\n')));
    spanring::shutdown();
    return 0;
  });
  if (const std::string s = note_value(r.output, "segment"); !s.empty()) shm::remove_segment(s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(note_value(r.output, "lines"), "1") << r.output;
  const std::string line = note_value(r.output, "stderr");
  EXPECT_THAT(line, HasSubstr("spanring: warning:"));
  EXPECT_THAT(line, HasSubstr(note_value(r.output, "segment")));
  EXPECT_THAT(line, HasSubstr("owned by root with mode 0600"));
  EXPECT_THAT(line, HasSubstr(kFix));
}

// Inits the tracer in a forked child (as nobody when `as_nobody`) with SPANRING_SHM_MODE =
// `mode`, and returns how many bytes init wrote on stderr (-1 when the child failed).
std::string stderr_bytes_of_init_in_child(const std::string& service, std::optional<std::string> mode,
                                          bool as_nobody) {
  const ChildResult r = run_in_child([&service, &mode, as_nobody] {
    if (as_nobody && !become_nobody()) {
      child_note(std::string("cannot become nobody: ") + std::strerror(errno));
      return 2;
    }
    std::string segment;
    const std::string err = stderr_of_init(service, mode, segment);
    child_note("segment=" + segment);
    child_note("stderr_bytes=" + std::to_string(err.size()));
    child_note(err);
    spanring::shutdown();
    return 0;
  });
  if (const std::string s = note_value(r.output, "segment"); !s.empty()) shm::remove_segment(s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.exit_code == 0 ? note_value(r.output, "stderr_bytes") : "-1";
}

TEST_F(Access, RootWithMode0660DoesNotWarn) {
  if (::geteuid() != 0) GTEST_SKIP() << "the warning is about engines running as root, and this test is not root";
  EXPECT_EQ(stderr_bytes_of_init_in_child(service_, std::string("0660"), /*as_nobody=*/false), "0");
}

TEST_F(Access, NonRootWithMode0600DoesNotWarn) {
  if (::geteuid() == 0)
    if (const std::string why = other_user_unavailable(65534, 65534); !why.empty()) GTEST_SKIP() << why;
  EXPECT_EQ(stderr_bytes_of_init_in_child(service_, std::nullopt, /*as_nobody=*/::geteuid() == 0), "0");
}

}  // namespace
}  // namespace spanring::test
