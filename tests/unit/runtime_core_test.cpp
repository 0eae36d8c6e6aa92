// The runtime scheduling core: one test per rule, victims named.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/scheduler.h"

using namespace allot::runtime;

namespace {

Bound gpus(Amount guarantee, std::optional<Amount> limit) {
  return Bound{guarantee * 1000, limit ? std::optional<Amount>(*limit * 1000) : std::nullopt};
}

// Builds clusters tersely. Queues accept everything unless told otherwise.
struct ClusterBuilder {
  Cluster c;

  void nodes(std::uint32_t count, std::uint32_t gpus_per_node, std::uint32_t domain = 0) {
    for (std::uint32_t i = 0; i < count; ++i)
      c.nodes.push_back({"node" + std::to_string(c.nodes.size()), gpus_per_node, "A100-80G", domain});
  }
  ScopeId scope(ScopeKind kind, std::string name, ScopeId parent, std::optional<Bound> gpu = std::nullopt,
                bool child_preemption = false) {
    Scope s;
    s.kind = kind;
    s.name = std::move(name);
    s.parent = parent;
    s.bounds.gpu = gpu;
    s.child_preemption = child_preemption;
    c.scopes.push_back(std::move(s));
    return static_cast<ScopeId>(c.scopes.size() - 1);
  }
  ScopeId quota(std::string name, ScopeId parent, std::optional<Bound> gpu, bool child_preemption = false) {
    return scope(ScopeKind::quota, std::move(name), parent, gpu, child_preemption);
  }
  // workspace -> namespace -> queue below `parent`; returns the queue.
  ScopeId queue_below(ScopeId parent, const std::string& name, QueueSettings settings = {}) {
    const ScopeId ws = scope(ScopeKind::workspace, "ws-" + name, parent);
    const ScopeId ns = scope(ScopeKind::namespace_, "ws-" + name + "/ns", ws);
    const ScopeId q = scope(ScopeKind::queue, "ws-" + name + "/ns/" + name, ns);
    c.scopes[q].queue = std::move(settings);
    return q;
  }
  PriorityId priority(std::string name, std::int64_t value, std::vector<PriorityId> preempts = {}) {
    c.priorities.push_back({std::move(name), value, std::move(preempts)});
    return static_cast<PriorityId>(c.priorities.size() - 1);
  }
  void pin_nodes(NodeId first, NodeId last, ScopeId home) {
    for (NodeId n = first; n <= last; ++n)
      for (std::uint32_t i = 0; i < c.nodes[n].gpu_count; ++i) c.placement.push_back({{n, i}, home});
  }
};

Job job(JobId id, ScopeId queue, Amount gpu_milli, Time submit, std::optional<PriorityId> priority = std::nullopt) {
  Job j;
  j.id = id;
  j.queue = queue;
  j.user = "alice";
  j.priority = priority;
  j.request.gpu_milli = gpu_milli;
  j.request.cpu_milli = 1000;
  j.request.memory_mib = 1024;
  j.submit_time = submit;
  return j;
}

// Submits and schedules at `t`; the job must be admitted at once.
void run_now(Scheduler& s, Job j, Time t) {
  const JobId id = j.id;
  const auto submitted = s.submit(std::move(j), t);
  REQUIRE(std::holds_alternative<Queued>(submitted));
  const Decision d = s.schedule(t);
  REQUIRE(d.preempted.empty());
  REQUIRE(d.admitted.size() == 1);
  REQUIRE(d.admitted[0].job == id);
}

std::vector<JobId> victims(const Decision& d) {
  std::vector<JobId> out;
  for (const Preemption& p : d.preempted) out.push_back(p.victim);
  return out;
}

std::vector<JobId> admitted(const Decision& d) {
  std::vector<JobId> out;
  for (const Admission& a : d.admitted) out.push_back(a.job);
  return out;
}

std::vector<NodeId> nodes_of(const std::vector<GpuSlice>& slices) {
  std::vector<NodeId> out;
  for (const GpuSlice& s : slices) out.push_back(s.gpu.node);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

RefusalReason refusal_of(const SubmitResult& r) {
  REQUIRE(std::holds_alternative<Refusal>(r));
  return std::get<Refusal>(r).reason;
}

// The PAI scenario: 128 GPUs on 16 nodes; Quota1 (128) over Quota1_1 (48..128,
// nodes 0-5) and Quota1_2 (80..128, nodes 6-15); team A's inference queue
// sits on Quota1 itself, teams B and C train on the children.
struct PaiCluster {
  ClusterBuilder b;
  ScopeId quota1, quota1_1, quota1_2, infer, train_b, train_c;
  PriorityId inference, training;

  explicit PaiCluster(bool child_preemption) {
    b.nodes(16, 8);
    inference = b.priority("inference", 1000);
    training = b.priority("training", 500);
    quota1 = b.quota("Quota1", kNone, gpus(128, 128), child_preemption);
    quota1_1 = b.quota("Quota1_1", quota1, gpus(48, 128));
    quota1_2 = b.quota("Quota1_2", quota1, gpus(80, 128));
    QueueSettings serving;
    serving.accepts = static_cast<WorkloadSet>(WorkloadKind::inference);
    serving.default_priority = inference;
    serving.preemptible = false;
    infer = b.queue_below(quota1, "infer", serving);
    QueueSettings train;
    train.accepts =
        static_cast<WorkloadSet>(WorkloadKind::training) | static_cast<WorkloadSet>(WorkloadKind::development);
    train.default_priority = training;
    train_b = b.queue_below(quota1_1, "train-b", train);
    train_c = b.queue_below(quota1_2, "train-c", train);
    b.pin_nodes(0, 5, quota1_1);
    b.pin_nodes(6, 15, quota1_2);
  }
};

}  // namespace

TEST_CASE("runtime: admission takes the queue's own pinned GPUs first, then borrows") {
  ClusterBuilder b;
  b.nodes(2, 8);
  const ScopeId root = b.quota("root", kNone, gpus(16, 16));
  const ScopeId qa = b.quota("A", root, gpus(8, 16));
  const ScopeId qb = b.quota("B", root, gpus(8, 16));
  const ScopeId a = b.queue_below(qa, "a");
  const ScopeId bq = b.queue_below(qb, "b");
  b.pin_nodes(0, 0, qa);
  b.pin_nodes(1, 1, qb);
  Scheduler s(b.c);

  run_now(s, job(1, bq, 2000, 1), 1);
  CHECK(nodes_of(s.job(1)->gpus) == std::vector<NodeId>{1});
  run_now(s, job(2, a, 8000, 2), 2);
  CHECK(nodes_of(s.job(2)->gpus) == std::vector<NodeId>{0});
  CHECK(s.job(2)->borrow_distance == 0);
  // A is at its guarantee; the next 4 GPUs are B's idle ones, borrowed.
  run_now(s, job(3, a, 4000, 3), 3);
  CHECK(nodes_of(s.job(3)->gpus) == std::vector<NodeId>{1});
  CHECK(s.job(3)->borrow_distance == 2);
  const ScopeReport ra = s.scope_report(qa);
  CHECK(ra.used.gpu_milli == 12000);
  CHECK(ra.guaranteed.gpu_milli == 8000);
  CHECK(ra.borrowed.gpu_milli == 4000);
  CHECK(s.scope_report(root).used.gpu_milli == 14000);
  CHECK(s.scope_report(root).running_jobs == 3);
}

TEST_CASE("runtime: refusals say why a job can never run") {
  ClusterBuilder b;
  b.nodes(2, 8);
  const PriorityId training = b.priority("training", 500);
  const ScopeId root = b.quota("root", kNone, gpus(16, 16));
  const ScopeId team = b.quota("team", root, gpus(4, 6));
  QueueSettings settings;
  settings.accepts = static_cast<WorkloadSet>(WorkloadKind::training);
  settings.grants.push_back({{"alice"}, {"ml-infra"}, kSubmit});
  const ScopeId q = b.queue_below(team, "q", settings);
  QueueSettings shared = settings;
  shared.gpu_sharing = true;
  const ScopeId sq = b.queue_below(team, "shared", shared);
  Scheduler s(b.c);

  SECTION("larger than a limit") {
    const SubmitResult r = s.submit(job(1, q, 7000, 0), 0);
    CHECK(refusal_of(r) == RefusalReason::exceeds_limit);
    CHECK(std::get<Refusal>(r).message == "job 1: requests 7 gpu but team is limited to 6");
  }
  SECTION("workload kind not accepted") {
    Job j = job(1, q, 1000, 0);
    j.kind = WorkloadKind::inference;
    const SubmitResult r = s.submit(j, 0);
    CHECK(refusal_of(r) == RefusalReason::kind_not_accepted);
    CHECK(std::get<Refusal>(r).message == "job 1: queue ws-q/ns/q does not accept inference jobs");
  }
  SECTION("user not authorized, unless one of the user's groups is") {
    Job j = job(1, q, 1000, 0);
    j.user = "mallory";
    const SubmitResult r = s.submit(j, 0);
    CHECK(refusal_of(r) == RefusalReason::user_not_authorized);
    CHECK(std::get<Refusal>(r).message == "job 1: user mallory may not submit to queue ws-q/ns/q");
    j.groups = {"ml-infra"};
    CHECK(std::holds_alternative<Queued>(s.submit(j, 0)));
  }
  SECTION("fractional GPUs on a queue without sharing") {
    CHECK(refusal_of(s.submit(job(1, q, 500, 0), 0)) == RefusalReason::fractional_gpu_not_shared);
    CHECK(std::holds_alternative<Queued>(s.submit(job(2, sq, 500, 0), 0)));
  }
  SECTION("malformed requests") {
    CHECK(refusal_of(s.submit(job(1, sq, 1500, 0), 0)) == RefusalReason::invalid_request);
    CHECK(refusal_of(s.submit(job(1, root, 1000, 0), 0)) == RefusalReason::unknown_queue);
    CHECK(refusal_of(s.submit(job(1, q, 1000, 0, PriorityId{7}), 0)) == RefusalReason::unknown_priority);
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(1, q, 1000, 0, training), 0)));
    CHECK(refusal_of(s.submit(job(1, q, 1000, 0), 0)) == RefusalReason::duplicate_id);
  }
  CHECK(s.running_count() == 0);
}

TEST_CASE("runtime: pending jobs wait, highest priority first then FIFO, until capacity frees") {
  ClusterBuilder b;
  b.nodes(1, 4);
  const PriorityId low = b.priority("low", 100);
  const PriorityId high = b.priority("high", 900);  // preempts nothing
  const ScopeId root = b.quota("root", kNone, gpus(0, 4));
  const ScopeId q = b.queue_below(root, "q");
  Scheduler s(b.c);
  run_now(s, job(1, q, 4000, 0, low), 0);
  for (const Job& j : {job(2, q, 2000, 1, low), job(3, q, 2000, 2, high), job(4, q, 2000, 3, low)})
    REQUIRE(std::holds_alternative<Queued>(s.submit(j, j.submit_time)));
  CHECK(s.schedule(4).admitted.empty());
  CHECK(s.scope_report(root).pending_jobs == 3);
  CHECK(s.scope_report(root).pending.gpu_milli == 6000);
  REQUIRE(s.finish(1));
  CHECK(admitted(s.schedule(5)) == std::vector<JobId>{3, 2});
  REQUIRE(s.finish(3));
  CHECK(admitted(s.schedule(6)) == std::vector<JobId>{4});
}

TEST_CASE("runtime: PAI - an inference job on Quota1 preempts a training job of its children") {
  PaiCluster pai(/*child_preemption=*/true);
  Scheduler s(pai.b.c);
  // Team B runs 64 GPUs: 48 on its own nodes, 16 borrowed from Quota1_2's
  // nodes 6 and 7 (jobs 107 and 108). Team C runs 64 on its own nodes.
  for (JobId i = 1; i <= 8; ++i) run_now(s, job(100 + i, pai.train_b, 8000, Time(i)), Time(i));
  for (JobId i = 1; i <= 8; ++i) run_now(s, job(200 + i, pai.train_c, 8000, Time(10 + i)), Time(10 + i));
  CHECK(nodes_of(s.job(108)->gpus) == std::vector<NodeId>{7});
  CHECK(s.scope_report(pai.quota1_1).borrowed.gpu_milli == 16000);
  CHECK(s.scope_report(pai.quota1).used.gpu_milli == 128000);

  Job service = job(1, pai.infer, 8000, 100);
  service.kind = WorkloadKind::inference;
  REQUIRE(std::holds_alternative<Queued>(s.submit(service, 100)));
  const Decision d = s.schedule(100);
  CHECK(d.admitted.empty());
  // One victim: of the jobs borrowing farthest (107, 108), the youngest.
  REQUIRE(victims(d) == std::vector<JobId>{108});
  CHECK(d.preempted[0].preemptor == 1);
  CHECK(d.preempted[0].reason == PreemptionReason::child_preemption);
  CHECK(d.preempted[0].on_preempt == OnPreempt::requeue);
  CHECK(d.preempted[0].grace_period_ms == 30000);
  CHECK(s.job(108)->state == JobState::terminating);
  // Nothing more happens until the victim is gone.
  CHECK(s.schedule(101).preempted.empty());
  CHECK(s.release(108) == ReleaseOutcome::requeued);
  const Decision after = s.schedule(102);
  CHECK(admitted(after) == std::vector<JobId>{1});
  CHECK(nodes_of(s.job(1)->gpus) == std::vector<NodeId>{7});
  CHECK(s.job(108)->state == JobState::pending);
  CHECK(after.preempted.empty());
}

TEST_CASE("runtime: without child_preemption the parent's job cannot take its children's GPUs") {
  PaiCluster pai(/*child_preemption=*/false);
  Scheduler s(pai.b.c);
  for (JobId i = 1; i <= 16; ++i) run_now(s, job(100 + i, pai.train_b, 8000, Time(i)), Time(i));
  Job service = job(1, pai.infer, 8000, 100);
  service.kind = WorkloadKind::inference;
  REQUIRE(std::holds_alternative<Queued>(s.submit(service, 100)));
  const Decision d = s.schedule(100);
  CHECK(d.admitted.empty());
  CHECK(d.preempted.empty());
  CHECK(!s.plan_preemption(1));
}

TEST_CASE("runtime: a quota below its guarantee reclaims borrowed GPUs, farthest borrowers first") {
  PaiCluster pai(/*child_preemption=*/false);
  Scheduler s(pai.b.c);
  // Team B borrows all of Quota1_2's 80 GPUs (jobs 107..116 on nodes 6..15).
  for (JobId i = 1; i <= 16; ++i) run_now(s, job(100 + i, pai.train_b, 8000, Time(i)), Time(i));
  CHECK(s.scope_report(pai.quota1_1).borrowed.gpu_milli == 80000);
  // Team C wants 16 of its guaranteed 80, whatever B's priority.
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(300, pai.train_c, 16000, 50, pai.training), 50)));
  const auto plan = s.plan_preemption(300);
  REQUIRE(plan);
  CHECK(plan->size() == 2);
  const Decision d = s.schedule(50);
  REQUIRE(victims(d) == std::vector<JobId>{116, 115});
  for (const Preemption& p : d.preempted) CHECK(p.reason == PreemptionReason::reclaim_guarantee);
  CHECK(s.release(116) == ReleaseOutcome::requeued);
  // Still waiting for 115; 116's GPUs are held for job 300, not handed to 116 again.
  CHECK(s.schedule(51).admitted.empty());
  CHECK(s.scope_report(pai.quota1_2).reserved.gpu_milli == 16000);
  CHECK(s.release(115) == ReleaseOutcome::requeued);
  const Decision after = s.schedule(52);
  CHECK(admitted(after) == std::vector<JobId>{300});
  CHECK(after.preempted.empty());  // 115 and 116 wait: Quota1 is full again
  CHECK(s.scope_report(pai.quota1_2).used.gpu_milli == 16000);
}

TEST_CASE("runtime: a scope within its guarantee is never a victim of another subtree") {
  ClusterBuilder b;
  b.nodes(4, 8);  // 32 GPUs
  const ScopeId qa = b.quota("A", kNone, gpus(16, 32));
  const ScopeId qb = b.quota("B", kNone, gpus(8, 32));
  const ScopeId qx = b.quota("X", kNone, gpus(0, 32));
  const ScopeId a = b.queue_below(qa, "a");
  const ScopeId bq = b.queue_below(qb, "b");
  const ScopeId x = b.queue_below(qx, "x");
  Scheduler s(b.c);
  run_now(s, job(1, x, 8000, 1), 1);  // X borrows everything it runs
  run_now(s, job(2, x, 8000, 2), 2);
  run_now(s, job(3, a, 8000, 3), 3);  // A runs exactly its guarantee, youngest
  run_now(s, job(4, a, 8000, 4), 4);
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(10, bq, 8000, 5), 5)));
  const Decision d = s.schedule(5);
  CHECK(victims(d) == std::vector<JobId>{2});
  CHECK(d.preempted[0].reason == PreemptionReason::reclaim_guarantee);

  SECTION("once X is gone nothing is reclaimable from A") {
    CHECK(s.release(2) == ReleaseOutcome::requeued);
    CHECK(admitted(s.schedule(6)) == std::vector<JobId>{10});
    REQUIRE(s.finish(1));
    // X's requeued job 2 takes the free GPUs; B asks for more than its guarantee.
    CHECK(admitted(s.schedule(7)) == std::vector<JobId>{2});
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(11, bq, 8000, 8), 8)));
    const Decision d2 = s.schedule(8);
    CHECK(d2.preempted.empty());
    CHECK(d2.admitted.empty());
  }
}

TEST_CASE("runtime: non-preemptible work is never preempted") {
  ClusterBuilder b;
  b.nodes(4, 8);
  const ScopeId qb = b.quota("B", kNone, gpus(8, 32));
  const ScopeId qx = b.quota("X", kNone, gpus(0, 32));
  const ScopeId bq = b.queue_below(qb, "b");
  const ScopeId x = b.queue_below(qx, "x");
  QueueSettings pinned;
  pinned.preemptible = false;
  const ScopeId xs = b.queue_below(qx, "x-steady", pinned);
  Scheduler s(b.c);
  run_now(s, job(1, x, 8000, 1), 1);
  run_now(s, job(2, xs, 8000, 2), 2);  // queue not preemptible
  Job sticky = job(3, x, 8000, 3);
  sticky.preemptible = false;  // job not preemptible
  run_now(s, sticky, 3);
  run_now(s, job(4, xs, 8000, 4), 4);
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(10, bq, 8000, 5), 5)));
  // The youngest borrowers (4, 3, 2) are all protected: the oldest goes.
  CHECK(victims(s.schedule(5)) == std::vector<JobId>{1});
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(11, bq, 8000, 6), 6)));
  const Decision d = s.schedule(6);
  CHECK(d.preempted.empty());  // 10 still waits for 1; nothing preemptible is left
}

TEST_CASE("runtime: inside a queue a class preempts only the classes it lists") {
  ClusterBuilder b;
  b.nodes(1, 8);
  const PriorityId low = b.priority("low", 100);
  const PriorityId mid = b.priority("mid", 500);
  const PriorityId high = b.priority("high", 1000, {low});
  const ScopeId root = b.quota("root", kNone, gpus(0, 8));
  const ScopeId q = b.queue_below(root, "q");
  const ScopeId other = b.queue_below(root, "other");
  Scheduler s(b.c);
  run_now(s, job(1, q, 2000, 1, low), 1);
  run_now(s, job(2, q, 2000, 2, mid), 2);
  run_now(s, job(3, other, 4000, 3, low), 3);  // another queue: out of reach
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(10, q, 2000, 4, high), 4)));
  const Decision d = s.schedule(4);
  REQUIRE(victims(d) == std::vector<JobId>{1});
  CHECK(d.preempted[0].reason == PreemptionReason::priority);
  CHECK(d.preempted[0].message ==
        "job 1 (`ws-q/ns/q`) is preempted for job 10 (`ws-q/ns/q`) by R3 (priority): class `high` preempts "
        "class `low` in queue `ws-q/ns/q`");
  // Needing 4 more GPUs, only `mid` (not listed) and `other` are left: no victims.
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(11, q, 4000, 5, high), 5)));
  CHECK(s.schedule(5).preempted.empty());
}

TEST_CASE("runtime: the fewest victims win over preference") {
  ClusterBuilder b;
  b.nodes(1, 8);
  const PriorityId low = b.priority("low", 100);
  const PriorityId high = b.priority("high", 1000, {low});
  const ScopeId root = b.quota("root", kNone, gpus(0, 8));
  const ScopeId q = b.queue_below(root, "q");
  Scheduler s(b.c);
  run_now(s, job(1, q, 4000, 1, low), 1);  // oldest, but alone frees 4
  for (JobId i = 2; i <= 5; ++i) run_now(s, job(i, q, 1000, Time(i), low), Time(i));
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(10, q, 4000, 9, high), 9)));
  CHECK(victims(s.schedule(9)) == std::vector<JobId>{1});
}

TEST_CASE("runtime: among equally few victims, lowest priority before youngest") {
  ClusterBuilder b;
  b.nodes(2, 8);
  const PriorityId dev = b.priority("development", 100);
  const PriorityId train = b.priority("training", 500);
  const PriorityId infer = b.priority("inference", 1000);
  const ScopeId parent = b.quota("P", kNone, gpus(16, 16), /*child_preemption=*/true);
  const ScopeId child = b.quota("C", parent, gpus(16, 16));
  const ScopeId own = b.queue_below(parent, "own");
  const ScopeId sub = b.queue_below(child, "sub");
  Scheduler s(b.c);
  run_now(s, job(1, sub, 8000, 1, dev), 1);    // older, lowest priority
  run_now(s, job(2, sub, 8000, 2, train), 2);  // youngest
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(10, own, 8000, 3, infer), 3)));
  const Decision d = s.schedule(3);
  REQUIRE(victims(d) == std::vector<JobId>{1});
  CHECK(d.preempted[0].reason == PreemptionReason::child_preemption);
}

TEST_CASE("runtime: fractional jobs pack onto shared GPUs, best fit, never past one GPU") {
  ClusterBuilder b;
  b.nodes(1, 2);
  const ScopeId root = b.quota("root", kNone, gpus(0, 2));
  QueueSettings shared;
  shared.gpu_sharing = true;
  const ScopeId q = b.queue_below(root, "q", shared);
  Scheduler s(b.c);
  auto gpu_of = [&](JobId id) { return s.job(id)->gpus.at(0).gpu.index; };
  run_now(s, job(1, q, 700, 1), 1);
  run_now(s, job(2, q, 400, 2), 2);  // 300 left on the first GPU: opens the second
  CHECK(gpu_of(2) != gpu_of(1));
  run_now(s, job(3, q, 250, 3), 3);  // fits 300 (first) better than 600 (second)
  CHECK(gpu_of(3) == gpu_of(1));
  run_now(s, job(4, q, 600, 4), 4);
  CHECK(gpu_of(4) == gpu_of(2));
  CHECK(s.job(4)->gpus.at(0).milli == 600);
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(5, q, 100, 5), 5)));
  CHECK(s.schedule(5).admitted.empty());  // 50 milli left on one GPU, none on the other
  CHECK(s.scope_report(q).used.gpu_milli == 1950);
}

TEST_CASE("runtime: whole-GPU jobs stay inside one domain, else one node, else spread") {
  ClusterBuilder b;
  b.nodes(3, 8, /*domain=*/4);
  const ScopeId root = b.quota("root", kNone, gpus(0, 24));
  const ScopeId q = b.queue_below(root, "q");
  Scheduler s(b.c);
  // node0: GPUs 0,1 and 4,5 busy (2 free per domain); node1: domain 0 busy; node2: full.
  std::vector<RunningJob> running;
  auto occupy = [&](JobId id, NodeId node, std::vector<std::uint32_t> indices) {
    RunningJob r{job(id, q, Amount(indices.size()) * 1000, 0), {}, 0};
    for (std::uint32_t i : indices) r.gpus.push_back({{node, i}, 1000});
    running.push_back(r);
  };
  occupy(1, 0, {0, 1, 4, 5});
  occupy(2, 1, {0, 1, 2, 3});
  occupy(3, 2, {0, 1, 2, 3, 4, 5, 6, 7});
  REQUIRE(std::holds_alternative<Restored>(s.restore(running)));

  run_now(s, job(10, q, 4000, 1), 1);  // node1's free domain, not node0's split GPUs
  CHECK(s.job(10)->gpus == std::vector<GpuSlice>{{{1, 4}, 1000}, {{1, 5}, 1000}, {{1, 6}, 1000}, {{1, 7}, 1000}});
  run_now(s, job(11, q, 3000, 2), 2);  // no domain has 3: one node
  CHECK(nodes_of(s.job(11)->gpus) == std::vector<NodeId>{0});
  REQUIRE(s.finish(3));
  REQUIRE(s.finish(11));
  REQUIRE(s.finish(10));
  // node0 4 free (2+2), node1 4 free (one domain), node2 8 free.
  run_now(s, job(12, q, 8000, 3), 3);
  CHECK(nodes_of(s.job(12)->gpus) == std::vector<NodeId>{2});
  run_now(s, job(13, q, 6000, 4), 4);  // no node has 6: spread over two nodes
  CHECK(nodes_of(s.job(13)->gpus).size() == 2);
}

TEST_CASE("runtime: restore rebuilds usage and refuses a double-assigned GPU") {
  ClusterBuilder b;
  b.nodes(2, 4);
  const ScopeId root = b.quota("root", kNone, gpus(0, 8));
  QueueSettings shared;
  shared.gpu_sharing = true;
  const ScopeId q = b.queue_below(root, "q", shared);
  Scheduler s(b.c);

  std::vector<RunningJob> bad = {
      {job(1, q, 2000, 0), {{{0, 0}, 1000}, {{0, 1}, 1000}}, 5},
      {job(2, q, 500, 0), {{{1, 0}, 500}}, 6},
      {job(3, q, 1000, 0), {{{0, 1}, 1000}}, 7},  // GPU 1 of node0 is job 1's
  };
  const RestoreResult r = s.restore(bad);
  REQUIRE(std::holds_alternative<RestoreError>(r));
  CHECK(std::get<RestoreError>(r).job == 3);
  CHECK(std::get<RestoreError>(r).kind == RestoreErrorKind::gpu_over_assigned);
  CHECK(std::get<RestoreError>(r).message == "job 3: GPU node0/gpu1 would be assigned 2 GPUs");
  CHECK(s.running_count() == 0);  // all or nothing

  bad[2] = {job(3, q, 500, 0), {{{1, 0}, 500}}, 7};  // two halves of one GPU are fine
  REQUIRE(std::holds_alternative<Restored>(s.restore(bad)));
  CHECK(s.running_count() == 3);
  CHECK(s.scope_report(root).used.gpu_milli == 3000);
  CHECK(s.job(1)->started_at == 5);
  const std::vector<RunningJob> again = {{job(4, q, 1000, 0), {{{0, 0}, 1000}}, 8}};
  CHECK(std::get<RestoreError>(s.restore(again)).kind == RestoreErrorKind::gpu_over_assigned);
  const std::vector<RunningJob> missing = {{job(4, q, 1000, 0), {{{0, 9}, 1000}}, 8}};
  CHECK(std::get<RestoreError>(s.restore(missing)).kind == RestoreErrorKind::unknown_gpu);
  // The restored jobs' GPUs are not handed out again.
  run_now(s, job(5, q, 2000, 9), 9);
  CHECK(s.job(5)->gpus == std::vector<GpuSlice>{{{0, 2}, 1000}, {{0, 3}, 1000}});
}

TEST_CASE("runtime: same inputs, same decisions") {
  auto trace = [] {
    PaiCluster pai(/*child_preemption=*/true);
    Scheduler s(pai.b.c);
    std::string log;
    std::uint64_t rng = 12345;
    auto next = [&] {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      return rng >> 33;
    };
    std::vector<JobId> live;
    for (Time t = 0; t < 400; ++t) {
      const auto roll = next() % 10;
      if (roll < 6) {
        const JobId id = 1000 + static_cast<JobId>(t);
        const ScopeId q = roll < 3 ? pai.train_b : roll < 5 ? pai.train_c : pai.infer;
        Job j = job(id, q, Amount(1 + next() % 8) * 1000, t);
        if (q == pai.infer) j.kind = WorkloadKind::inference;
        if (std::holds_alternative<Queued>(s.submit(j, t))) live.push_back(id);
      } else if (!live.empty()) {
        const std::size_t pick = next() % live.size();
        s.finish(live[pick]);
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(pick));
      }
      const Decision d = s.schedule(t);
      for (const Admission& a : d.admitted) {
        log += "A" + std::to_string(a.job);
        for (const GpuSlice& g : a.gpus) log += ":" + std::to_string(g.gpu.node) + "." + std::to_string(g.gpu.index);
      }
      for (const Preemption& p : d.preempted) {
        log += " P" + std::to_string(p.victim) + ">" + std::to_string(p.preemptor);
        s.release(p.victim);
      }
      log += "\n";
    }
    return log;
  };
  const std::string first = trace();
  CHECK(first.find('P') != std::string::npos);  // the trace does exercise preemption
  CHECK(first == trace());
}

// ---- the preemption options (docs/scheduling.md R2-R4, lending) ----------------------------

namespace {

// Root (8 GPUs on one node) over A and B, each with one queue.
struct TwoTeams {
  ClusterBuilder b;
  ScopeId root, qa, qb, a, bq;
  PriorityId low, high;
  TwoTeams(Bound ga, Bound gb, QueueSettings sa = {}, QueueSettings sb = {}) {
    b.nodes(1, 8);
    low = b.priority("low", 100);
    high = b.priority("high", 1000);
    root = b.quota("Root", kNone, gpus(8, 8));
    qa = b.quota("A", root, ga);
    qb = b.quota("B", root, gb);
    a = b.queue_below(qa, "a", sa);
    bq = b.queue_below(qb, "b", sb);
  }
};

}  // namespace

TEST_CASE("runtime: R4 borrow_within takes the youngest lower-priority borrowed work of a sibling") {
  for (const bool enabled : {true, false}) {
    TwoTeams t(gpus(0, 8), gpus(4, 8));
    t.b.c.scopes[t.qa].borrow_within = enabled;
    Scheduler s(t.b.c);
    run_now(s, job(1, t.a, 1000, 1, t.low), 1);
    for (JobId i = 2; i <= 8; ++i) run_now(s, job(i, t.bq, 1000, Time(i), t.low), Time(i));  // B borrows 3
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.a, 2000, 20, t.high), 20)));
    const Decision d = s.schedule(20);
    if (enabled) {
      CHECK(victims(d) == std::vector<JobId>{8, 7});
      for (const Preemption& p : d.preempted) {
        CHECK(p.reason == PreemptionReason::borrow_within);
        CHECK(p.claim_scope == t.qa);
        CHECK(p.victim_scope == t.qb);
      }
    } else {
      CHECK(d.preempted.empty());
    }
  }
}

TEST_CASE("runtime: R4 spares work above max_priority and work inside its guarantee") {
  TwoTeams t(gpus(0, 8), gpus(4, 8));
  t.b.c.scopes[t.qa].borrow_within = true;
  t.b.c.scopes[t.qa].borrow_max_priority = 50;  // below `low`
  Scheduler s(t.b.c);
  run_now(s, job(1, t.a, 1000, 1, t.low), 1);
  for (JobId i = 2; i <= 8; ++i) run_now(s, job(i, t.bq, 1000, Time(i), t.low), Time(i));
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.a, 2000, 20, t.high), 20)));
  CHECK(s.schedule(20).preempted.empty());
}

TEST_CASE("runtime: reclaim = lower_priority takes back only from lower-priority borrowers") {
  TwoTeams t(gpus(4, 8), gpus(4, 8));
  t.b.c.scopes[t.qa].reclaim = ReclaimPolicy::lower_priority;
  Scheduler s(t.b.c);
  for (JobId i = 1; i <= 6; ++i) run_now(s, job(i, t.bq, 1000, Time(i), i <= 5 ? t.high : t.low), Time(i));
  for (JobId i = 7; i <= 8; ++i) run_now(s, job(i, t.a, 1000, Time(i), t.low), Time(i));
  // A uses 2 of its 4; B borrows 2 (jobs 5 high, 6 low are the youngest).
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.a, 1000, 20, t.low), 20)));
  CHECK(s.schedule(20).preempted.empty());  // low priority: nothing below it borrows
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(21, t.a, 1000, 21, t.high), 21)));
  const Decision d = s.schedule(21);
  REQUIRE(victims(d) == std::vector<JobId>{6});
  CHECK(d.preempted[0].reason == PreemptionReason::reclaim_guarantee);
}

TEST_CASE("runtime: queue preemption = lower_or_newer_equal_priority lets an older job preempt newer equals") {
  for (const WithinQueue policy : {WithinQueue::lower_or_newer_equal_priority, WithinQueue::by_class}) {
    QueueSettings qs;
    qs.within = policy;
    TwoTeams t(gpus(8, 8), gpus(0, 8), qs);
    Scheduler s(t.b.c);
    for (JobId i = 1; i <= 8; ++i) run_now(s, job(i, t.a, 1000, Time(10 + i), t.low), Time(10 + i));
    // Submitted earlier than all of them (its submit time is the caller's).
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.a, 2000, 5, t.low), 30)));
    const Decision d = s.schedule(30);
    if (policy == WithinQueue::by_class) {
      CHECK(d.preempted.empty());
    } else {
      CHECK(victims(d) == std::vector<JobId>{8, 7});
      for (const Preemption& p : d.preempted) CHECK(p.reason == PreemptionReason::priority);
    }
  }
}

TEST_CASE("runtime: a lending scope keeps what it does not lend idle for itself") {
  Bound ga = gpus(4, 8);
  ga.lend = 1000;  // keeps 3 of its 4
  TwoTeams t(ga, gpus(0, 8));
  Scheduler s(t.b.c);
  for (JobId i = 1; i <= 5; ++i) run_now(s, job(i, t.bq, 1000, Time(i)), Time(i));
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(6, t.bq, 1000, 6), 6)));
  CHECK(s.schedule(6).admitted.empty());  // 3 GPUs stay idle for A
  run_now(s, job(7, t.a, 1000, 7), 7);    // A uses its own
  CHECK(s.scope_report(t.qa).used.gpu_milli == 1000);
  REQUIRE(s.finish(1));
  CHECK(admitted(s.schedule(8)) == std::vector<JobId>{6});
}
