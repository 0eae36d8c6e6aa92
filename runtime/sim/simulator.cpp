#include "runtime/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <variant>

namespace allot::runtime::sim {

Time percentile(const std::vector<Time>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const std::size_t i = rank < 1 ? 0 : static_cast<std::size_t>(rank) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

const char* to_string(LoadFailure failure) { return failure == LoadFailure::quota ? "quota" : "capacity"; }

namespace {

// Idle GPU capacity by shape, kept up to date slice by slice so that the
// fragmentation of the moment costs O(log) instead of a scan of all nodes.
class GpuLedger {
 public:
  explicit GpuLedger(const std::vector<Node>& nodes) {
    std::uint32_t max_per_node = 0;
    for (const Node& n : nodes) {
      first_gpu_.push_back(static_cast<std::uint32_t>(used_.size()));
      used_.resize(used_.size() + n.gpu_count, 0);
      free_whole_.push_back(n.gpu_count);
      max_per_node = std::max(max_per_node, n.gpu_count);
    }
    nodes_by_free_.assign(max_per_node + 1, 0);
    for (const Node& n : nodes) ++nodes_by_free_[n.gpu_count];
    partial_free_.assign(kMilliPerGpu + 1, 0);
  }

  Amount capacity_milli() const { return static_cast<Amount>(used_.size()) * kMilliPerGpu; }
  Amount allocated_milli() const { return allocated_; }

  void add(const std::vector<GpuSlice>& slices, int sign) {
    for (const GpuSlice& s : slices) change(s.gpu, sign * s.milli);
  }

  // Idle milli-GPU that cannot serve a request of `gpu_milli`: for whole
  // GPUs, the idle GPUs of nodes with fewer than that many fully free GPUs
  // plus every partly used GPU's remainder; for a share, the remainders
  // smaller than the share.
  Amount fragmented_for(Amount gpu_milli) const {
    if (gpu_milli <= 0) return 0;
    if (gpu_milli % kMilliPerGpu == 0) {
      const Amount g = gpu_milli / kMilliPerGpu;
      Amount out = partial_total_;
      for (std::size_t k = 1; k < nodes_by_free_.size() && static_cast<Amount>(k) < g; ++k)
        out += static_cast<Amount>(k) * kMilliPerGpu * nodes_by_free_[k];
      return out;
    }
    return prefix(static_cast<std::size_t>(gpu_milli - 1));
  }

 private:
  void change(GpuRef gpu, Amount delta) {
    const std::size_t flat = first_gpu_[gpu.node] + gpu.index;
    const Amount before = used_[flat];
    const Amount after = before + delta;
    used_[flat] = after;
    allocated_ += delta;
    if ((before == 0) != (after == 0)) {
      std::uint32_t& free = free_whole_[gpu.node];
      --nodes_by_free_[free];
      free += after == 0 ? 1 : -1;
      ++nodes_by_free_[free];
    }
    if (before > 0 && before < kMilliPerGpu)
      fenwick_add(static_cast<std::size_t>(kMilliPerGpu - before), -(kMilliPerGpu - before));
    if (after > 0 && after < kMilliPerGpu)
      fenwick_add(static_cast<std::size_t>(kMilliPerGpu - after), kMilliPerGpu - after);
  }
  // Fenwick tree over the free remainder of partly used GPUs (1..999).
  void fenwick_add(std::size_t free, Amount amount) {
    partial_total_ += amount;
    for (std::size_t i = free; i < partial_free_.size(); i += i & (~i + 1)) partial_free_[i] += amount;
  }
  Amount prefix(std::size_t free) const {  // sum of remainders <= free
    Amount out = 0;
    for (std::size_t i = std::min(free, partial_free_.size() - 1); i > 0; i -= i & (~i + 1)) out += partial_free_[i];
    return out;
  }

  std::vector<std::uint32_t> first_gpu_;
  std::vector<Amount> used_;
  std::vector<std::uint32_t> free_whole_;     // per node: GPUs with nothing on them
  std::vector<std::uint32_t> nodes_by_free_;  // [k]: nodes with k fully free GPUs
  std::vector<Amount> partial_free_;          // Fenwick tree, 1-based
  Amount partial_total_ = 0;
  Amount allocated_ = 0;
};

// What the event loop touches per job, packed (a SimJob is ~200 bytes; the
// loop is bound by cache misses on 1M-job traces).
struct HotJob {
  ScopeId queue;
  std::uint32_t run = 0;         // runs started (invalidates stale completions)
  std::uint32_t held = kNoHeld;  // slot of Simulation::held_ while running
  Amount gpu_milli;
  Time submit;
  Time runtime;
  static constexpr std::uint32_t kNoHeld = 0xffffffffu;
};

struct Completion {
  Time at;
  std::uint32_t job;
  std::uint32_t run;  // which run of the job (a requeued job runs again)
  bool operator<(const Completion& o) const {
    if (at != o.at) return at < o.at;
    return job != o.job ? job < o.job : run < o.run;
  }
};

// Min-heap of completions, 4-ary (half the depth of a binary heap: fewer
// cache misses per pop on the ~10^5 runs in flight). Pops in (at, job)
// order like the std::priority_queue it replaces; entries equal in both are
// runs of one job, of which all but the newest are stale and skipped.
class CompletionQueue {
 public:
  bool empty() const { return heap_.empty(); }
  const Completion& top() const { return heap_.front(); }
  void push(const Completion& c) {
    std::size_t i = heap_.size();
    heap_.push_back(c);
    while (i > 0) {
      const std::size_t parent = (i - 1) / 4;
      if (!(c < heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = c;
  }
  void pop() {
    const Completion last = heap_.back();
    heap_.pop_back();
    const std::size_t n = heap_.size();
    if (n == 0) return;
    std::size_t i = 0;
    while (true) {
      const std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      const std::size_t end = std::min(first + 4, n);
      for (std::size_t k = first + 1; k < end; ++k)
        if (heap_[k] < heap_[best]) best = k;
      if (!(heap_[best] < last)) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = last;
  }

 private:
  std::vector<Completion> heap_;
};

// Pending jobs in the Scheduler's own order (priority value, submit time,
// submission order), to know the head request when measuring fragmentation.
struct PendingKey {
  std::int64_t neg_priority;
  Time submit;
  std::uint32_t job;
  friend auto operator<=>(const PendingKey&, const PendingKey&) = default;
};

class Simulation {
 public:
  Simulation(const Cluster& cluster, const std::vector<SimJob>& jobs, const SimOptions& options)
      : scheduler_(cluster), jobs_(jobs), options_(options), ledger_(cluster.nodes) {
    const std::size_t scopes = cluster.scopes.size();
    parent_.resize(scopes);
    for (ScopeId s = 0; s < scopes; ++s) parent_[s] = cluster.scopes[s].parent;
    result_.jobs.assign(jobs.size(), {});
    result_.scopes.assign(scopes, {});
    for (ScopeId s = 0; s < scopes; ++s) {
      ScopeStats& st = result_.scopes[s];
      const ScopeReport r = scheduler_.scope_report(s);
      st.gpu_guarantee = r.guaranteed.gpu_milli;
      st.guarantee_declared = cluster.scopes[s].bounds.gpu.has_value();
      st.gpu_limit = r.limit.gpu_milli;
      if (st.guarantee_declared && st.gpu_guarantee > 0) guaranteed_.push_back(s);
    }
    used_.assign(scopes, 0);
    pending_.assign(scopes, 0);
    hot_.reserve(jobs.size());
    for (const SimJob& j : jobs)
      hot_.push_back({j.job.queue, 0, HotJob::kNoHeld, j.job.request.gpu_milli, j.job.submit_time, j.runtime_ms});
    pending_key_.assign(jobs.size(), {});
    result_.capacity_milli = ledger_.capacity_milli();
    order_.resize(jobs.size());
    for (std::uint32_t i = 0; i < jobs.size(); ++i) order_[i] = i;
    // By submit time, trace order among equals (a stable sort). Traces are
    // usually in time order already.
    const auto by_submit = [&](const HotJob& a, const HotJob& b) { return a.submit < b.submit; };
    if (!std::is_sorted(hot_.begin(), hot_.end(), by_submit)) {
      std::vector<std::pair<Time, std::uint32_t>> keyed(jobs.size());
      for (std::uint32_t i = 0; i < jobs.size(); ++i) keyed[i] = {hot_[i].submit, i};
      std::sort(keyed.begin(), keyed.end());  // keys are unique: same order as a stable sort by time
      for (std::uint32_t i = 0; i < jobs.size(); ++i) order_[i] = keyed[i].second;
    }
    if (!jobs.empty()) {
      start_ = jobs[order_.front()].job.submit_time;
      Time expected_end = start_ + 1;
      for (const SimJob& j : jobs) expected_end = std::max(expected_end, j.job.submit_time + j.runtime_ms);
      const Time span = expected_end - start_;
      const Time buckets = std::max<Time>(1, options.samples);
      width_ = std::max<Time>(1, (span + buckets - 1) / buckets);
    }
    now_ = start_;
    result_.start = start_;
  }

  SimResult run() { return options_.load ? run_load() : run_replay(); }

 private:
  SimResult run_replay() {
    std::size_t next = 0;
    const std::size_t n = jobs_.size();
    std::uint64_t since_progress = 0;
    while (true) {
      // Completions of preempted runs are void; dropping them first keeps
      // them from stretching the simulated span.
      while (!completions_.empty() && completions_.top().run != hot_[completions_.top().job].run) completions_.pop();
      if (next == n && completions_.empty()) break;
      Time t = next < n ? hot_[order_[next]].submit : completions_.top().at;
      if (!completions_.empty()) t = std::min(t, completions_.top().at);
      advance(t);
      while (!completions_.empty() && completions_.top().at == t) {
        const Completion c = completions_.top();
        completions_.pop();
        if (c.run != hot_[c.job].run) continue;  // that run was preempted
        complete(c.job, t);
      }
      while (next < n && hot_[order_[next]].submit == t) arrive(order_[next++], t);
      schedule(t);
      fragmented_ = pending_set_.empty() ? 0 : ledger_.fragmented_for(hot_[pending_set_.begin()->job].gpu_milli);
      if (options_.progress && ++since_progress >= 1024) {
        since_progress = 0;
        options_.progress(static_cast<double>(next) / static_cast<double>(n));
      }
    }
    result_.end = now_;
    finish_samples();
    for (std::uint32_t i = 0; i < n; ++i) {
      JobResult& r = result_.jobs[i];
      if (r.outcome == JobOutcome::never_ran && !r.refusal)
        for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) ++result_.scopes[s].never_ran;
    }
    for (ScopeStats& st : result_.scopes) std::sort(st.delays_ms.begin(), st.delays_ms.end());
    std::sort(result_.delays_ms.begin(), result_.delays_ms.end());
    if (options_.progress) options_.progress(1.0);
    return std::move(result_);
  }

  // Load mode: arrivals only, in trace order; each is followed by schedule()
  // until it decides nothing more, and whatever is left pending has failed.
  SimResult run_load() {
    LoadResult& load = result_.load;
    load.enabled = true;
    load.max_failures = std::max<std::uint64_t>(1, options_.load_failures);
    const std::size_t n = jobs_.size();
    std::uint64_t since_progress = 0;
    for (std::size_t next = 0; next < n; ++next) {
      const std::uint32_t i = order_[next];
      const Time t = hot_[i].submit;
      now_ = t;
      arrive(i, t);
      ++load.arrived;
      if (result_.jobs[i].outcome == JobOutcome::refused) {
        ++load.refused;
        continue;
      }
      load.requested_milli += hot_[i].gpu_milli;
      schedule(t);
      // Normally only the arrival can be left pending; a victim requeued by
      // a preemption fails the same way.
      while (!pending_set_.empty()) {
        const std::uint32_t failed = pending_set_.begin()->job;
        const LoadFailure reason = classify(failed);
        ++load.failed;
        ++(reason == LoadFailure::quota ? load.failed_quota : load.failed_capacity);
        if (load.failed >= load.max_failures) {
          load.trace_exhausted = false;
          load.stop_job = failed;
          load.stop_name = jobs_[failed].name;
          load.stop_request_milli = hot_[failed].gpu_milli;
          load.stop_reason = reason;
          load.fragmented_milli = ledger_.fragmented_for(hot_[failed].gpu_milli);
          break;
        }
        leave_pending(failed);
        scheduler_.release(failed + 1);  // withdrawn: a pending job is removed
      }
      if (!load.trace_exhausted) break;
      if (options_.progress && ++since_progress >= 1024) {
        since_progress = 0;
        options_.progress(static_cast<double>(next) / static_cast<double>(n));
      }
    }
    load.allocated_milli = ledger_.allocated_milli();
    load.admitted = scheduler_.running_count();
    load.fragmented_workload_milli = scheduler_.fragmented_milli();
    load.preemptions = result_.preemptions;
    for (std::uint32_t i = 0; i < n; ++i)
      if (const std::optional<JobView> v = scheduler_.job(i + 1); v && v->state != JobState::pending)
        result_.jobs[i].outcome = JobOutcome::running;
    result_.end = now_;
    std::sort(result_.delays_ms.begin(), result_.delays_ms.end());
    if (options_.progress) options_.progress(1.0);
    return std::move(result_);
  }

  // Quota when the job's queue or an ancestor lacks room under a limit for
  // its request (as the scheduler reports its scopes), capacity otherwise.
  LoadFailure classify(std::uint32_t i) const {
    const Resources& request = jobs_[i].job.request;
    for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) {
      const ScopeReport r = scheduler_.scope_report(s);
      for (const Resource res : kAllResources)
        if (request[res] > 0 && r.limit[res] < kUnlimited &&
            r.used[res] + r.reserved[res] + request[res] > r.limit[res])
          return LoadFailure::quota;
    }
    return LoadFailure::capacity;
  }

  // Integrates the (constant) state over [now_, to).
  void advance(Time to) {
    if (to <= now_) return;
    const Time dt = to - now_;
    const auto dtd = static_cast<double>(dt);
    for (ScopeId s = 0; s < used_.size(); ++s) result_.scopes[s].gpu_milli_ms += static_cast<double>(used_[s]) * dtd;
    for (ScopeId s : guaranteed_) {
      ScopeStats& st = result_.scopes[s];
      if (used_[s] < st.gpu_guarantee && pending_[s] > 0) {
        st.violation_ms += dt;
        st.shortfall_milli_ms += static_cast<double>(std::min(st.gpu_guarantee - used_[s], pending_[s])) * dtd;
      }
    }
    const auto allocated = static_cast<double>(ledger_.allocated_milli());
    result_.allocated_milli_ms += allocated * dtd;
    result_.fragmented_milli_ms += static_cast<double>(fragmented_) * dtd;
    while (now_ < to) {
      const auto bucket = static_cast<std::size_t>((now_ - start_) / width_);
      const Time bucket_end = start_ + static_cast<Time>(bucket + 1) * width_;
      const Time seg_end = std::min(to, bucket_end);
      const auto seg = static_cast<double>(seg_end - now_);
      while (result_.samples.size() <= bucket) {
        Sample s;
        s.begin = start_ + static_cast<Time>(result_.samples.size()) * width_;
        s.end = s.begin + width_;
        s.scope_milli.assign(used_.size(), 0);
        s.fragmented_workload_milli = scheduler_.fragmented_milli();
        result_.samples.push_back(std::move(s));
      }
      Sample& sample = result_.samples[bucket];
      sample.allocated_milli += allocated * seg;
      sample.fragmented_milli += static_cast<double>(fragmented_) * seg;
      sample.pending_jobs += static_cast<double>(pending_set_.size()) * seg;
      sample.running_jobs += static_cast<double>(scheduler_.running_count()) * seg;
      for (std::size_t s = 0; s < used_.size(); ++s) sample.scope_milli[s] += static_cast<double>(used_[s]) * seg;
      now_ = seg_end;
    }
  }

  void finish_samples() {
    for (Sample& s : result_.samples) {
      s.end = std::min(s.end, std::max(result_.end, s.begin + 1));
      const auto len = static_cast<double>(s.end - s.begin);
      s.allocated_milli /= len;
      s.fragmented_milli /= len;
      s.pending_jobs /= len;
      s.running_jobs /= len;
      for (double& v : s.scope_milli) v /= len;
    }
  }

  void add_scope(std::vector<Amount>& per_scope, ScopeId queue, Amount delta) {
    for (ScopeId s = queue; s != kNone; s = parent_[s]) per_scope[s] += delta;
  }

  void make_pending(std::uint32_t i) {
    pending_set_.insert(pending_key_[i]);
    add_scope(pending_, hot_[i].queue, hot_[i].gpu_milli);
  }
  void leave_pending(std::uint32_t i) {
    pending_set_.erase(pending_key_[i]);
    add_scope(pending_, hot_[i].queue, -hot_[i].gpu_milli);
  }
  void stop_running(std::uint32_t i) {
    HotJob& h = hot_[i];
    std::vector<GpuSlice>& held = held_[h.held];
    ledger_.add(held, -1);
    held.clear();  // keeps its capacity for the next admission
    free_held_.push_back(h.held);
    h.held = HotJob::kNoHeld;
    add_scope(used_, h.queue, -h.gpu_milli);
  }

  void arrive(std::uint32_t i, Time t) {
    Job job = jobs_[i].job;
    job.id = i + 1;
    const ScopeId queue = job.queue;
    ++result_.events;
    const bool valid_queue = queue < parent_.size();
    if (valid_queue)
      for (ScopeId s = queue; s != kNone; s = parent_[s]) ++result_.scopes[s].submitted;
    SubmitResult r = scheduler_.submit(std::move(job), t);
    if (const Refusal* refusal = std::get_if<Refusal>(&r)) {
      result_.jobs[i].outcome = JobOutcome::refused;
      result_.jobs[i].refusal = refusal->reason;
      ++result_.refusals[static_cast<std::size_t>(refusal->reason)];
      if (valid_queue)
        for (ScopeId s = queue; s != kNone; s = parent_[s]) ++result_.scopes[s].refused;
      return;
    }
    pending_key_[i] = {-priority_value(jobs_[i].job), jobs_[i].job.submit_time, i};
    make_pending(i);
  }

  // The value the Scheduler orders the job by: its class, else its queue's default.
  std::int64_t priority_value(const Job& job) const {
    const Cluster& c = scheduler_.cluster();
    const PriorityId p = job.priority ? *job.priority : c.scopes[job.queue].queue.default_priority;
    return p == kNone ? 0 : c.priorities[p].value;
  }

  void complete(std::uint32_t i, Time t) {
    ++result_.events;
    scheduler_.finish(i + 1);
    stop_running(i);
    result_.jobs[i].outcome = JobOutcome::completed;
    result_.jobs[i].end = t;
    for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) ++result_.scopes[s].completed;
  }

  void schedule(Time t) {
    // Each round either changes something or ends the step; a cycle of
    // preemptions (which the core's rules are meant to exclude) is cut off
    // rather than looping forever.
    constexpr int kMaxRounds = 10000;
    for (int round = 0; round < kMaxRounds; ++round) {
      Decision d = scheduler_.schedule(t);
      ++result_.schedule_calls;
      if (d.admitted.empty() && d.preempted.empty()) return;
      for (const Admission& a : d.admitted) admit(static_cast<std::uint32_t>(a.job - 1), a.gpus, t);
      for (const Preemption& p : d.preempted) {
        JobResult& r = result_.jobs[p.victim - 1];
        r.last_preemptor = p.preemptor;
        r.last_rule = p.reason;
        r.last_claim_scope = p.claim_scope;
        r.last_victim_scope = p.victim_scope;
        preempt(static_cast<std::uint32_t>(p.victim - 1), t);
      }
      if (options_.record_decisions) result_.decisions.push_back({t, std::move(d)});
    }
  }

  void admit(std::uint32_t i, const std::vector<GpuSlice>& gpus, Time t) {
    ++result_.events;
    leave_pending(i);
    ledger_.add(gpus, +1);
    // The slices are copied into a recycled slot (no allocation once warm):
    // slots are few (jobs running at once) and stay in cache.
    HotJob& h = hot_[i];
    if (free_held_.empty()) {
      h.held = static_cast<std::uint32_t>(held_.size());
      held_.emplace_back();
    } else {
      h.held = free_held_.back();
      free_held_.pop_back();
    }
    held_[h.held].assign(gpus.begin(), gpus.end());
    add_scope(used_, hot_[i].queue, hot_[i].gpu_milli);
    JobResult& r = result_.jobs[i];
    if (r.first_start < 0) {
      r.first_start = t;
      const Time delay = t - hot_[i].submit;
      result_.delays_ms.push_back(delay);
      for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) {
        ++result_.scopes[s].started;
        result_.scopes[s].delays_ms.push_back(delay);
      }
    }
    if (!options_.load) completions_.push({t + h.runtime, i, ++h.run});
  }

  void preempt(std::uint32_t i, Time t) {
    ++result_.events;
    ++result_.preemptions;
    ++hot_[i].run;  // its pending completion is void
    stop_running(i);
    JobResult& r = result_.jobs[i];
    ++r.preemptions;
    const ReleaseOutcome outcome = scheduler_.release(i + 1);
    for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) ++result_.scopes[s].preempted;
    if (outcome == ReleaseOutcome::requeued) {
      ++result_.requeues;
      for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) ++result_.scopes[s].requeued;
      make_pending(i);
    } else {
      ++result_.cancellations;
      r.outcome = JobOutcome::cancelled;
      r.end = t;
      for (ScopeId s = hot_[i].queue; s != kNone; s = parent_[s]) ++result_.scopes[s].cancelled;
    }
  }

  Scheduler scheduler_;
  const std::vector<SimJob>& jobs_;
  const SimOptions& options_;
  GpuLedger ledger_;
  std::vector<ScopeId> parent_;
  std::vector<ScopeId> guaranteed_;  // scopes with a declared GPU guarantee > 0
  std::vector<Amount> used_;         // per scope: milli-GPU of running jobs in the subtree
  std::vector<Amount> pending_;      // per scope: milli-GPU requested by pending jobs
  std::vector<HotJob> hot_;
  std::vector<std::vector<GpuSlice>> held_;  // slices of running jobs, by HotJob::held slot
  std::vector<std::uint32_t> free_held_;     // unused slots of held_, reused last-in first-out
  std::vector<PendingKey> pending_key_;
  std::set<PendingKey> pending_set_;
  CompletionQueue completions_;
  std::vector<std::uint32_t> order_;  // job indexes by submit time, trace order among equals
  Time start_ = 0, now_ = 0, width_ = 1;
  Amount fragmented_ = 0;
  SimResult result_;
};

}  // namespace

SimResult simulate(const Cluster& cluster, const std::vector<SimJob>& jobs, const SimOptions& options) {
  if (jobs.size() >= 0xffffffffu) throw std::invalid_argument("allot simulate: too many jobs");
  return Simulation(cluster, jobs, options).run();
}

}  // namespace allot::runtime::sim
