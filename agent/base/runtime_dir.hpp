// Where the agent keeps its per-prefix files (the lock and spanringctl's control socket), and
// where spanringctl looks for them: one definition for both.
//
// Under systemd, RuntimeDirectory=spanring-agent gives /run/spanring-agent, owned by the
// service's user and exported as $RUNTIME_DIRECTORY (with several directories the variable
// lists them separated by ':', the first is ours). Only that user can create files there, so a
// lock left by a run as another user (root) cannot stand in the way, and the directory's mode
// (0750) lets the `spanring` group reach the socket and nobody else. Without the variable (a
// manual run): /dev/shm.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace spanring::agent {

inline constexpr const char* kSystemdRuntimeDirectory = "/run/spanring-agent";
inline constexpr const char* kFallbackRuntimeDirectory = "/dev/shm";

inline std::string agent_runtime_directory() {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime == nullptr || *runtime == '\0') return kFallbackRuntimeDirectory;
  std::string dir(runtime);
  if (const auto colon = dir.find(':'); colon != std::string::npos) dir.resize(colon);
  return dir;
}

// <dir>/spanring-agent<rest of the prefix after "spanring"><ext>: for the default prefix
// "spanring." and ext "lock", /run/spanring-agent/spanring-agent.lock. One agent per prefix,
// so one lock and one socket per prefix. The name never starts with the segment prefix, so
// discovery never takes these files for segments.
inline std::string agent_file_path(const std::string& dir, const std::string& segment_prefix, const char* ext) {
  constexpr std::size_t kStem = sizeof("spanring") - 1;
  const std::string rest = segment_prefix.size() >= kStem ? segment_prefix.substr(kStem) : segment_prefix;
  return dir + "/spanring-agent" + rest + ext;
}

}  // namespace spanring::agent
