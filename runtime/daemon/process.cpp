#include "runtime/daemon/process.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace allot::daemon {

namespace {

// Only async-signal-safe calls between fork and exec.
[[noreturn]] void child_fail(int log_fd, const char* what, int err) {
  const char* msg = std::strerror(err);
  const char prefix[] = "allotd: cannot start job: ";
  if (::write(log_fd, prefix, sizeof(prefix) - 1) < 0 || ::write(log_fd, what, std::strlen(what)) < 0 ||
      ::write(log_fd, ": ", 2) < 0 || ::write(log_fd, msg, std::strlen(msg)) < 0 || ::write(log_fd, "\n", 1) < 0) {
    // nothing more can be done
  }
  ::_exit(127);
}

void close_descriptors_from(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0u, 0u) == 0) return;
#endif
  const long max = ::sysconf(_SC_OPEN_MAX);
  for (int fd = first; fd < (max > 0 ? max : 1024); ++fd) ::close(fd);
}

}  // namespace

std::variant<Spawned, std::string> spawn_job(const SpawnSpec& spec) {
  if (spec.argv.empty()) return std::string("empty command");
  const int log_fd = ::open(spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) return "cannot open log `" + spec.log_path + "`: " + std::strerror(errno);
  if (spec.uid && ::fchown(log_fd, *spec.uid, spec.gid) != 0) {
    const std::string err = std::strerror(errno);
    ::close(log_fd);
    return "cannot give the log to uid " + std::to_string(*spec.uid) + ": " + err;
  }
  // Everything the child needs is prepared before fork: no allocation after.
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* path_value = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& e : spec.env)
    if (e.rfind("PATH=", 0) == 0) path_value = e.c_str() + 5;

  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) {
    const std::string err = std::strerror(errno);
    ::close(log_fd);
    return "cannot create the start gate: " + err;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const std::string err = std::strerror(errno);
    ::close(log_fd);
    ::close(gate[0]);
    ::close(gate[1]);
    return "fork failed: " + err;
  }
  if (pid == 0) {
    // Named at once, so that recovery can tell this process never ran the
    // job for as long as it has not (exec renames it).
    ::prctl(PR_SET_NAME, kGateName, 0, 0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGCHLD}) ::signal(sig, SIG_DFL);
    if (::setsid() < 0) child_fail(log_fd, "setsid", errno);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0)
      child_fail(log_fd, "redirect", errno);
    // The start gate: only the read end stays (as descriptor 3), so that the
    // write end is held by the daemon alone and closes when it dies.
    if (gate[0] != 3 && ::dup2(gate[0], 3) < 0) child_fail(2, "start gate", errno);
    close_descriptors_from(4);
    char go = 0;
    ssize_t got = 0;
    do {
      got = ::read(3, &go, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) {
      const char msg[] = "allotd: job not started: allotd stopped before it had recorded the start\n";
      if (::write(2, msg, sizeof(msg) - 1) < 0) {
        // nothing more can be done
      }
      ::_exit(126);
    }
    ::close(3);
    if (spec.uid) {
      if (::initgroups(spec.user.c_str(), spec.gid) != 0 && ::setgroups(0, nullptr) != 0)
        child_fail(2, "setgroups", errno);
      if (::setgid(spec.gid) != 0) child_fail(2, "setgid", errno);
      if (::setuid(*spec.uid) != 0) child_fail(2, "setuid", errno);
    }
    if (::chdir(spec.cwd.c_str()) != 0) child_fail(2, spec.cwd.c_str(), errno);
    // execvpe semantics with the job's PATH, not the daemon's.
    if (std::strchr(argv[0], '/')) {
      ::execve(argv[0], argv.data(), envp.data());
      child_fail(2, argv[0], errno);
    }
    char candidate[4096];
    int last_error = ENOENT;
    for (const char* p = path_value;;) {
      const char* end = std::strchr(p, ':');
      const std::size_t dir_len = end ? static_cast<std::size_t>(end - p) : std::strlen(p);
      const std::size_t name_len = std::strlen(argv[0]);
      if (dir_len + name_len + 2 < sizeof(candidate)) {
        std::memcpy(candidate, p, dir_len);
        std::size_t at = dir_len;
        if (at == 0) candidate[at++] = '.';
        candidate[at++] = '/';
        std::memcpy(candidate + at, argv[0], name_len + 1);
        ::execve(candidate, argv.data(), envp.data());
        if (errno != ENOENT && errno != ENOTDIR) last_error = errno;
      }
      if (!end) break;
      p = end + 1;
    }
    child_fail(2, argv[0], last_error);
  }
  ::close(log_fd);
  ::close(gate[0]);
  Spawned s;
  s.pid = pid;
  s.start_ticks = process_start_ticks(pid).value_or(0);
  s.release_fd = gate[1];
  return s;
}

bool release_job(int release_fd) {
  const char go = 'g';
  ssize_t n = 0;
  do {
    n = ::write(release_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  ::close(release_fd);
  return n == 1;
}

void abandon_job(int release_fd) { ::close(release_fd); }

bool waits_at_gate(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  return in && std::getline(in, name) && name == kGateName;
}

std::optional<std::uint64_t> process_start_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return std::nullopt;
  std::string line;
  std::getline(in, line);
  // The command name (field 2) is in parentheses and may contain anything;
  // fields are counted after its closing parenthesis.
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return std::nullopt;
    if (i == 3 && field == "Z") return std::nullopt;  // a zombie has exited
  }
  try {
    return std::stoull(field);
  } catch (...) {
    return std::nullopt;
  }
}

bool same_process_alive(pid_t pid, std::uint64_t start_ticks) {
  if (pid <= 0) return false;
  const std::optional<std::uint64_t> ticks = process_start_ticks(pid);
  return ticks && *ticks == start_ticks;
}

bool signal_group(pid_t pid, int signal) { return pid > 0 && ::kill(-pid, signal) == 0; }

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#else
  (void)pid;
#endif
  return -1;
}

}  // namespace allot::daemon
