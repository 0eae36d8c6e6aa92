// The scheduling core: admission, preemption and GPU assignment over one
// pool. In memory, deterministic (same calls in the same order give the same
// answers), no I/O, no clocks, no global state. Not thread-safe: the caller
// serialises calls. It executes the rule set of docs/scheduling.md; the
// comments below name its rules (R1..R4) and sections.
//
// Lifecycle of a job:
//   submit() -> pending --schedule() admits--> running --finish()/release()--> gone
//   running --schedule() picks it as a victim--> terminating --release()--> gone or
//   pending again (on_preempt = requeue)
//
// Accounting: every scope counts the resources of the running and terminating
// jobs below it (`used`), updated incrementally up the tree. A job is
// admitted when `used + request <= limit` holds for its queue and every
// ancestor (less what lending limits keep idle for others) and its GPUs can
// be placed. A preemptor waiting for its victims reserves its request
// (counted against limits) and holds the GPUs its victims release until it
// is admitted. Guarantees do not reserve idle capacity: anyone may borrow
// it, and a scope's jobs take it back by preemption.
//
// Standing ("Standing" in docs/scheduling.md): every running job is, at each
// scope of its path that guarantees something, either inside that scope's
// guarantee or borrowing there. It is labelled when admitted and upgraded
// when room frees, never downgraded while it runs. Preemption compares
// standings, which is what makes chains of preemptions finite.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/gpu_index.h"
#include "runtime/core/job.h"
#include "runtime/core/placement.h"
#include "runtime/core/types.h"

namespace allot::runtime {

// The pool's GPUs fragmented now, in milli-GPU, under both definitions of
// docs/scheduling.md, "Placement" (Scheduler::fragmentation_now).
struct FragmentationNow {
  Amount capacity_milli = 0;
  Amount idle_milli = 0;  // not handed out
  // The first pending job in line and the idle capacity it cannot use: for
  // whole GPUs, the idle GPUs of nodes with fewer fully free GPUs than it
  // asks plus every partly used GPU's remainder; for a share, the remainders
  // smaller than it. 0 when nothing with a GPU is pending.
  JobId next_job = 0;
  Amount next_request_milli = 0;
  Amount for_next_milli = 0;
  // The sum over nodes of F_n(M) for the given workload (fragmentation.h).
  double for_workload_milli = 0;
};

class Scheduler {
 public:
  // Throws std::invalid_argument if the cluster is malformed (a parent after
  // its child, a dangling index, more than 64 GPUs on a node, a GPU pinned
  // twice, a limit below its guarantee).
  explicit Scheduler(Cluster cluster);

  // Queues the job, or refuses it if it could never run as submitted.
  SubmitResult submit(Job job, Time now);

  // Admits what fits and decides preemptions for what does not, pending jobs
  // taken by priority value (highest first), then submit time, then
  // submission order. Jobs whose victims have all been released go first.
  Decision schedule(Time now);

  // The job's processes are gone: a preempted victim after its grace period,
  // a cancelled pending or running job, a failed job. A preempted job of an
  // on_preempt = requeue queue goes back to pending in its old place in line.
  ReleaseOutcome release(JobId id);
  // The job completed; it is removed whatever its state. False if unknown.
  bool finish(JobId id);

  // Rebuilds running jobs after a crash. All or nothing: on the first error
  // nothing changes. Limits are not checked (the jobs are running; the policy
  // may have changed under them); double-assigned GPUs are refused.
  RestoreResult restore(const std::vector<RunningJob>& jobs);

  // The victims schedule() would choose for a pending job that does not fit,
  // without changing anything; nullopt if it fits or no preemption can make
  // it fit. Allocates; meant for what-if tools and benchmarks.
  std::optional<std::vector<Preemption>> plan_preemption(JobId pending) const;

  // A cordoned node gets no new job (no placement, no preemption for a job
  // that could only run there); what runs on it keeps running. Returns false
  // for an unknown node.
  bool set_cordoned(NodeId node, bool cordoned);
  bool cordoned(NodeId node) const { return node < cordoned_.size() && cordoned_[node]; }

  // ---- queries ---------------------------------------------------------------
  // Why a pending job waits (waiting.cpp); nullopt if it is not pending.
  // Whom it could preempt is plan_preemption's question.
  std::optional<WaitReason> wait_reason(JobId id) const;  // cheap: no victim search
  ScopeReport scope_report(ScopeId scope) const;
  std::optional<JobView> job(JobId id) const;
  std::size_t running_count() const { return running_count_; }
  std::size_t pending_count() const { return pending_.size(); }
  const Cluster& cluster() const { return cluster_; }
  // Idle GPU capacity fragmented for the expected workload (the sum of
  // F_n(M) over nodes, fragmentation.h), in milli-GPU.
  double fragmented_milli() const { return placer_->fragmented_milli(*gpus_); }
  // Both measures now, F_n(M) against `workload` (fragmentation_now.cpp).
  FragmentationNow fragmentation_now(const std::vector<TaskType>& workload) const;
  const Placer& placer() const { return *placer_; }

 private:
  struct ScopeInfo {
    ScopeId parent = kNone;
    std::uint32_t depth = 0;
    Resources guarantee;                             // 0 where undeclared
    Resources own_limit;                             // effective: own, else the parent's, else kUnlimited
    std::uint8_t declared = 0;                       // bit per Resource with a declared bound
    ScopeId owner_quota = kNone;                     // nearest quota at or above
    ScopeId anchor = kNone;                          // nearest scope at or above that owns pinned GPUs
    std::uint32_t preorder = 0, preorder_end = 0;    // subtree = [preorder, preorder_end)
    std::uint32_t queues_begin = 0, queues_end = 0;  // range of queues_in_preorder_
    std::vector<ScopeId> children;
    // Standing: the resources the subtree guarantees anywhere (bit per
    // Resource), and how much of each this scope covers: its declared
    // guarantee, or what its children cover when it declares none.
    std::uint8_t covers = 0;
    Resources cover;
    // Lending limit: what the scope keeps for itself of its guarantee.
    Resources kept;          // guarantee - lend where lend is set, else 0
    std::uint8_t lends = 0;  // bit per Resource with a lend
    // Fair sharing: what the children may lend each other (the divisor of
    // their shares), per resource; 0: the resource does not count.
    Resources lendable;
  };
  struct ScopeUsage {
    Resources used;
    Resources reserved;  // requests of nominated preemptors waiting for their victims
    Resources leaving;   // part of `used` held by terminating victims
    Resources pending;
    Resources inside;      // requests of the jobs (and reserved preemptors) inside its guarantee
    Resources child_kept;  // sum over lending children of what they keep idle now
    Resources kept_now;    // lending scopes: what they keep idle now, of their committed usage
    std::uint32_t running = 0, pending_jobs = 0;
  };
  struct PendingKey {
    std::int64_t neg_priority;
    Time submit_time;
    std::uint64_t seq;
    JobId id;
    friend auto operator<=>(const PendingKey&, const PendingKey&) = default;
  };
  // Order of upgrades at a scope: higher priority, then longer running.
  struct WaitKey {
    std::int64_t neg_priority;
    Time started_at;
    std::uint64_t seq;
    friend auto operator<=>(const WaitKey&, const WaitKey&) = default;
  };
  struct JobRecord {
    Job job;
    std::int64_t priority_value = 0;
    PriorityId priority = kNone;
    bool preemptible = true;
    std::uint64_t seq = 0;  // submission order, for FIFO ties
    JobState state = JobState::pending;
    std::vector<GpuSlice> gpus;
    NodeId node = kNone;  // where its CPU and memory are counted while it runs
    Time started_at = 0;
    std::uint32_t borrow_distance = 0;
    std::uint32_t queue_pos = 0;  // in running_by_queue_ while running/terminating
    std::uint32_t node_pos = 0;   // in running_by_node_[node] while it has a node
    // Standing while running (and while a nominated preemptor reserves):
    // bit i set = inside the guarantee of levels_of_queue_[queue][i].
    std::uint64_t inside = 0;
    std::uint64_t pass = 0;   // the schedule() pass that admitted it
    std::uint64_t tried = 0;  // the last schedule() pass that tried to place it
    bool preempted = false;   // terminating because it was chosen as a victim
    JobId preemptor = 0;      // whom it makes room for, if preempted
    bool nominated = false;   // pending preemptor waiting for its victims
    std::uint32_t awaiting_victims = 0;
    // While nominated, its request is reserved in its scopes and the GPUs of
    // released victims are held for it, so that nobody else takes the room.
    bool reserving = false;
    std::vector<GpuSlice> held;
    PendingKey key() const { return {-priority_value, job.submit_time, seq, job.id}; }
    WaitKey wait_key() const { return {-priority_value, started_at, seq}; }
  };
  struct Justification {
    PreemptionReason rule = PreemptionReason::reclaim_guarantee;
    ScopeId claim_scope = kNone;
    ScopeId victim_scope = kNone;
  };
  struct VictimPlan {
    std::vector<const JobRecord*> victims;
    std::vector<Justification> why;
    std::uint64_t inside = 0;  // the preemptor's standing once they are gone
    NodeId node = kNone;       // where nodes count CPU and memory: the node they make room on
  };
  // Victim searches that failed during one schedule() call while usage did
  // not change: a job of the same queue and class asking for at least as
  // much would fail too, so its search is skipped.
  struct FailedSearch {
    ScopeId queue;
    PriorityId priority;
    Resources request;
  };
  struct SearchMemo {
    std::uint64_t epoch = 0;
    std::vector<FailedSearch> failed;
    // Jobs of this pass that could not be placed although a rule may let
    // them preempt: a job placed after them on room one of them would take
    // back at once is not placed (it would be preempted in the next pass).
    std::vector<JobId> claimants;
    std::vector<JobId> paid;  // placed in this pass on room their victims made
    std::size_t placed = 0;   // jobs placed on free room in this pass
  };

  void index_scopes();
  void index_placement();
  bool within_limits(ScopeId queue, const Resources& request) const;
  Resources kept_idle(ScopeId scope, const Resources& used) const;
  // What the scope will hold once its terminating victims are gone and its
  // nominated preemptors run: lending limits are kept against this.
  Resources committed(ScopeId scope) const {
    const ScopeUsage& u = usage_[scope];
    return u.used - u.leaving + u.reserved;
  }
  void refresh_kept(ScopeId queue);  // after a change of committed usage on the queue's path
  bool in_subtree(ScopeId scope, ScopeId root) const {
    return info_[scope].preorder >= info_[root].preorder && info_[scope].preorder < info_[root].preorder_end;
  }
  std::uint32_t tree_distance(ScopeId a, ScopeId b) const;
  ScopeId reference_scope(ScopeId queue) const;
  std::uint32_t own_group(ScopeId queue) const;
  bool priority_preempts(PriorityId preemptor, PriorityId victim) const;
  std::optional<Refusal> check_submit(const Job& job) const;
  Preemption make_preemption(const JobRecord& preemptor, const JobRecord& victim, const Justification& why) const;

  // ---- standing (standing.cpp) ----
  bool fits_cover(ScopeId scope, const Resources& inside, const Resources& request) const;
  // The standing `request` would have in `queue` now, with `freed` (per
  // level of the queue's path) already given back.
  std::uint64_t standing_for(ScopeId queue, const Resources& request, const std::vector<Resources>* freed) const;
  void take_standing(JobRecord& rec, std::uint64_t inside);  // counts it in `inside`, fills the wait lists
  void drop_standing(JobRecord& rec);                        // the reverse; frees room for upgrades
  void upgrade_waiting();                                    // at every scope whose room grew
  bool is_inside(const JobRecord& rec, ScopeId scope) const;

  // ---- fair sharing (fair_share.cpp) ----
  void index_fair_sharing();
  // The dominant-resource share of `scope` among its siblings if its
  // committed usage were `usage` (docs/scheduling.md, "Fair sharing").
  std::int64_t fair_share(ScopeId scope, const Resources& usage) const;
  // Pass order among siblings: the rank of each job of `line` (pending
  // jobs in line order) in the fair-sharing tournament (fair_share.cpp).
  std::vector<std::uint32_t> fair_ranks(const std::vector<const JobRecord*>& line) const;
  // Rule R5's plan condition: every sibling whose borrowed work the plan
  // takes by R5 stays at or above its guarantee below the meeting point,
  // its share strictly falls, and one of the strategies holds.
  // `freed` is what the plan's victims free, per scope.
  bool fair_plan_holds(const JobRecord& rec, const std::vector<const JobRecord*>& victims,
                       const std::vector<Justification>& why,
                       const std::vector<std::pair<ScopeId, Resources>>& freed) const;

  bool try_admit(JobRecord& rec, Time now, Decision& out);
  void start_running(JobRecord& rec, std::vector<GpuSlice> gpus, Time now, std::optional<std::uint64_t> inside);
  void stop_running(JobRecord& rec, bool return_gpus = true);
  void unreserve(JobRecord& rec);
  void add_reserved(ScopeId queue, const Resources& delta);
  void add_usage(ScopeId queue, const Resources& delta, int running_delta);
  void add_pending(ScopeId queue, const Resources& delta, int count_delta);
  void enqueue(JobRecord& rec);
  void dequeue(JobRecord& rec);
  bool may_preempt(const JobRecord& rec) const;
  // ---- victims (victims.cpp) ----
  // Victims for `rec`, never a job admitted in pass `exclude_pass` (0: none).
  std::optional<VictimPlan> find_victims(const JobRecord& rec, std::uint64_t exclude_pass) const;
  std::optional<Justification> justify(const JobRecord& preemptor, std::uint64_t preemptor_inside,
                                       const JobRecord& victim) const;
  void attempt(JobRecord& rec, Time now, Decision& out, SearchMemo& memo);
  void remove_running(JobRecord& rec);  // stops it and tells its preemptor

  // The live jobs by id: an open-addressing table (linear probing) of
  // pointers into a pool whose records keep their address while live and
  // are reused (with their vectors' capacity) once erased. Only looked up by
  // id, never iterated, so its layout cannot affect any decision.
  struct JobSlot {
    JobId id = 0;
    JobRecord* rec = nullptr;  // null: empty slot
  };
  JobRecord* find_job(JobId id) const;
  JobRecord& at_job(JobId id) const;       // throws std::out_of_range if unknown
  JobRecord& insert_job(JobRecord&& rec);  // the id must be new
  void erase_job(JobId id);
  std::size_t slot_of(JobId id) const;  // home slot
  void grow_jobs();

  Cluster cluster_;
  std::shared_ptr<const Topology> topology_;
  std::vector<ScopeInfo> info_;
  std::vector<ScopeId> queues_in_preorder_;
  std::vector<ScopeId> roots_;                 // the scopes without parent, by id
  std::vector<std::uint32_t> group_of_scope_;  // home scope -> GPU group (1..H), 0 otherwise
  std::vector<ScopeId> home_of_group_;         // [group] -> scope; [0] = kNone
  // Per queue, per GPU group: tree distance from the queue's reference scope
  // to the group's home (0 for unpinned GPUs), and the placement rank.
  std::vector<std::vector<std::uint32_t>> group_distance_;
  std::vector<std::vector<std::uint32_t>> group_rank_;
  std::unique_ptr<GpuState> gpus_;
  std::unique_ptr<Placer> placer_;

  std::vector<ScopeUsage> usage_;
  std::vector<JobSlot> job_slots_;  // power-of-two size, at most half full
  std::size_t job_count_ = 0;
  unsigned job_shift_ = 64;               // 64 - log2(job_slots_.size())
  std::deque<JobRecord> job_pool_;        // stable addresses
  std::vector<JobRecord*> free_records_;  // erased records, reused last-in first-out
  std::set<PendingKey> pending_;
  std::set<PendingKey> ready_nominated_;  // nominated, all victims released
  std::vector<std::vector<JobRecord*>> running_by_queue_;
  // Per node, the running and terminating jobs it counts (JobRecord::node):
  // the victim search's candidates when only a node is short.
  std::vector<std::vector<JobRecord*>> running_by_node_;
  std::size_t running_count_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t epoch_ = 0;  // bumped when room frees or standings change; invalidates failed searches
  std::uint64_t pass_ = 0;   // schedule() calls so far

  // Standing: per queue, the scopes of its path that cover something,
  // queue first (bit i of JobRecord::inside is levels_of_queue_[q][i]).
  std::vector<std::vector<ScopeId>> levels_of_queue_;
  // Per scope, the running jobs below it that borrow there, in upgrade
  // order; and the scopes whose room grew since the last upgrade.
  std::vector<std::set<std::pair<WaitKey, JobRecord*>>> waiting_;
  std::vector<ScopeId> room_grew_;
  std::vector<char> room_grew_flag_;
  Resources pool_kept_;         // what lending roots keep idle now
  std::vector<char> cordoned_;  // per node
  std::size_t cordoned_count_ = 0;
  bool all_cordoned() const { return !cordoned_.empty() && cordoned_count_ == cordoned_.size(); }
  Resources pool_lendable_;  // fair sharing among the roots: ScopeInfo::lendable of the pool
};

}  // namespace allot::runtime
