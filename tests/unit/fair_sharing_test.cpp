// Fair sharing among siblings (docs/scheduling.md, "Fair sharing", rule R5):
// shares, weights, the two strategies and the pass order, victims named.
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/scheduler.h"

using namespace allot::runtime;

namespace {

// One node of 12 GPUs; Root (12) over A, B and C, each guaranteed 4 and
// limited to 12, each with one queue. What the siblings may lend each other
// is 12 GPUs, so a sibling borrowing N GPUs has share N * 1000 / 12.
struct Siblings {
  Cluster c;
  ScopeId root = 0, a = 0, b = 0, cq = 0, qa = 0, qb = 0, qc = 0;

  explicit Siblings(std::vector<FairStrategy> strategies) {
    c.nodes.push_back({"node0", 12, "A100-80G", 0});
    c.fair_sharing = std::move(strategies);
    root = add(ScopeKind::quota, "Root", kNone, 12);
    a = add(ScopeKind::quota, "A", root, 4);
    b = add(ScopeKind::quota, "B", root, 4);
    cq = add(ScopeKind::quota, "C", root, 4);
    qa = queue_below(a, "a");
    qb = queue_below(b, "b");
    qc = queue_below(cq, "c");
  }
  ScopeId add(ScopeKind kind, std::string name, ScopeId parent, std::optional<Amount> guarantee = std::nullopt) {
    Scope s;
    s.kind = kind;
    s.name = std::move(name);
    s.parent = parent;
    if (guarantee) s.bounds.gpu = Bound{*guarantee * 1000, 12000};
    c.scopes.push_back(std::move(s));
    return static_cast<ScopeId>(c.scopes.size() - 1);
  }
  ScopeId queue_below(ScopeId parent, const std::string& name) {
    const ScopeId ws = add(ScopeKind::workspace, "ws-" + name, parent);
    const ScopeId ns = add(ScopeKind::namespace_, "ws-" + name + "/ns", ws);
    return add(ScopeKind::queue, "ws-" + name + "/ns/" + name, ns);
  }
};

Job job(JobId id, ScopeId queue, Amount gpus, Time submit) {
  Job j;
  j.id = id;
  j.queue = queue;
  j.user = "alice";
  j.request.gpu_milli = gpus * 1000;
  j.submit_time = submit;
  return j;
}

void run_now(Scheduler& s, Job j) {
  const JobId id = j.id;
  const Time t = j.submit_time;
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

// A at its guarantee (jobs 1-4), B borrowing 4 (jobs 5-12, one GPU each,
// 9-12 borrowing): the node is full. Shares: A 0, B 333.
void a_full_b_borrows_four(Scheduler& s, const Siblings& t) {
  JobId id = 1;
  for (; id <= 4; ++id) run_now(s, job(id, t.qa, 1, Time(id)));
  for (; id <= 12; ++id) run_now(s, job(id, t.qb, 1, Time(id)));
}

const std::vector<FairStrategy> kFinal = {FairStrategy::at_most_final_share};
const std::vector<FairStrategy> kInitial = {FairStrategy::below_initial_share};

}  // namespace

TEST_CASE("fair sharing: a lower share takes the youngest borrowed work of a higher-share sibling") {
  for (const auto& strategies : {kFinal, kInitial}) {
    const Siblings t(strategies);
    Scheduler s(t.c);
    a_full_b_borrows_four(s, t);
    // A would borrow 2 (share 166); B, with 2 of its jobs gone, borrows 2
    // (share 166): 166 <= 166 and 166 < 333, both strategies allow it.
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qa, 2, 20), 20)));
    const Decision d = s.schedule(20);
    CHECK(victims(d) == std::vector<JobId>{12, 11});
    for (const Preemption& p : d.preempted) {
      CHECK(p.reason == PreemptionReason::fair_share);
      CHECK(p.claim_scope == t.a);
      CHECK(p.victim_scope == t.b);
      CHECK(p.message.find("R5 (fair_share)") != std::string::npos);
    }
  }
}

TEST_CASE("fair sharing: the strategies differ when the target would end below the preemptor") {
  for (const auto& strategies : {kFinal, kInitial}) {
    const Siblings t(strategies);
    Scheduler s(t.c);
    a_full_b_borrows_four(s, t);
    // A asks for 3: it would borrow 3 (250); B would keep 1 borrowed (83).
    // 250 <= 83 fails (at_most_final_share), 250 < 333 holds
    // (below_initial_share).
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qa, 3, 20), 20)));
    const Decision d = s.schedule(20);
    if (strategies == kFinal) {
      CHECK(d.preempted.empty());
    } else {
      CHECK(victims(d) == std::vector<JobId>{12, 11, 10});
    }
  }
}

TEST_CASE("fair sharing: a weight divides the share") {
  for (const Amount weight : {1000, 2000}) {
    Siblings t(kFinal);
    t.c.scopes[t.b].weight_milli = weight;
    Scheduler s(t.c);
    a_full_b_borrows_four(s, t);
    // B's share with weight 2 is 166, and 83 once it gives 2 GPUs: A's 166
    // would be above it. With weight 1 it is the first test's case.
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qa, 2, 20), 20)));
    const Decision d = s.schedule(20);
    if (weight == 1000)
      CHECK(victims(d) == std::vector<JobId>{12, 11});
    else
      CHECK(d.preempted.empty());
  }
}

TEST_CASE("fair sharing never takes a sibling below its guarantee") {
  for (const auto& strategies : {kFinal, kInitial}) {
    const Siblings t(strategies);
    Scheduler s(t.c);
    for (JobId id = 1; id <= 4; ++id) run_now(s, job(id, t.qa, 1, Time(id)));
    run_now(s, job(5, t.qb, 3, 5));  // inside B's guarantee
    run_now(s, job(6, t.qb, 2, 6));  // borrows: B uses 5 of its 4
    run_now(s, job(7, t.qc, 3, 7));  // inside C's guarantee
    // A asks for 1 (share 83). Taking job 6 (B's share 83 -> 0) would leave
    // B with 3 of its 4: refused, whatever the strategy.
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qa, 1, 20), 20)));
    CHECK(s.schedule(20).preempted.empty());
  }
}

TEST_CASE("fair sharing: a sibling within its guarantee still reclaims by R2") {
  const Siblings t(kFinal);
  Scheduler s(t.c);
  for (JobId id = 1; id <= 12; ++id) run_now(s, job(id, t.qb, 1, Time(id)));  // B borrows 8
  REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qc, 2, 20), 20)));
  const Decision d = s.schedule(20);
  CHECK(victims(d) == std::vector<JobId>{12, 11});
  for (const Preemption& p : d.preempted) CHECK(p.reason == PreemptionReason::reclaim_guarantee);
}

TEST_CASE("fair sharing: the pass admits the sibling of lower share first") {
  for (const bool fair : {true, false}) {
    const Siblings t(fair ? kFinal : std::vector<FairStrategy>{});
    Scheduler s(t.c);
    JobId id = 1;
    for (; id <= 5; ++id) run_now(s, job(id, t.qa, 1, Time(id)));   // A borrows 1 (83)
    for (; id <= 11; ++id) run_now(s, job(id, t.qb, 1, Time(id)));  // B borrows 2 (166)
    // One GPU left; B asks first, A later.
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(20, t.qb, 1, 20), 20)));
    REQUIRE(std::holds_alternative<Queued>(s.submit(job(21, t.qa, 1, 21), 21)));
    const Decision d = s.schedule(21);
    REQUIRE(d.admitted.size() == 1);
    CHECK(d.admitted[0].job == (fair ? 21u : 20u));
    // B's job then has no claim on A's: 250 against A's 83 (or 166).
    CHECK(d.preempted.empty());
  }
}

TEST_CASE("fair sharing replaces borrow_within (R4)") {
  Siblings t(kFinal);
  t.c.priorities.push_back({"low", 100, {}});
  t.c.priorities.push_back({"high", 1000, {}});
  t.c.scopes[t.a].borrow_within = true;
  Scheduler s(t.c);
  a_full_b_borrows_four(s, t);
  Job big = job(20, t.qa, 4, 20);
  big.priority = 1;  // higher than B's work, which R4 would take
  REQUIRE(std::holds_alternative<Queued>(s.submit(big, 20)));
  // A would borrow 4 (333) against B's 0: no strategy allows it.
  CHECK(s.schedule(20).preempted.empty());
}
