// The discrete-event simulation of `allot simulate`: arrivals, admissions,
// preemptions and completions in simulated time, every decision made by
// core::Scheduler (the same code allotd runs). This file adds only the
// clock, the event queue and the measurements.
//
// Contract of the event loop, per distinct event time t (milliseconds):
//   1. completions due at t: Scheduler::finish (stale ones, of runs that were
//      preempted, are ignored);
//   2. arrivals at t, in trace order: Scheduler::submit (a refusal is final);
//   3. Scheduler::schedule(t) until it decides nothing more: each admission
//      schedules the job's completion at t + runtime; each preemption is
//      applied at once (grace periods are not simulated) with
//      Scheduler::release, after which the victim is pending again (its
//      queue requeues; it will run its full runtime again) or cancelled.
// Jobs still pending when no event is left never ran.
//
// Load mode (SimOptions::load, docs/simulate.md "Load"): the jobs arrive in
// trace order and never end. After each arrival Scheduler::schedule runs
// until it decides nothing more; a job left pending then has failed: it is
// withdrawn (Scheduler::release) and counted, and the run stops at the
// load_failures-th failure. The state at the stop is reported (LoadResult).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runtime/core/scheduler.h"

namespace allot::runtime::sim {

// A job resolved against the cluster. `job.id` is ignored: the i-th job is
// submitted as id i + 1 (decisions and logs use those ids).
struct SimJob {
  Job job;
  Time runtime_ms = 0;
  std::string name;  // for messages
};

struct SimOptions {
  // Time-series buckets over the trace's expected span (more are added if
  // the simulation runs longer). At least 1.
  std::uint32_t samples = 400;
  // Keep every Decision (for tests and debugging; costs memory).
  bool record_decisions = false;
  // Called now and then with the fraction of arrivals processed (0..1).
  std::function<void(double)> progress;
  // Load mode: no completions, stop at the load_failures-th pod left pending
  // (at least 1). Time series, delays and guarantee figures are not measured.
  bool load = false;
  std::uint64_t load_failures = 1;
};

enum class JobOutcome : std::uint8_t {
  completed,
  cancelled,  // preempted on a queue with on_preempt = cancel
  never_ran,  // still pending when the simulation ended
  refused,    // Scheduler::submit refused it
  running,    // admitted and not ended: load mode only
};

struct JobResult {
  JobOutcome outcome = JobOutcome::never_ran;
  std::optional<RefusalReason> refusal;
  Time first_start = -1;  // -1: never started
  Time end = -1;          // completion or cancellation time
  std::uint32_t preemptions = 0;
  // The last preemption of the job: by whom, under which rule, the claim's
  // scope and the victim's (docs/scheduling.md).
  JobId last_preemptor = 0;
  std::optional<PreemptionReason> last_rule;
  ScopeId last_claim_scope = kNone, last_victim_scope = kNone;
};

// Everything one schedule() call decided at `at`.
struct LoggedDecision {
  Time at = 0;
  Decision decision;
};

// Per scope (subtree), GPU amounts in milli-GPU, time in milliseconds.
struct ScopeStats {
  Amount gpu_guarantee = 0;  // declared (0 where none)
  bool guarantee_declared = false;
  Amount gpu_limit = kUnlimited;  // effective
  double gpu_milli_ms = 0;        // integral of GPUs used over time
  Time violation_ms = 0;          // used < guarantee while GPU demand was pending
  double shortfall_milli_ms = 0;  // integral of min(guarantee - used, pending) over that time
  std::uint64_t submitted = 0, refused = 0, started = 0, completed = 0, cancelled = 0, never_ran = 0;
  std::uint64_t preempted = 0;  // times a job of the subtree was a victim
  std::uint64_t requeued = 0;
  std::vector<Time> delays_ms;  // submit -> first start, per started job, sorted ascending
};

// One time-series bucket [begin, end): time-weighted averages.
struct Sample {
  Time begin = 0, end = 0;
  double allocated_milli = 0;   // GPUs held by running jobs
  double fragmented_milli = 0;  // idle, on nodes that cannot host the head pending request
  // Idle capacity fragmented for the expected workload (the sum of F_n(M))
  // when the bucket began; not time-averaged.
  double fragmented_workload_milli = 0;
  double pending_jobs = 0;
  double running_jobs = 0;
  std::vector<double> scope_milli;  // per scope: GPUs used in the subtree
};

// Why a job failed in load mode, read from Scheduler::scope_report after the
// scheduler left it pending (a label for the report, not a decision):
// quota when its queue or an ancestor has no room left under a limit for its
// request, capacity otherwise (the GPUs do not fit physically).
enum class LoadFailure : std::uint8_t { quota, capacity };
const char* to_string(LoadFailure failure);

// The state of a load-mode run when it stopped. Milli-GPU.
struct LoadResult {
  bool enabled = false;
  std::uint64_t max_failures = 1;
  std::uint64_t arrived = 0;   // jobs submitted (refused ones included)
  std::uint64_t admitted = 0;  // running at the stop
  std::uint64_t refused = 0;   // by Scheduler::submit; not failures (they could never run)
  std::uint64_t failed = 0, failed_quota = 0, failed_capacity = 0;
  std::uint64_t preemptions = 0;
  Amount requested_milli = 0;  // GPUs asked for by the jobs submitted and not refused
  Amount allocated_milli = 0;  // held by running jobs at the stop
  // Idle capacity at the stop that cannot host the request of the job that
  // stopped the run (SimResult's fragmentation rule); 0 if the trace ran out.
  Amount fragmented_milli = 0;
  // Idle capacity fragmented for the expected workload at the stop (the sum
  // of F_n(M), Scheduler::fragmented_milli; the workload the plan's pool
  // learnt from the pods placed).
  double fragmented_workload_milli = 0;
  bool trace_exhausted = true;  // every job arrived without reaching max_failures
  std::uint32_t stop_job = 0;   // index of the job whose failure stopped the run
  std::string stop_name;        // its name
  Amount stop_request_milli = 0;
  LoadFailure stop_reason = LoadFailure::capacity;
  Amount unallocated_milli(Amount capacity) const { return capacity - allocated_milli; }
};

struct SimResult {
  std::vector<JobResult> jobs;  // parallel to the input jobs
  std::vector<ScopeStats> scopes;
  std::vector<Sample> samples;
  std::vector<LoggedDecision> decisions;  // when SimOptions::record_decisions
  Amount capacity_milli = 0;
  Time start = 0, end = 0;  // first arrival, last event
  double allocated_milli_ms = 0, fragmented_milli_ms = 0;
  std::uint64_t events = 0;  // arrivals + admissions + preemptions + completions
  std::uint64_t schedule_calls = 0;
  std::uint64_t preemptions = 0, requeues = 0, cancellations = 0;
  std::array<std::uint64_t, 9> refusals{};  // by RefusalReason
  std::vector<Time> delays_ms;              // all started jobs, sorted ascending
  LoadResult load;                          // load mode only
};

// Runs the simulation. Throws std::invalid_argument if the cluster is
// malformed (from the Scheduler). Deterministic: same inputs, same result.
SimResult simulate(const Cluster& cluster, const std::vector<SimJob>& jobs, const SimOptions& options = {});

// Nearest-rank percentile (p in 0..100) of ascending values; 0 when empty.
Time percentile(const std::vector<Time>& sorted, double p);

}  // namespace allot::runtime::sim
