// Benchmark of `allot simulate` (not a test). Prints figures; asserts nothing.
//
//   allot_bench_sim [plan.toml] [jobs] [nodes]
//   allot_bench_sim --load A.toml B.toml [A2.toml B2.toml ...]
//
// 1. The full default openb trace (8,152 pods) on the openb node list (1,213
//    nodes, 6,212 GPUs), read from ../shared/data next to the source tree:
//    parse, assign and simulate, best and median of 5 runs. With a plan (e.g.
//    `allot compile policies/venus-tenants.allot --inventory
//    ../shared/data/alibaba-gpu-v2023/openb_node_list_gpu_node.csv -o plan.toml`)
//    its scopes are used; otherwise 16 tenants with Venus' guarantees scaled
//    to the cluster, each allowed to borrow the whole cluster.
// 2. A generated trace of 1M jobs on 10k 8-GPU nodes at about 85% offered
//    load (fixed-seed LCG): events per second and peak memory (getrusage).
// 3. With --load: load mode (docs/simulate.md "Load") of each pair of plans
//    (e.g. the same policy compiled with and without --method=first-fit) on
//    openb_pod_list_default.csv and openb_pod_list_multigpu50.csv: GPUs
//    allocated, unallocated and fragmented at the first failure and after the
//    whole trace (failed pods withdrawn), and how many admitted pods were
//    given different GPUs by the two plans.
// 4. With --contended [FACTOR [DIVISOR]]: the default openb trace on every
//    DIVISOR-th openb node (default 4), 16 tenants each allowed to borrow
//    the whole cluster, arrivals FACTOR times faster (default 1000), so that
//    the cluster queues and reclaims:
//    the simulation's events per second and preemptions per job, then the
//    same trace replayed through a Scheduler with every schedule() call
//    timed (p50/p99 of the calls that preempted: victim search included).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <queue>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/plan_reader.h"
#include "runtime/sim/assign.h"
#include "runtime/sim/report.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace.h"

using namespace allot::runtime;
using namespace allot::runtime::sim;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

long peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Venus' 16 tenants (policies/venus-tenants.allot), GPUs.
constexpr int kVenusGpus[] = {72, 40, 64, 160, 48, 88, 32, 88, 32, 64, 24, 256, 80, 16, 8, 8};

// Tenants with guarantees proportional to Venus', summing to `total_gpus`,
// each allowed to borrow up to the whole cluster; one queue per tenant.
void add_tenants(Cluster& c, Amount total_gpus) {
  Scope root;
  root.kind = ScopeKind::quota;
  root.name = "root";
  root.bounds.gpu = Bound{total_gpus * 1000, total_gpus * 1000};
  c.scopes.push_back(root);
  int venus_total = 0;
  for (int g : kVenusGpus) venus_total += g;
  Amount given = 0;
  for (std::size_t i = 0; i < std::size(kVenusGpus); ++i) {
    Scope t;
    t.kind = ScopeKind::quota;
    t.name = "tenant" + std::to_string(i);
    t.parent = 0;
    const Amount g = i + 1 == std::size(kVenusGpus) ? total_gpus - given : total_gpus * kVenusGpus[i] / venus_total;
    given += g;
    t.bounds.gpu = Bound{g * 1000, std::nullopt};
    c.scopes.push_back(t);
  }
  add_synthetic_queues(c);
}

void bench_openb(const char* plan_path) {
  const std::string data = std::string(ALLOT_SOURCE_DIR) + "/../shared/data/alibaba-gpu-v2023/";
  const std::string pods = read_all(data + "openb_pod_list_default.csv");
  const std::string nodes_text = read_all(data + "openb_node_list_gpu_node.csv");
  std::vector<double> times;
  SimResult last;
  Cluster cluster;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
    if (plan_path) {
      PlanReadResult plan = read_plan(read_all(plan_path), plan_path);
      if (auto* e = std::get_if<PlanError>(&plan)) {
        std::fprintf(stderr, "%s\n", e->to_string().c_str());
        std::exit(2);
      }
      cluster = std::get<LoadedPlan>(plan).cluster;
      add_synthetic_queues(cluster);
    } else {
      cluster = Cluster{};
      const NodeListResult rows = parse_node_list(nodes_text, "nodes.csv");
      for (const NodeRow& n : std::get<std::vector<NodeRow>>(rows))
        cluster.nodes.push_back({n.name, n.gpus, n.model, 0});
      Amount gpus = 0;
      for (const Node& n : cluster.nodes) gpus += n.gpu_count;
      add_tenants(cluster, gpus);
    }
    const Trace trace = std::get<Trace>(parse_trace(pods, "openb_pod_list_default.csv"));
    const auto jobs = std::get<std::vector<SimJob>>(resolve_jobs(cluster, trace, nullptr, "", 0));
    last = simulate(cluster, jobs);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const Summary s = summarize(cluster, last);
  std::printf("openb default trace (%zu jobs, %zu nodes, %lld GPUs, %s):\n", last.jobs.size(), cluster.nodes.size(),
              static_cast<long long>(last.capacity_milli / 1000), plan_path ? plan_path : "16 borrowing tenants");
  std::printf("  parse + assign + simulate: best %.1f ms, median %.1f ms (target < 1000 ms)\n", times.front() * 1e3,
              times[times.size() / 2] * 1e3);
  std::printf("  %llu events, %llu schedule() calls; utilization %.2f%%, delay p99 %.0f s, %llu preemptions\n",
              static_cast<unsigned long long>(last.events), static_cast<unsigned long long>(last.schedule_calls),
              100 * s.utilization, s.delay_p99_s, static_cast<unsigned long long>(s.preemptions));
}

struct Lcg {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  std::uint64_t below(std::uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  }
};

void bench_generated(std::size_t job_count, std::uint32_t node_count) {
  Cluster cluster;
  for (std::uint32_t n = 0; n < node_count; ++n) cluster.nodes.push_back({"node" + std::to_string(n), 8, "H100", 0});
  add_tenants(cluster, static_cast<Amount>(node_count) * 8);
  std::vector<ScopeId> queues;
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s)
    if (cluster.scopes[s].kind == ScopeKind::queue) queues.push_back(s);
  const HashAssigner assigner(guarantee_weights(cluster));
  // Sizes: 0.5 GPU 10%, 1 GPU 60%, 2/4/8 GPUs 10% each: 2.05 GPUs on average.
  // Runtimes uniform in [10 min, 230 min]: 2 h on average. Arrivals spaced
  // for 85% of the cluster.
  constexpr Amount kSizes[] = {500, 1000, 1000, 1000, 1000, 1000, 1000, 2000, 4000, 8000};
  const double mean_gap_ms = 2.05 * 7200.0 * 1000.0 / (0.85 * 8.0 * node_count);
  Lcg rng;
  std::vector<SimJob> jobs(job_count);
  Time t = 0;
  const auto t0 = Clock::now();
  for (std::size_t i = 0; i < job_count; ++i) {
    SimJob& s = jobs[i];
    s.job.id = i + 1;
    s.job.queue = queues[rng.below(queues.size())];
    s.job.user = "u";
    s.job.request.gpu_milli = kSizes[rng.below(10)];
    s.job.preemptible = rng.below(2) == 0;  // half BE, half LS
    t += static_cast<Time>(rng.below(static_cast<std::uint64_t>(2 * mean_gap_ms) + 1));
    s.job.submit_time = t;
    s.runtime_ms = (600 + static_cast<Time>(rng.below(13200))) * 1000;
  }
  (void)assigner;
  const double gen_s = seconds_since(t0);
  const auto t1 = Clock::now();
  const SimResult r = simulate(cluster, jobs);
  const double sim_s = seconds_since(t1);
  const Summary s = summarize(cluster, r);
  std::printf("generated trace (%zu jobs, %u nodes, %u GPUs; generated in %.2f s):\n", job_count, node_count,
              node_count * 8, gen_s);
  std::printf("  simulate: %.2f s, %llu events = %.2f M events/s (target >= 1 M/s), %.0f jobs/s\n", sim_s,
              static_cast<unsigned long long>(r.events), static_cast<double>(r.events) / sim_s / 1e6,
              static_cast<double>(job_count) / sim_s);
  std::printf("  %llu schedule() calls, %llu preemptions, utilization %.1f%%, delay p50/p99 %.0f/%.0f s\n",
              static_cast<unsigned long long>(r.schedule_calls), static_cast<unsigned long long>(r.preemptions),
              100 * s.utilization, s.delay_p50_s, s.delay_p99_s);
  std::printf("  peak memory (ru_maxrss): %ld MiB\n", peak_rss_mib());
}

Cluster load_plan(const std::string& path) {
  PlanReadResult plan = read_plan(read_all(path), path);
  if (auto* e = std::get_if<PlanError>(&plan)) {
    std::fprintf(stderr, "%s\n", e->to_string().c_str());
    std::exit(2);
  }
  Cluster c = std::get<LoadedPlan>(plan).cluster;
  add_synthetic_queues(c);
  return c;
}

SimResult run_load(const Cluster& cluster, const Trace& trace, std::uint64_t failures) {
  SimOptions o;
  o.load = true;
  o.load_failures = failures;
  o.record_decisions = true;
  return simulate(cluster, std::get<std::vector<SimJob>>(resolve_jobs(cluster, trace, nullptr, "", 0)), o);
}

// Admitted jobs whose GPUs differ between the two runs (placements compared by
// node name and GPU index, so plans with different node orders compare).
std::size_t placements_differing(const Cluster& ca, const SimResult& a, const Cluster& cb, const SimResult& b) {
  auto placed = [](const Cluster& c, const SimResult& r) {
    std::vector<std::vector<std::pair<std::string, std::uint32_t>>> by_job(r.jobs.size());
    for (const LoggedDecision& d : r.decisions)
      for (const Admission& adm : d.decision.admitted) {
        auto& v = by_job[adm.job - 1];
        v.clear();
        for (const GpuSlice& s : adm.gpus) v.emplace_back(c.nodes[s.gpu.node].name, s.gpu.index);
        std::sort(v.begin(), v.end());
      }
    return by_job;
  };
  const auto pa = placed(ca, a), pb = placed(cb, b);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < pa.size(); ++i) differ += !pa[i].empty() && !pb[i].empty() && pa[i] != pb[i];
  return differ;
}

void bench_load(const std::vector<std::string>& plans) {
  const std::string data = std::string(ALLOT_SOURCE_DIR) + "/../shared/data/alibaba-gpu-v2023/";
  for (const char* file : {"openb_pod_list_default.csv", "openb_pod_list_multigpu50.csv"}) {
    const Trace trace = std::get<Trace>(parse_trace(read_all(data + file), file));
    std::printf("load mode, %s (%zu GPU pods):\n", file, trace.jobs.size());
    for (std::size_t p = 0; p + 1 < plans.size(); p += 2) {
      const Cluster a = load_plan(plans[p]), b = load_plan(plans[p + 1]);
      for (const std::uint64_t failures : {std::uint64_t{1}, std::uint64_t{1} << 40}) {
        const SimResult ra = run_load(a, trace, failures), rb = run_load(b, trace, failures);
        std::printf("  %s\n", failures == 1 ? "stop at the first failure:" : "whole trace, failed pods withdrawn:");
        for (const auto* run : {&ra, &rb}) {
          const LoadResult& l = run->load;
          const double cap = static_cast<double>(run->capacity_milli);
          std::printf(
              "    %-36s arrived %5llu admitted %5llu failed %5llu (quota %llu); allocated %7.1f, unallocated %7.1f "
              "(%5.2f%%), fragmented %6.1f (%5.2f%%)%s%s\n",
              plans[p + (run == &rb)].c_str(), static_cast<unsigned long long>(l.arrived),
              static_cast<unsigned long long>(l.admitted), static_cast<unsigned long long>(l.failed),
              static_cast<unsigned long long>(l.failed_quota), l.allocated_milli / 1000.0,
              (cap - static_cast<double>(l.allocated_milli)) / 1000.0,
              100 * (cap - static_cast<double>(l.allocated_milli)) / cap, l.fragmented_milli / 1000.0,
              100 * static_cast<double>(l.fragmented_milli) / cap, l.trace_exhausted ? "" : "; stop at ",
              l.trace_exhausted ? "" : l.stop_name.c_str());
        }
        std::printf("    admitted pods placed on different GPUs by the two plans: %zu\n",
                    placements_differing(a, ra, b, rb));
      }
    }
  }
}

}  // namespace

void bench_contended(double factor, std::size_t divisor) {
  const std::string data = std::string(ALLOT_SOURCE_DIR) + "/../shared/data/alibaba-gpu-v2023/";
  const std::string pods = read_all(data + "openb_pod_list_default.csv");
  const std::string nodes_text = read_all(data + "openb_node_list_gpu_node.csv");
  Cluster cluster;
  const NodeListResult rows = parse_node_list(nodes_text, "nodes.csv");
  const auto& all_nodes = std::get<std::vector<NodeRow>>(rows);
  for (std::size_t i = 0; i < all_nodes.size(); i += divisor)
    cluster.nodes.push_back({all_nodes[i].name, all_nodes[i].gpus, all_nodes[i].model, 0});
  Amount gpus = 0;
  for (const Node& n : cluster.nodes) gpus += n.gpu_count;
  add_tenants(cluster, gpus);
  Trace trace = std::get<Trace>(parse_trace(pods, "openb_pod_list_default.csv"));
  const Time start = trace.jobs.empty() ? 0 : trace.jobs.front().submit_ms;
  for (TraceJob& j : trace.jobs)
    j.submit_ms = start + static_cast<Time>(static_cast<double>(j.submit_ms - start) / factor);
  const auto jobs = std::get<std::vector<SimJob>>(resolve_jobs(cluster, trace, nullptr, "", 0));

  std::vector<double> times;
  SimResult last;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    last = simulate(cluster, jobs);
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  std::uint64_t started = 0;
  for (const JobResult& r : last.jobs) started += r.first_start >= 0;
  std::printf("contended openb trace (%zu jobs, %zu nodes, %lld GPUs, arrivals %.0fx faster, 16 borrowing tenants):\n",
              jobs.size(), cluster.nodes.size(), static_cast<long long>(gpus), factor);
  std::printf("  simulate: median %.1f ms, %.2f M events/s; %llu events, %llu preemptions, %.3f preemptions per job\n",
              times[times.size() / 2] * 1e3, static_cast<double>(last.events) / times[times.size() / 2] / 1e6,
              static_cast<unsigned long long>(last.events), static_cast<unsigned long long>(last.preemptions),
              static_cast<double>(last.preemptions) / static_cast<double>(jobs.size()));

  // The same arrivals through a Scheduler directly, each schedule() timed.
  Scheduler s(cluster);
  using Event = std::pair<Time, std::uint64_t>;  // (time, job index + 1): completions
  std::priority_queue<Event, std::vector<Event>, std::greater<>> ends;
  std::vector<std::uint32_t> run(jobs.size(), 0), current(jobs.size(), 0);
  std::vector<double> with_preemption, all_calls;
  std::size_t next = 0;
  while (next < jobs.size() || !ends.empty()) {
    Time t = next < jobs.size() ? jobs[next].job.submit_time : ends.top().first;
    if (!ends.empty() && ends.top().first < t) t = ends.top().first;
    while (!ends.empty() && ends.top().first == t) {
      const std::uint64_t id = ends.top().second;
      ends.pop();
      if (current[id - 1] == run[id - 1]) s.finish(id);
    }
    for (; next < jobs.size() && jobs[next].job.submit_time == t; ++next) {
      Job j = jobs[next].job;
      j.id = next + 1;
      s.submit(std::move(j), t);
    }
    for (;;) {
      const auto c0 = Clock::now();
      const Decision d = s.schedule(t);
      const double us = seconds_since(c0) * 1e6;
      all_calls.push_back(us);
      if (!d.preempted.empty()) with_preemption.push_back(us);
      if (d.admitted.empty() && d.preempted.empty()) break;
      for (const Admission& a : d.admitted) {
        current[a.job - 1] = ++run[a.job - 1];
        ends.push({t + jobs[a.job - 1].runtime_ms, a.job});
      }
      for (const Preemption& p : d.preempted) {
        ++run[p.victim - 1];
        s.release(p.victim);
      }
    }
  }
  auto pct = [](std::vector<double>& v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  std::printf("  schedule() calls: %zu, p50 %.1f us, p99 %.1f us; the %zu that preempted: p50 %.1f us, p99 %.1f us\n",
              all_calls.size(), pct(all_calls, 0.5), pct(all_calls, 0.99), with_preemption.size(),
              pct(with_preemption, 0.5), pct(with_preemption, 0.99));
  std::printf("  started %llu of %zu jobs; peak RSS %ld MiB\n", static_cast<unsigned long long>(started), jobs.size(),
              peak_rss_mib());
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--contended") {
    bench_contended(argc > 2 ? std::stod(argv[2]) : 1000.0, argc > 3 ? std::stoul(argv[3]) : 4);
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--load") {
    if (argc < 4 || (argc - 2) % 2 != 0) {
      std::fprintf(stderr, "usage: allot_bench_sim --load A.toml B.toml [A2.toml B2.toml ...]\n");
      return 2;
    }
    bench_load(std::vector<std::string>(argv + 2, argv + argc));
    return 0;
  }
  bench_openb(argc > 1 && argv[1][0] != '\0' ? argv[1] : nullptr);
  bench_generated(argc > 2 ? std::stoul(argv[2]) : 1'000'000,
                  argc > 3 ? static_cast<std::uint32_t>(std::stoul(argv[3])) : 10'000);
  return 0;
}
