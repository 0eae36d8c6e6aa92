// The state store: journal records, journal generations and snapshots,
// written in the loop or by a forked child (the contract is at the top of
// daemon.h).
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using runtime::JobId;

void Daemon::journal(const JobRecord& rec) {
  Json event;
  event.set("t", "job");
  event.set("job", rec.to_json());
  journal_event(std::move(event));
  metrics_dirty_ = true;
}

void Daemon::journal_event(Json event) {
  std::string error;
  if (!journal_.append(event.dump(), error)) {
    log("FATAL: " + error + "; stopping (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    return;
  }
  ++records_since_snapshot_;
}

std::string Daemon::journal_path(std::uint64_t generation) const {
  return fmt::format("{}/journal-{}.log", config_.state_dir, generation);
}

// Finished jobs beyond the retention are forgotten, oldest first (in memory;
// the next snapshot leaves them out).
void Daemon::prune_finished_jobs() {
  std::vector<std::pair<runtime::Time, JobId>> finished;
  for (const auto& [id, rec] : jobs_)
    if (is_final(rec.phase)) finished.emplace_back(rec.finished_at, id);
  if (finished.size() <= config_.keep_finished_jobs) return;
  std::sort(finished.begin(), finished.end());
  for (std::size_t i = 0; i + config_.keep_finished_jobs < finished.size(); ++i) jobs_.erase(finished[i].second);
}

// Syncs journal G and continues in G+1 (created, directory fsynced), so that
// the in-memory state right now is exactly "everything in journals <= G":
// the content of snapshot G+1. On failure allotd stops (FATAL), as for any
// journal error.
bool Daemon::rotate_journal() {
  std::string error;
  if (!journal_.sync(error) || !journal_.open(journal_path(generation_ + 1), error)) {
    log("FATAL: " + error + "; stopping (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    return false;
  }
  ++generation_;
  records_since_snapshot_ = 0;
  return true;
}

std::string Daemon::snapshot_text() const {
  Json snap;
  snap.set("version", 1);
  snap.set("generation", generation_);
  snap.set("next_id", static_cast<std::uint64_t>(next_id_));
  snap.set("written_at", wall_ms());
  JsonArray jobs;
  for (const auto& [id, rec] : jobs_) jobs.push_back(rec.to_json());
  snap.set("jobs", std::move(jobs));
  JsonArray problems;
  for (const std::string& p : journal_problems_) problems.emplace_back(p);
  snap.set("problems", std::move(problems));
  Json counts = api::JsonObject{};
  for (const auto& [q, n] : preemptions_by_queue_) counts.set(q, n);
  snap.set("preemptions", std::move(counts));
  snap.set("node", node_event_json());
  return snap.dump() + "\n";
}

// Synchronous snapshot (startup and shutdown, nothing is being served):
// rotate to G+1, write snapshot G+1 (temp file, fsync, rename, fsync of the
// directory), then delete the journals before G+1. A crash before the rename
// leaves the old snapshot and all journals since: recovery replays them.
bool Daemon::write_snapshot() {
  prune_finished_jobs();
  if (!rotate_journal()) return false;
  const std::string text = snapshot_text();
  std::string error;
  if (!write_file_atomic(config_.state_dir + "/snapshot.json", text, error)) {
    log("cannot write a snapshot (the journals are kept): " + error);
    return false;
  }
  last_snapshot_bytes_ = text.size();
  remove_journals_before(generation_);
  return true;
}

// Background snapshot, started from commit() (the journal is synced): rotate
// to G+1 in the loop (one fdatasync + one directory fsync), then fork a child
// that serializes the state it inherited (copy-on-write) to snapshot G+1 and
// exits; the loop keeps serving and journaling into G+1. finish_snapshot()
// deletes journal G once the child has exited 0; until then, and forever if
// it fails, recovery is the previous snapshot + journals G, G+1. allotd is
// single-threaded, so the child may allocate; it only writes the snapshot
// files and leaves with _exit (no destructors, no buffered output flushed).
void Daemon::start_snapshot() {
  prune_finished_jobs();
  if (!rotate_journal()) return;
  const pid_t pid = ::fork();
  if (pid < 0) {
    log(fmt::format("cannot fork a snapshot writer ({}); journals kept, retrying later", std::strerror(errno)));
    return;
  }
  if (pid == 0) {
    // Clients must see EOF when the parent closes their connection.
    for (const auto& [fd, c] : connections_) ::close(fd);
    for (int fd : {listen_fd_, metrics_fd_})
      if (fd >= 0) ::close(fd);
    std::string error;
    const bool ok = write_file_atomic(config_.state_dir + "/snapshot.json", snapshot_text(), error);
    if (!ok) {
      const std::string line = "allotd snapshot writer: " + error + "\n";
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    }
    ::_exit(ok ? 0 : 1);
  }
  snapshot_pid_ = pid;
  snapshot_generation_ = generation_;
}

// The snapshot writer has ended (reaped by reap_children or wait_for_snapshot).
void Daemon::finish_snapshot(int wait_status) {
  snapshot_pid_ = -1;
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    log(fmt::format("snapshot of generation {} failed ({}); journals kept, recovery replays them", snapshot_generation_,
                    WIFEXITED(wait_status) ? fmt::format("exit status {}", WEXITSTATUS(wait_status))
                                           : fmt::format("signal {}", WTERMSIG(wait_status))));
    return;
  }
  struct stat st {};
  if (::stat((config_.state_dir + "/snapshot.json").c_str(), &st) == 0)
    last_snapshot_bytes_ = static_cast<std::uint64_t>(st.st_size);
  remove_journals_before(snapshot_generation_);
}

void Daemon::wait_for_snapshot() {
  if (snapshot_pid_ < 0) return;
  int status = 0;
  while (::waitpid(snapshot_pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      status = W_EXITCODE(1, 0);  // not ours any more: count it as failed
      break;
    }
  }
  finish_snapshot(status);
}

// Only after snapshot `generation` is durable (renamed, directory fsynced).
void Daemon::remove_journals_before(std::uint64_t generation) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::uint64_t g = 0;
    if (std::sscanf(name.c_str(), "journal-%lu.log", &g) == 1 && name == fmt::format("journal-{}.log", g) &&
        g < generation) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

}  // namespace allot::daemon
