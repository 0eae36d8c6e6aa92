// The scheduling core: admission, preemption and GPU assignment over one
// pool. In memory, deterministic (same calls in the same order give the same
// answers), no I/O, no clocks, no global state. Not thread-safe: the caller
// serialises calls.
//
// Lifecycle of a job:
//   submit() -> pending --schedule() admits--> running --finish()/release()--> gone
//   running --schedule() picks it as a victim--> terminating --release()--> gone or
//   pending again (on_preempt = requeue)
//
// Accounting: every scope counts the resources of the running and terminating
// jobs below it (`used`), updated incrementally up the tree. A job is
// admitted when `used + request <= limit` holds for its queue and every
// ancestor and its GPUs can be placed. A preemptor waiting for its victims
// reserves its request (counted against limits) and holds the GPUs its victims
// release until it is admitted. Guarantees do not reserve idle
// capacity: anyone may borrow it, and a scope below its guarantee takes it
// back by preemption.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "runtime/core/cluster.h"
#include "runtime/core/gpu_index.h"
#include "runtime/core/job.h"
#include "runtime/core/types.h"

namespace allot::runtime {

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

  // ---- queries ---------------------------------------------------------------
  ScopeReport scope_report(ScopeId scope) const;
  std::optional<JobView> job(JobId id) const;
  std::size_t running_count() const { return running_count_; }
  std::size_t pending_count() const { return pending_.size(); }
  const Cluster& cluster() const { return cluster_; }

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
  };
  struct ScopeUsage {
    Resources used;
    Resources reserved;  // requests of nominated preemptors waiting for their victims
    Resources leaving;   // part of `used` held by terminating victims
    Resources pending;
    std::uint32_t running = 0, pending_jobs = 0;
  };
  struct PendingKey {
    std::int64_t neg_priority;
    Time submit_time;
    std::uint64_t seq;
    JobId id;
    friend auto operator<=>(const PendingKey&, const PendingKey&) = default;
  };
  struct JobRecord {
    Job job;
    std::int64_t priority_value = 0;
    PriorityId priority = kNone;
    bool preemptible = true;
    std::uint64_t seq = 0;  // submission order, for FIFO ties
    JobState state = JobState::pending;
    std::vector<GpuSlice> gpus;
    Time started_at = 0;
    std::uint32_t borrow_distance = 0;
    std::uint32_t queue_pos = 0;  // in running_by_queue_ while running/terminating
    bool preempted = false;       // terminating because it was chosen as a victim
    JobId preemptor = 0;          // whom it makes room for, if preempted
    bool nominated = false;       // pending preemptor waiting for its victims
    std::uint32_t awaiting_victims = 0;
    // While nominated, its request is reserved in its scopes and the GPUs of
    // released victims are held for it, so that nobody else takes the room.
    bool reserving = false;
    std::vector<GpuSlice> held;
    PendingKey key() const { return {-priority_value, job.submit_time, seq, job.id}; }
  };
  struct VictimPlan {
    std::vector<const JobRecord*> victims;
    std::vector<PreemptionReason> reasons;
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
  };

  void index_scopes();
  void index_placement();
  bool within_limits(ScopeId queue, const Resources& request) const;
  bool protects(ScopeId scope, const Resources& freed) const;
  bool within_guarantee_after(ScopeId scope, const Resources& request) const;
  bool in_subtree(ScopeId scope, ScopeId root) const {
    return info_[scope].preorder >= info_[root].preorder && info_[scope].preorder < info_[root].preorder_end;
  }
  std::uint32_t tree_distance(ScopeId a, ScopeId b) const;
  ScopeId reference_scope(ScopeId queue) const;
  std::uint32_t own_group(ScopeId queue) const;
  bool priority_preempts(PriorityId preemptor, PriorityId victim) const;
  std::optional<Refusal> check_submit(const Job& job) const;
  Preemption make_preemption(const JobRecord& preemptor, const JobRecord& victim, PreemptionReason reason) const;

  bool try_admit(JobRecord& rec, Time now, Decision& out);
  void start_running(JobRecord& rec, std::vector<GpuSlice> gpus, Time now);
  void stop_running(JobRecord& rec, bool return_gpus = true);
  void unreserve(JobRecord& rec);
  void add_reserved(ScopeId queue, const Resources& delta);
  void add_usage(ScopeId queue, const Resources& delta, int running_delta);
  void add_pending(ScopeId queue, const Resources& delta, int count_delta);
  void enqueue(JobRecord& rec);
  void dequeue(JobRecord& rec);
  bool may_preempt(const JobRecord& rec) const;
  std::optional<VictimPlan> find_victims(const JobRecord& rec) const;
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

  std::vector<ScopeUsage> usage_;
  std::vector<JobSlot> job_slots_;  // power-of-two size, at most half full
  std::size_t job_count_ = 0;
  unsigned job_shift_ = 64;               // 64 - log2(job_slots_.size())
  std::deque<JobRecord> job_pool_;        // stable addresses
  std::vector<JobRecord*> free_records_;  // erased records, reused last-in first-out
  std::set<PendingKey> pending_;
  std::set<PendingKey> ready_nominated_;  // nominated, all victims released
  std::vector<std::vector<JobRecord*>> running_by_queue_;
  std::size_t running_count_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t epoch_ = 0;  // bumped on every change of usage; invalidates failed searches
};

}  // namespace allot::runtime
