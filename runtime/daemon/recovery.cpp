// Recovery at startup: the snapshot and the journal generations after it
// give back every job (docs/runtime-api.md, "Durability"); processes of
// running and stopping jobs are re-adopted or the jobs marked lost.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/process.h"

namespace allot::daemon {

using api::Json;
using runtime::JobId;

namespace {

constexpr std::size_t kMaxProblems = 16;  // journal problems kept for status

}  // namespace

bool Daemon::load_state() {
  std::string error;
  const std::string snapshot_path = config_.state_dir + "/snapshot.json";
  struct stat st {};
  if (::stat(snapshot_path.c_str(), &st) == 0) {
    const std::optional<std::string> text = read_file(snapshot_path, error);
    if (!text) {
      log(error);
      return false;
    }
    api::JsonParseResult parsed = api::parse_json(*text);
    const Json* snap = std::get_if<Json>(&parsed);
    const Json* gen = snap ? snap->find("generation") : nullptr;
    const Json* next = snap ? snap->find("next_id") : nullptr;
    const Json* jobs = snap ? snap->find("jobs") : nullptr;
    if (!gen || !gen->as_int() || !next || !next->as_int() || !jobs || !jobs->as_array()) {
      log(fmt::format("snapshot {} is unreadable; move it aside to start without it (its jobs would be forgotten)",
                      snapshot_path));
      return false;
    }
    generation_ = static_cast<std::uint64_t>(*gen->as_int());
    next_id_ = static_cast<JobId>(*next->as_int());
    for (const Json& j : *jobs->as_array()) {
      std::optional<JobRecord> rec = job_from_json(j, error);
      if (!rec) {
        log(fmt::format("snapshot {}: {}", snapshot_path, error));
        return false;
      }
      jobs_[rec->id] = std::move(*rec);
    }
    if (const Json* problems = snap->find("problems"); problems && problems->as_array())
      for (const Json& p : *problems->as_array())
        if (p.as_string()) journal_problems_.push_back(*p.as_string());
    if (const Json* node = snap->find("node"); node && node->as_object()) restore_node_event(*node);
    if (const Json* counts = snap->find("preemptions"); counts && counts->as_object())
      for (const auto& [q, n] : *counts->as_object())
        if (n.as_int()) preemptions_by_queue_[q] = static_cast<std::uint64_t>(*n.as_int());
  }
  // Journals before the snapshot's generation are covered by it; the ones
  // from it on are replayed in order (more than one when a snapshot writer
  // did not finish), and new records go to the latest.
  const std::uint64_t snapshot_generation = generation_;
  std::vector<std::uint64_t> generations;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::uint64_t g = 0;
    if (std::sscanf(name.c_str(), "journal-%lu.log", &g) != 1 || name != fmt::format("journal-{}.log", g)) continue;
    if (g < snapshot_generation) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    } else {
      generations.push_back(g);
    }
  }
  if (ec) {
    log(fmt::format("cannot list state directory {}: {}", config_.state_dir, ec.message()));
    return false;
  }
  std::sort(generations.begin(), generations.end());
  for (const std::uint64_t g : generations) {
    if (!replay_journal(journal_path(g))) return false;
    generation_ = g;
  }
  while (journal_problems_.size() > kMaxProblems) journal_problems_.erase(journal_problems_.begin());
  log(fmt::format("recovered {} jobs (snapshot generation {}, {} journal records in {} generations)", jobs_.size(),
                  snapshot_generation, replayed_records_, generations.size()));
  return true;
}

// Replays one journal generation over jobs_; a bad tail is preserved and
// reported (recover_journal). False only when the files cannot be handled.
bool Daemon::replay_journal(const std::string& path) {
  std::string error;
  const std::optional<JournalRecovery> recovery = recover_journal(path, error);
  if (!recovery) {
    log("cannot recover the journal: " + error);
    return false;
  }
  for (const std::string& payload : recovery->scan.records) {
    api::JsonParseResult parsed = api::parse_json(payload);
    const Json* rec = std::get_if<Json>(&parsed);
    const Json* type = rec ? rec->find("t") : nullptr;
    if (type && type->as_string() && *type->as_string() == "job" && rec->find("job")) {
      std::optional<JobRecord> job = job_from_json(*rec->find("job"), error);
      if (job) {
        next_id_ = std::max(next_id_, job->id + 1);
        // The snapshot holds the counts as of its generation; preemptions
        // since then are in the victims' records.
        const auto known = jobs_.find(job->id);
        const std::uint32_t before = known == jobs_.end() ? 0 : known->second.preemptions;
        if (job->preemptions > before) preemptions_by_queue_[job->queue] += job->preemptions - before;
        jobs_[job->id] = std::move(*job);
        ++replayed_records_;
        continue;
      }
    } else if (type && type->as_string()) {
      ++replayed_records_;
      if (*type->as_string() == "node") restore_node_event(*rec);
      continue;  // other events (apply) are informational
    }
    journal_problems_.push_back(fmt::format("{}: a record passed its CRC but is not understood ({})", path,
                                            error.empty() ? "not a job record" : error));
    log(journal_problems_.back());
  }
  if (recovery->scan.tail != TailState::clean) {
    journal_problems_.push_back(fmt::format("{} journal tail in {}: {}; {} bytes preserved in {}",
                                            to_string(recovery->scan.tail), path, recovery->scan.problem,
                                            recovery->bad_bytes, recovery->side_file));
    log("JOURNAL PROBLEM: " + journal_problems_.back());
  }
  return true;
}

void Daemon::recover_processes() {
  for (auto& [id, rec] : jobs_) {
    if (rec.phase != JobPhase::running && rec.phase != JobPhase::stopping) continue;
    if (rec.starting) {
      // allotd died between journaling the start and opening the start gate,
      // or before the record saying it was opened reached the disk.
      rec.starting = false;
      const bool alive = same_process_alive(rec.pid, rec.start_ticks);
      // No pid: allotd stopped after journaling the admission and before it
      // spawned the process (launch_admitted), so nothing ran.
      const bool never_spawned = rec.pid == 0;
      if (never_spawned || (alive && waits_at_gate(rec.pid))) {
        // It never ran the job (its gate closed with the old allotd; it is
        // on its way out): the job runs again, once, from here.
        if (never_spawned) {
          log(fmt::format("job {}: allotd stopped before it spawned the job's process; pending again", id));
        } else {
          signal_group(rec.pid, SIGKILL);
          log(fmt::format("job {}: its process {} never passed the start gate; pending again", id, rec.pid));
        }
        rec.phase = rec.stop_intent == StopIntent::cancel ? JobPhase::cancelled : JobPhase::pending;
        rec.stop_intent = StopIntent::none;
        rec.pid = 0;
        rec.start_ticks = 0;
        rec.kill_at = 0;
        rec.gpus.clear();
        rec.gpu_ids.clear();
        if (rec.runs > 0) --rec.runs;
        if (rec.phase == JobPhase::cancelled) rec.finished_at = wall_ms();
        journal(rec);
        continue;
      }
      if (!alive) {
        // Gone: it either never ran (the gate closed unopened) or ran and
        // ended while allotd was down. Running it again could run it twice.
        log(fmt::format("job {} is lost: allotd stopped while starting it and its process {} is gone", id, rec.pid));
        rec.phase = JobPhase::lost;
        rec.reason = fmt::format(
            "allotd stopped while starting it; process {} was gone when allotd started (it may not have run)", rec.pid);
        rec.finished_at = wall_ms();
        journal(rec);
        continue;
      }
      journal(rec);  // it passed the gate: running, re-adopted below
    }
    if (same_process_alive(rec.pid, rec.start_ticks)) {
      const int fd = open_pidfd(rec.pid);
      if (fd >= 0) {
        pidfds_[fd] = id;
      } else {
        polled_adopted_.insert(id);
      }
      log(fmt::format("re-adopted job {} (pid {}, {})", id, rec.pid, to_string(rec.phase)));
      continue;
    }
    log(fmt::format("job {} is lost: its process {} was gone when allotd started", id, rec.pid));
    rec.phase = JobPhase::lost;
    rec.reason = fmt::format("process {} was gone when allotd started; exit status unknown", rec.pid);
    rec.finished_at = wall_ms();
    journal(rec);
  }
}

}  // namespace allot::daemon
