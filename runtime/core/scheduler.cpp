#include "runtime/core/scheduler.h"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace allot::runtime {

namespace {

std::uint8_t bit(Resource r) { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(r)); }

bool is_whole(Amount gpu_milli) { return gpu_milli % kMilliPerGpu == 0; }

// "1", "0.5", "2.25" for milli amounts; "512MiB" for memory.
std::string amount(Resource r, Amount a) {
  if (a >= kUnlimited) return "unlimited";
  if (r == Resource::memory) return std::to_string(a) + "MiB";
  std::string s = std::to_string(a / 1000);
  if (Amount frac = a % 1000; frac != 0) {
    std::string digits = std::to_string(1000 + frac).substr(1);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    s += "." + digits;
  }
  return s;
}

std::string gpu_name(const Cluster& c, GpuRef g) { return c.nodes[g.node].name + "/gpu" + std::to_string(g.index); }

}  // namespace

// ---- construction -------------------------------------------------------------

Scheduler::Scheduler(Cluster cluster) : cluster_(std::move(cluster)) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("allot runtime cluster: " + what); };
  for (const Node& n : cluster_.nodes)
    if (n.gpu_count > 64) fail("node " + n.name + " has more than 64 GPUs");
  for (ScopeId s = 0; s < cluster_.scopes.size(); ++s) {
    const Scope& scope = cluster_.scopes[s];
    if (scope.parent != kNone && scope.parent >= s)
      fail("scope " + scope.name + " comes before its parent (parents must come first)");
    if (scope.parent != kNone && cluster_.scopes[scope.parent].kind == ScopeKind::queue)
      fail("scope " + scope.name + " is inside a queue");
    for (Resource r : kAllResources)
      if (const auto& b = scope.bounds[r]; b && (b->guarantee < 0 || (b->limit && *b->limit < b->guarantee)))
        fail("scope " + scope.name + ": " + to_string(r) + " limit below guarantee or negative");
    if (scope.kind == ScopeKind::queue && scope.queue.default_priority != kNone &&
        scope.queue.default_priority >= cluster_.priorities.size())
      fail("queue " + scope.name + " has an unknown default priority");
  }
  for (const PriorityClass& p : cluster_.priorities)
    for (PriorityId v : p.preempts)
      if (v >= cluster_.priorities.size()) fail("priority " + p.name + " preempts an unknown class");
  topology_ = std::make_shared<const Topology>(cluster_.nodes);
  index_scopes();
  index_placement();
  usage_.assign(cluster_.scopes.size(), {});
  running_by_queue_.assign(cluster_.scopes.size(), {});
}

void Scheduler::index_scopes() {
  const std::size_t n = cluster_.scopes.size();
  info_.assign(n, {});
  for (ScopeId s = 0; s < n; ++s) {
    const Scope& scope = cluster_.scopes[s];
    ScopeInfo& info = info_[s];
    info.parent = scope.parent;
    if (scope.parent == kNone) {
      roots_.push_back(s);
    } else {
      info_[scope.parent].children.push_back(s);
      info.depth = info_[scope.parent].depth + 1;
    }
    for (Resource r : kAllResources) {
      const auto& b = scope.bounds[r];
      if (b) {
        info.declared |= bit(r);
        info.guarantee[r] = b->guarantee;
      }
      info.own_limit[r] = b && b->limit           ? *b->limit
                          : scope.parent != kNone ? info_[scope.parent].own_limit[r]
                                                  : kUnlimited;
    }
    info.owner_quota = scope.kind == ScopeKind::quota ? s
                       : scope.parent != kNone        ? info_[scope.parent].owner_quota
                                                      : kNone;
  }
  // Preorder numbering (children by id) so that a subtree is a range, and the
  // queues of a subtree a range of queues_in_preorder_.
  std::uint32_t counter = 0;
  struct Frame {
    ScopeId scope;
    std::size_t next_child;
  };
  std::vector<Frame> stack;
  for (ScopeId root : roots_) {
    stack.push_back({root, 0});
    info_[root].preorder = counter++;
    info_[root].queues_begin = static_cast<std::uint32_t>(queues_in_preorder_.size());
    if (cluster_.scopes[root].kind == ScopeKind::queue) queues_in_preorder_.push_back(root);
    while (!stack.empty()) {
      Frame& top = stack.back();
      ScopeInfo& info = info_[top.scope];
      if (top.next_child < info.children.size()) {
        const ScopeId child = info.children[top.next_child++];
        info_[child].preorder = counter++;
        info_[child].queues_begin = static_cast<std::uint32_t>(queues_in_preorder_.size());
        if (cluster_.scopes[child].kind == ScopeKind::queue) queues_in_preorder_.push_back(child);
        stack.push_back({child, 0});
      } else {
        info.preorder_end = counter;
        info.queues_end = static_cast<std::uint32_t>(queues_in_preorder_.size());
        stack.pop_back();
      }
    }
  }
}

void Scheduler::index_placement() {
  const std::size_t scopes = cluster_.scopes.size();
  group_of_scope_.assign(scopes, 0);
  std::vector<std::uint32_t> group_of_gpu(topology_->gpu_total(), 0);
  std::vector<bool> pinned(topology_->gpu_total(), false);
  std::vector<bool> is_home(scopes, false);
  for (const PinnedGpu& p : cluster_.placement) {
    if (p.gpu.node >= cluster_.nodes.size() || p.gpu.index >= cluster_.nodes[p.gpu.node].gpu_count)
      throw std::invalid_argument("allot runtime cluster: placement names an unknown GPU");
    if (p.home >= scopes) throw std::invalid_argument("allot runtime cluster: placement names an unknown scope");
    const FlatGpu f = topology_->flat(p.gpu);
    if (pinned[f])
      throw std::invalid_argument("allot runtime cluster: GPU " + gpu_name(cluster_, p.gpu) + " is pinned twice");
    pinned[f] = true;
    is_home[p.home] = true;
  }
  // Groups numbered by home scope id, so numbering does not depend on the
  // order of the placement list.
  home_of_group_.assign(1, kNone);
  for (ScopeId s = 0; s < scopes; ++s)
    if (is_home[s]) {
      group_of_scope_[s] = static_cast<std::uint32_t>(home_of_group_.size());
      home_of_group_.push_back(s);
    }
  for (const PinnedGpu& p : cluster_.placement) group_of_gpu[topology_->flat(p.gpu)] = group_of_scope_[p.home];
  for (ScopeId s = 0; s < scopes; ++s) {
    const ScopeId parent = cluster_.scopes[s].parent;
    info_[s].anchor = is_home[s] ? s : parent != kNone ? info_[parent].anchor : kNone;
  }
  const auto groups = static_cast<std::uint32_t>(home_of_group_.size());
  group_distance_.assign(scopes, {});
  group_rank_.assign(scopes, {});
  for (ScopeId q = 0; q < scopes; ++q) {
    if (cluster_.scopes[q].kind != ScopeKind::queue) continue;
    const ScopeId ref = reference_scope(q);
    const std::uint32_t own = own_group(q);
    auto& distance = group_distance_[q];
    auto& rank = group_rank_[q];
    distance.assign(groups, 0);
    rank.assign(groups, 0);
    // Own GPUs first, then unpinned ones (borrowing from nobody), then the
    // other homes, nearest first.
    for (std::uint32_t g = 1; g < groups; ++g) distance[g] = tree_distance(ref, home_of_group_[g]);
    for (std::uint32_t g = 0; g < groups; ++g) rank[g] = g == own ? 0 : g == 0 ? 1 : 2 + distance[g];
  }
  gpus_ = std::make_unique<GpuState>(topology_, std::move(group_of_gpu), groups - 1);
}

// ---- tree helpers -----------------------------------------------------------------

std::uint32_t Scheduler::tree_distance(ScopeId a, ScopeId b) const {
  std::uint32_t steps = 0;
  while (info_[a].depth > info_[b].depth) a = info_[a].parent, ++steps;
  while (info_[b].depth > info_[a].depth) b = info_[b].parent, ++steps;
  while (a != b) {
    if (info_[a].parent == kNone) return steps + 2 * (info_[a].depth + 1);  // via the virtual root
    a = info_[a].parent;
    b = info_[b].parent;
    steps += 2;
  }
  return steps;
}

ScopeId Scheduler::reference_scope(ScopeId queue) const {
  if (info_[queue].anchor != kNone) return info_[queue].anchor;
  if (info_[queue].owner_quota != kNone) return info_[queue].owner_quota;
  return queue;
}

std::uint32_t Scheduler::own_group(ScopeId queue) const {
  const ScopeId anchor = info_[queue].anchor;
  return anchor == kNone ? 0 : group_of_scope_[anchor];
}

bool Scheduler::within_limits(ScopeId queue, const Resources& request) const {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) {
    // Both now and once terminating victims have made way for the
    // preemptors that reserved their room.
    const ScopeUsage& u = usage_[s];
    const Resources& limit = info_[s].own_limit;
    const Resources later = u.used - u.leaving + u.reserved;
    for (Resource r : kAllResources)
      if (std::max(u.used[r], later[r]) + request[r] > limit[r]) return false;
  }
  return true;
}

// A scope protects its subtree from other subtrees while, on every resource
// it declares, its usage (less what is already being freed) is within its
// guarantee. A scope that declares nothing guarantees nothing and protects nothing.
bool Scheduler::protects(ScopeId scope, const Resources& freed) const {
  const ScopeInfo& info = info_[scope];
  if (info.declared == 0) return false;
  for (Resource r : kAllResources)
    if ((info.declared & bit(r)) && usage_[scope].used[r] - usage_[scope].leaving[r] - freed[r] > info.guarantee[r])
      return false;
  return true;
}

// The scope may reclaim for this request: it declares a guarantee on something
// the request needs, and stays within all its declared guarantees with it.
bool Scheduler::within_guarantee_after(ScopeId scope, const Resources& request) const {
  const ScopeInfo& info = info_[scope];
  bool needs_guaranteed = false;
  for (Resource r : kAllResources) {
    if (!(info.declared & bit(r))) continue;
    const ScopeUsage& u = usage_[scope];
    if (u.used[r] - u.leaving[r] + u.reserved[r] + request[r] > info.guarantee[r]) return false;
    needs_guaranteed |= request[r] > 0;
  }
  return needs_guaranteed;
}

bool Scheduler::priority_preempts(PriorityId preemptor, PriorityId victim) const {
  if (preemptor == kNone || victim == kNone) return false;
  const PriorityClass& p = cluster_.priorities[preemptor];
  return p.value > cluster_.priorities[victim].value &&
         std::find(p.preempts.begin(), p.preempts.end(), victim) != p.preempts.end();
}

// ---- submit ---------------------------------------------------------------------

std::optional<Refusal> Scheduler::check_submit(const Job& job) const {
  auto refuse = [&](RefusalReason reason, std::string message) {
    return Refusal{reason, "job " + std::to_string(job.id) + ": " + std::move(message)};
  };
  if (find_job(job.id)) return refuse(RefusalReason::duplicate_id, "a job with this id is already known");
  if (job.queue >= cluster_.scopes.size() || cluster_.scopes[job.queue].kind != ScopeKind::queue)
    return refuse(RefusalReason::unknown_queue, "scope " + std::to_string(job.queue) + " is not a queue");
  const Scope& queue = cluster_.scopes[job.queue];
  if (job.priority && *job.priority >= cluster_.priorities.size())
    return refuse(RefusalReason::unknown_priority, "unknown priority class " + std::to_string(*job.priority));
  const Resources& req = job.request;
  if (req.gpu_milli < 0 || req.cpu_milli < 0 || req.memory_mib < 0)
    return refuse(RefusalReason::invalid_request, "negative resource request");
  if (req.gpu_milli > kMilliPerGpu && !is_whole(req.gpu_milli))
    return refuse(RefusalReason::invalid_request, "requests " + amount(Resource::gpu, req.gpu_milli) +
                                                      " GPUs: a request is either whole GPUs or a fraction of one GPU");
  if (!accepts(queue.queue.accepts, job.kind)) {
    const char* kind = job.kind == WorkloadKind::inference  ? "inference"
                       : job.kind == WorkloadKind::training ? "training"
                                                            : "development";
    return refuse(RefusalReason::kind_not_accepted, "queue " + queue.name + " does not accept " + kind + " jobs");
  }
  if (!queue.queue.grants.empty()) {
    bool allowed = false;
    for (const Grant& g : queue.queue.grants) {
      if (!(g.actions & kSubmit)) continue;
      if (std::find(g.users.begin(), g.users.end(), job.user) != g.users.end()) allowed = true;
      for (const std::string& group : job.groups)
        if (std::find(g.groups.begin(), g.groups.end(), group) != g.groups.end()) allowed = true;
      if (allowed) break;
    }
    if (!allowed)
      return refuse(RefusalReason::user_not_authorized, "user " + job.user + " may not submit to queue " + queue.name);
  }
  if (!is_whole(req.gpu_milli) && !queue.queue.gpu_sharing)
    return refuse(RefusalReason::fractional_gpu_not_shared, "requests " + amount(Resource::gpu, req.gpu_milli) +
                                                                " GPU but queue " + queue.name +
                                                                " does not allow GPU sharing");
  // Inherited limits equal a declared one above; name the scope that declares it.
  for (ScopeId s = job.queue; s != kNone; s = info_[s].parent)
    for (Resource r : kAllResources)
      if (cluster_.scopes[s].bounds[r] && cluster_.scopes[s].bounds[r]->limit && req[r] > info_[s].own_limit[r])
        return refuse(RefusalReason::exceeds_limit, "requests " + amount(r, req[r]) + " " + to_string(r) + " but " +
                                                        cluster_.scopes[s].name + " is limited to " +
                                                        amount(r, info_[s].own_limit[r]));
  const auto total_gpus = static_cast<Amount>(topology_->gpu_total());
  if (req.gpu_milli > total_gpus * kMilliPerGpu)
    return refuse(RefusalReason::exceeds_cluster, "requests " + amount(Resource::gpu, req.gpu_milli) +
                                                      " GPUs but the cluster has " + std::to_string(total_gpus));
  return std::nullopt;
}

SubmitResult Scheduler::submit(Job job, Time /*now*/) {
  if (auto refusal = check_submit(job)) return *refusal;
  const Scope& queue = cluster_.scopes[job.queue];
  JobRecord rec;
  rec.priority = job.priority ? *job.priority : queue.queue.default_priority;
  rec.priority_value = rec.priority == kNone ? 0 : cluster_.priorities[rec.priority].value;
  rec.preemptible = job.preemptible && queue.queue.preemptible;
  rec.seq = next_seq_++;
  rec.job = std::move(job);
  JobRecord& stored = insert_job(std::move(rec));
  enqueue(stored);
  return Queued{};
}

// ---- job table --------------------------------------------------------------------

std::size_t Scheduler::slot_of(JobId id) const {
  // Fibonacci hashing: spreads sequential and strided ids alike.
  return static_cast<std::size_t>((id * 0x9e3779b97f4a7c15ull) >> job_shift_);
}

Scheduler::JobRecord* Scheduler::find_job(JobId id) const {
  if (job_count_ == 0) return nullptr;
  const std::size_t mask = job_slots_.size() - 1;
  for (std::size_t i = slot_of(id);; i = (i + 1) & mask) {
    const JobSlot& slot = job_slots_[i];
    if (!slot.rec) return nullptr;
    if (slot.id == id) return slot.rec;
  }
}

Scheduler::JobRecord& Scheduler::at_job(JobId id) const {
  JobRecord* rec = find_job(id);
  if (!rec) throw std::out_of_range("allot scheduler: unknown job " + std::to_string(id));
  return *rec;
}

void Scheduler::grow_jobs() {
  std::vector<JobSlot> old = std::move(job_slots_);
  const std::size_t size = old.empty() ? 1024 : old.size() * 2;
  job_slots_.assign(size, JobSlot{});
  job_shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
  const std::size_t mask = size - 1;
  for (const JobSlot& e : old) {
    if (!e.rec) continue;
    std::size_t i = slot_of(e.id);
    while (job_slots_[i].rec) i = (i + 1) & mask;
    job_slots_[i] = e;
  }
}

Scheduler::JobRecord& Scheduler::insert_job(JobRecord&& rec) {
  if ((job_count_ + 1) * 2 > job_slots_.size()) grow_jobs();
  JobRecord* stored;
  if (free_records_.empty()) {
    stored = &job_pool_.emplace_back(std::move(rec));
  } else {
    stored = free_records_.back();
    free_records_.pop_back();
    *stored = std::move(rec);
  }
  const std::size_t mask = job_slots_.size() - 1;
  std::size_t i = slot_of(stored->job.id);
  while (job_slots_[i].rec) i = (i + 1) & mask;
  job_slots_[i] = {stored->job.id, stored};
  ++job_count_;
  return *stored;
}

void Scheduler::erase_job(JobId id) {
  const std::size_t mask = job_slots_.size() - 1;
  std::size_t i = slot_of(id);
  while (!job_slots_[i].rec || job_slots_[i].id != id) i = (i + 1) & mask;
  free_records_.push_back(job_slots_[i].rec);
  // Backward-shift deletion: move up every later entry of the run that may
  // sit in the hole (its home is not cyclically within (hole, its slot]).
  for (std::size_t j = i;;) {
    j = (j + 1) & mask;
    if (!job_slots_[j].rec) break;
    const std::size_t home = slot_of(job_slots_[j].id);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      job_slots_[i] = job_slots_[j];
      i = j;
    }
  }
  job_slots_[i] = JobSlot{};
  --job_count_;
}

// ---- bookkeeping ------------------------------------------------------------------

void Scheduler::add_usage(ScopeId queue, const Resources& delta, int running_delta) {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) {
    usage_[s].used += delta;
    usage_[s].running += running_delta;
  }
}

void Scheduler::add_pending(ScopeId queue, const Resources& delta, int count_delta) {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) {
    usage_[s].pending += delta;
    usage_[s].pending_jobs += count_delta;
  }
}

void Scheduler::add_reserved(ScopeId queue, const Resources& delta) {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) usage_[s].reserved += delta;
}

void Scheduler::unreserve(JobRecord& rec) {
  if (!rec.reserving) return;
  gpus_->give_back(rec.held);
  rec.held.clear();
  add_reserved(rec.job.queue, Resources{} - rec.job.request);
  rec.reserving = false;
  ++epoch_;
}

void Scheduler::enqueue(JobRecord& rec) {
  rec.state = JobState::pending;
  pending_.insert(rec.key());
  add_pending(rec.job.queue, rec.job.request, +1);
}

void Scheduler::dequeue(JobRecord& rec) {
  pending_.erase(rec.key());
  ready_nominated_.erase(rec.key());
  add_pending(rec.job.queue, Resources{} - rec.job.request, -1);
  unreserve(rec);
  rec.nominated = false;
  rec.awaiting_victims = 0;
}

void Scheduler::start_running(JobRecord& rec, std::vector<GpuSlice> gpus, Time now) {
  const ScopeId q = rec.job.queue;
  gpus_->take(gpus);
  rec.borrow_distance = 0;
  for (const GpuSlice& s : gpus)
    rec.borrow_distance = std::max(rec.borrow_distance, group_distance_[q][gpus_->group_of(topology_->flat(s.gpu))]);
  rec.gpus = std::move(gpus);
  rec.state = JobState::running;
  rec.started_at = now;
  rec.preempted = false;
  auto& list = running_by_queue_[q];
  rec.queue_pos = static_cast<std::uint32_t>(list.size());
  list.push_back(&rec);
  add_usage(q, rec.job.request, +1);
  ++running_count_;
  ++epoch_;
}

void Scheduler::stop_running(JobRecord& rec, bool return_gpus) {
  const ScopeId q = rec.job.queue;
  if (return_gpus) gpus_->give_back(rec.gpus);
  if (rec.state == JobState::terminating)
    for (ScopeId s = q; s != kNone; s = info_[s].parent) usage_[s].leaving -= rec.job.request;
  rec.gpus.clear();
  auto& list = running_by_queue_[q];
  list[rec.queue_pos] = list.back();
  list[rec.queue_pos]->queue_pos = rec.queue_pos;
  list.pop_back();
  add_usage(q, Resources{} - rec.job.request, -1);
  --running_count_;
  ++epoch_;
}

void Scheduler::remove_running(JobRecord& rec) {
  JobRecord* preemptor = nullptr;
  if (rec.preempted)
    if (JobRecord* p = find_job(rec.preemptor); p && p->reserving && p->awaiting_victims > 0) preemptor = p;
  if (!preemptor) {
    stop_running(rec);
    return;
  }
  // The victim's GPUs pass straight to the job it makes room for.
  preemptor->held.insert(preemptor->held.end(), rec.gpus.begin(), rec.gpus.end());
  stop_running(rec, /*return_gpus=*/false);
  if (--preemptor->awaiting_victims == 0) ready_nominated_.insert(preemptor->key());
}

ReleaseOutcome Scheduler::release(JobId id) {
  JobRecord* found = find_job(id);
  if (!found) return ReleaseOutcome::unknown_job;
  JobRecord& rec = *found;
  if (rec.state == JobState::pending) {
    dequeue(rec);
    erase_job(id);
    return ReleaseOutcome::removed;
  }
  remove_running(rec);
  if (rec.preempted && cluster_.scopes[rec.job.queue].queue.on_preempt == OnPreempt::requeue) {
    rec.preempted = false;
    rec.preemptor = 0;
    enqueue(rec);
    return ReleaseOutcome::requeued;
  }
  erase_job(id);
  return ReleaseOutcome::removed;
}

bool Scheduler::finish(JobId id) {
  JobRecord* found = find_job(id);
  if (!found) return false;
  JobRecord& rec = *found;
  // A victim that completes within its grace period frees its room as well.
  if (rec.state == JobState::pending)
    dequeue(rec);
  else
    remove_running(rec);
  erase_job(id);
  return true;
}

// ---- admission ------------------------------------------------------------------------

bool Scheduler::try_admit(JobRecord& rec, Time now, Decision& out) {
  const ScopeId q = rec.job.queue;
  const Amount g = rec.job.request.gpu_milli;
  if (!within_limits(q, rec.job.request)) return false;
  std::optional<std::vector<GpuSlice>> gpus;
  if (g == 0)
    gpus.emplace();
  else if (is_whole(g))
    gpus = gpus_->place_whole(static_cast<std::uint32_t>(g / kMilliPerGpu), own_group(q), group_rank_[q]);
  else
    gpus = gpus_->place_share(g, own_group(q), group_rank_[q]);
  if (!gpus) return false;
  dequeue(rec);
  start_running(rec, std::move(*gpus), now);
  out.admitted.push_back({rec.job.id, rec.gpus});
  return true;
}

// A cheap test before any victim search: can any rule let this job preempt?
bool Scheduler::may_preempt(const JobRecord& rec) const {
  const ScopeId q = rec.job.queue;
  if (rec.priority != kNone && !cluster_.priorities[rec.priority].preempts.empty()) return true;
  const ScopeId owner = info_[q].owner_quota;
  if (owner != kNone && cluster_.scopes[owner].child_preemption) return true;
  for (ScopeId s = q; s != kNone; s = info_[s].parent)
    if (within_guarantee_after(s, rec.job.request)) return true;
  return false;
}

Decision Scheduler::schedule(Time now) {
  Decision out;
  SearchMemo memo;
  // Jobs whose victims are all gone take the room made for them first.
  const std::vector<PendingKey> ready(ready_nominated_.begin(), ready_nominated_.end());
  for (const PendingKey& key : ready) attempt(at_job(key.id), now, out, memo);
  for (auto it = pending_.begin(); it != pending_.end();) {
    const PendingKey key = *it;
    ++it;  // attempt() may erase `key`, never another pending entry
    JobRecord& rec = at_job(key.id);
    if (rec.nominated) continue;  // waiting for its victims, or tried above
    attempt(rec, now, out, memo);
  }
  return out;
}

void Scheduler::attempt(JobRecord& rec, Time now, Decision& out, SearchMemo& memo) {
  unreserve(rec);  // a nominated job whose victims are gone: its held room goes back, then it is placed
  if (try_admit(rec, now, out)) return;
  if (!may_preempt(rec)) return;
  if (memo.epoch != epoch_) {
    memo.failed.clear();
    memo.epoch = epoch_;
  }
  const Resources& req = rec.job.request;
  for (const FailedSearch& f : memo.failed)
    if (f.queue == rec.job.queue && f.priority == rec.priority &&
        is_whole(f.request.gpu_milli) == is_whole(req.gpu_milli) && req.gpu_milli >= f.request.gpu_milli &&
        req.cpu_milli >= f.request.cpu_milli && req.memory_mib >= f.request.memory_mib)
      return;
  std::optional<VictimPlan> plan = find_victims(rec);
  if (!plan) {
    memo.failed.push_back({rec.job.queue, rec.priority, req});
    return;
  }
  for (std::size_t i = 0; i < plan->victims.size(); ++i) {
    JobRecord& victim = at_job(plan->victims[i]->job.id);
    out.preempted.push_back(make_preemption(rec, victim, plan->reasons[i]));
    victim.state = JobState::terminating;
    for (ScopeId sc = victim.job.queue; sc != kNone; sc = info_[sc].parent) usage_[sc].leaving += victim.job.request;
    victim.preempted = true;
    victim.preemptor = rec.job.id;
  }
  ready_nominated_.erase(rec.key());
  rec.nominated = true;
  rec.awaiting_victims = static_cast<std::uint32_t>(plan->victims.size());
  rec.reserving = true;
  add_reserved(rec.job.queue, req);
  ++epoch_;
}

Preemption Scheduler::make_preemption(const JobRecord& preemptor, const JobRecord& victim,
                                      PreemptionReason reason) const {
  const Scope& vq = cluster_.scopes[victim.job.queue];
  Preemption p;
  p.victim = victim.job.id;
  p.preemptor = preemptor.job.id;
  p.reason = reason;
  p.grace_period_ms = vq.queue.grace_period_ms;
  p.on_preempt = vq.queue.on_preempt;
  const std::string who = "job " + std::to_string(victim.job.id) + " (" + vq.name + ") is preempted for job " +
                          std::to_string(preemptor.job.id) + " (" + cluster_.scopes[preemptor.job.queue].name + "): ";
  switch (reason) {
    case PreemptionReason::reclaim_guarantee:
      p.message = who + "its scope borrows beyond its guarantee and the preemptor's scope reclaims its own";
      break;
    case PreemptionReason::priority:
      p.message = who + "priority " + cluster_.priorities[preemptor.priority].name + " preempts " +
                  cluster_.priorities[victim.priority].name;
      break;
    case PreemptionReason::child_preemption:
      p.message =
          who + "quota " + cluster_.scopes[info_[preemptor.job.queue].owner_quota].name + " has child_preemption";
      break;
  }
  return p;
}

// ---- victim search --------------------------------------------------------------------------

std::optional<Scheduler::VictimPlan> Scheduler::find_victims(const JobRecord& rec) const {
  const ScopeId q = rec.job.queue;
  const Resources& req = rec.job.request;

  // What blocks the job: limits of the queue and its ancestors, and GPUs.
  struct Deficit {
    ScopeId scope;
    Resource resource;
    Amount amount;
  };
  std::vector<Deficit> deficits;
  for (ScopeId s = q; s != kNone; s = info_[s].parent)
    for (Resource r : kAllResources)
      if (Amount over = std::max(usage_[s].used[r], usage_[s].used[r] - usage_[s].leaving[r] + usage_[s].reserved[r]) +
                        req[r] - info_[s].own_limit[r];
          over > 0)
        deficits.push_back({s, r, over});
  const Amount g = req.gpu_milli;
  const Amount whole_short =
      g > 0 && is_whole(g) ? std::max<Amount>(0, g / kMilliPerGpu - gpus_->free_whole_gpus()) : 0;
  const bool share_short = g > 0 && !is_whole(g) && gpus_->best_free_share() < g;
  if (deficits.empty() && whole_short == 0 && !share_short) return std::nullopt;

  // Queues whose jobs some rule lets this job preempt.
  struct QueueRule {
    ScopeId queue;
    bool same_queue = false;
    bool child = false;
    ScopeId reclaim_top = kNone;  // the sibling subtree of the reclaiming scope it lies in
  };
  std::vector<QueueRule> rules;
  if (rec.priority != kNone && !cluster_.priorities[rec.priority].preempts.empty())
    rules.push_back({q, true, false, kNone});
  const ScopeId owner = info_[q].owner_quota;
  if (owner != kNone && cluster_.scopes[owner].child_preemption)
    for (std::uint32_t i = info_[owner].queues_begin; i < info_[owner].queues_end; ++i)
      if (info_[queues_in_preorder_[i]].owner_quota != owner)
        rules.push_back({queues_in_preorder_[i], false, true, kNone});
  for (ScopeId child = q;;) {
    const ScopeId parent = info_[child].parent;
    if (within_guarantee_after(child, req)) {
      const std::vector<ScopeId>& siblings = parent == kNone ? roots_ : info_[parent].children;
      for (ScopeId s : siblings) {
        if (s == child || protects(s, {})) continue;
        for (std::uint32_t i = info_[s].queues_begin; i < info_[s].queues_end; ++i)
          rules.push_back({queues_in_preorder_[i], false, false, s});
      }
    }
    if (parent == kNone) break;
    child = parent;
  }
  std::sort(rules.begin(), rules.end(), [](const QueueRule& a, const QueueRule& b) { return a.queue < b.queue; });
  std::size_t merged = 0;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (merged > 0 && rules[merged - 1].queue == rules[i].queue) {
      QueueRule& m = rules[merged - 1];
      m.same_queue |= rules[i].same_queue;
      m.child |= rules[i].child;
      if (m.reclaim_top == kNone) m.reclaim_top = rules[i].reclaim_top;
    } else {
      rules[merged++] = rules[i];
    }
  }
  rules.resize(merged);

  // Candidates: running, preemptible, allowed by a rule, and freeing
  // something that blocks the job.
  struct Candidate {
    const JobRecord* job;
    bool by_priority;
    bool by_child;
    ScopeId reclaim_top;
    double upper;  // most of the initial gap it could close alone (capped per constraint)
  };
  std::vector<Candidate> candidates;
  for (const QueueRule& rule : rules) {
    for (const JobRecord* v : running_by_queue_[rule.queue]) {
      if (v->state != JobState::running || !v->preemptible) continue;
      const bool by_priority = rule.same_queue && priority_preempts(rec.priority, v->priority);
      if (!by_priority && !rule.child && rule.reclaim_top == kNone) continue;
      double upper = 0;
      for (const Deficit& d : deficits)
        if (v->job.request[d.resource] > 0 && in_subtree(v->job.queue, d.scope))
          upper += static_cast<double>(std::min(d.amount, v->job.request[d.resource])) / static_cast<double>(d.amount);
      if (whole_short > 0 && !v->gpus.empty())
        upper += static_cast<double>(std::min<Amount>(whole_short, static_cast<Amount>(v->gpus.size()))) /
                 static_cast<double>(whole_short);
      if (share_short && !v->gpus.empty()) upper += 1;
      if (upper > 0) candidates.push_back({v, by_priority, rule.child, rule.reclaim_top, upper});
    }
  }
  if (candidates.empty()) return std::nullopt;
  // Preference among equally few victims: borrowing from farthest away, then
  // lowest priority, then youngest; the id makes the order total.
  auto preferred = [](const JobRecord& x, const JobRecord& y) {
    if (x.borrow_distance != y.borrow_distance) return x.borrow_distance > y.borrow_distance;
    if (x.priority_value != y.priority_value) return x.priority_value < y.priority_value;
    if (x.started_at != y.started_at) return x.started_at > y.started_at;
    if (x.seq != y.seq) return x.seq > y.seq;
    return x.job.id < y.job.id;
  };
  // Scan order: largest possible gain first, then preference. Only the head
  // is usually looked at, so sort the head first and the rest on demand.
  auto scan_order = [&](const Candidate& a, const Candidate& b) {
    if (a.upper != b.upper) return a.upper > b.upper;
    return preferred(*a.job, *b.job);
  };
  constexpr std::size_t kHead = 64;
  std::size_t sorted = std::min(kHead, candidates.size());
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(sorted), candidates.end(),
                    scan_order);
  auto ensure_sorted = [&](std::size_t i) {
    if (i < sorted) return;
    std::sort(candidates.begin() + static_cast<std::ptrdiff_t>(sorted), candidates.end(), scan_order);
    sorted = candidates.size();
  };

  // What the victims chosen so far free, per scope on their paths and per GPU.
  std::vector<std::pair<ScopeId, Resources>> freed_scopes;
  std::vector<std::pair<FlatGpu, Amount>> freed_gpus;
  auto freed_at = [&](ScopeId s) {
    for (const auto& [scope, res] : freed_scopes)
      if (scope == s) return res;
    return Resources{};
  };
  auto freed_gpu = [&](FlatGpu f) -> Amount {
    for (const auto& [gpu, milli] : freed_gpus)
      if (gpu == f) return milli;
    return 0;
  };
  auto add = [&](const Candidate& c) {
    const JobRecord& v = *c.job;
    for (ScopeId s = v.job.queue; s != kNone; s = info_[s].parent) {
      auto it = std::find_if(freed_scopes.begin(), freed_scopes.end(), [&](const auto& e) { return e.first == s; });
      if (it == freed_scopes.end())
        freed_scopes.push_back({s, v.job.request});
      else
        it->second += v.job.request;
    }
    for (const GpuSlice& slice : v.gpus) {
      const FlatGpu f = topology_->flat(slice.gpu);
      auto it = std::find_if(freed_gpus.begin(), freed_gpus.end(), [&](const auto& e) { return e.first == f; });
      if (it == freed_gpus.end())
        freed_gpus.emplace_back(f, slice.milli);
      else
        it->second += slice.milli;
    }
  };
  // The gap left if `c` (may be null) were added to the chosen victims; 0
  // exactly when the job fits (`fits`). Each blocking constraint counts as the
  // fraction of it still missing. For whole GPUs a half-emptied GPU counts as
  // half a step, so that pairs of fractional victims are found.
  auto gap = [&](const Candidate* c, bool& fits) {
    double left = 0;
    fits = true;
    for (const Deficit& d : deficits) {
      Amount got = freed_at(d.scope)[d.resource];
      if (c && in_subtree(c->job->job.queue, d.scope)) got += c->job->job.request[d.resource];
      if (got < d.amount) {
        fits = false;
        left += static_cast<double>(d.amount - got) / static_cast<double>(d.amount);
      }
    }
    if (whole_short > 0 || share_short) {
      Amount whole = 0;
      double partial = 0;
      Amount best = gpus_->best_free_share();
      auto account = [&](FlatGpu f, Amount freed) {
        const Amount used = gpus_->used(f);
        if (freed >= used)
          ++whole;
        else
          partial += static_cast<double>(freed) / static_cast<double>(used);
        best = std::max(best, kMilliPerGpu - used + freed);
      };
      for (const auto& [f, freed] : freed_gpus) {
        Amount extra = 0;
        if (c)
          for (const GpuSlice& slice : c->job->gpus)
            if (topology_->flat(slice.gpu) == f) extra = slice.milli;
        account(f, freed + extra);
      }
      if (c)
        for (const GpuSlice& slice : c->job->gpus) {
          const FlatGpu f = topology_->flat(slice.gpu);
          if (freed_gpu(f) == 0) account(f, slice.milli);
        }
      if (whole_short > 0 && whole < whole_short) {
        fits = false;
        const double have = static_cast<double>(whole) + 0.5 * partial;
        left += std::max(0.0, static_cast<double>(whole_short) - have) / static_cast<double>(whole_short);
      }
      if (share_short && best < g) {
        fits = false;
        left += static_cast<double>(g - best) / static_cast<double>(g);
      }
    }
    return left;
  };
  // Reclaim needs every scope from the victim's queue up to the sibling
  // subtree to be above its guarantee, counting what is already leaving and
  // what this search frees: a scope within its guarantee is never a victim
  // of another subtree.
  auto reclaimable = [&](const Candidate& c) {
    if (c.reclaim_top == kNone) return false;
    for (ScopeId s = c.job->job.queue;; s = info_[s].parent) {
      if (protects(s, freed_at(s))) return false;
      if (s == c.reclaim_top) return true;
    }
  };

  // Greedy, for the fewest victims: each step takes the first candidate (in
  // scan order) that makes the job fit, else the one that closes the most of
  // the gap, the most preferred among equals. The scan stops once no later
  // candidate can beat the best found: their `upper` is smaller, or equal
  // with a worse preference after one candidate reached its upper.
  constexpr double kEps = 1e-9;
  std::vector<std::size_t> picked;  // indexes into candidates
  std::vector<PreemptionReason> picked_reason;
  std::vector<bool> taken(candidates.size(), false);
  bool fits = false;
  double left = gap(nullptr, fits);
  while (!fits) {
    std::size_t best = candidates.size();
    double best_gain = kEps;
    PreemptionReason best_reason = PreemptionReason::reclaim_guarantee;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      ensure_sorted(i);
      const Candidate& c = candidates[i];
      if (c.upper + kEps < best_gain) break;
      if (taken[i]) continue;
      PreemptionReason reason;
      if (c.by_priority)
        reason = PreemptionReason::priority;
      else if (reclaimable(c))
        reason = PreemptionReason::reclaim_guarantee;
      else if (c.by_child)
        reason = PreemptionReason::child_preemption;
      else
        continue;
      bool f = false;
      const double gain = left - gap(&c, f);
      if (f) {  // the first that makes the job fit, in scan order
        best = i;
        best_reason = reason;
        break;
      }
      const bool better =
          best == candidates.size()
              ? gain >= best_gain
              : gain > best_gain + kEps || (gain > best_gain - kEps && preferred(*c.job, *candidates[best].job));
      if (better) {
        best = i;
        best_gain = std::max(gain, kEps);
        best_reason = reason;
      }
      if (gain + kEps >= c.upper) break;  // nothing later can do better
    }
    if (best == candidates.size()) return std::nullopt;  // nothing closes the gap
    taken[best] = true;
    picked.push_back(best);
    picked_reason.push_back(best_reason);
    add(candidates[best]);
    left = gap(nullptr, fits);
  }
  // Drop victims that turned out unnecessary, least preferred first.
  std::vector<std::size_t> order(picked.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto victim_order = [&](std::size_t a, std::size_t b) {
    return preferred(*candidates[picked[a]].job, *candidates[picked[b]].job);
  };
  std::sort(order.begin(), order.end(), victim_order);
  std::vector<bool> dropped(picked.size(), false);
  for (std::size_t k = order.size(); k-- > 0 && picked.size() > 1;) {
    dropped[order[k]] = true;
    freed_scopes.clear();
    freed_gpus.clear();
    for (std::size_t i = 0; i < picked.size(); ++i)
      if (!dropped[i]) add(candidates[picked[i]]);
    bool still = false;
    gap(nullptr, still);
    if (!still) dropped[order[k]] = false;
  }
  VictimPlan plan;
  for (std::size_t i : order)
    if (!dropped[i]) {
      plan.victims.push_back(candidates[picked[i]].job);
      plan.reasons.push_back(picked_reason[i]);
    }
  return plan;
}

std::optional<std::vector<Preemption>> Scheduler::plan_preemption(JobId pending) const {
  const JobRecord* rec = find_job(pending);
  if (!rec || rec->state != JobState::pending) return std::nullopt;
  std::optional<VictimPlan> plan = find_victims(*rec);
  if (!plan) return std::nullopt;
  std::vector<Preemption> out;
  for (std::size_t i = 0; i < plan->victims.size(); ++i)
    out.push_back(make_preemption(*rec, *plan->victims[i], plan->reasons[i]));
  return out;
}

// ---- restore ----------------------------------------------------------------------------------

RestoreResult Scheduler::restore(const std::vector<RunningJob>& jobs) {
  auto error = [](JobId id, RestoreErrorKind kind, std::string message) {
    return RestoreError{id, kind, "job " + std::to_string(id) + ": " + std::move(message)};
  };
  std::unordered_set<JobId> ids;
  std::unordered_map<FlatGpu, Amount> added;
  for (const RunningJob& rj : jobs) {
    const Job& job = rj.job;
    if (find_job(job.id) || !ids.insert(job.id).second)
      return error(job.id, RestoreErrorKind::duplicate_id, "restored twice or already known");
    if (job.queue >= cluster_.scopes.size() || cluster_.scopes[job.queue].kind != ScopeKind::queue)
      return error(job.id, RestoreErrorKind::unknown_queue, "scope " + std::to_string(job.queue) + " is not a queue");
    if (job.priority && *job.priority >= cluster_.priorities.size())
      return error(job.id, RestoreErrorKind::unknown_priority, "unknown priority class");
    const Amount g = job.request.gpu_milli;
    Amount total = 0;
    for (const GpuSlice& s : rj.gpus) {
      if (s.gpu.node >= cluster_.nodes.size() || s.gpu.index >= cluster_.nodes[s.gpu.node].gpu_count)
        return error(job.id, RestoreErrorKind::unknown_gpu,
                     "GPU " + std::to_string(s.gpu.node) + ":" + std::to_string(s.gpu.index) + " does not exist");
      const bool shape_ok = is_whole(g) ? s.milli == kMilliPerGpu : s.milli == g;
      if (!shape_ok || s.milli <= 0)
        return error(job.id, RestoreErrorKind::gpus_do_not_match_request, "GPU shares do not match the request");
      total += s.milli;
      const FlatGpu f = topology_->flat(s.gpu);
      Amount& extra = added[f];
      extra += s.milli;
      if (gpus_->used(f) + extra > kMilliPerGpu)
        return error(job.id, RestoreErrorKind::gpu_over_assigned,
                     "GPU " + gpu_name(cluster_, s.gpu) + " would be assigned " +
                         amount(Resource::gpu, gpus_->used(f) + extra) + " GPUs");
    }
    if (total != g)
      return error(job.id, RestoreErrorKind::gpus_do_not_match_request,
                   "holds " + amount(Resource::gpu, total) + " GPUs but requests " + amount(Resource::gpu, g));
  }
  for (const RunningJob& rj : jobs) {
    const Scope& queue = cluster_.scopes[rj.job.queue];
    JobRecord rec;
    rec.priority = rj.job.priority ? *rj.job.priority : queue.queue.default_priority;
    rec.priority_value = rec.priority == kNone ? 0 : cluster_.priorities[rec.priority].value;
    rec.preemptible = rj.job.preemptible && queue.queue.preemptible;
    rec.seq = next_seq_++;
    rec.job = rj.job;
    JobRecord& stored = insert_job(std::move(rec));
    start_running(stored, rj.gpus, rj.started_at);
  }
  return Restored{jobs.size()};
}

// ---- queries ------------------------------------------------------------------------------------

ScopeReport Scheduler::scope_report(ScopeId scope) const {
  ScopeReport r;
  if (scope >= info_.size()) return r;
  const ScopeInfo& info = info_[scope];
  const ScopeUsage& u = usage_[scope];
  r.used = u.used;
  r.pending = u.pending;
  r.reserved = u.reserved;
  r.guaranteed = info.guarantee;
  r.limit = info.own_limit;
  for (Resource res : kAllResources)
    if (info.declared & bit(res)) r.borrowed[res] = std::max<Amount>(0, u.used[res] - info.guarantee[res]);
  r.running_jobs = u.running;
  r.pending_jobs = u.pending_jobs;
  return r;
}

std::optional<JobView> Scheduler::job(JobId id) const {
  const JobRecord* found = find_job(id);
  if (!found) return std::nullopt;
  const JobRecord& rec = *found;
  return JobView{rec.state, rec.job.queue, rec.priority_value, rec.gpus, rec.started_at, rec.borrow_distance};
}

}  // namespace allot::runtime
