// Job processes: started in their own session and process group, stopped
// through the group, recognised after a restart by pid and start time.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace allot::daemon {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH of `env`
  std::vector<std::string> env;   // "NAME=value"
  std::string cwd;
  std::string log_path;  // stdout and stderr, appended; created 0640
  // When set (allotd runs as root), the job runs as this user: initgroups,
  // setgid, setuid before exec. The log file is chowned to it.
  std::optional<uid_t> uid;
  gid_t gid = 0;
  std::string user;
};

struct Spawned {
  pid_t pid = 0;
  std::uint64_t start_ticks = 0;
  // The write end of the start gate (O_CLOEXEC): the child execs only after
  // release_job(release_fd); when the descriptor is closed unwritten (the
  // daemon died, or abandon_job), the child exits 126 without running.
  int release_fd = -1;
};

// The name (/proc/PID/comm) of a child that waits at the start gate; exec
// replaces it with the program's name. Recovery tells by it a process that
// never ran the job from one that did.
inline constexpr const char* kGateName = "allotd-gate";

// Forks; the child becomes a session and process group leader (setsid),
// gets /dev/null as stdin, no other inherited descriptors, default signal
// dispositions and an empty signal mask, then waits at the start gate and
// execs only once released. A failure after fork (chdir, exec) is written
// to the log and exits the child with 127.
std::variant<Spawned, std::string> spawn_job(const SpawnSpec& spec);

// Opens the gate (the child goes on to exec) and closes the descriptor.
// False if the child is already gone.
bool release_job(int release_fd);
// Closes the gate unopened: the child exits without running the job.
void abandon_job(int release_fd);

// True if `pid` still waits at the start gate (it never ran the job).
bool waits_at_gate(pid_t pid);

// Field 22 of /proc/PID/stat (clock ticks after boot); nullopt if the
// process does not exist.
std::optional<std::uint64_t> process_start_ticks(pid_t pid);

// True if `pid` exists and started at `start_ticks` (so is not a reused pid).
bool same_process_alive(pid_t pid, std::uint64_t start_ticks);

// Signals the process group led by `pid`; false if it no longer exists.
bool signal_group(pid_t pid, int signal);

// A pollable descriptor that becomes readable when `pid` exits (pidfd_open,
// Linux 5.3); -1 if unsupported.
int open_pidfd(pid_t pid);

}  // namespace allot::daemon
