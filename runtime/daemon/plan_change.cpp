#include "runtime/daemon/plan_change.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "runtime/core/plan_reader.h"
#include "runtime/daemon/auth.h"
#include "runtime/daemon/metrics.h"

namespace allot::daemon {

using runtime::kNone;
using runtime::ScopeId;

std::optional<runtime::WorkloadKind> workload_kind(std::string_view name) {
  if (name == "inference" || name == "serving") return runtime::WorkloadKind::inference;
  if (name == "training") return runtime::WorkloadKind::training;
  if (name == "development") return runtime::WorkloadKind::development;
  return std::nullopt;
}

std::optional<runtime::Job> core_job(const JobRecord& rec, const runtime::Cluster& cluster, std::string& why) {
  runtime::Job job;
  job.id = rec.id;
  job.queue = runtime::find_scope(cluster, rec.queue);
  if (job.queue == kNone || cluster.scopes[job.queue].kind != runtime::ScopeKind::queue) {
    why = fmt::format("queue {} is not in the plan", rec.queue);
    return std::nullopt;
  }
  if (rec.priority) {
    const auto it = std::find_if(cluster.priorities.begin(), cluster.priorities.end(),
                                 [&](const runtime::PriorityClass& c) { return c.name == *rec.priority; });
    if (it == cluster.priorities.end()) {
      why = fmt::format("priority class {} is not in the plan", *rec.priority);
      return std::nullopt;
    }
    job.priority = static_cast<runtime::PriorityId>(it - cluster.priorities.begin());
  }
  const std::optional<runtime::WorkloadKind> kind = workload_kind(rec.kind);
  if (!kind) {
    why = "unknown workload kind " + rec.kind;
    return std::nullopt;
  }
  job.kind = *kind;
  job.user = rec.user;
  job.groups = rec.groups;
  job.request = rec.request;
  job.submit_time = rec.submit_time;
  return job;
}

runtime::Time grace_period_ms(const JobRecord& rec, const runtime::Cluster& cluster) {
  const ScopeId q = runtime::find_scope(cluster, rec.queue);
  if (q == kNone || cluster.scopes[q].kind != runtime::ScopeKind::queue) return 10000;
  return cluster.scopes[q].queue.grace_period_ms;
}

bool requeues_after_stop(const JobRecord& rec, const runtime::Cluster& cluster) {
  std::string ignored;
  const std::optional<runtime::Job> job = core_job(rec, cluster, ignored);
  return job && cluster.scopes[job->queue].queue.on_preempt == runtime::OnPreempt::requeue;
}

const char* to_string(PlanAction action) {
  switch (action) {
    case PlanAction::keep:
      return "keep";
    case PlanAction::stop:
      return "stop";
    case PlanAction::requeue:
      return "requeue";
    case PlanAction::cancel:
      return "cancel";
  }
  return "?";
}

namespace {

// Why the new plan no longer lets a running job keep its place; empty if it
// does (then it is restored into `core`).
std::string try_restore(const JobRecord& rec, const runtime::Cluster& cluster, runtime::Scheduler& core,
                        uid_t daemon_uid) {
  std::string reason;
  const std::optional<runtime::Job> job = core_job(rec, cluster, reason);
  if (!job) return reason;
  const runtime::Scope& queue = cluster.scopes[job->queue];
  const Identity owner{rec.uid, rec.gid, 0, rec.user, rec.groups, rec.uid == 0 || rec.uid == daemon_uid};
  if (!runtime::accepts(queue.queue.accepts, job->kind))
    return fmt::format("queue {} no longer accepts {} jobs", rec.queue, rec.kind);
  if (!authorized(queue, owner, runtime::kSubmit))
    return fmt::format("user {} may no longer submit to queue {}", rec.user, rec.queue);
  for (ScopeId s = job->queue; s != kNone; s = cluster.scopes[s].parent) {
    const runtime::ScopeReport rep = core.scope_report(s);
    for (runtime::Resource r : runtime::kAllResources) {
      if (rep.limit[r] < runtime::kUnlimited && rep.used[r] + rec.request[r] > rep.limit[r]) {
        return fmt::format(
            "it would exceed the {} limit of {} ({})", runtime::to_string(r), cluster.scopes[s].name,
            r == runtime::Resource::memory ? std::to_string(rep.limit[r]) + " MiB" : milli_text(rep.limit[r]));
      }
    }
  }
  runtime::RunningJob rj;
  rj.job = *job;
  rj.started_at = rec.started_at;
  for (const GpuShare& g : rec.gpus) rj.gpus.push_back({{0, g.index}, g.milli});
  const runtime::RestoreResult r = core.restore({rj});
  if (const auto* e = std::get_if<runtime::RestoreError>(&r)) return e->message;
  return {};
}

}  // namespace

std::variant<PlanChange, std::string> decide_plan_change(const runtime::Cluster& cluster,
                                                         const std::vector<PlanJob>& jobs, uid_t daemon_uid,
                                                         runtime::Time now) {
  PlanChange out;
  try {
    out.core = std::make_unique<runtime::Scheduler>(cluster);
  } catch (const std::invalid_argument& e) {
    return std::string(e.what());
  }
  out.jobs.resize(jobs.size());
  std::vector<std::size_t> live, pending;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const JobRecord& rec = *jobs[i].record;
    out.jobs[i].id = rec.id;
    out.jobs[i].intent = rec.stop_intent;
    if (rec.phase == JobPhase::running || rec.phase == JobPhase::stopping) live.push_back(i);
    if (rec.phase == JobPhase::pending) pending.push_back(i);
  }
  std::vector<std::int64_t> priority(jobs.size(), 0);
  for (const std::size_t i : live) {
    std::string ignored;
    const std::optional<runtime::Job> j = core_job(*jobs[i].record, cluster, ignored);
    if (!j) continue;
    const runtime::PriorityId p = j->priority ? *j->priority : cluster.scopes[j->queue].queue.default_priority;
    priority[i] = p == kNone ? 0 : cluster.priorities[p].value;
  }
  // Higher priority first, then the longest running: they keep their GPUs.
  std::stable_sort(live.begin(), live.end(), [&](std::size_t a, std::size_t b) {
    if (priority[a] != priority[b]) return priority[a] > priority[b];
    return jobs[a].record->started_at < jobs[b].record->started_at;
  });
  for (const std::size_t i : live) {
    const JobRecord& rec = *jobs[i].record;
    JobChange& change = out.jobs[i];
    const std::string reason = try_restore(rec, cluster, *out.core, daemon_uid);
    change.in_core = reason.empty();
    // The new core does not know about a preemption in progress: when the
    // victim exits it is requeued (or not) by the daemon, per its queue.
    if (rec.stop_intent == StopIntent::preempt) change.intent = StopIntent::plan_change;
    if (rec.phase == JobPhase::running && !change.in_core) {
      change.action = PlanAction::stop;
      change.intent = StopIntent::plan_change;
      change.sigterm = true;
      change.kill_in_ms = grace_period_ms(rec, cluster);
      change.then = requeues_after_stop(rec, cluster) ? PlanAction::requeue : PlanAction::cancel;
      change.reason = reason;
      ++out.stopped;
      continue;
    }
    if (change.in_core) ++out.kept;
    // A job already being stopped keeps its one SIGTERM and its deadline: it
    // is never signalled again here. One without a kill timer (re-adopted
    // while stopping) gets the journaled deadline; a record written before
    // deadlines were journaled gets a grace period from now.
    if (rec.phase == JobPhase::stopping && !jobs[i].kill_timer)
      change.kill_in_ms =
          rec.kill_at > 0 ? std::max<runtime::Time>(0, rec.kill_at - now) : grace_period_ms(rec, cluster);
  }
  std::stable_sort(pending.begin(), pending.end(), [&](std::size_t a, std::size_t b) {
    const JobRecord& ra = *jobs[a].record;
    const JobRecord& rb = *jobs[b].record;
    return ra.submit_time != rb.submit_time ? ra.submit_time < rb.submit_time : ra.id < rb.id;
  });
  for (const std::size_t i : pending) {
    const JobRecord& rec = *jobs[i].record;
    JobChange& change = out.jobs[i];
    std::string reason;
    if (const std::optional<runtime::Job> job = core_job(rec, cluster, reason)) {
      runtime::SubmitResult r = out.core->submit(*job, now);
      if (const auto* refusal = std::get_if<runtime::Refusal>(&r)) reason = refusal->message;
    }
    if (reason.empty()) {
      change.action = PlanAction::requeue;
      change.in_core = true;
      ++out.requeued;
    } else {
      change.action = PlanAction::cancel;
      change.reason = reason;
      ++out.cancelled;
    }
  }
  return out;
}

namespace {

bool grants_admin(const std::vector<runtime::Grant>& grants, const Identity& who) {
  for (const runtime::Grant& g : grants) {
    if (!(g.actions & runtime::kAdmin)) continue;
    if (std::find(g.users.begin(), g.users.end(), who.user) != g.users.end()) return true;
    for (const std::string& group : who.groups) {
      if (std::find(g.groups.begin(), g.groups.end(), group) != g.groups.end()) return true;
    }
  }
  return false;
}

}  // namespace

std::string apply_refusal(const runtime::LoadedPlan& current, const runtime::LoadedPlan& next, const Identity& who) {
  if (who.admin) return {};
  // The scopes `who` administers: by the roles of the plan in force, never
  // by those of the plan being applied.
  std::vector<std::string> administered;
  for (ScopeId s = 0; s < current.cluster.scopes.size() && s < current.scope_grants.size(); ++s) {
    if (grants_admin(current.scope_grants[s], who)) administered.push_back(current.cluster.scopes[s].name);
  }
  if (administered.empty())
    return fmt::format("user {} may not apply plans: only root, allotd's user and roles with `admin` on a scope may",
                       who.user);
  std::string list;
  for (const std::string& a : administered) list += (list.empty() ? "`" : "`, `") + a;
  list += "`";
  if (current.global_text != next.global_text)
    return fmt::format(
        "user {} may not apply this plan: it changes pools, nodes, roles or priorities, which only root and allotd's "
        "user may change (user {} administers {})",
        who.user, who.user, list);
  auto inside = [&](const runtime::Cluster& c, ScopeId s) {
    for (ScopeId a = s; a != kNone; a = c.scopes[a].parent) {
      if (std::find(administered.begin(), administered.end(), c.scopes[a].name) != administered.end()) return true;
    }
    return false;
  };
  auto outside = [&](const std::string& scope) {
    return fmt::format(
        "user {} may not apply this plan: it changes `{}`, which is outside the scopes user {} "
        "administers ({})",
        who.user, scope, who.user, list);
  };
  std::vector<bool> kept(current.cluster.scopes.size(), false);
  for (ScopeId n = 0; n < next.cluster.scopes.size(); ++n) {
    const std::string& name = next.cluster.scopes[n].name;
    ScopeId c = runtime::find_scope(current.cluster, name);
    if (c == kNone && n < next.renamed_from.size() && !next.renamed_from[n].empty())
      c = runtime::find_scope(current.cluster, next.renamed_from[n]);
    if (c != kNone) kept[c] = true;
    const bool same = c != kNone && c < current.scope_text.size() && n < next.scope_text.size() &&
                      current.scope_text[c] == next.scope_text[n];
    if (same) continue;
    // A changed scope must be administered where it is now and where it
    // goes; a new one where it goes.
    if (!inside(next.cluster, n) || (c != kNone && !inside(current.cluster, c))) return outside(name);
  }
  for (ScopeId c = 0; c < current.cluster.scopes.size(); ++c) {
    if (!kept[c] && !inside(current.cluster, c)) return outside(current.cluster.scopes[c].name);
  }
  return {};
}

}  // namespace allot::daemon
