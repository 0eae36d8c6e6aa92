// Who is calling (SO_PEERCRED, resolved to a user name and groups) and what
// the plan's roles let them do.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "runtime/core/cluster.h"

namespace allot::daemon {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string user;  // `uid:N` when the uid has no passwd entry
  std::vector<std::string> groups;
  bool admin = false;  // root or the daemon's own uid: may do everything
};

// The uid's name, primary gid and group names (getpwuid_r, getgrouplist).
Identity identity_of_uid(uid_t uid, uid_t daemon_uid);
// The peer of a connected Unix socket; nullopt if SO_PEERCRED fails.
std::optional<Identity> peer_identity(int socket_fd, uid_t daemon_uid);

// May `who` perform `action` (runtime::Action bit) on `queue`? Admins may do
// everything; a queue without grants is open to everyone; otherwise a grant
// must name the user or one of its groups and include the action (a grant
// with the admin permission includes every action).
bool authorized(const runtime::Scope& queue, const Identity& who, runtime::Action action);

}  // namespace allot::daemon
