#include "runtime/daemon/auth.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace allot::daemon {

Identity identity_of_uid(uid_t uid, uid_t daemon_uid) {
  Identity id;
  id.uid = uid;
  id.admin = uid == 0 || uid == daemon_uid;
  id.user = "uid:" + std::to_string(uid);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return id;
  id.user = pw.pw_name;
  id.gid = pw.pw_gid;
  std::vector<gid_t> gids(64);
  int count = static_cast<int>(gids.size());
  if (::getgrouplist(pw.pw_name, pw.pw_gid, gids.data(), &count) < 0) {
    gids.resize(static_cast<std::size_t>(count));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, gids.data(), &count) < 0) count = 0;
  }
  gids.resize(static_cast<std::size_t>(std::max(count, 0)));
  std::vector<char> gbuf(16384);
  for (gid_t g : gids) {
    group gr{};
    group* gfound = nullptr;
    if (::getgrgid_r(g, &gr, gbuf.data(), gbuf.size(), &gfound) == 0 && gfound) {
      id.groups.emplace_back(gr.gr_name);
    } else {
      id.groups.push_back("gid:" + std::to_string(g));
    }
  }
  return id;
}

std::optional<Identity> peer_identity(int socket_fd, uid_t daemon_uid) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return std::nullopt;
  Identity id = identity_of_uid(cred.uid, daemon_uid);
  id.gid = cred.gid;  // the peer's effective gid wins over the passwd entry
  id.pid = cred.pid;
  return id;
}

bool authorized(const runtime::Scope& queue, const Identity& who, runtime::Action action) {
  if (who.admin) return true;
  if (queue.queue.grants.empty()) return true;
  for (const runtime::Grant& g : queue.queue.grants) {
    if (!(g.actions & (action | runtime::kAdmin))) continue;
    if (std::find(g.users.begin(), g.users.end(), who.user) != g.users.end()) return true;
    for (const std::string& group : who.groups) {
      if (std::find(g.groups.begin(), g.groups.end(), group) != g.groups.end()) return true;
    }
  }
  return false;
}

}  // namespace allot::daemon
