// What allotd counts of its node (use_node_resources: the plan's CPU and
// memory cut to the machine's) and the expected workload it measures
// fragmentation against (live_workload: its latest jobs' requests).
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <variant>

#include "runtime/daemon/fragmentation_status.h"
#include "runtime/daemon/node_plan.h"

using namespace allot;

namespace {

daemon::NodePlan node_plan(runtime::Amount cpu_milli, runtime::Amount memory_mib) {
  daemon::NodePlan np;
  np.node.name = "n1";
  np.node.gpus = 4;
  np.node.cpu_milli = cpu_milli;
  np.node.memory_mib = memory_mib;
  np.cluster.nodes.push_back({"n1", 4, "A100", 0});
  return np;
}

daemon::JobRecord job(runtime::JobId id, runtime::Amount gpu_milli, runtime::Amount cpu_milli = 0) {
  daemon::JobRecord r;
  r.id = id;
  r.request = {gpu_milli, cpu_milli, 0};
  return r;
}

}  // namespace

TEST_CASE("node resources: the plan's, cut to the machine's") {
  daemon::NodePlan np = node_plan(32000, 262144);
  daemon::use_node_resources(np, 2000, 16384);  // a smaller machine
  CHECK(np.cluster.nodes[0].cpu_milli == 2000);
  CHECK(np.cluster.nodes[0].memory_mib == 16384);
  np = node_plan(1000, 256);
  daemon::use_node_resources(np, 2000, 16384);  // the plan gives jobs less
  CHECK(np.cluster.nodes[0].cpu_milli == 1000);
  CHECK(np.cluster.nodes[0].memory_mib == 256);
  np = node_plan(0, 256);
  daemon::use_node_resources(np, 0, 0);  // one side unknown: the other
  CHECK(np.cluster.nodes[0].cpu_milli == 0);
  CHECK(np.cluster.nodes[0].memory_mib == 256);
  np = node_plan(0, 0);
  daemon::use_node_resources(np, 4000, 0);
  CHECK(np.cluster.nodes[0].cpu_milli == 4000);
  CHECK(np.cluster.nodes[0].memory_mib == 0);
}

TEST_CASE("live workload: the latest jobs' GPU requests, typical, else one whole GPU") {
  std::map<runtime::JobId, daemon::JobRecord> jobs;
  daemon::LiveWorkload w = daemon::live_workload(jobs);
  CHECK(w.fallback);
  CHECK(w.requests == 0);
  REQUIRE(w.types.size() == 1);
  CHECK(w.types[0].gpus == 1);
  CHECK(w.types[0].milli_per_gpu == runtime::kMilliPerGpu);
  CHECK(w.types[0].popularity == 1.0);
  jobs[1] = job(1, 0, 4000);  // no GPU: not a type
  CHECK(daemon::live_workload(jobs).fallback);

  jobs[2] = job(2, 2000);
  jobs[3] = job(3, 500, 1000);
  jobs[4] = job(4, 2000);
  jobs[5] = job(5, 2000);
  w = daemon::live_workload(jobs);
  CHECK_FALSE(w.fallback);
  CHECK(w.requests == 4);
  REQUIRE(w.types.size() == 2);  // most popular first
  CHECK(w.types[0].gpus == 2);
  CHECK(w.types[0].popularity == Approx(0.75));
  CHECK(w.types[1].gpus == 1);
  CHECK(w.types[1].milli_per_gpu == 500);
  CHECK(w.types[1].cpu_milli == 1000);
  CHECK(w.types[1].popularity == Approx(0.25));

  // A window of the 2 latest jobs: only the 2-GPU requests.
  w = daemon::live_workload(jobs, 2);
  CHECK(w.requests == 2);
  REQUIRE(w.types.size() == 1);
  CHECK(w.types[0].gpus == 2);
}

TEST_CASE("fragmentation status: the reply object and the gauges") {
  runtime::FragmentationNow f;
  f.capacity_milli = 4000;
  f.idle_milli = 2500;
  f.next_job = 5;
  f.next_request_milli = 3000;
  f.for_next_milli = 2500;
  f.for_workload_milli = 1199.6;
  std::map<runtime::JobId, daemon::JobRecord> jobs{{1, job(1, 1000)}};
  const api::Json j = daemon::fragmentation_json(f, daemon::live_workload(jobs));
  CHECK(j.dump() ==
        R"({"capacity_gpu_milli":4000,"idle_gpu_milli":2500,"next_request":{"job":5,"gpu_milli":3000,)"
        R"("fragmented_gpu_milli":2500},"expected_workload":{"fragmented_gpu_milli":1200,"source":"history",)"
        R"("requests":1,"types":[{"cpu_milli":0,"gpus":1,"milli_per_gpu":1000,"popularity":1}]}})");
  const std::string text = daemon::render_fragmentation_metrics("n1", f);
  CHECK(text.find("allot_node_gpus_idle{node=\"n1\"} 2.500\n") != std::string::npos);
  CHECK(text.find("allot_node_gpus_fragmented{node=\"n1\",definition=\"next_request\"} 2.500\n") != std::string::npos);
  CHECK(text.find("allot_node_gpus_fragmented{node=\"n1\",definition=\"expected_workload\"} 1.200\n") !=
        std::string::npos);
}

TEST_CASE("node plan: allotd runs its own pool's placement policy") {
  // Two pools, the first fgd, the second spread, the third names none.
  const std::string plan = R"(format_version = 1
allot_version = "0.1.0"
source_sha256 = "abc"

[[nodes]]
name = "a1"
pool = "pa"
gpus = 4

[[nodes]]
name = "b1"
pool = "pb"
gpus = 4

[[nodes]]
name = "c1"
pool = "pc"
gpus = 4

[[pools]]
name = "pa"
placement = "fgd"

[[pools]]
name = "pb"
placement = "spread"

[[pools]]
name = "pc"

[[scopes]]
path = "q"
kind = "queue"
name = "q"
pool = "pa"
bounds = {}
roles = []
)";
  auto policy_of = [&](const std::string& node) {
    auto loaded = daemon::load_node_plan(plan, "plan.toml", node, {"root"});
    if (const auto* e = std::get_if<std::string>(&loaded)) FAIL(*e);
    return std::get<daemon::NodePlan>(std::move(loaded)).cluster.placement_policy;
  };
  CHECK(policy_of("a1") == runtime::PlacementPolicy::fgd);
  CHECK(policy_of("b1") == runtime::PlacementPolicy::spread);
  CHECK(policy_of("c1") == runtime::PlacementPolicy::best_fit);
}
