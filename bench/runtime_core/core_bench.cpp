// Benchmark of the runtime scheduling core (not a test): admission decisions
// per second with 10k running and 10k pending jobs on 1,000 nodes, and the
// latency of victim searches. Deterministic inputs (fixed-seed LCG).
//
//   allot_bench_core [nodes=1000] [running=10000] [pending=10000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/scheduler.h"

using namespace allot::runtime;
using Clock = std::chrono::steady_clock;

namespace {

struct Rng {
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  std::uint64_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Setup {
  Cluster cluster;
  std::vector<ScopeId> queues;  // one per team
  std::vector<ScopeId> team_quotas;
  PriorityId development = 0, training = 0, inference = 0;
};

// 1 organisation quota over `teams` team quotas, each guaranteed an equal
// share of the nodes (pinned) and allowed to borrow up to the whole pool;
// each team has workspace -> namespace -> one shared queue.
Setup make_setup(std::uint32_t nodes, std::uint32_t teams) {
  Setup s;
  Cluster& c = s.cluster;
  for (std::uint32_t n = 0; n < nodes; ++n) c.nodes.push_back({"node" + std::to_string(n), 8, "H100", 4});
  s.development = 0;
  s.training = 1;
  s.inference = 2;
  c.priorities = {{"development", 100, {}}, {"training", 500, {}}, {"inference", 1000, {0, 1}}};
  const Amount total = Amount(nodes) * 8 * 1000;
  Scope org;
  org.kind = ScopeKind::quota;
  org.name = "org";
  org.bounds.gpu = Bound{total, total};
  c.scopes.push_back(org);
  const std::uint32_t nodes_per_team = nodes / teams;
  for (std::uint32_t t = 0; t < teams; ++t) {
    const auto quota = static_cast<ScopeId>(c.scopes.size());
    Scope q;
    q.kind = ScopeKind::quota;
    q.name = "team" + std::to_string(t);
    q.parent = 0;
    q.bounds.gpu = Bound{Amount(nodes_per_team) * 8 * 1000, std::nullopt};
    c.scopes.push_back(q);
    Scope ws{ScopeKind::workspace, q.name + "-ws", quota, {}, false, {}};
    c.scopes.push_back(ws);
    Scope ns{ScopeKind::namespace_, q.name + "-ws/ns", quota + 1, {}, false, {}};
    c.scopes.push_back(ns);
    Scope queue{ScopeKind::queue, q.name + "-ws/ns/work", quota + 2, {}, false, {}};
    queue.queue.gpu_sharing = true;
    queue.queue.default_priority = s.training;
    c.scopes.push_back(queue);
    s.team_quotas.push_back(quota);
    s.queues.push_back(quota + 3);
    for (std::uint32_t n = t * nodes_per_team; n < (t + 1) * nodes_per_team; ++n)
      for (std::uint32_t i = 0; i < 8; ++i) c.placement.push_back({{n, i}, quota});
  }
  return s;
}

Job make_job(JobId id, ScopeId queue, Amount gpu_milli, PriorityId priority, Time t) {
  Job j;
  j.id = id;
  j.queue = queue;
  j.user = "bench";
  j.priority = priority;
  j.request = {gpu_milli, 4000, 16384};
  j.submit_time = t;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint32_t nodes = argc > 1 ? static_cast<std::uint32_t>(std::atoi(argv[1])) : 1000;
  const std::uint32_t running_target = argc > 2 ? static_cast<std::uint32_t>(std::atoi(argv[2])) : 10000;
  const std::uint32_t pending_target = argc > 3 ? static_cast<std::uint32_t>(std::atoi(argv[3])) : 10000;
  const std::uint32_t teams = 10;
  Setup setup = make_setup(nodes, teams);
  Scheduler scheduler(setup.cluster);
  Rng rng;
  JobId next_id = 1;
  Time now = 0;

  // ---- fill: running_target jobs, 60% one GPU and 40% half a GPU, so that
  // 10k jobs fill 1,000 8-GPU nodes exactly. Teams 0-4 get more than their
  // guarantee (they borrow), teams 5-9 less.
  std::vector<JobId> running;
  for (std::uint32_t i = 0; i < running_target; ++i) {
    const std::uint32_t team = rng.below(3) == 0 ? 5 + rng.below(5) : rng.below(5);
    const Amount gpu = i % 5 < 3 ? 1000 : 500;
    const PriorityId prio = rng.below(2) == 0 ? setup.development : setup.training;
    if (!std::holds_alternative<Queued>(scheduler.submit(make_job(next_id, setup.queues[team], gpu, prio, now), now)))
      return 1;
    ++next_id;
  }
  auto t0 = Clock::now();
  Decision fill = scheduler.schedule(now);
  auto t1 = Clock::now();
  for (const Admission& a : fill.admitted) running.push_back(a.job);
  std::printf("nodes %u (%u GPUs), teams %u\n", nodes, nodes * 8, teams);
  std::printf("fill: %zu admitted of %u in one schedule(): %.0f admissions/s\n", fill.admitted.size(), running_target,
              double(fill.admitted.size()) / (micros(t1 - t0) / 1e6));

  // ---- pending: pending_target jobs of 1, 2, 4 or 8 GPUs or a fraction,
  // development or training (no same-queue preemption), every team.
  for (std::uint32_t i = 0; i < pending_target; ++i) {
    static const Amount sizes[] = {250, 500, 1000, 1000, 2000, 4000, 8000};
    const Amount gpu = sizes[rng.below(7)];
    const PriorityId prio = rng.below(2) == 0 ? setup.development : setup.training;
    ++now;
    if (!std::holds_alternative<Queued>(
            scheduler.submit(make_job(next_id++, setup.queues[rng.below(teams)], gpu, prio, now), now)))
      return 1;
  }
  std::printf("state: %zu running, %zu pending\n", scheduler.running_count(), scheduler.pending_count());

  // ---- churn: finish a few random running jobs, schedule, apply preemptions
  // at once (as the simulator does). Every pending job examined by
  // schedule() is one admission decision.
  std::vector<double> schedule_us;
  std::uint64_t decisions = 0, admissions = 0, preemptions = 0;
  double total_us = 0;
  const int rounds = 200;
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < 5 && !running.empty(); ++k) {
      const std::size_t pick = rng.below(running.size());
      scheduler.finish(running[pick]);
      running[pick] = running.back();
      running.pop_back();
    }
    ++now;
    const std::size_t examined = scheduler.pending_count();
    const auto a = Clock::now();
    const Decision d = scheduler.schedule(now);
    const auto b = Clock::now();
    schedule_us.push_back(micros(b - a));
    total_us += micros(b - a);
    decisions += examined;
    admissions += d.admitted.size();
    preemptions += d.preempted.size();
    if (std::getenv("BENCH_TRACE"))
      std::printf("round %d: %.0f us, %zu admitted, %zu preempted, used %.1f\n", round, micros(b - a),
                  d.admitted.size(), d.preempted.size(), double(scheduler.scope_report(0).used.gpu_milli) / 1000.0);
    for (const Admission& ad : d.admitted) running.push_back(ad.job);
    for (const Preemption& p : d.preempted) {
      scheduler.release(p.victim);  // requeued: it stays out of `running`
      running.erase(std::remove(running.begin(), running.end(), p.victim), running.end());
    }
  }
  std::printf("churn: %d schedule() calls, %llu decisions, %llu admitted, %llu preempted\n", rounds,
              static_cast<unsigned long long>(decisions), static_cast<unsigned long long>(admissions),
              static_cast<unsigned long long>(preemptions));
  std::printf("admission decisions: %.0f /s (schedule() p50 %.0f us, p99 %.0f us over ~%zu pending)\n",
              double(decisions) / (total_us / 1e6), percentile(schedule_us, 0.5), percentile(schedule_us, 0.99),
              scheduler.pending_count());
  std::printf("state: %zu running, %zu pending, %.1f of %u GPUs in use\n", scheduler.running_count(),
              scheduler.pending_count(), double(scheduler.scope_report(0).used.gpu_milli) / 1000.0, nodes * 8);
  for (ScopeId q : setup.team_quotas) {
    const ScopeReport r = scheduler.scope_report(q);
    std::printf("  %s: used %.1f guaranteed %.1f pending %u\n", setup.cluster.scopes[q].name.c_str(),
                double(r.used.gpu_milli) / 1000.0, double(r.guaranteed.gpu_milli) / 1000.0, r.pending_jobs);
  }

  // ---- victim search: probes that do not fit, searched without changing
  // anything (plan_preemption), then withdrawn. Inference probes may preempt
  // lower classes of their queue; teams below their guarantee reclaim.
  std::vector<double> search_us;
  std::size_t found = 0, victims = 0;
  for (int i = 0; i < 2000; ++i) {
    static const Amount sizes[] = {500, 1000, 2000, 4000, 8000};
    const JobId id = next_id++;
    const PriorityId prio = i % 2 == 0 ? setup.inference : setup.training;
    ++now;
    scheduler.submit(make_job(id, setup.queues[rng.below(teams)], sizes[rng.below(5)], prio, now), now);
    const auto a = Clock::now();
    const auto plan = scheduler.plan_preemption(id);
    const auto b = Clock::now();
    search_us.push_back(micros(b - a));
    if (plan) {
      ++found;
      victims += plan->size();
    }
    scheduler.release(id);
  }
  std::printf(
      "victim search: %zu searches, %zu found victims (%.2f victims each): p50 %.1f us, p99 %.1f us, max %.1f us\n",
      search_us.size(), found, found ? double(victims) / double(found) : 0.0, percentile(search_us, 0.5),
      percentile(search_us, 0.99), percentile(search_us, 1.0));
  return 0;
}
