// The daemon's life: setup, the run, and the plan in force (loaded at
// start, installed again by apply or SIGHUP). The other members are in
// server.cpp, recovery.cpp, state_store.cpp, jobs.cpp and handlers.cpp.
#include "runtime/daemon/daemon.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/node_resources.h"
#include "runtime/daemon/nvml.h"
#include "runtime/daemon/plan_change.h"

namespace allot::daemon {

using api::Json;

Daemon::Daemon(DaemonConfig config, std::ostream& log) : config_(std::move(config)), log_(log) {
  daemon_uid_ = ::geteuid();
  daemon_user_ = identity_of_uid(daemon_uid_, daemon_uid_).user;
}

Daemon::~Daemon() {
  for (auto& [fd, c] : connections_) ::close(fd);
  for (auto& [fd, id] : pidfds_) ::close(fd);
  close_gates();
  for (int fd : {signal_fd_, listen_fd_, metrics_fd_, lock_fd_})
    if (fd >= 0) ::close(fd);
}

void Daemon::log(const std::string& line) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  log_ << stamp << " allotd: " << line << std::endl;
}

int Daemon::run() {
  system_ = runtime::daemon::read_node_resources();
  if (!prepare_state_dir() || !load_initial_plan()) return 2;
  discover_devices();
  if (device_ids_.empty() && plan_.node.gpus > 0) return 2;
  if (!load_state()) return 2;
  std::string error;
  if (!journal_.open(journal_path(generation_), error)) {
    log(error);
    return 2;
  }
  recover_processes();
  if (const std::string e = install_plan(plan_, "startup"); !e.empty()) {
    log("cannot start: " + e);
    return 2;
  }
  if (!write_snapshot()) return 2;
  // Connections are bounded by descriptors (connection_budget): take what
  // the hard limit allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    if (nofile.rlim_cur < nofile.rlim_max) {
      rlimit raised = nofile;
      raised.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 1u << 20);
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
    }
    descriptor_limit_ = static_cast<std::size_t>(nofile.rlim_cur);
  }
  if (!open_signals() || !open_socket() || (config_.metrics_port && !open_metrics_port())) return 2;
  if (!config_.metrics_file.empty()) write_metrics_file();
  if (!polled_adopted_.empty()) arm(kLivenessIntervalMs, LivenessTimer{});
  log(fmt::format("serving node {} ({} GPUs, {}; {} for jobs) on {}; plan {} ({}); {} jobs known", plan_.node.name,
                  plan_.node.gpus, gpu_source_, node_resources_text(), config_.socket_path, plan_.path,
                  plan_.fingerprint, jobs_.size()));
  loop();
  commit(true);
  // The processes that commit spawned: their pids synced, their gates opened.
  if (!gates_.empty()) commit(true);
  wait_for_snapshot();
  write_snapshot();
  if (!config_.metrics_file.empty()) write_metrics_file();
  ::unlink(config_.socket_path.c_str());
  log(fmt::format("stopped; {} running jobs left running for the next start to re-adopt",
                  children_.size() + pidfds_.size()));
  return exit_status_;
}

bool Daemon::prepare_state_dir() {
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir + "/logs", ec);
  if (ec) {
    log(fmt::format("cannot create state directory {}: {}", config_.state_dir, ec.message()));
    return false;
  }
  ::chmod(config_.state_dir.c_str(), 0755);
  ::chmod((config_.state_dir + "/logs").c_str(), 0755);  // users read their own job logs (files are 0640, theirs)
  return lock_state_dir();
}

// One allotd per state directory. The lock is also held by a snapshot writer
// (a forked child shares the open file description), so a new allotd started
// after a crash waits until an orphaned writer is done: it cannot rename an
// older snapshot over the new allotd's snapshot. Jobs do not inherit it
// (O_CLOEXEC).
bool Daemon::lock_state_dir() {
  const std::string path = config_.state_dir + "/allotd.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    log(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    return false;
  }
  constexpr int kWaitMs = 30000, kStepMs = 20;
  for (int waited = 0;; waited += kStepMs) {
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    if (waited == 0) log(fmt::format("waiting for {} (another allotd or its snapshot writer holds it)", path));
    if (waited >= kWaitMs) break;
    ::usleep(kStepMs * 1000);
  }
  log(fmt::format("cannot lock {}: {}; is another allotd using state directory {}?", path, std::strerror(errno),
                  config_.state_dir));
  return false;
}

bool Daemon::load_initial_plan() {
  std::string error;
  const std::optional<std::string> configured = read_file(config_.plan_path, error);
  if (!configured) {
    log("cannot read plan: " + error);
    return false;
  }
  configured_fingerprint_ = text_fingerprint(*configured);
  std::string text = *configured;
  std::string path = config_.plan_path;
  // A plan applied at run time stays in force across restarts as long as the
  // configured plan is the one it replaced.
  const std::string active = config_.state_dir + "/active-plan.toml";
  const std::string active_meta = config_.state_dir + "/active-plan.json";
  std::string ignored;
  if (const auto meta = read_file(active_meta, ignored)) {
    api::JsonParseResult parsed = api::parse_json(*meta);
    const Json* m = std::get_if<Json>(&parsed);
    const Json* replaced = m ? m->find("configured_fingerprint") : nullptr;
    const auto applied = read_file(active, ignored);
    if (replaced && replaced->as_string() && *replaced->as_string() == configured_fingerprint_ && applied) {
      text = *applied;
      const Json* p = m->find("path");
      path = p && p->as_string() ? *p->as_string() : active;
      log(fmt::format("using the plan applied at run time ({}) instead of {}", path, config_.plan_path));
    }
  }
  const std::vector<std::string> admins = {"root", daemon_user_};
  auto loaded = load_node_plan(text, path, config_.node, admins);
  if (const auto* e = std::get_if<std::string>(&loaded)) {
    log("invalid plan: " + *e);
    return false;
  }
  plan_ = std::get<NodePlan>(std::move(loaded));
  use_node_resources(plan_, system_.cpu_milli, system_.memory_mib);
  return true;
}

std::string Daemon::node_resources_text() const {
  for (const runtime::Node& n : plan_.cluster.nodes) {
    if (n.name != plan_.node.name) continue;
    auto shown = [](runtime::Amount v, const std::string& unit) {
      return v > 0 ? (unit == "MiB" ? std::to_string(v) : milli_text(v)) + " " + unit : unit + " not counted";
    };
    return shown(n.cpu_milli, "cpu") + ", " + shown(n.memory_mib, "MiB");
  }
  return "cpu not counted, MiB not counted";
}

void Daemon::discover_devices() {
  device_ids_.clear();
  const std::uint32_t want = plan_.node.gpus;
  if (!config_.simulate_gpus) {
    const GpuDiscovery d = discover_gpus(config_.nvml_library);
    if (d.available) {
      if (d.devices.size() != want) {
        log(fmt::format("NVML reports {} GPUs but the plan gives node {} {} GPUs; refusing to start", d.devices.size(),
                        plan_.node.name, want));
        return;
      }
      for (std::size_t i = 0; i < d.devices.size(); ++i) {
        if (!plan_.node.gpu_model.empty() && !gpu_model_matches(d.devices[i].name, plan_.node.gpu_model))
          log(fmt::format("warning: GPU {} is a {} but the plan says {}", i, d.devices[i].name, plan_.node.gpu_model));
        device_ids_.push_back(d.devices[i].uuid);
      }
      gpu_source_ = "nvml";
      log(fmt::format("NVML: {} GPUs ({})", d.devices.size(), d.devices.empty() ? "-" : d.devices[0].name));
      return;
    }
    log(d.note + "; simulating the node's GPUs from the plan");
  } else {
    log("simulating the node's GPUs from the plan (--simulate-gpus)");
  }
  gpu_source_ = "simulated";
  for (std::uint32_t i = 0; i < want; ++i) device_ids_.push_back(std::to_string(i));
}

std::string Daemon::install_plan(NodePlan next, const std::string& why) {
  // The jobs of a renamed queue (`renamed_from` in the plan) move with it,
  // running and pending alike; undone if the plan is refused.
  std::vector<std::pair<JobRecord*, std::string>> moved;  // and the queue each had
  for (runtime::ScopeId s = 0; s < next.plan.renamed_from.size() && s < next.cluster.scopes.size(); ++s) {
    const std::string& old = next.plan.renamed_from[s];
    if (old.empty() || next.cluster.scopes[s].kind != runtime::ScopeKind::queue) continue;
    if (runtime::find_scope(next.cluster, old) != runtime::kNone) continue;  // still there: nothing moves
    for (auto& [id, rec] : jobs_) {
      if (is_final(rec.phase) || rec.queue != old) continue;
      moved.emplace_back(&rec, rec.queue);
      rec.queue = next.cluster.scopes[s].name;
    }
  }
  auto undo_moves = [&] {
    for (auto& [rec, queue] : moved) rec->queue = queue;
  };
  std::vector<PlanJob> live;
  for (const auto& [id, rec] : jobs_) {
    if (is_final(rec.phase)) continue;
    const auto timer = kill_timers_.find(id);
    live.push_back({&rec, timer != kill_timers_.end() && timer->second == rec.runs});
  }
  std::variant<PlanChange, std::string> decided = decide_plan_change(next.cluster, live, daemon_uid_, wall_ms());
  if (auto* e = std::get_if<std::string>(&decided)) {
    undo_moves();
    return *e;
  }
  PlanChange& change = std::get<PlanChange>(decided);
  for (auto& [rec, queue] : moved) {
    log(fmt::format("job {}: moved from queue {} to {}, its new name ({})", rec->id, queue, rec->queue, why));
    journal(*rec);
    if (const auto it = preemptions_by_queue_.find(queue); it != preemptions_by_queue_.end()) {
      preemptions_by_queue_[rec->queue] += it->second;
      preemptions_by_queue_.erase(it);
    }
  }
  scheduler_ = std::move(change.core);
  plan_ = std::move(next);
  apply_cordon();  // a cordon outlives plan changes
  // Stopping jobs whose GPUs the new core does not hold must release them
  // before anyone else is placed (see run_schedule).
  stopping_outside_core_.clear();
  for (const JobChange& c : change.jobs) {
    JobRecord& rec = jobs_.at(c.id);
    switch (c.action) {
      case PlanAction::stop:
        stop_job(rec, StopIntent::plan_change, fmt::format("no longer allowed by the plan ({}): {}", why, c.reason));
        break;
      case PlanAction::cancel:
        rec.phase = JobPhase::cancelled;
        rec.reason = fmt::format("cancelled by the plan change ({}): {}", why, c.reason);
        rec.finished_at = wall_ms();
        journal(rec);
        log(fmt::format("job {}: {}", rec.id, rec.reason));
        break;
      case PlanAction::requeue:
        break;
      case PlanAction::keep:
        if (rec.phase != JobPhase::stopping) break;
        if (c.intent != rec.stop_intent) {
          rec.stop_intent = c.intent;
          journal(rec);
        }
        if (c.sigterm) signal_job(rec, SIGTERM);
        if (c.kill_in_ms) arm_kill(rec, *c.kill_in_ms);
        break;
    }
    if (rec.phase == JobPhase::stopping && !c.in_core) stopping_outside_core_.insert(c.id);
  }
  schedule_needed_ = true;
  metrics_dirty_ = true;
  log(fmt::format("plan {} ({}) in force: {} running jobs kept, {} stopped, {} pending kept, {} cancelled", plan_.path,
                  why, change.kept, change.stopped, change.requeued, change.cancelled));
  return {};
}

std::string Daemon::apply_plan_file(const std::string& path, bool from_config, const Identity* caller) {
  std::string error;
  const std::optional<std::string> text = read_file(path, error);
  if (!text) return "cannot read plan: " + error;
  auto loaded = load_node_plan(*text, path, config_.node, {"root", daemon_user_});
  if (const auto* e = std::get_if<std::string>(&loaded)) return "invalid plan: " + *e;
  NodePlan next = std::get<NodePlan>(std::move(loaded));
  use_node_resources(next, system_.cpu_milli, system_.memory_mib);
  if (next.node.gpus != plan_.node.gpus) {
    return fmt::format("invalid plan: it gives node {} {} GPUs but this node has {}", config_.node, next.node.gpus,
                       plan_.node.gpus);
  }
  if (caller) {
    if (const std::string why = apply_refusal(plan_.plan, next.plan, *caller); !why.empty()) return "refused: " + why;
  }
  const std::string fingerprint = next.fingerprint;
  const std::string applied_text = next.text;
  if (const std::string e = install_plan(std::move(next), from_config ? "reload" : "apply"); !e.empty())
    return "invalid plan: " + e;
  // Remember the plan in force for restarts (see load_initial_plan).
  if (from_config) {
    configured_fingerprint_ = fingerprint;
    ::unlink((config_.state_dir + "/active-plan.json").c_str());
  } else {
    Json meta;
    meta.set("path", path);
    meta.set("fingerprint", fingerprint);
    meta.set("configured_fingerprint", configured_fingerprint_);
    if (!write_file_atomic(config_.state_dir + "/active-plan.toml", applied_text, error) ||
        !write_file_atomic(config_.state_dir + "/active-plan.json", meta.dump() + "\n", error))
      log("warning: the applied plan is in force but could not be saved for restarts: " + error);
  }
  Json event;
  event.set("t", "apply");
  event.set("path", path);
  event.set("fingerprint", fingerprint);
  event.set("at", wall_ms());
  journal_event(std::move(event));
  return fmt::format("applied plan {} ({})", path, fingerprint);
}

}  // namespace allot::daemon
