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
    for (Resource r : kAllResources) {
      const auto& b = scope.bounds[r];
      if (b && (b->guarantee < 0 || (b->limit && *b->limit < b->guarantee)))
        fail("scope " + scope.name + ": " + to_string(r) + " limit below guarantee or negative");
      if (b && b->lend && (*b->lend < 0 || *b->lend > b->guarantee))
        fail("scope " + scope.name + ": " + to_string(r) + " lend outside 0..guarantee");
    }
    if (scope.weight_milli <= 0) fail("scope " + scope.name + " has a fair-sharing weight of 0 or less");
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
  index_fair_sharing();
  usage_.assign(cluster_.scopes.size(), {});
  running_by_queue_.assign(cluster_.scopes.size(), {});
  running_by_node_.assign(cluster_.nodes.size(), {});
  waiting_.assign(cluster_.scopes.size(), {});
  room_grew_flag_.assign(cluster_.scopes.size(), 0);
  // Idle, a lending scope keeps all of its kept part.
  for (ScopeId s = 0; s < cluster_.scopes.size(); ++s)
    if (info_[s].lends) {
      usage_[s].kept_now = info_[s].kept;
      (info_[s].parent == kNone ? pool_kept_ : usage_[info_[s].parent].child_kept) += info_[s].kept;
    }
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
  // What each scope covers (docs/scheduling.md, "Standing"): its declared
  // guarantee, or, where it declares none, what its children cover.
  // Children come after their parents, so go backwards.
  for (ScopeId s = n; s-- > 0;) {
    ScopeInfo& info = info_[s];
    const Scope& scope = cluster_.scopes[s];
    for (Resource r : kAllResources) {
      if (info.declared & bit(r)) {
        info.covers |= bit(r);
        info.cover[r] = info.guarantee[r];
      }
      if (const auto& b = scope.bounds[r]; b && b->lend) {
        info.lends |= bit(r);
        info.kept[r] = b->guarantee - *b->lend;
      }
    }
    if (info.parent != kNone) {
      ScopeInfo& parent = info_[info.parent];
      for (Resource r : kAllResources)
        if ((info.covers & bit(r)) && !(parent.declared & bit(r))) {
          parent.covers |= bit(r);
          parent.cover[r] += info.cover[r];
        }
    }
  }
  levels_of_queue_.assign(n, {});
  for (ScopeId q = 0; q < n; ++q) {
    if (cluster_.scopes[q].kind != ScopeKind::queue) continue;
    for (ScopeId s = q; s != kNone; s = info_[s].parent)
      if (info_[s].covers) levels_of_queue_[q].push_back(s);
    if (levels_of_queue_[q].size() > 64)
      throw std::invalid_argument("allot runtime cluster: queue " + cluster_.scopes[q].name +
                                  " has more than 64 scopes with guarantees above it");
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
  placer_ = std::make_unique<Placer>(cluster_, topology_);
  cordoned_.assign(cluster_.nodes.size(), 0);
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

Resources Scheduler::kept_idle(ScopeId scope, const Resources& used) const {
  const ScopeInfo& info = info_[scope];
  Resources kept;
  for (Resource r : kAllResources)
    if (info.lends & bit(r)) kept[r] = std::max<Amount>(0, info.kept[r] - used[r]);
  return kept;
}

bool Scheduler::within_limits(ScopeId queue, const Resources& request) const {
  ScopeId child = kNone;
  for (ScopeId s = queue; s != kNone; child = s, s = info_[s].parent) {
    // Both now and once terminating victims have made way for the
    // preemptors that reserved their room; less what lending children keep
    // idle for themselves (the job's own child keeps less once it runs).
    const ScopeUsage& u = usage_[s];
    const Resources& limit = info_[s].own_limit;
    const Resources later = u.used - u.leaving + u.reserved;
    Resources kept = u.child_kept;
    if (child != kNone) kept += kept_idle(child, committed(child) + request) - usage_[child].kept_now;
    for (Resource r : kAllResources)
      if (std::max(u.used[r], later[r]) + request[r] + kept[r] > limit[r]) return false;
  }
  // The pool: lending roots keep their GPUs idle for themselves.
  if (child != kNone && request.gpu_milli > 0 && (pool_kept_.gpu_milli > 0 || info_[child].lends)) {
    Amount used = 0;
    for (ScopeId root : roots_)
      used += std::max(usage_[root].used.gpu_milli,
                       usage_[root].used.gpu_milli - usage_[root].leaving.gpu_milli + usage_[root].reserved.gpu_milli);
    const Amount kept = pool_kept_.gpu_milli - usage_[child].kept_now.gpu_milli +
                        kept_idle(child, committed(child) + request).gpu_milli;
    if (used + request.gpu_milli + kept > static_cast<Amount>(topology_->gpu_total()) * kMilliPerGpu) return false;
  }
  return true;
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

// ---- bookkeeping ------------------------------------------------------------------

void Scheduler::add_usage(ScopeId queue, const Resources& delta, int running_delta) {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) {
    usage_[s].used += delta;
    usage_[s].running += running_delta;
  }
  refresh_kept(queue);
}

void Scheduler::refresh_kept(ScopeId queue) {
  for (ScopeId s = queue; s != kNone; s = info_[s].parent) {
    if (!info_[s].lends) continue;
    const Resources now = kept_idle(s, committed(s));
    (info_[s].parent == kNone ? pool_kept_ : usage_[info_[s].parent].child_kept) += now - usage_[s].kept_now;
    usage_[s].kept_now = now;
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
  refresh_kept(queue);
}

// The reserved standing goes too, without counting as room grown: the job
// either takes the same room again at once (attempt) or leaves the queue,
// and then the caller marks it.
void Scheduler::unreserve(JobRecord& rec) {
  if (!rec.reserving) return;
  gpus_->give_back(rec.held);
  rec.held.clear();
  add_reserved(rec.job.queue, Resources{} - rec.job.request);
  const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
  for (std::size_t i = 0; i < levels.size(); ++i)
    if ((rec.inside >> i) & 1) usage_[levels[i]].inside -= rec.job.request;
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
  if (rec.reserving) {
    const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
    for (std::size_t i = 0; i < levels.size(); ++i)
      if (((rec.inside >> i) & 1) && !room_grew_flag_[levels[i]]) {
        room_grew_flag_[levels[i]] = 1;
        room_grew_.push_back(levels[i]);
      }
  }
  unreserve(rec);
  rec.inside = 0;
  rec.nominated = false;
  rec.awaiting_victims = 0;
}

void Scheduler::start_running(JobRecord& rec, std::vector<GpuSlice> gpus, Time now,
                              std::optional<std::uint64_t> inside) {
  const ScopeId q = rec.job.queue;
  if (!inside) inside = standing_for(q, rec.job.request, nullptr);
  gpus_->take(gpus);
  if (!gpus.empty()) rec.node = gpus.front().gpu.node;
  placer_->take(rec.node, rec.job.request);
  if (rec.node != kNone && rec.node < running_by_node_.size()) {
    rec.node_pos = static_cast<std::uint32_t>(running_by_node_[rec.node].size());
    running_by_node_[rec.node].push_back(&rec);
  }
  rec.borrow_distance = 0;
  for (const GpuSlice& s : gpus)
    rec.borrow_distance = std::max(rec.borrow_distance, group_distance_[q][gpus_->group_of(topology_->flat(s.gpu))]);
  rec.gpus = std::move(gpus);
  rec.state = JobState::running;
  rec.started_at = now;
  rec.preempted = false;
  take_standing(rec, *inside);
  auto& list = running_by_queue_[q];
  rec.queue_pos = static_cast<std::uint32_t>(list.size());
  list.push_back(&rec);
  add_usage(q, rec.job.request, +1);
  ++running_count_;
  // No epoch bump: taking room never makes a failed victim search succeed
  // (jobs placed in a pass are not its victims).
}

void Scheduler::stop_running(JobRecord& rec, bool return_gpus) {
  const ScopeId q = rec.job.queue;
  if (return_gpus) gpus_->give_back(rec.gpus);
  placer_->give_back(rec.node, rec.job.request);
  if (rec.node != kNone && rec.node < running_by_node_.size()) {
    std::vector<JobRecord*>& on_node = running_by_node_[rec.node];
    JobRecord* last = on_node.back();
    on_node[rec.node_pos] = last;
    last->node_pos = rec.node_pos;
    on_node.pop_back();
  }
  rec.node = kNone;
  if (rec.state == JobState::terminating)
    for (ScopeId s = q; s != kNone; s = info_[s].parent) usage_[s].leaving -= rec.job.request;  // refreshed below
  else
    drop_standing(rec);  // a victim's went when it was chosen
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
    upgrade_waiting();
    return ReleaseOutcome::removed;
  }
  remove_running(rec);
  upgrade_waiting();
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
  upgrade_waiting();
  return true;
}

// ---- admission ------------------------------------------------------------------------

bool Scheduler::try_admit(JobRecord& rec, Time now, Decision& out) {
  const ScopeId q = rec.job.queue;
  if (all_cordoned()) return false;
  if (!within_limits(q, rec.job.request)) return false;
  std::optional<Placement> placed =
      placer_->place(rec.job.request, rec.job.gpu_models, own_group(q), group_rank_[q], *gpus_);
  if (!placed) return false;
  dequeue(rec);
  rec.pass = pass_;
  rec.node = placed->node;
  start_running(rec, std::move(placed->gpus), now, std::nullopt);
  out.admitted.push_back({rec.job.id, rec.gpus});
  return true;
}

Decision Scheduler::schedule(Time now) {
  Decision out;
  SearchMemo memo;
  ++pass_;
  upgrade_waiting();
  // Jobs whose victims are all gone take the room made for them first.
  const std::vector<PendingKey> ready(ready_nominated_.begin(), ready_nominated_.end());
  for (const PendingKey& key : ready) {
    JobRecord& rec = at_job(key.id);
    rec.tried = pass_;
    attempt(rec, now, out, memo);
  }
  // Then the others, in the order of their claims' strength, so that room a
  // stronger claim would take back at once is not lent out first: own jobs
  // of quotas with child_preemption (R1), then by the standing they would
  // have (inside more guarantees first, R2), then, with fair sharing, the
  // sibling of lowest share first, then in line order.
  struct Turn {
    int own;
    int standing;
    std::uint32_t fair;
    PendingKey key;
    auto operator<=>(const Turn&) const = default;
  };
  std::vector<const JobRecord*> line;
  line.reserve(pending_.size());
  for (const PendingKey& key : pending_) {
    const JobRecord& rec = *find_job(key.id);
    if (rec.nominated || rec.tried == pass_) continue;  // waiting for its victims, or tried above
    line.push_back(&rec);
  }
  const std::vector<std::uint32_t> fair =
      cluster_.fair_sharing.empty() ? std::vector<std::uint32_t>(line.size(), 0) : fair_ranks(line);
  std::vector<Turn> turns;
  turns.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const JobRecord& rec = *line[i];
    const ScopeId owner = info_[rec.job.queue].owner_quota;
    const bool own = owner != kNone && cluster_.scopes[owner].child_preemption;
    turns.push_back(
        {own ? 0 : 1, -std::popcount(standing_for(rec.job.queue, rec.job.request, nullptr)), fair[i], rec.key()});
  }
  std::sort(turns.begin(), turns.end());
  for (const Turn& turn : turns) {
    JobRecord* rec = find_job(turn.key.id);
    if (!rec || rec->state != JobState::pending || rec->nominated || rec->tried == pass_) continue;
    rec->tried = pass_;
    attempt(*rec, now, out, memo);
  }
  upgrade_waiting();
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
    start_running(stored, rj.gpus, rj.started_at, std::nullopt);
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
  JobView view{rec.state, rec.job.queue, rec.priority_value, rec.gpus, rec.started_at, rec.borrow_distance, {}, {}};
  if (rec.state == JobState::running) {
    const std::vector<ScopeId>& levels = levels_of_queue_[rec.job.queue];
    for (std::size_t i = 0; i < levels.size(); ++i)
      ((rec.inside >> i) & 1 ? view.inside : view.borrowed).push_back(levels[i]);
  }
  return view;
}

}  // namespace allot::runtime
