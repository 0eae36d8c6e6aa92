// The server: the poll loop, its signals, client connections (limits,
// backpressure, timeouts), the group commit that releases replies, start
// gates and timers.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/process.h"

namespace allot::daemon {

using runtime::JobId;

namespace {

constexpr std::size_t kMaxConnections = 4096;
constexpr std::size_t kAdminConnections = 32;         // of kMaxConnections, kept for admins
constexpr std::size_t kMaxHttpConnections = 64;       // metrics scrapers, together
constexpr std::size_t kOutputBound = 1u << 20;        // unread reply bytes at which a connection is not read
constexpr std::size_t kMaxPendingOutput = 16u << 20;  // a single reply beyond this drops the client
constexpr std::size_t kMaxHttpRequest = 8192;
// Descriptors never given to connections: the journal and its rotation,
// the snapshot writer, job logs and start gates, pidfds come on top.
constexpr std::size_t kReservedDescriptors = 128;
constexpr std::int64_t kAcceptBackoffMs = 250;
constexpr int kAcceptsPerWakeup = 64;
// Requests handled per connection per loop iteration: a client with many
// lines buffered waits its turn instead of making the others wait.
constexpr int kLinesPerTurn = 4;
constexpr std::int64_t kMetricsIntervalMs = 1000;

}  // namespace

bool Daemon::open_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return false;
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    log(std::string("signalfd: ") + std::strerror(errno));
    return false;
  }
  reap_children();  // anything that ended before the mask was set
  return true;
}

bool Daemon::open_socket() {
  const std::string& path = config_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    log("socket path too long: " + path);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  std::error_code ec;
  std::filesystem::create_directories(parent_directory(path), ec);
  // A socket file left by a dead daemon is removed; a live daemon is not.
  if (::access(path.c_str(), F_OK) == 0) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (live) {
      log("another allotd is serving " + path);
      return false;
    }
    ::unlink(path.c_str());
  }
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const mode_t old_mask = ::umask(0117);  // the socket is created 0660
  const bool bound = listen_fd_ >= 0 && ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::umask(old_mask);
  if (!bound || ::chmod(path.c_str(), 0660) != 0 || ::listen(listen_fd_, SOMAXCONN) != 0) {
    log(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
    return false;
  }
  // Users reach the daemon through the socket's group; authorization by
  // role still applies to every request.
  if (!config_.socket_group.empty()) {
    std::vector<char> buffer(16384);
    group entry{};
    group* found = nullptr;
    if (::getgrnam_r(config_.socket_group.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      log(fmt::format("unknown socket group `{}`", config_.socket_group));
      return false;
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      log(fmt::format("cannot give {} to group `{}`: {}", path, config_.socket_group, std::strerror(errno)));
      return false;
    }
  }
  return true;
}

bool Daemon::open_metrics_port() {
  metrics_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(metrics_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(config_.metrics_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // local scrapes only
  if (metrics_fd_ < 0 || ::bind(metrics_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(metrics_fd_, 64) != 0) {
    log(fmt::format("cannot serve metrics on 127.0.0.1:{}: {}", config_.metrics_port, std::strerror(errno)));
    return false;
  }
  log(fmt::format("metrics on http://127.0.0.1:{}/metrics", config_.metrics_port));
  return true;
}

void Daemon::arm(std::int64_t delay_ms, Timer timer) { timers_.emplace(mono_ms() + delay_ms, timer); }

void Daemon::arm_kill(const JobRecord& rec, runtime::Time delay_ms) {
  kill_timers_[rec.id] = rec.runs;
  arm(delay_ms, KillTimer{rec.id, rec.runs});
}

void Daemon::loop() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    // Lines held back by backpressure, now that their replies were read.
    for (auto& [fd, c] : connections_)
      if (c.fd >= 0 && !c.http && !output_full(c) && c.in.find('\n') != std::string::npos) process_input(c);
    std::erase_if(connections_, [](const auto& entry) { return entry.second.fd < 0; });
    if (schedule_needed_) run_schedule();
    commit();
    if (stopping_) break;
    if (metrics_dirty_ && !config_.metrics_file.empty() && !metrics_timer_armed_) {
      arm(kMetricsIntervalMs, MetricsTimer{});
      metrics_timer_armed_ = true;
    }
    int timeout = -1;
    if (!timers_.empty())
      timeout = static_cast<int>(std::clamp<std::int64_t>(timers_.begin()->first - mono_ms(), 0, 60000));
    for (const auto& [fd, c] : connections_)
      if (!c.http && !output_full(c) && c.in.find('\n') != std::string::npos) timeout = 0;  // lines waiting their turn
    if (unsynced_since_ms_ != 0)  // records commit() left for later (gates among them)
      timeout = static_cast<int>(std::clamp<std::int64_t>(unsynced_since_ms_ + kLazySyncMs - mono_ms(), 0,
                                                          timeout < 0 ? kLazySyncMs : timeout));

    fds.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    // After EMFILE/ENFILE the listening sockets rest (a ClientTimer ends the
    // pause): polling them would only spin.
    const bool accepting = mono_ms() >= accept_paused_until_ms_;
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    fds.push_back({metrics_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    const std::size_t connection_count = connections_.size();
    for (const auto& [fd, c] : connections_) {
      const bool readable = !c.close_after_write && !output_full(c) && c.in.size() < api::kMaxRequestLine;
      fds.push_back({fd, static_cast<short>((readable ? POLLIN : 0) | (c.out.empty() ? 0 : POLLOUT)), 0});
    }
    for (const auto& [fd, id] : pidfds_) fds.push_back({fd, POLLIN, 0});

    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) {
      log(std::string("poll: ") + std::strerror(errno));
      exit_status_ = 1;
      return;
    }
    if (ready > 0) {
      if (fds[0].revents) handle_signals();
      if (fds[1].revents & POLLIN) accept_clients(listen_fd_, false);
      if (metrics_fd_ >= 0 && (fds[2].revents & POLLIN)) accept_clients(metrics_fd_, true);
      std::size_t i = 3;
      std::vector<int> closed;
      for (; i < 3 + connection_count; ++i) {
        const auto found = connections_.find(fds[i].fd);
        if (found == connections_.end()) continue;
        Connection& c = found->second;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          if ((fds[i].events & POLLIN) || (fds[i].revents & POLLERR)) {
            read_client(c);
          } else if (fds[i].revents & POLLHUP) {
            close_client(c, "");  // hung up while its replies were held back
          }
        }
        if (c.fd >= 0 && (fds[i].revents & POLLOUT)) write_client(c);
        if (c.fd < 0) closed.push_back(fds[i].fd);
      }
      for (int fd : closed) connections_.erase(fd);
      for (; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const auto it = pidfds_.find(fds[i].fd);
        if (it == pidfds_.end()) continue;
        const JobId id = it->second;
        ::close(it->first);
        pidfds_.erase(it);
        on_job_exit(id, std::nullopt);
      }
    }
    fire_timers();
  }
}

void Daemon::handle_signals() {
  signalfd_siginfo info{};
  bool child = false;
  while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    switch (info.ssi_signo) {
      case SIGCHLD:
        child = true;
        break;
      case SIGTERM:
      case SIGINT:
        log(fmt::format("signal {}: stopping (jobs keep running)", info.ssi_signo));
        stopping_ = true;
        break;
      case SIGHUP: {
        log("SIGHUP: reloading " + config_.plan_path);
        const std::string result = apply_plan_file(config_.plan_path, true);
        log(result);
        break;
      }
      default:
        break;
    }
  }
  if (child) reap_children();
}

void Daemon::reap_children() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == snapshot_pid_) {
      finish_snapshot(status);
      continue;
    }
    const auto it = children_.find(pid);
    if (it == children_.end()) continue;
    const JobId id = it->second;
    children_.erase(it);
    on_job_exit(id, status);
  }
}

std::size_t Daemon::connection_budget() const {
  const std::size_t held = kReservedDescriptors + pidfds_.size() + gates_.size();
  const std::size_t available = descriptor_limit_ > held ? descriptor_limit_ - held : 0;
  return std::max<std::size_t>(kAdminConnections, std::min(kMaxConnections, available));
}

void Daemon::accept_clients(int listen_fd, bool http) {
  const std::int64_t now = mono_ms();
  for (int accepted = 0; accepted < kAcceptsPerWakeup; ++accepted) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log(fmt::format("cannot accept connections ({}); pausing {} ms", std::strerror(errno), kAcceptBackoffMs));
        accept_paused_until_ms_ = now + kAcceptBackoffMs;
        if (!client_timer_armed_) {
          arm(kAcceptBackoffMs, ClientTimer{});
          client_timer_armed_ = true;
        }
      }
      return;
    }
    // A refusal is one reply line, sent without waiting, then the close.
    auto refuse_connection = [&](const std::string& message) {
      const std::string line = api::error_reply(api::ApiError{api::error_code::unavailable, message});
      [[maybe_unused]] const ssize_t n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      if (refused_connections_++ % 1000 == 0)
        log(fmt::format("refused a connection: {} ({} refused so far)", message, refused_connections_));
    };
    Connection c;
    c.fd = fd;
    c.http = http;
    c.last_active_ms = now;
    const std::size_t budget = connection_budget();
    if (http) {
      std::size_t scrapers = 0;
      for (const auto& [other_fd, other] : connections_) scrapers += other.http ? 1 : 0;
      if (scrapers >= kMaxHttpConnections || connections_.size() + kAdminConnections >= budget) {
        ::close(fd);
        continue;
      }
    } else {
      // The caps are checked on the bare uid first: resolving names and
      // groups costs file reads, which a flood of refused connections must
      // not make everyone else wait for.
      ucred cred{};
      socklen_t cred_len = sizeof(cred);
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
        ::close(fd);
        continue;
      }
      const bool admin = cred.uid == 0 || cred.uid == daemon_uid_;
      if (connections_.size() >= budget || (!admin && connections_.size() + kAdminConnections >= budget)) {
        refuse_connection(fmt::format("too many connections ({}); try again later", connections_.size()));
        continue;
      }
      const auto held = connections_by_uid_.find(cred.uid);
      if (!admin && held != connections_by_uid_.end() && held->second >= config_.max_connections_per_uid) {
        refuse_connection(
            fmt::format("too many connections from uid {} (at most {})", cred.uid, config_.max_connections_per_uid));
        continue;
      }
      std::optional<Identity> peer = peer_identity(fd, daemon_uid_);
      if (!peer) {
        ::close(fd);
        continue;
      }
      c.peer = std::move(*peer);
      ++connections_by_uid_[c.peer.uid];
    }
    connections_[fd] = std::move(c);
    if (!client_timer_armed_) {
      arm(std::clamp<std::int64_t>(std::min(config_.idle_timeout_ms, config_.request_timeout_ms) / 4, 10, 1000),
          ClientTimer{});
      client_timer_armed_ = true;
    }
  }
}

void Daemon::close_client(Connection& c, const std::string& why) {
  if (c.fd < 0) return;
  if (!why.empty()) log(fmt::format("closing the connection of {} (uid {}): {}", c.peer.user, c.peer.uid, why));
  ::close(c.fd);
  c.fd = -1;
  if (!c.http) {
    const auto it = connections_by_uid_.find(c.peer.uid);
    if (it != connections_by_uid_.end() && --it->second == 0) connections_by_uid_.erase(it);
  }
}

bool Daemon::output_full(const Connection& c) const { return c.out.size() + c.owed >= kOutputBound; }

void Daemon::check_clients() {
  client_timer_armed_ = false;
  const std::int64_t now = mono_ms();
  for (auto& [fd, c] : connections_) {
    if (c.fd < 0) continue;
    if (c.line_started_ms > 0 && now - c.line_started_ms > config_.request_timeout_ms) {
      close_client(c, fmt::format("request not complete {} ms after its first byte", config_.request_timeout_ms));
    } else if (now - c.last_active_ms > config_.idle_timeout_ms && c.owed == 0) {
      close_client(c, c.out.empty() ? "" : fmt::format("replies unread for {} ms", config_.idle_timeout_ms));
    }
  }
  std::erase_if(connections_, [](const auto& entry) { return entry.second.fd < 0; });
  if (!connections_.empty() || now < accept_paused_until_ms_) {
    arm(std::clamp<std::int64_t>(std::min(config_.idle_timeout_ms, config_.request_timeout_ms) / 4, 10, 1000),
        ClientTimer{});
    client_timer_armed_ = true;
  }
}

void Daemon::read_client(Connection& c) {
  char buf[65536];
  // Backpressure: a connection whose replies are not read is not read
  // either, so one client cannot make allotd hold more than kOutputBound
  // (plus one request line) for it.
  while (!output_full(c) && c.in.size() < api::kMaxRequestLine) {
    const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      close_client(c, "");
      return;
    }
    if (n == 0) {  // the peer is done sending: answer what it asked, then close
      c.close_after_write = true;
      if (c.out.empty() && c.owed == 0 && c.in.find('\n') == std::string::npos) close_client(c, "");
      return;
    }
    const std::int64_t now = mono_ms();
    c.last_active_ms = now;
    if (c.in.empty()) c.line_started_ms = now;
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.http) {
      if (c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos) {
        const std::string body = metrics_text();
        c.out = fmt::format(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: "
            "close\r\n\r\n{}",
            body.size(), body);
        c.close_after_write = true;
        c.in.clear();
        write_client(c);
        return;
      }
      if (c.in.size() > kMaxHttpRequest) {
        close_client(c, "");
        return;
      }
      continue;
    }
    if (!process_input(c)) return;
    if (c.in.find('\n') != std::string::npos) return;  // its turn is used; the rest waits (loop())
  }
}

bool Daemon::process_input(Connection& c) {
  std::size_t start = 0;
  bool completed = false;
  int handled = 0;
  for (std::size_t nl; handled < kLinesPerTurn && !output_full(c) && (nl = c.in.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    completed = true;
    ++handled;
    std::string_view line(c.in.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    submitted_ = 0;
    std::string reply = handle_line(c, line);
    c.owed += reply.size();
    replies_after_sync_.push_back({c.fd, std::move(reply), submitted_});
    submitted_ = 0;
  }
  c.in.erase(0, start);
  // The request timeout runs only for a line being received, not for lines
  // held back by backpressure.
  if (c.in.empty() || c.in.find('\n') != std::string::npos) {
    c.line_started_ms = 0;
  } else if (completed || c.line_started_ms == 0) {
    c.line_started_ms = mono_ms();
  }
  if (c.in.size() >= api::kMaxRequestLine && c.in.find('\n') == std::string::npos) {
    // A line this long is never a request.
    close_client(c, fmt::format("request line over {} bytes", api::kMaxRequestLine));
    return false;
  }
  return true;
}

void Daemon::write_client(Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      close_client(c, "");
      return;
    }
    c.out.erase(0, static_cast<std::size_t>(n));
    c.last_active_ms = mono_ms();
  }
  if (c.close_after_write && c.owed == 0 && (c.http || c.in.find('\n') == std::string::npos)) close_client(c, "");
}

void Daemon::commit(bool force) {
  if (!force && replies_after_sync_.empty() && journal_.unsynced() > 0) {
    if (unsynced_since_ms_ == 0) unsynced_since_ms_ = mono_ms();
    if (mono_ms() - unsynced_since_ms_ < kLazySyncMs) return;  // the loop polls until then
  }
  unsynced_since_ms_ = 0;
  std::string error;
  if (!journal_.sync(error)) {
    log("FATAL: " + error + "; stopping without answering (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    replies_after_sync_.clear();
    close_gates();
    launches_.clear();  // never spawned: recovery finds them starting without a pid
    return;
  }
  open_gates();
  // Snapshots cost O(jobs): taken once the journal has grown as large as the
  // last snapshot, so that their cost per record stays constant. Here the
  // journal is synced, so rotating it loses nothing; the writing is done by a
  // child while this loop goes on.
  if (snapshot_pid_ < 0 && records_since_snapshot_ >= config_.snapshot_every && journal_.size() >= last_snapshot_bytes_)
    start_snapshot();
  std::vector<int> touched, closed;
  for (PendingReply& r : replies_after_sync_) {
    const auto it = connections_.find(r.fd);
    if (it == connections_.end() || it->second.fd < 0) continue;
    if (it->second.out.empty()) touched.push_back(r.fd);
    it->second.owed -= std::min(it->second.owed, r.text.size());
    it->second.out += r.submitted ? submit_reply(r.submitted) : r.text;
  }
  replies_after_sync_.clear();
  for (int fd : touched) {
    Connection& c = connections_.at(fd);
    write_client(c);
    if (c.fd >= 0 && c.out.size() > kMaxPendingOutput) close_client(c, "unread replies over the output limit");
    if (c.fd < 0) closed.push_back(fd);
  }
  for (int fd : closed) connections_.erase(fd);
  // The replies are out: now the forks. Their start records (with the pids)
  // are synced by the next commit, which opens their gates.
  launch_admitted();
}

// The start records of this iteration are on disk: the waiting children may
// run their jobs. What they are told is journaled (unsynced: if it is lost,
// recovery sees a process past its gate and re-adopts it).
void Daemon::open_gates() {
  std::vector<Gate> gates;
  gates.swap(gates_);
  for (const Gate& g : gates) {
    const auto it = jobs_.find(g.job);
    const bool current = it != jobs_.end() && it->second.starting && it->second.pid == g.pid;
    if (!current) {
      abandon_job(g.fd);
      continue;
    }
    release_job(g.fd);
    it->second.starting = false;
    journal(it->second);
  }
}

void Daemon::close_gates() {
  for (const Gate& g : gates_) abandon_job(g.fd);
  gates_.clear();
}

void Daemon::fire_timers() {
  const std::int64_t now = mono_ms();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const Timer timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    if (const auto* kill = std::get_if<KillTimer>(&timer)) {
      const auto it = jobs_.find(kill->job);
      if (it == jobs_.end() || it->second.phase != JobPhase::stopping || it->second.runs != kill->run) continue;
      if (signal_job(it->second, SIGKILL))
        log(fmt::format("job {}: grace period over, SIGKILL to process group {}", kill->job, it->second.pid));
    } else if (std::holds_alternative<ClientTimer>(timer)) {
      check_clients();
    } else if (std::holds_alternative<MetricsTimer>(timer)) {
      metrics_timer_armed_ = false;
      if (metrics_dirty_) write_metrics_file();
    } else {
      std::vector<JobId> gone;
      for (JobId id : polled_adopted_) {
        const JobRecord& rec = jobs_.at(id);
        if (!same_process_alive(rec.pid, rec.start_ticks)) gone.push_back(id);
      }
      for (JobId id : gone) {
        polled_adopted_.erase(id);
        on_job_exit(id, std::nullopt);
      }
      if (!polled_adopted_.empty()) arm(kLivenessIntervalMs, LivenessTimer{});
    }
  }
}

}  // namespace allot::daemon
