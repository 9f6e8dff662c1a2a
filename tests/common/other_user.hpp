// For tests that run part of themselves as another user (a forked child, or a process started
// through setpriv): whether that user can do what the test needs on this machine. Root is not
// enough: in a container or chroot whose root directory is not searchable by others, another
// user cannot reach /dev/shm or the build tree at all. Tests call this and skip, saying why.
#pragma once

#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace spanring::test {

// Empty when `uid`/`gid` (no supplementary groups) can create files in /dev/shm and execute each
// of `programs`; otherwise the reason, for GTEST_SKIP.
inline std::string other_user_unavailable(uid_t uid, gid_t gid, const std::vector<std::string>& programs = {}) {
  if (::geteuid() != 0) return "needs root to act as another user";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(1);
    if (::access("/dev/shm", W_OK | X_OK) != 0) ::_exit(2);
    for (const std::string& p : programs)
      if (::access(p.c_str(), X_OK) != 0) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return "the probe child failed";
  switch (WEXITSTATUS(status)) {
    case 0: return {};
    case 1: return "cannot switch to uid " + std::to_string(uid);
    case 2: return "uid " + std::to_string(uid) + " cannot create files in /dev/shm here (is / searchable by others?)";
    default: return "uid " + std::to_string(uid) + " cannot execute the test's programs here (is the build tree searchable?)";
  }
}

}  // namespace spanring::test
