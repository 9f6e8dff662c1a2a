#include "agent/core/trust.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>

namespace spanring::agent {

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  // Iterative wildcard matching with one backtrack point: linear in practice, no recursion a
  // hostile service name could deepen.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {

// The owner's groups: its primary group and the supplementary ones from the group database.
std::vector<gid_t> groups_of(uid_t uid, gid_t fallback) {
  std::vector<gid_t> out{fallback};
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return out;
  int n = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) n = 0;
  }
  groups.resize(static_cast<std::size_t>(std::max(n, 0)));
  out.insert(out.end(), groups.begin(), groups.end());
  out.push_back(pw.pw_gid);
  return out;
}

}  // namespace

bool producer_allowed(const std::vector<ProducerRule>& rules, std::string_view service, uid_t uid, gid_t gid) {
  bool matched = false;
  std::vector<gid_t> groups;
  bool groups_known = false;
  for (const ProducerRule& r : rules) {
    if (!glob_match(r.service, service)) continue;
    matched = true;
    if (std::find(r.users.begin(), r.users.end(), uid) != r.users.end()) return true;
    if (r.groups.empty()) continue;
    if (!groups_known) {
      groups = groups_of(uid, gid);
      groups_known = true;
    }
    for (gid_t g : r.groups)
      if (std::find(groups.begin(), groups.end(), g) != groups.end()) return true;
  }
  return !matched;
}

}  // namespace spanring::agent
