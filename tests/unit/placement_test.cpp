// The fragmentation measure (runtime/core/fragmentation.h) on small nodes
// computed by hand, and the placement policies (runtime/core/placement.h)
// through the Scheduler, on cases where fgd must choose differently from
// best fit.
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/fragmentation.h"
#include "runtime/core/scheduler.h"

using namespace allot::runtime;

namespace {

NodeFree node(const std::vector<Amount>& free, Amount cpu, bool cpu_modelled = true) {
  return {cpu, cpu_modelled, free.data(), static_cast<std::uint32_t>(free.size())};
}

TaskType share(Amount milli, Amount cpu = 0, double p = 1) { return {cpu, 1, milli, "", p}; }
TaskType whole(std::uint32_t gpus, Amount cpu = 0, double p = 1) { return {cpu, gpus, kMilliPerGpu, "", p}; }

// `gpus_per_node[i]` GPUs on node i and one sharing queue without limits.
Cluster cluster(const std::vector<std::uint32_t>& gpus_per_node, PlacementPolicy policy, std::vector<TaskType> workload,
                Amount cpu_per_node = 0) {
  Cluster c;
  for (std::size_t i = 0; i < gpus_per_node.size(); ++i) {
    Node n;
    n.name = "n" + std::to_string(i);
    n.gpu_count = gpus_per_node[i];
    n.gpu_model = "A100";
    n.cpu_milli = cpu_per_node;
    c.nodes.push_back(n);
  }
  Scope q;
  q.kind = ScopeKind::queue;
  q.name = "q";
  q.queue.gpu_sharing = true;
  c.scopes.push_back(q);
  c.placement_policy = policy;
  c.workload = std::move(workload);
  return c;
}

Job job(JobId id, Amount gpu_milli, Amount cpu_milli = 0) {
  Job j;
  j.id = id;
  j.queue = 0;
  j.user = "alice";
  j.request.gpu_milli = gpu_milli;
  j.request.cpu_milli = cpu_milli;
  return j;
}

// Restores `jobs` as running, then submits `next` and returns where its GPUs
// went (empty if it was not admitted).
std::vector<GpuSlice> place_after(Cluster c, const std::vector<RunningJob>& running, Job next) {
  Scheduler s(std::move(c));
  REQUIRE(std::holds_alternative<Restored>(s.restore(running)));
  const JobId id = next.id;
  const auto submitted = s.submit(std::move(next), 1);
  REQUIRE(std::holds_alternative<Queued>(submitted));
  const Decision d = s.schedule(1);
  for (const Admission& a : d.admitted)
    if (a.job == id) return a.gpus;
  return {};
}

}  // namespace

TEST_CASE("fragmentation: one task type on hand-computed nodes", "[placement]") {
  // Free milli per GPU: 1000, 500, 200, 0 (1700 idle); 8 cores free.
  const std::vector<Amount> free = {1000, 500, 200, 0};
  const NodeFree n = node(free, 8000);
  // A 300-milli share fits (on the 1000 or the 500): only the 200 is too small.
  CHECK(task_fragmentation(n, true, share(300, 4000)) == 200);
  // A share of 600 fits only on the whole GPU: the 500 and 200 are fragments.
  CHECK(task_fragmentation(n, true, share(600)) == 700);
  // One whole GPU fits: every partly used GPU is a fragment for it.
  CHECK(task_fragmentation(n, true, whole(1, 1000)) == 700);
  // Two whole GPUs do not fit: all 1700 idle milli are fragmented.
  CHECK(task_fragmentation(n, true, whole(2)) == 1700);
  // Too few cores, or a GPU model it does not accept: all idle is fragmented.
  CHECK(task_fragmentation(n, true, share(100, 16000)) == 1700);
  CHECK(task_fragmentation(n, false, share(100)) == 1700);
  // A node whose CPU is not modelled never lacks cores.
  CHECK(task_fragmentation(node(free, 0, false), true, share(300, 16000)) == 200);
  // A full node has nothing to fragment.
  const std::vector<Amount> full = {0, 0};
  CHECK(task_fragmentation(node(full, 8000), true, whole(1)) == 0);
}

TEST_CASE("fragmentation: the expectation over a workload", "[placement]") {
  const std::vector<Amount> free = {1000, 500, 200, 0};
  const std::vector<TaskType> workload = {share(300, 0, 0.5), whole(1, 0, 0.25), whole(2, 0, 0.25)};
  // 0.5 * 200 + 0.25 * 700 + 0.25 * 1700
  CHECK(node_fragmentation(node(free, 8000), workload, {1, 1, 1}) == Approx(700.0));
  // The first type rejects the node's model: 0.5 * 1700 + 0.25 * 700 + 0.25 * 1700
  CHECK(node_fragmentation(node(free, 8000), workload, {0, 1, 1}) == Approx(1450.0));
}

TEST_CASE("fragmentation: the fixed-point form the placement uses", "[placement]") {
  const std::vector<Amount> free = {1000, 500, 200, 0};
  const std::vector<TaskType> workload = {share(300, 0, 0.5), whole(1, 0, 0.25), whole(2, 0, 0.25),
                                          share(300, 16000, 0.0)};
  const std::vector<std::int64_t> weights = fragmentation_weights(workload);
  const std::vector<char> ok = {1, 1, 1, 1};
  FragTerms terms;
  prepare_fragmentation(8000, true, workload, weights, ok.data(), terms);
  // The two whole-GPU types stay apart (1 and 2 GPUs); the share too big
  // for the cores counts all idle.
  CHECK(terms.terms.size() == 3);
  const double scaled = static_cast<double>(scaled_fragmentation(terms, free.data(), 4)) / FragTerms::kScale;
  CHECK(scaled == Approx(node_fragmentation(node(free, 8000), workload, ok)));
  CHECK(scaled == Approx(700.0));
  // 4 cores left: the first share type still fits (it asks for none).
  prepare_fragmentation(4000, true, workload, weights, ok.data(), terms);
  CHECK(static_cast<double>(scaled_fragmentation(terms, free.data(), 4)) / FragTerms::kScale == Approx(700.0));
  // The same state gives the same integer however the terms were merged.
  const std::vector<Amount> reordered = {0, 200, 1000, 500};
  prepare_fragmentation(8000, true, workload, weights, ok.data(), terms);
  CHECK(scaled_fragmentation(terms, free.data(), 4) == scaled_fragmentation(terms, reordered.data(), 4));
}

TEST_CASE("fragmentation: the typical workload of a request list", "[placement]") {
  std::vector<TaskType> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(share(500, 4000));
  for (int i = 0; i < 3; ++i) requests.push_back(whole(1, 8000));
  for (int i = 0; i < 2; ++i) requests.push_back(whole(8, 64000));
  requests.push_back({0, 0, 0, "", 1});  // no GPU: not a type
  // In steps of one type until 60% are covered: 50%, then 80%; renormalised.
  const std::vector<TaskType> two = typical_workload(requests, 0.6, 1);
  REQUIRE(two.size() == 2);
  CHECK(two[0].milli_per_gpu == 500);
  CHECK(two[0].popularity == Approx(5.0 / 8));
  CHECK(two[1].gpus == 1);
  CHECK(two[1].popularity == Approx(3.0 / 8));
  // The default, 95% in steps of one, takes all three (80% after two).
  const std::vector<TaskType> all = typical_workload(requests);
  REQUIRE(all.size() == 3);
  CHECK(all[2].gpus == 8);
  CHECK(all[2].popularity == Approx(0.2));
}

TEST_CASE("fragmentation: CPU-only task types", "[placement]") {
  // Every idle GPU is fragmented for a task without GPUs.
  const std::vector<Amount> free = {1000, 500};
  CHECK(task_fragmentation(node(free, 8000), true, {1000, 0, 0, "", 1}) == 1500);
  // Counted as types only when asked: 4 CPU-only, 3 shares, 3 whole GPUs;
  // in steps of one until 60%: the CPU-only type (40%), then the shares (70%).
  std::vector<TaskType> requests;
  for (int i = 0; i < 4; ++i) requests.push_back({2000, 0, 0, "", 1});
  for (int i = 0; i < 3; ++i) requests.push_back(share(500));
  for (int i = 0; i < 3; ++i) requests.push_back(whole(1, 1000));
  const std::vector<TaskType> with_cpu = typical_workload(requests, 0.6, 1, true);
  REQUIRE(with_cpu.size() == 2);
  CHECK(with_cpu[0].gpus == 0);
  CHECK(with_cpu[0].popularity == Approx(4.0 / 7));
  // Ties in popularity go to the larger request, as the authors sort: the
  // whole GPU (1 core) before the share (no cores).
  CHECK(with_cpu[1].gpus == 1);
  CHECK(with_cpu[1].milli_per_gpu == kMilliPerGpu);
  const std::vector<TaskType> gpu_only = typical_workload(requests, 0.6, 1);
  REQUIRE(gpu_only.size() == 2);
  CHECK(gpu_only[0].milli_per_gpu == kMilliPerGpu);
  CHECK(gpu_only[1].milli_per_gpu == 500);
}

TEST_CASE("fragmentation: accepted GPU models", "[placement]") {
  CHECK(accepts_model("", "T4"));
  CHECK(accepts_model("V100M16|V100M32", "V100M32"));
  CHECK(accepts_model("V100M16|V100M32", "V100M16"));
  CHECK_FALSE(accepts_model("V100M16|V100M32", "V100M3"));
  CHECK_FALSE(accepts_model("T4", "A10"));
}

TEST_CASE("placement: fgd keeps a share's GPU usable where best fit strands it", "[placement]") {
  // Node 0's GPU has 700 free, node 1's 1000. The workload asks for 500.
  // A 300 share: best fit takes node 0 (fullest), leaving 400 that no 500
  // can use; fgd takes node 1 (700 left, still usable): no growth.
  const std::vector<RunningJob> running = {{job(1, 300), {{{0, 0}, 300}}, 0}};
  const std::vector<TaskType> workload = {share(500)};
  for (const Amount cpu : {Amount{0}, Amount{64000}}) {
    CAPTURE(cpu);
    const auto best = place_after(cluster({1, 1}, PlacementPolicy::best_fit, workload, cpu), running, job(2, 300));
    REQUIRE(best.size() == 1);
    CHECK(best[0].gpu.node == 0);
    const auto fgd = place_after(cluster({1, 1}, PlacementPolicy::fgd, workload, cpu), running, job(2, 300));
    REQUIRE(fgd.size() == 1);
    CHECK(fgd[0].gpu.node == 1);
    CHECK(fgd[0].milli == 300);
  }
}

TEST_CASE("placement: fgd keeps room for multi-GPU tasks where best fit breaks it", "[placement]") {
  // Node 0: 4 GPUs, one in use (3 free). Node 1: 2 GPUs, both free. The
  // workload asks for 2 whole GPUs. One GPU: best fit takes node 1 (fewest
  // free), leaving 1 GPU no 2-GPU task can use; fgd takes node 0 (2 left).
  const std::vector<RunningJob> running = {{job(1, 1000), {{{0, 0}, 1000}}, 0}};
  const std::vector<TaskType> workload = {whole(2)};
  const auto best = place_after(cluster({4, 2}, PlacementPolicy::best_fit, workload), running, job(2, 1000));
  REQUIRE(best.size() == 1);
  CHECK(best[0].gpu.node == 1);
  const auto fgd = place_after(cluster({4, 2}, PlacementPolicy::fgd, workload), running, job(2, 1000));
  REQUIRE(fgd.size() == 1);
  CHECK(fgd[0].gpu.node == 0);
  CHECK(fgd[0].gpu.index != 0);
}

TEST_CASE("placement: fgd compares the authors' integer scores, ties to the lower id", "[placement]") {
  // Both nodes keep the 500 share usable (growth 0, score 50); best fit
  // takes the fuller node 1, fgd the lower id.
  const std::vector<RunningJob> used = {{job(1, 100), {{{1, 0}, 100}}, 0}};
  const auto tie = place_after(cluster({1, 1}, PlacementPolicy::fgd, {share(500)}), used, job(2, 300));
  REQUIRE(tie.size() == 1);
  CHECK(tie[0].gpu.node == 0);
  // Workload 97% shares of 500, 3% of 800. A 300 share grows F_n(M) by
  // 0.03 * 700 = 21 on node 0 and by 0.03 * 600 = 18 on node 1: the exact
  // growth prefers node 1, but both score trunc(100 sigmoid(-0.02)) = 49.
  const std::vector<TaskType> workload = {share(500, 0, 0.97), share(800, 0, 0.03)};
  const auto close = place_after(cluster({1, 1}, PlacementPolicy::fgd, workload), used, job(2, 300));
  REQUIRE(close.size() == 1);
  CHECK(close[0].gpu.node == 0);
  // Within a node, the lowest GPU index among equal scores, not the fullest.
  const std::vector<RunningJob> one = {{job(1, 100), {{{0, 1}, 100}}, 0}};
  const auto gpu = place_after(cluster({2}, PlacementPolicy::fgd, {share(500)}), one, job(2, 300));
  REQUIRE(gpu.size() == 1);
  CHECK(gpu[0].gpu.index == 0);
}

TEST_CASE("placement: node CPU counts for fitting and for fragmentation", "[placement]") {
  // Node 0: 2 GPUs, one busy; node 1: 1 GPU. 8 cores each. The workload asks
  // for 1 GPU and 6 cores.
  const std::vector<RunningJob> running = {{job(1, 1000), {{{0, 0}, 1000}}, 0}};
  Scheduler s(cluster({2, 1}, PlacementPolicy::fgd, {whole(1, 6000)}, 8000));
  REQUIRE(std::holds_alternative<Restored>(s.restore(running)));
  CHECK(s.fragmented_milli() == Approx(0.0));
  // A CPU-only job of 4 cores strands the free GPU of either node for the
  // workload (4 cores left < 6): equal growth, equal scores, the lower id
  // (node 0) wins.
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(3, 0, 4000), 1)));
  CHECK(s.schedule(1).admitted.size() == 1);
  CHECK(s.fragmented_milli() == Approx(1000.0));
  // A job asking for 6 cores no longer fits on node 0: it goes to node 1.
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(4, 1000, 6000), 2)));
  const Decision d = s.schedule(2);
  REQUIRE(d.admitted.size() == 1);
  REQUIRE(d.admitted[0].gpus.size() == 1);
  CHECK(d.admitted[0].gpus[0].gpu.node == 1);
  // Node 0 has a free GPU but not the cores: the next such job waits.
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(5, 1000, 6000), 3)));
  CHECK(s.schedule(3).admitted.empty());
  // Once job 3 ends, its cores are back and job 5 runs on node 0.
  CHECK(s.finish(3));
  const Decision after = s.schedule(4);
  REQUIRE(after.admitted.size() == 1);
  CHECK(after.admitted[0].gpus[0].gpu.node == 0);
}

TEST_CASE("placement: first fit, spread and random", "[placement]") {
  const std::vector<RunningJob> running = {{job(1, 300), {{{1, 0}, 300}}, 0}};
  // First fit: the first node with room, whatever is used elsewhere.
  const auto first = place_after(cluster({1, 1}, PlacementPolicy::first_fit, {}), running, job(2, 300));
  REQUIRE(first.size() == 1);
  CHECK(first[0].gpu.node == 0);
  // Spread: the emptiest GPU.
  const auto spread = place_after(cluster({1, 1}, PlacementPolicy::spread, {}), running, job(2, 300));
  REQUIRE(spread.size() == 1);
  CHECK(spread[0].gpu.node == 0);
  // Random: the same seed gives the same choice.
  Cluster a = cluster({1, 1, 1, 1}, PlacementPolicy::random, {});
  a.placement_seed = 7;
  const auto r1 = place_after(a, {}, job(2, 1000));
  const auto r2 = place_after(a, {}, job(2, 1000));
  REQUIRE(r1.size() == 1);
  CHECK(r1 == r2);
}

TEST_CASE("placement: a pool without CPU, memory or workload places as before", "[placement]") {
  // best_fit without node capacities is GpuState's own placement: several
  // nodes for a job larger than any one of them.
  const auto spanned = place_after(cluster({2, 2}, PlacementPolicy::best_fit, {}), {}, job(1, 3000));
  CHECK(spanned.size() == 3);
  // With node CPU modelled, a job is placed on one node or not at all.
  const auto none = place_after(cluster({2, 2}, PlacementPolicy::best_fit, {}, 64000), {}, job(1, 3000));
  CHECK(none.empty());
}
