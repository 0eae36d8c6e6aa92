// Jobs and what the scheduler answers about them: submit results, scheduling
// decisions, restore results and reports.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/types.h"

namespace allot::runtime {

struct Job {
  JobId id = 0;  // chosen by the caller, unique among live jobs
  ScopeId queue = kNone;
  std::string user;
  std::vector<std::string> groups;  // the user's groups, for queue grants
  WorkloadKind kind = WorkloadKind::training;
  std::optional<PriorityId> priority;  // nullopt: the queue's default priority
  // gpu_milli: a multiple of 1000 (whole GPUs), or below 1000 (a share of one
  // GPU, only on gpu_sharing queues).
  Resources request;
  Time submit_time = 0;
  bool preemptible = true;  // effective only if the queue is preemptible too
  std::string gpu_models;   // `|`-separated GPU models it may run on; empty: any
};

// ---- submit -------------------------------------------------------------------

struct Queued {};  // the job waits for the next schedule()

enum class RefusalReason : std::uint8_t {
  duplicate_id,
  unknown_queue,  // not a scope, or not a queue
  unknown_priority,
  invalid_request,    // negative amounts, or a fractional GPU request above one GPU
  kind_not_accepted,  // the queue does not accept this workload kind
  user_not_authorized,
  fractional_gpu_not_shared,  // a GPU fraction on a queue without gpu_sharing
  exceeds_limit,              // larger than the limit of the queue or an ancestor
  exceeds_cluster,            // more GPUs than the cluster has, or a whole-GPU job on no node
};

const char* to_string(RefusalReason reason);

// The job can never run as submitted.
struct Refusal {
  RefusalReason reason = RefusalReason::invalid_request;
  std::string message;
};

using SubmitResult = std::variant<Queued, Refusal>;

// ---- schedule ---------------------------------------------------------------

// The job runs on these GPU shares from now on (empty for CPU-only jobs).
struct Admission {
  JobId job = 0;
  std::vector<GpuSlice> gpus;
};

// The rule that justifies a preemption (docs/scheduling.md, R1..R4).
enum class PreemptionReason : std::uint8_t {
#define ALLOT_RULE(number, identifier, claim) identifier,
#include "rules/preemption_rules.def"
#undef ALLOT_RULE
};
// The rule's number in docs/scheduling.md (1 for R1).
int rule_number(PreemptionReason reason);
// What the preemptor's claim is, in words.
const char* rule_claim(PreemptionReason reason);

const char* to_string(PreemptionReason reason);

// The caller must stop `victim` (daemon: SIGTERM, wait grace_period_ms,
// SIGKILL; simulator: at once) and then call release(victim). `preemptor`
// is admitted by a later schedule() once all its victims are released.
struct Preemption {
  JobId victim = 0;
  JobId preemptor = 0;
  PreemptionReason reason = PreemptionReason::reclaim_guarantee;
  // Where the claim is made and against what: R1 the quota with
  // child_preemption and the victim's sub-quota; R2/R4 the preemptor's and
  // the victim's subtrees below their lowest common ancestor; R3 the queue.
  ScopeId claim_scope = kNone;
  ScopeId victim_scope = kNone;
  Time grace_period_ms = 0;  // from the victim's queue
  OnPreempt on_preempt = OnPreempt::requeue;
  std::string message;  // the explanation: rule, claim and scopes, in words
};

// Everything one schedule() call decided, each list in decision order.
struct Decision {
  std::vector<Admission> admitted;
  std::vector<Preemption> preempted;
};

enum class ReleaseOutcome : std::uint8_t {
  unknown_job,
  removed,   // the job is gone
  requeued,  // a preempted job of an on_preempt=requeue queue: pending again, same place in line
};

// ---- restore ----------------------------------------------------------------

// A job that was running before a crash, where it ran.
struct RunningJob {
  Job job;
  std::vector<GpuSlice> gpus;
  Time started_at = 0;
};

struct Restored {
  std::size_t jobs = 0;
};

enum class RestoreErrorKind : std::uint8_t {
  duplicate_id,
  unknown_queue,
  unknown_priority,
  unknown_gpu,
  gpu_over_assigned,  // the shares of one GPU add up to more than 1000 milli
  gpus_do_not_match_request,
};

const char* to_string(RestoreErrorKind kind);

struct RestoreError {
  JobId job = 0;
  RestoreErrorKind kind = RestoreErrorKind::unknown_gpu;
  std::string message;
};

using RestoreResult = std::variant<Restored, RestoreError>;

// ---- queries ------------------------------------------------------------------

struct ScopeReport {
  Resources used;        // by running (and terminating) jobs in the subtree
  Resources guaranteed;  // declared guarantees (0 where undeclared)
  Resources limit;       // effective limits (kUnlimited where none)
  Resources reserved;    // for preemptors waiting for their victims; counts against limits
  Resources borrowed;    // max(0, used - guarantee) for declared resources
  Resources pending;     // requested by pending jobs in the subtree
  std::uint32_t running_jobs = 0;
  std::uint32_t pending_jobs = 0;
};

enum class JobState : std::uint8_t { pending, running, terminating };

// Why a pending job does not run now (`allot ps`, `allot explain`), checked
// in this order. The core decides all but `pool_not_running`, which the
// caller sets when the pool itself is out of service.
enum class WaitKind : std::uint8_t {
  pool_not_running,  // the pool's status is not running: nothing is admitted on it
  node_cordoned,     // every node of the pool is cordoned: nothing new is placed
  awaiting_victims,  // its victims are in their grace period; their room is reserved for it
  scope_limit,       // the queue or an ancestor would go over its limit
  lending_kept,      // the room is idle, but kept by scopes that lend less than their guarantee
  no_capacity,       // within every limit, but no node has room for the request now
  next_pass,         // it fits now; the next scheduling pass (or a stronger claim's turn) decides
};

const char* to_string(WaitKind kind);

struct WaitReason {
  WaitKind kind = WaitKind::next_pass;
  // scope_limit: the scope at its limit and the first resource that does
  // not fit: committed use (running, reserved for preemptors, kept idle by
  // lending children) + request = limit + over.
  ScopeId scope = kNone;
  Resource resource = Resource::gpu;
  Amount limit = 0;
  Amount used = 0;
  Amount request = 0;
  Amount over = 0;
  // awaiting_victims: the victims still stopping.
  std::vector<JobId> victims;
  // no_capacity: whole GPUs free on the nodes it may use, against its
  // request (milli-GPU).
  Amount free_gpu_milli = 0;
  // no_capacity: what is short (`resource`: gpu, or where nodes count them
  // cpu or memory) and, for cpu or memory, the most of it free on a node
  // with room for the job's GPUs.
  Amount free = 0;
  std::string message;  // the same, in words
};

struct JobView {
  JobState state = JobState::pending;
  ScopeId queue = kNone;
  std::int64_t priority_value = 0;
  std::vector<GpuSlice> gpus;
  Time started_at = 0;
  // How far (tree distance) the scope owning its GPUs is from the job's own
  // home scope; 0 when it uses only its own or unpinned GPUs.
  std::uint32_t borrow_distance = 0;
  // Running jobs: the scopes (queue first, then up) whose guarantee covers
  // it; at the others it borrows (docs/scheduling.md, "Standing").
  std::vector<ScopeId> inside;
  std::vector<ScopeId> borrowed;
};

}  // namespace allot::runtime
