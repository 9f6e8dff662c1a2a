// Which producers the agent trusts to feed which service names.
//
// A segment claims its service name itself, so without rules any local user could export spans
// as any service. The default is to accept every name as given (and export the segment owner's
// uid as the resource attribute `spanring.producer.uid`, so spoofing is visible); rules in
// `discovery.producers` narrow that down:
//
//   discovery:
//     producers:
//       - service: "llm-*"        # glob: '*' any run, '?' one character
//         users: [vllm, 1001]     # names resolved to uids when the config loads
//         groups: [inference]     # the owner's primary or supplementary groups
//
// A segment whose service name matches at least one rule's `service` is accepted only if its
// owner satisfies one of those matching rules; a name that matches no rule is accepted.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace spanring::agent {

struct ProducerRule {
  std::string service = "*";   // glob over the service name
  std::vector<uid_t> users;    // owner uid in this list, or
  std::vector<gid_t> groups;   // owner is a member of one of these groups
  bool operator==(const ProducerRule&) const = default;
};

// '*' matches any run of characters (also empty), '?' exactly one; everything else literally.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

// Whether a segment owned by `uid`, with group `gid`, may feed service `service` under `rules`
// (groups match the segment's group or any group of the owner's).
bool producer_allowed(const std::vector<ProducerRule>& rules, std::string_view service, uid_t uid, gid_t gid);

}  // namespace spanring::agent
