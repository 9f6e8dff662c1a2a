// create_segment with CreateOptions::group: the segment gets that group (owner and mode kept)
// before create_segment returns, i.e. before the producer can mark it ready; a group the
// creator may not use fails with kGroupDenied and leaves nothing in /dev/shm.
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "spanring/shm/layout.hpp"
#include "spanring/shm/segment.hpp"
#include "../common/other_user.hpp"

namespace spanring::shm {
namespace {

// A group this process may give a file, other than its effective gid: any group when root,
// else a supplementary group. nullopt when there is none.
std::optional<gid_t> usable_other_group() {
  const gid_t own = ::getegid();
  if (::geteuid() == 0) {
    std::optional<gid_t> found;
    ::setgrent();
    while (const group* g = ::getgrent()) {
      if (g->gr_gid != own) {
        found = g->gr_gid;
        break;
      }
    }
    ::endgrent();
    return found;
  }
  std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)) + 1);
  const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
  for (int i = 0; i < n; ++i)
    if (groups[static_cast<std::size_t>(i)] != own) return groups[static_cast<std::size_t>(i)];
  return std::nullopt;
}

std::string test_segment_name() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "spanring.st." + std::string(info->name()) + "." + std::to_string(::getpid());
}

struct stat stat_of(const std::string& name) {
  struct stat st {};
  EXPECT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0) << name << ": " << std::strerror(errno);
  return st;
}

class SegmentGroup : public ::testing::Test {
 protected:
  void TearDown() override { remove_segment(name_); }
  CreateOptions options(std::uint32_t mode) {
    CreateOptions o;
    o.name = name_;
    o.layout = layout_for(1, kMinRingCapacity);
    o.mode = mode;
    return o;
  }
  const std::string name_ = test_segment_name();
};

TEST_F(SegmentGroup, CreateGivesTheSegmentTheGroupAndKeepsOwnerAndMode) {
  const std::optional<gid_t> g = usable_other_group();
  if (!g) GTEST_SKIP() << "not root and in no supplementary group: no other group to give the segment";
  CreateOptions o = options(0660);
  o.group = *g;
  Mapping m;
  std::string message;
  ASSERT_EQ(create_segment(o, m, message), SegmentError::kOk) << message;
  // create_segment has returned: the producer has not stored `ready` yet, and the group is final.
  EXPECT_EQ(m.header()->ready.load(std::memory_order_acquire), 0u);
  const struct stat st = stat_of(name_);
  EXPECT_EQ(st.st_gid, *g);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(SegmentGroup, WithoutAGroupTheSegmentHasTheCreatorsGroup) {
  Mapping m;
  std::string message;
  ASSERT_EQ(create_segment(options(0600), m, message), SegmentError::kOk) << message;
  const struct stat st = stat_of(name_);
  EXPECT_EQ(st.st_gid, ::getegid());
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// As a user that is not root and not in group 0 (a forked child drops to nobody when the test
// runs as root), giving the segment group 0 is refused.
TEST_F(SegmentGroup, ARefusedGroupFailsWithGroupDeniedAndLeavesNothing) {
  if (::geteuid() != 0) {
    std::vector<gid_t> groups(static_cast<std::size_t>(::getgroups(0, nullptr)) + 1);
    const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
    for (int i = 0; i < n; ++i)
      if (groups[static_cast<std::size_t>(i)] == 0) GTEST_SKIP() << "this user is in group 0: nothing to refuse";
    if (::getegid() == 0) GTEST_SKIP() << "this user's group is 0: nothing to refuse";
  }
  if (::geteuid() == 0)
    if (const std::string why = spanring::test::other_user_unavailable(65534, 65534); !why.empty()) GTEST_SKIP() << why;
  const CreateOptions base = options(0660);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    CreateOptions o = base;
    o.group = 0;
    Mapping m;
    std::string message;
    const SegmentError e = create_segment(o, m, message);
    if (e != SegmentError::kGroupDenied) ::_exit(11);
    if (message.find(std::strerror(EPERM)) == std::string::npos || message.find(o.name) == std::string::npos) ::_exit(12);
    if (::access(("/dev/shm/" + o.name).c_str(), F_OK) == 0) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: cannot drop to nobody, 11: not kGroupDenied, 12: message lacks the OS "
                                       "error or the name, 13: segment left behind";
}

}  // namespace
}  // namespace spanring::shm
