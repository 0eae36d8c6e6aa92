// What installing a plan does with each job allotd knows, decided without
// touching a process, a file or a clock (docs/runtime-api.md, "Plan
// changes"). allotd carries the decisions out (Daemon::install_plan); this
// is the part that the unit tests hold to the rules.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/job.h"
#include "runtime/core/plan_reader.h"
#include "runtime/core/scheduler.h"
#include "runtime/daemon/auth.h"
#include "runtime/daemon/job_record.h"

namespace allot::daemon {

// The core's view of a journaled job under `cluster`; nullopt (with `why`)
// if its queue, priority class or kind is not in the plan.
std::optional<runtime::Job> core_job(const JobRecord& rec, const runtime::Cluster& cluster, std::string& why);
std::optional<runtime::WorkloadKind> workload_kind(std::string_view name);
// The grace period of the job's queue; 10 s when its queue is not in the plan.
runtime::Time grace_period_ms(const JobRecord& rec, const runtime::Cluster& cluster);
// Whether a job stopped outside the core's preemptions (a plan change, or a
// preemption the current core does not know) goes back in line once it is
// gone: its queue still exists and has `on_preempt = requeue`.
bool requeues_after_stop(const JobRecord& rec, const runtime::Cluster& cluster);

// A job that is not final, as allotd holds it.
struct PlanJob {
  const JobRecord* record = nullptr;
  // A kill timer was armed for its current run by this allotd (pending or
  // already fired); false for a job re-adopted while stopping.
  bool kill_timer = false;
};

enum class PlanAction : std::uint8_t {
  keep,     // running or stopping: stays as it is (in the new core when `in_core`)
  stop,     // running, no longer allowed: stopped (intent plan_change), then `then`
  requeue,  // pending: queued again in the new core
  cancel,   // pending, refused by the new plan
};
const char* to_string(PlanAction action);

struct JobChange {
  runtime::JobId id = 0;
  PlanAction action = PlanAction::keep;
  bool in_core = false;                     // the new core holds it (its GPUs are accounted there)
  StopIntent intent = StopIntent::none;     // its stop intent from now on
  bool sigterm = false;                     // send SIGTERM to its process group now
  std::optional<runtime::Time> kill_in_ms;  // arm its kill timer, SIGKILL this long from now
  PlanAction then = PlanAction::cancel;     // stop: requeue or cancel once it is gone
  std::string reason;                       // stop and cancel: why
};

struct PlanChange {
  std::unique_ptr<runtime::Scheduler> core;  // the new core, holding the kept and requeued jobs
  std::vector<JobChange> jobs;               // one per job given, in the order given
  std::size_t kept = 0, stopped = 0, requeued = 0, cancelled = 0;
};

// Running jobs are restored in order of priority, then start time, while
// their queue and priority class exist, the queue accepts their kind and
// owner, and the queue and its ancestors stay within their limits; the
// others are stopped. Pending jobs are queued again in submit order, or
// cancelled with the new core's refusal. `now` is the wall clock (ms), for
// kill deadlines. The error is the core's refusal of the cluster.
std::variant<PlanChange, std::string> decide_plan_change(const runtime::Cluster& cluster,
                                                         const std::vector<PlanJob>& jobs, uid_t daemon_uid,
                                                         runtime::Time now);

// Who may apply a plan (docs/runtime-api.md, "apply"): root and the
// daemon's user anything; a user with `admin` on scopes (a role written on
// them in the plan in force) a plan whose changes stay within those scopes'
// subtrees, pools, nodes, roles and priorities untouched. Empty when `who`
// may apply `next` over `current`, else why not, naming the scope.
std::string apply_refusal(const runtime::LoadedPlan& current, const runtime::LoadedPlan& next, const Identity& who);

}  // namespace allot::daemon
