// Nodes that count CPU and memory (Node::cpu_milli, Node::memory_mib): a job
// waits, with a reason, while no node has room for all of its request; the
// victim search makes room for all of it on one node, and preempts nobody
// when no set of victims can; and the fragmentation a running pool reports
// (Scheduler::fragmentation_now) on small nodes computed by hand.
#include <algorithm>
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/scheduler.h"

using namespace allot::runtime;

namespace {

// One queue (gpu_sharing) with classes low and high (high preempts low in
// the queue); node i has `gpus` GPUs of `models[i]`, `cpu` milli-CPU and
// `memory` MiB.
Cluster pool(const std::vector<std::string>& models, std::uint32_t gpus, Amount cpu, Amount memory = 0) {
  Cluster c;
  for (std::size_t i = 0; i < models.size(); ++i) {
    Node n;
    n.name = "node" + std::to_string(i);
    n.gpu_count = gpus;
    n.gpu_model = models[i];
    n.cpu_milli = cpu;
    n.memory_mib = memory;
    c.nodes.push_back(n);
  }
  c.priorities.push_back({"low", 10, {}});
  c.priorities.push_back({"high", 100, {0}});
  Scope q;
  q.kind = ScopeKind::queue;
  q.name = "q";
  q.queue.gpu_sharing = true;
  c.scopes.push_back(q);
  return c;
}

constexpr PriorityId kLow = 0, kHigh = 1;

Job job(JobId id, Amount gpu_milli, Amount cpu_milli, PriorityId priority, std::string models = "",
        Amount memory_mib = 0) {
  Job j;
  j.id = id;
  j.queue = 0;
  j.user = "alice";
  j.priority = priority;
  j.request = {gpu_milli, cpu_milli, memory_mib};
  j.submit_time = static_cast<Time>(id);
  j.gpu_models = std::move(models);
  return j;
}

void submit(Scheduler& s, Job j) {
  const JobId id = j.id;
  const auto submitted = s.submit(std::move(j), 0);
  INFO("job " << id);
  REQUIRE(std::holds_alternative<Queued>(submitted));
}

bool admitted(const Decision& d, JobId id) {
  for (const Admission& a : d.admitted)
    if (a.job == id) return true;
  return false;
}

std::vector<JobId> victims(const Decision& d) {
  std::vector<JobId> out;
  for (const Preemption& p : d.preempted) out.push_back(p.victim);
  return out;
}

}  // namespace

TEST_CASE("node capacity: a job waits while its node lacks CPU or memory, and says so") {
  Scheduler s(pool({"A100"}, 4, 8000, 4096));
  submit(s, job(1, 1000, 6000, kLow));
  REQUIRE(admitted(s.schedule(1), 1));
  submit(s, job(2, 1000, 4000, kLow));  // GPUs are free, CPU is not
  REQUIRE_FALSE(admitted(s.schedule(2), 2));
  std::optional<WaitReason> w = s.wait_reason(2);
  REQUIRE(w);
  CHECK(w->kind == WaitKind::no_capacity);
  CHECK(w->message ==
        "no capacity: the job needs 4 cpu on one node with room for its GPUs, node `node0` has 2 cpu free");
  CHECK(w->resource == Resource::cpu);
  CHECK(w->free == 2000);
  submit(s, job(3, 0, 1000, kLow, "", 5000));  // more memory than is free
  REQUIRE_FALSE(admitted(s.schedule(3), 3));
  w = s.wait_reason(3);
  REQUIRE(w);
  CHECK(w->kind == WaitKind::no_capacity);
  CHECK(w->message ==
        "no capacity: the job needs 1 cpu and 5000 MiB on one node with room for its GPUs, node `node0` has 2 cpu "
        "and 4096 MiB free");
  CHECK(w->resource == Resource::memory);
  CHECK(w->free == 4096);
  // Once job 1 is gone there is room: job 2 starts, job 3 still lacks memory.
  REQUIRE(s.finish(1));
  const Decision d = s.schedule(3);
  CHECK(admitted(d, 2));
  CHECK_FALSE(admitted(d, 3));
}

TEST_CASE("node capacity: victims free the CPU the preemptor needs, not only its GPUs") {
  Scheduler s(pool({"A100"}, 4, 8000));
  submit(s, job(1, 2000, 1000, kLow));  // GPUs, little CPU
  submit(s, job(2, 0, 6000, kLow));     // CPU only
  submit(s, job(3, 1000, 1000, kLow));
  REQUIRE(s.schedule(1).admitted.size() == 3);  // 1 GPU and no CPU left
  // 2 GPUs and 4 CPU: freeing job 3's GPU alone (what GPUs alone would ask)
  // would leave it short of CPU. Job 2 must go, with one GPU holder.
  submit(s, job(4, 2000, 4000, kHigh));
  const Decision d = s.schedule(2);
  const std::vector<JobId> v = victims(d);
  INFO("victims " << v.size());
  REQUIRE(v.size() == 2);
  CHECK(std::find(v.begin(), v.end(), 2) != v.end());
  for (JobId id : v) s.release(id);
  CHECK(admitted(s.schedule(3), 4));
}

TEST_CASE("node capacity: no preemption that cannot make room for the CPU") {
  Scheduler s(pool({"A100"}, 4, 8000));
  submit(s, job(1, 0, 6000, kHigh));  // CPU held by a job nobody may preempt
  submit(s, job(2, 2000, 500, kLow));
  submit(s, job(3, 2000, 500, kLow));
  REQUIRE(s.schedule(1).admitted.size() == 3);
  // The low jobs hold every GPU but free at most 1 cpu of the 4 it needs.
  submit(s, job(4, 1000, 4000, kHigh));
  const Decision d = s.schedule(2);
  CHECK(d.preempted.empty());
  CHECK_FALSE(s.plan_preemption(4));
  CHECK(s.job(2)->state == JobState::running);
  CHECK(s.job(3)->state == JobState::running);
  CHECK(s.wait_reason(4)->kind == WaitKind::no_capacity);
}

TEST_CASE("node capacity: victims are taken on the node that can hold the whole request") {
  // node0 (A100): jobs 1 (3 cpu) and 2 (youngest, no CPU); node1 (H100):
  // jobs 3 and 4. Job 2 is the preferred victim, but node0 would still lack
  // CPU without job 1 gone too: one victim on node1 is enough.
  Scheduler s(pool({"A100", "H100"}, 2, 4000));
  submit(s, job(1, 1000, 3000, kLow, "A100"));
  submit(s, job(3, 1000, 0, kLow, "H100"));
  submit(s, job(4, 1000, 0, kLow, "H100"));
  REQUIRE(s.schedule(1).admitted.size() == 3);
  submit(s, job(2, 1000, 0, kLow, "A100"));
  REQUIRE(admitted(s.schedule(2), 2));
  submit(s, job(5, 1000, 2000, kHigh));
  const Decision d = s.schedule(3);
  const std::vector<JobId> v = victims(d);
  REQUIRE(v.size() == 1);
  CHECK((v[0] == 3 || v[0] == 4));
  s.release(v[0]);
  const Decision after = s.schedule(4);
  REQUIRE(admitted(after, 5));
  for (const Admission& a : after.admitted)
    if (a.job == 5) CHECK(a.gpus.at(0).gpu.node == 1);
}

TEST_CASE("node capacity: a pool without CPU or memory searches victims as before") {
  Scheduler s(pool({"A100"}, 4, 0));
  submit(s, job(1, 2000, 1000, kLow));
  submit(s, job(2, 0, 6000, kLow));
  submit(s, job(3, 1000, 1000, kLow));
  REQUIRE(s.schedule(1).admitted.size() == 3);
  submit(s, job(4, 2000, 4000, kHigh));
  const Decision d = s.schedule(2);
  CHECK(victims(d) == std::vector<JobId>{3});  // CPU is not counted: one GPU is missing
}

TEST_CASE("fragmentation now: the next request's definition and the paper's, by hand") {
  Cluster c = pool({"A100"}, 4, 0);
  Scheduler s(std::move(c));
  Job a = job(1, 500, 0, kLow), b = job(2, 2000, 0, kLow);
  REQUIRE(
      std::holds_alternative<Restored>(s.restore({{a, {{{0, 0}, 500}}, 0}, {b, {{{0, 1}, 1000}, {{0, 2}, 1000}}, 0}})));
  // Free: GPU 0 has 500, GPU 3 is whole.
  FragmentationNow f = s.fragmentation_now({{0, 1, kMilliPerGpu, "", 1.0}});
  CHECK(f.capacity_milli == 4000);
  CHECK(f.idle_milli == 1500);
  CHECK(f.next_job == 0);
  CHECK(f.for_next_milli == 0);                // nothing pending
  CHECK(f.for_workload_milli == Approx(500));  // one whole GPU: GPU 0's remainder
  CHECK(s.fragmentation_now({{0, 1, 600, "", 1.0}}).for_workload_milli == Approx(500));
  CHECK(s.fragmentation_now({{0, 1, 400, "", 1.0}}).for_workload_milli == Approx(0));
  CHECK(s.fragmentation_now({{0, 2, kMilliPerGpu, "", 1.0}}).for_workload_milli == Approx(1500));
  CHECK(s.fragmentation_now({{0, 1, kMilliPerGpu, "", 0.5}, {0, 2, kMilliPerGpu, "", 0.5}}).for_workload_milli ==
        Approx(1000));
  CHECK(s.fragmentation_now({{0, 1, kMilliPerGpu, "H100", 1.0}}).for_workload_milli == Approx(1500));
  // A pending 2-GPU job: the node's one free GPU and GPU 0's remainder.
  submit(s, job(3, 2000, 0, kLow));
  s.schedule(1);
  f = s.fragmentation_now({});
  CHECK(f.next_job == 3);
  CHECK(f.next_request_milli == 2000);
  CHECK(f.for_next_milli == 1500);
  CHECK(f.for_workload_milli == 0);
  // A pending share of 600 (first in line): only GPU 0's 500 is too small.
  REQUIRE(s.finish(3));
  submit(s, job(4, 600, 0, kHigh));
  f = s.fragmentation_now({});
  CHECK(f.next_job == 4);
  CHECK(f.for_next_milli == 500);
}
