// Why a pending job waits (Scheduler::wait_reason) and cordoned nodes: the
// reasons `allot ps` and `allot explain` show come from these answers.
#include <catch2/catch.hpp>
#include <string>
#include <variant>

#include "runtime/core/scheduler.h"

using namespace allot::runtime;

namespace {

// One pool: `nodes` nodes of `gpus` GPUs, a quota Q (limit `limit` GPUs, if
// any) with one queue, two priority classes (high preempts low in the queue).
Cluster pool(std::uint32_t nodes, std::uint32_t gpus, std::optional<Amount> limit) {
  Cluster c;
  for (std::uint32_t i = 0; i < nodes; ++i) c.nodes.push_back({"node" + std::to_string(i), gpus, "A100", 0});
  c.priorities.push_back({"low", 10, {}});
  c.priorities.push_back({"high", 100, {0}});
  auto add = [&](ScopeKind kind, std::string name, ScopeId parent) {
    Scope s;
    s.kind = kind;
    s.name = std::move(name);
    s.parent = parent;
    c.scopes.push_back(std::move(s));
    return static_cast<ScopeId>(c.scopes.size() - 1);
  };
  const ScopeId q = add(ScopeKind::quota, "Q", kNone);
  if (limit) c.scopes[q].bounds.gpu = Bound{0, *limit * 1000};
  const ScopeId ws = add(ScopeKind::workspace, "ws", q);
  const ScopeId ns = add(ScopeKind::namespace_, "ws/ns", ws);
  add(ScopeKind::queue, "ws/ns/q", ns);
  return c;
}

constexpr ScopeId kQueue = 3;

Job job(JobId id, Amount gpus, PriorityId priority = 0) {
  Job j;
  j.id = id;
  j.queue = kQueue;
  j.user = "alice";
  j.priority = priority;
  j.request.gpu_milli = gpus * 1000;
  j.submit_time = static_cast<Time>(id);
  return j;
}

void submit(Scheduler& s, Job j) {
  const auto submitted = s.submit(std::move(j), 0);
  REQUIRE(std::holds_alternative<Queued>(submitted));
}

}  // namespace

TEST_CASE("wait reason: the scope at its limit and by how much") {
  Scheduler s(pool(1, 8, 4));
  submit(s, job(1, 4));
  REQUIRE(s.schedule(1).admitted.size() == 1);
  submit(s, job(2, 2));
  REQUIRE(s.schedule(2).admitted.empty());
  const std::optional<WaitReason> w = s.wait_reason(2);
  REQUIRE(w);
  CHECK(w->kind == WaitKind::scope_limit);
  CHECK(w->scope == 0);
  CHECK(w->resource == Resource::gpu);
  CHECK(w->limit == 4000);
  CHECK(w->used == 4000);
  CHECK(w->request == 2000);
  CHECK(w->over == 2000);
  CHECK(w->message == "`Q` is at its gpu limit: 4 gpu used of 4 gpu, the job needs 2 gpu (2 gpu over)");
  CHECK_FALSE(s.wait_reason(1));  // running
  CHECK_FALSE(s.wait_reason(99));
}

TEST_CASE("wait reason: no capacity, and a job that fits waits for the next pass") {
  Scheduler s(pool(1, 4, std::nullopt));
  submit(s, job(1, 3));
  CHECK(s.wait_reason(1)->kind == WaitKind::next_pass);
  REQUIRE(s.schedule(1).admitted.size() == 1);
  submit(s, job(2, 2));
  REQUIRE(s.schedule(2).admitted.empty());
  const std::optional<WaitReason> w = s.wait_reason(2);
  REQUIRE(w);
  CHECK(w->kind == WaitKind::no_capacity);
  CHECK(w->free_gpu_milli == 1000);
}

TEST_CASE("wait reason: a preemptor waits for its victims in their grace period") {
  Scheduler s(pool(1, 4, std::nullopt));
  submit(s, job(1, 4, 0));
  REQUIRE(s.schedule(1).admitted.size() == 1);
  submit(s, job(2, 4, 1));
  const Decision d = s.schedule(2);
  REQUIRE(d.preempted.size() == 1);
  CHECK(d.preempted[0].victim == 1);
  std::optional<WaitReason> w = s.wait_reason(2);
  REQUIRE(w);
  CHECK(w->kind == WaitKind::awaiting_victims);
  CHECK(w->victims == std::vector<JobId>{1});
  s.release(1);
  CHECK(s.schedule(3).admitted.size() == 1);
}

TEST_CASE("cordon: nothing new is placed or preempted for; uncordon admits again") {
  Scheduler s(pool(1, 4, std::nullopt));
  submit(s, job(1, 2, 0));
  REQUIRE(s.schedule(1).admitted.size() == 1);
  REQUIRE(s.set_cordoned(0, true));
  CHECK_FALSE(s.set_cordoned(7, true));
  CHECK(s.cordoned(0));
  submit(s, job(2, 0, 0));  // needs no GPU, and still waits
  submit(s, job(3, 4, 1));  // could preempt job 1
  const Decision d = s.schedule(2);
  CHECK(d.admitted.empty());
  CHECK(d.preempted.empty());
  CHECK(s.job(1)->state == JobState::running);  // what runs keeps running
  CHECK(s.wait_reason(2)->kind == WaitKind::node_cordoned);
  CHECK(s.wait_reason(3)->message == "node `node0` is cordoned");
  REQUIRE(s.set_cordoned(0, false));
  const Decision after = s.schedule(3);
  CHECK(after.preempted.size() == 1);
  CHECK(after.admitted.size() == 1);  // job 2, on no GPU
}

TEST_CASE("cordon: placement avoids a cordoned node of several") {
  Scheduler s(pool(2, 4, std::nullopt));
  REQUIRE(s.set_cordoned(0, true));
  submit(s, job(1, 2));
  submit(s, job(2, 2));
  submit(s, job(3, 2));
  const Decision d = s.schedule(1);
  REQUIRE(d.admitted.size() == 2);
  for (const Admission& a : d.admitted)
    for (const GpuSlice& g : a.gpus) CHECK(g.gpu.node == 1);
  CHECK(s.wait_reason(3)->kind == WaitKind::no_capacity);
}
