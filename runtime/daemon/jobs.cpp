// Jobs: scheduling passes over the core, starting a job's process (behind
// its start gate), stopping it (SIGTERM, grace, SIGKILL) and what its exit
// means.
#include <fmt/format.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/plan_change.h"
#include "runtime/daemon/process.h"

namespace allot::daemon {

using runtime::JobId;

runtime::Time Daemon::grace_period_ms(const JobRecord& rec) const {
  return daemon::grace_period_ms(rec, plan_.cluster);
}

bool Daemon::signal_job(const JobRecord& rec, int signal) {
  // Our own children cannot be replaced by another process before we reap
  // them; a re-adopted pid is checked against its start time first.
  if (!children_.count(rec.pid) && !same_process_alive(rec.pid, rec.start_ticks)) return false;
  return signal_group(rec.pid, signal);
}

void Daemon::run_schedule() {
  schedule_needed_ = false;
  // A job stopped by a plan change holds GPUs the core no longer accounts
  // for: nobody is placed until it is gone, so no GPU is handed out twice.
  if (!stopping_outside_core_.empty()) {
    if (!blocked_logged_)
      log(fmt::format("scheduling waits for job {} to release its GPUs", *stopping_outside_core_.begin()));
    blocked_logged_ = true;
    return;
  }
  blocked_logged_ = false;
  // A pool that is not running admits nothing (its jobs wait, `ps` says why).
  if (plan_.node.pool_status != "running") return;
  const runtime::Decision d = scheduler_->schedule(wall_ms());
  for (const runtime::Preemption& p : d.preempted) {
    JobRecord& rec = jobs_.at(p.victim);
    // Already on its way out (a core built by a plan change or a restart
    // holds it as running): the core now waits for it as a victim, but it
    // was preempted once, is signalled once and counted once.
    if (rec.phase == JobPhase::stopping) continue;
    ++rec.preemptions;
    ++preemptions_by_queue_[rec.queue];
    log(fmt::format("job {} preempted by job {} ({}): {}", p.victim, p.preemptor, runtime::to_string(p.reason),
                    p.message));
    stop_job(rec, StopIntent::preempt,
             fmt::format("preempted by job {} ({}): {}", p.preemptor, runtime::to_string(p.reason), p.message));
  }
  for (const runtime::Admission& a : d.admitted) start_job(jobs_.at(a.job), a.gpus);
}

void Daemon::start_job(JobRecord& rec, const std::vector<runtime::GpuSlice>& slices) {
  rec.gpus.clear();
  std::string ids;
  for (const runtime::GpuSlice& s : slices) {
    rec.gpus.push_back({s.gpu.index, s.milli});
    ids += (ids.empty() ? "" : ",") +
           (s.gpu.index < device_ids_.size() ? device_ids_[s.gpu.index] : std::to_string(s.gpu.index));
  }
  rec.gpu_ids = ids;
  rec.log_path = fmt::format("{}/logs/job-{}.log", config_.state_dir, rec.id);

  SpawnSpec spec;
  spec.argv = rec.command;
  spec.cwd = rec.cwd;
  spec.log_path = rec.log_path;
  std::string home = "/";
  {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(rec.uid, &pw, buf.data(), buf.size(), &found) == 0 && found) home = pw.pw_dir;
  }
  std::vector<std::pair<std::string, std::string>> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", home}, {"USER", rec.user}, {"LOGNAME", rec.user}};
  for (const auto& [k, v] : rec.env) {
    auto it = std::find_if(env.begin(), env.end(), [&key = k](const auto& e) { return e.first == key; });
    if (it != env.end()) {
      it->second = v;
    } else {
      env.emplace_back(k, v);
    }
  }
  const std::vector<std::pair<std::string, std::string>> ours = {
      {"ALLOT_JOB_ID", std::to_string(rec.id)},
      {"ALLOT_QUEUE", rec.queue},
      {"ALLOT_NODE", plan_.node.name},
      {"CUDA_VISIBLE_DEVICES", ids},
      {"NVIDIA_VISIBLE_DEVICES", ids.empty() ? "none" : ids}};
  for (const auto& [k, v] : ours) {
    std::erase_if(env, [&key = k](const auto& e) { return e.first == key; });
    env.emplace_back(k, v);
  }
  for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);
  if (daemon_uid_ == 0 && rec.uid != 0) {
    spec.uid = rec.uid;
    spec.gid = rec.gid;
    spec.user = rec.user;
  }
  rec.phase = JobPhase::running;
  rec.starting = true;  // until commit() has synced the record with its pid and opened the gate
  rec.stop_intent = StopIntent::none;
  rec.pid = 0;  // spawned by launch_admitted, after this iteration's commit
  rec.start_ticks = 0;
  rec.started_at = wall_ms();
  rec.finished_at = 0;
  rec.kill_at = 0;
  rec.exit_code.reset();
  rec.signal.reset();
  ++rec.runs;
  launches_.push_back({rec.id, rec.runs, std::move(spec)});
  journal(rec);
}

// Nothing happens between the commit and this call (one thread), so every
// admitted job is still as start_job left it; the checks guard that
// assumption.
void Daemon::launch_admitted() {
  std::vector<Launch> launches;
  launches.swap(launches_);
  for (Launch& l : launches) {
    const auto it = jobs_.find(l.job);
    if (it == jobs_.end()) continue;
    JobRecord& rec = it->second;
    if (rec.phase != JobPhase::running || !rec.starting || rec.pid != 0 || rec.runs != l.run) continue;
    std::variant<Spawned, std::string> spawned = spawn_job(l.spec);
    if (const auto* e = std::get_if<std::string>(&spawned)) {
      scheduler_->finish(rec.id);
      rec.phase = JobPhase::failed;
      rec.starting = false;
      rec.reason = "could not start: " + *e;
      rec.finished_at = wall_ms();
      log(fmt::format("job {}: {}", rec.id, rec.reason));
      journal(rec);
      schedule_needed_ = true;
      continue;
    }
    const Spawned& s = std::get<Spawned>(spawned);
    gates_.push_back({rec.id, s.pid, s.release_fd});
    rec.pid = s.pid;
    rec.start_ticks = s.start_ticks;
    children_[s.pid] = rec.id;
    log(fmt::format("job {} started: pid {}, GPUs [{}], queue {}, user {}", rec.id, s.pid, rec.gpu_ids, rec.queue,
                    rec.user));
    journal(rec);
  }
}

void Daemon::stop_job(JobRecord& rec, StopIntent intent, const std::string& reason) {
  if (rec.phase == JobPhase::stopping) {
    if (intent == StopIntent::cancel && rec.stop_intent != StopIntent::cancel) {
      rec.stop_intent = StopIntent::cancel;
      rec.reason = reason;
      journal(rec);
    }
    return;
  }
  if (rec.phase != JobPhase::running) return;
  rec.phase = JobPhase::stopping;
  rec.stop_intent = intent;
  rec.reason = reason;
  const runtime::Time grace = grace_period_ms(rec);
  rec.kill_at = wall_ms() + grace;
  journal(rec);
  if (!signal_job(rec, SIGTERM)) log(fmt::format("job {}: process group {} already gone", rec.id, rec.pid));
  arm_kill(rec, grace);
  log(fmt::format("job {}: SIGTERM to process group {}, SIGKILL after {} ms ({})", rec.id, rec.pid, grace, reason));
}

void Daemon::on_job_exit(JobId id, std::optional<int> wait_status) {
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  JobRecord& rec = it->second;
  if (rec.phase != JobPhase::running && rec.phase != JobPhase::stopping) return;
  rec.starting = false;  // ended before its gate opened (its gate is abandoned)
  stopping_outside_core_.erase(id);
  kill_timers_.erase(id);
  rec.kill_at = 0;
  rec.exit_code.reset();
  rec.signal.reset();
  if (wait_status && WIFEXITED(*wait_status)) rec.exit_code = WEXITSTATUS(*wait_status);
  if (wait_status && WIFSIGNALED(*wait_status)) rec.signal = WTERMSIG(*wait_status);
  rec.finished_at = wall_ms();
  const bool clean_exit = rec.exit_code && *rec.exit_code == 0;
  const bool in_core = scheduler_->job(id).has_value();
  const std::string how = !wait_status    ? std::string("ended (exit status unknown)")
                          : rec.exit_code ? fmt::format("exited with {}", *rec.exit_code)
                                          : fmt::format("killed by signal {}", rec.signal.value_or(0));
  auto natural_end = [&] {
    if (in_core) scheduler_->finish(id);
    rec.phase = !wait_status ? JobPhase::exited : clean_exit ? JobPhase::succeeded : JobPhase::failed;
  };
  auto requeue_outside_core = [&](const std::string& why) {
    // The job is not in the core (it was stopped by a plan change or its
    // preemption predates a restart): submit it again if its queue requeues.
    if (in_core) scheduler_->finish(id);
    std::string reason;
    const std::optional<runtime::Job> job = core_job(rec, plan_.cluster, reason);
    if (job && plan_.cluster.scopes[job->queue].queue.on_preempt == runtime::OnPreempt::requeue) {
      runtime::SubmitResult r = scheduler_->submit(*job, wall_ms());
      if (std::holds_alternative<runtime::Queued>(r)) {
        rec.phase = JobPhase::pending;
        rec.reason = "requeued: " + why;
        return;
      }
      reason = std::get<runtime::Refusal>(r).message;
    }
    rec.phase = JobPhase::cancelled;
    rec.reason = reason.empty() ? "cancelled (the queue cancels preempted jobs): " + why : why + "; " + reason;
  };
  // A drained job (StopIntent::drain) falls to the last case: requeued or
  // cancelled per its queue's on_preempt.
  if (rec.phase == JobPhase::running || rec.stop_intent == StopIntent::none) {
    natural_end();
  } else if (rec.stop_intent == StopIntent::cancel) {
    if (in_core) scheduler_->finish(id);
    rec.phase = JobPhase::cancelled;
  } else if (clean_exit) {
    natural_end();  // it finished on its own during its grace period
  } else if (rec.stop_intent == StopIntent::preempt && in_core) {
    const runtime::ReleaseOutcome outcome = scheduler_->release(id);
    if (outcome == runtime::ReleaseOutcome::requeued) {
      rec.phase = JobPhase::pending;
      rec.reason = "requeued after " + rec.reason;
    } else {
      rec.phase = JobPhase::cancelled;
      rec.reason = "cancelled (the queue cancels preempted jobs) after " + rec.reason;
    }
  } else {
    requeue_outside_core(rec.reason);
  }
  if (rec.phase == JobPhase::pending) {
    rec.gpus.clear();
    rec.gpu_ids.clear();
    rec.finished_at = 0;
  }
  log(fmt::format("job {} (pid {}) {}: now {}{}", id, rec.pid, how, to_string(rec.phase),
                  rec.reason.empty() ? "" : " (" + rec.reason + ")"));
  if (rec.phase == JobPhase::pending) rec.pid = 0;
  journal(rec);
  schedule_needed_ = true;
}

}  // namespace allot::daemon
