// Verification: invariants on policies built directly in C++ (independent of
// sema), the solver interface, the live-state change check and SARIF. One
// file past the usual length: the reachability checks share its Builder and
// random trees.
#include "compiler/verify/verify.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <random>

#include "compiler/emit/sarif.h"
#include "compiler/sema/model_queries.h"
#include "compiler/smt/z3.h"
#include "compiler/verify/reachability.h"
#include "compiler/verify/reachability_facts.h"
#include "compiler/verify/state.h"

using namespace allot;
using namespace allot::model;

namespace {

constexpr Amount G = 1000;  // one GPU in milli-units

struct Builder {
  Policy p;
  Builder() {
    p.resources = {{"gpu", ResourceKind::count, true, {}},
                   {"cpu", ResourceKind::count, true, {}},
                   {"memory", ResourceKind::memory, true, {}},
                   {"cu", ResourceKind::count, true, {}}};
  }
  Index flavor(std::string name, std::int64_t gpus) {
    Flavor f;
    f.name = std::move(name);
    f.gpus = gpus;
    f.cpu = 96000;
    f.memory = 1024 * 1024;
    p.flavors.push_back(f);
    return static_cast<Index>(p.flavors.size() - 1);
  }
  Index pool(std::string name, Index flavor, std::int64_t count, BillingMode mode = BillingMode::subscription) {
    Pool pool;
    pool.name = std::move(name);
    pool.billing.mode = mode;
    pool.node_groups.push_back(NodeGroup{count, flavor, {}});
    pool.hosts = static_cast<WorkloadSet>(WorkloadKind::training) | static_cast<WorkloadSet>(WorkloadKind::development);
    pool.purpose = PoolPurpose::training;
    p.pools.push_back(pool);
    return static_cast<Index>(p.pools.size() - 1);
  }
  Index scope(ScopeKind kind, std::string name, Index parent, Index pool) {
    Scope s;
    s.kind = kind;
    s.name = name;
    s.parent = parent;
    s.pool = parent == kNone ? pool : p.scopes[parent].pool;
    if (parent != kNone && (kind == ScopeKind::namespace_ || kind == ScopeKind::queue)) {
      s.path = p.scopes[parent].path + "/" + name;
    } else {
      s.path = name;
    }
    s.bounds.resize(4);
    p.scopes.push_back(s);
    const Index i = static_cast<Index>(p.scopes.size() - 1);
    if (parent != kNone) p.scopes[parent].children.push_back(i);
    return i;
  }
  Index quota(std::string name, Index parent, Index pool, Amount g, std::optional<Amount> limit) {
    const Index i = scope(ScopeKind::quota, std::move(name), parent, pool);
    bound(i, kGpu, g, limit);
    return i;
  }
  void bound(Index s, Index r, Amount g, std::optional<Amount> limit) { p.scopes[s].bounds[r] = Bound{g, limit, {}}; }
  // A workspace with one namespace and its default-queue (and maybe more).
  Index workspace(std::string name, Index parent, Index pool = kNone) {
    const Index w = scope(ScopeKind::workspace, std::move(name), parent, pool);
    const Index ns = scope(ScopeKind::namespace_, "main", w, pool);
    const Index q = scope(ScopeKind::queue, "default-queue", ns, pool);
    p.scopes[q].implicit = true;
    p.scopes[q].accepts =
        static_cast<WorkloadSet>(WorkloadKind::training) | static_cast<WorkloadSet>(WorkloadKind::development);
    return w;
  }
  Index queue_of(Index workspace) { return p.scopes[p.scopes[workspace].children[0]].children[0]; }
};

std::vector<std::string> codes(const DiagnosticSink& sink) {
  std::vector<std::string> out;
  for (const Diagnostic& d : sink.diagnostics()) out.push_back(d.code);
  return out;
}

// The PAI scenario: 16 x 8 GPUs, Quota1 128 with children 48..128 and 80..128.
struct Pai {
  Builder b;
  Index pool, q1, q11, q12, ws_b, ws_c;
  explicit Pai(Amount g11 = 48 * G, Amount g12 = 80 * G, bool limits_open = true) {
    const Index f = b.flavor("a100-8", 8);
    pool = b.pool("train-pool", f, 16);
    q1 = b.quota("Quota1", kNone, pool, 128 * G, 128 * G);
    q11 = b.quota("Quota1_1", q1, pool, g11, limits_open ? std::optional<Amount>(128 * G) : g11);
    q12 = b.quota("Quota1_2", q1, pool, g12, limits_open ? std::optional<Amount>(128 * G) : g12);
    ws_b = b.workspace("workspace-b", q11);
    ws_c = b.workspace("workspace-c", q12);
  }
};

}  // namespace

TEST_CASE("amounts are shown in display units") {
  Builder b;
  CHECK(model::format_amount(b.p, kGpu, 500) == "0.5 gpu");
  CHECK(model::format_amount(b.p, kGpu, 128000) == "128 gpu");
  CHECK(model::format_amount(b.p, kGpu, 470) == "0.47 gpu");
  CHECK(model::format_amount(b.p, kMemory, 80 * 1024) == "80GiB memory");
  CHECK(model::format_amount(b.p, kMemory, 500) == "500MiB memory");
  CHECK(model::format_amount(b.p, kCu, 100000) == "100 cu");
}

TEST_CASE("E0201: children's guarantees exceed the parent's") {
  Pai pai(48 * G, 88 * G);
  DiagnosticSink sink;
  verify::check_structure(pai.b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0201"});
  const Diagnostic& d = sink.diagnostics()[0];
  CHECK(d.message == "children of `Quota1` guarantee 136 gpu, more than its 128");
  REQUIRE(d.notes.size() == 2);
  CHECK(d.notes[0].message == "`Quota1_1` guarantees 48 gpu");
  CHECK(d.notes[1].message == "`Quota1_2` guarantees 88 gpu");
  CHECK(!d.help.empty());
}

TEST_CASE("the PAI quota tree is consistent") {
  Pai pai;
  DiagnosticSink sink;
  verify::verify(SourceManager{}, pai.b.p, sink);
  CHECK(sink.diagnostics().empty());
}

TEST_CASE("E0202 and E0203: limits") {
  Pai pai;
  pai.b.bound(pai.q11, kGpu, 48 * G, 256 * G);
  pai.b.bound(pai.q12, kGpu, 80 * G, 64 * G);
  DiagnosticSink sink;
  verify::check_structure(pai.b.p, sink);
  auto c = codes(sink);
  std::sort(c.begin(), c.end());
  CHECK(c == std::vector<std::string>{"E0202", "E0203"});
  for (const Diagnostic& d : sink.diagnostics()) {
    if (d.code == "E0202") {
      CHECK(d.message == "`Quota1_1` may use up to 256 gpu, more than the limit of its parent `Quota1` (128 gpu)");
    } else {
      CHECK(d.message == "`Quota1_2` guarantees 80 gpu but is limited to 64 gpu");
    }
  }
}

TEST_CASE("E0204 and E0205: root scopes fit the pool") {
  Builder b;
  const Index f = b.flavor("a100-8", 8);
  const Index pool = b.pool("gpu-pool", f, 2);  // 16 GPUs
  b.quota("a", kNone, pool, 10 * G, 10 * G);
  b.quota("c", kNone, pool, 8 * G, 32 * G);
  DiagnosticSink sink;
  verify::check_structure(b.p, sink);
  auto c = codes(sink);
  std::sort(c.begin(), c.end());
  REQUIRE(c == std::vector<std::string>{"E0204", "E0205"});
  for (const Diagnostic& d : sink.diagnostics()) {
    if (d.code == "E0204") {
      CHECK(d.message == "scopes on pool `gpu-pool` guarantee 18 gpu, more than its capacity of 16 gpu");
      CHECK(d.notes.size() == 3);  // two scopes and the node group
    } else {
      CHECK(d.message == "`c` may use up to 32 gpu, more than the capacity of pool `gpu-pool` (16 gpu)");
    }
  }
}

TEST_CASE("E0205: a pay-as-you-go pool's ceiling") {
  Builder b;
  const Index f = b.flavor("a10-1", 1);
  const Index pool = b.pool("burst", f, 2, BillingMode::pay_as_you_go);
  b.p.pools[pool].billing.ceiling.resize(4);
  b.p.pools[pool].billing.ceiling[kGpu] = Bound{64 * G, 64 * G, {}};
  b.quota("serving", kNone, pool, 32 * G, 64 * G);
  DiagnosticSink ok;
  verify::check_structure(b.p, ok);
  CHECK(ok.diagnostics().empty());
  b.bound(0, kGpu, 32 * G, 96 * G);
  DiagnosticSink sink;
  verify::check_structure(b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0205"});
  CHECK(sink.diagnostics()[0].message ==
        "`serving` may use up to 96 gpu, more than the ceiling of pool `burst` (64 gpu)");
}

TEST_CASE("E0206: a hybrid workspace's limit is its fixed part plus the ceiling") {
  Builder b;
  const Index ws = b.workspace("analytics", kNone, kNone);
  b.bound(ws, kCu, 100 * G, 150 * G);
  Billing billing;
  billing.mode = BillingMode::hybrid;
  billing.ceiling.resize(4);
  billing.ceiling[kCu] = Bound{50 * G, 50 * G, {}};
  b.p.scopes[ws].billing = billing;
  DiagnosticSink ok;
  verify::check_structure(b.p, ok);
  CHECK(ok.diagnostics().empty());
  b.bound(ws, kCu, 100 * G, 160 * G);
  DiagnosticSink sink;
  verify::check_structure(b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0206"});
}

TEST_CASE("E0207: every namespace has a default-queue") {
  Pai pai;
  DiagnosticSink ok;
  verify::check_structure(pai.b.p, ok);
  CHECK(ok.diagnostics().empty());
  pai.b.p.scopes[pai.b.queue_of(pai.ws_b)].name = "batch";
  DiagnosticSink sink;
  verify::check_structure(pai.b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0207"});
  CHECK(sink.diagnostics()[0].message == "namespace `workspace-b/main` has no `default-queue`");
}

TEST_CASE("E0208: queues accept only what their pool hosts") {
  Pai pai;
  Scope& q = pai.b.p.scopes[pai.b.queue_of(pai.ws_b)];
  q.accepts = static_cast<WorkloadSet>(WorkloadKind::training);
  DiagnosticSink ok;
  verify::check_structure(pai.b.p, ok);
  CHECK(ok.diagnostics().empty());
  q.accepts = static_cast<WorkloadSet>(WorkloadKind::inference) | static_cast<WorkloadSet>(WorkloadKind::training);
  DiagnosticSink sink;
  verify::check_structure(pai.b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0208"});
  CHECK(sink.diagnostics()[0].message ==
        "queue `workspace-b/main/default-queue` accepts inference, which pool `train-pool` does not host");
}

TEST_CASE("E0209 and E0210: preemption goes downwards, without cycles") {
  Builder b;
  b.p.priorities = {{"inference", 1000, {1}, {}}, {"training", 500, {2}, {}}, {"development", 100, {}, {}}};
  DiagnosticSink ok;
  verify::check_structure(b.p, ok);
  CHECK(ok.diagnostics().empty());

  b.p.priorities[1].value = 2000;  // inference -> training: upwards
  DiagnosticSink up;
  verify::check_structure(b.p, up);
  REQUIRE(codes(up) == std::vector<std::string>{"E0209"});
  CHECK(up.diagnostics()[0].message ==
        "priority `inference` (1000) preempts `training`, which has the higher value 2000");
  b.p.priorities[1].value = 500;

  b.p.priorities[2].preempts = {1};  // development -> training: upwards, and a cycle, reported once as the cycle
  DiagnosticSink sink;
  verify::check_structure(b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0210"});
  CHECK(sink.diagnostics()[0].message ==
        "priority classes preempt each other in a cycle: `training` -> `development` -> `training`");

  Builder same;
  same.p.priorities = {{"a", 100, {1}, {}}, {"b", 100, {2}, {}}, {"c", 100, {0}, {}}, {"d", 50, {3}, {}}};
  DiagnosticSink cycle;
  verify::check_structure(same.p, cycle);
  auto cc = codes(cycle);
  std::sort(cc.begin(), cc.end());
  REQUIRE(cc == std::vector<std::string>{"E0210", "E0210"});
  CHECK(cycle.diagnostics()[0].message == "priority classes preempt each other in a cycle: `a` -> `b` -> `c` -> `a`");
  CHECK(cycle.diagnostics()[1].message == "priority `d` preempts itself");
}

TEST_CASE("solver: proved, refuted and re-checked natively") {
  auto solver = smt::make_z3_solver();
  smt::Obligation o("x + y <= 3 with x, y >= 2");
  const auto x = o.var("x", 2), y = o.var("y", 2);
  o.require(o.le(o.add(x, y), o.constant(3)));
  CHECK(std::holds_alternative<smt::Proved>(solver->check(o, std::chrono::milliseconds(5000))));

  smt::Obligation o2("min(x, y) < 5 and max(x, y) > 7");
  const auto a = o2.var("a"), c = o2.var("c");
  o2.require(o2.lt(o2.min(a, c), o2.constant(5)));
  o2.require(o2.lt(o2.constant(7), o2.max(a, c)));
  auto result = solver->check(o2, std::chrono::milliseconds(5000));
  REQUIRE(std::holds_alternative<smt::Refuted>(result));
  const auto& m = std::get<smt::Refuted>(result).counterexample;
  CHECK(smt::satisfies(o2, m));
  CHECK(!smt::satisfies(o2, {{"a", 6}, {"c", 6}}));
}

TEST_CASE("E0211: a non-preemptible queue that borrows blocks a sibling's guarantee") {
  Pai pai;
  // All preemptible: every guarantee is reachable.
  DiagnosticSink ok;
  CHECK(verify::check_reachability(pai.b.p, ok, {}) == 0);
  CHECK(ok.diagnostics().empty());

  const Index q = pai.b.queue_of(pai.ws_c);
  pai.b.p.scopes[q].preemptible = false;
  DiagnosticSink sink;
  verify::check_reachability(pai.b.p, sink, {});
  REQUIRE(codes(sink) == std::vector<std::string>{"E0211"});
  const Diagnostic& d = sink.diagnostics()[0];
  CHECK(d.message.find("`Quota1_1` cannot obtain its 48 gpu") != std::string::npos);
  CHECK(d.message.find("`workspace-c/main/default-queue` using") != std::string::npos);
  CHECK(d.message.find("of non-preemptible work") != std::string::npos);

  // Re-check the counterexample natively, by hand, against the scenario: the
  // non-preemptible queue borrowed beyond Quota1_2's 80, so Quota1_1 cannot
  // get its 48 from idle capacity plus reclaimable borrowing. The obligation
  // encodes the path Quota1_1 -> Quota1 and summarises Quota1_2's subtree by
  // its usage and its non-preemptible part.
  auto solver = smt::make_z3_solver();
  bool checked = false;
  for (const verify::ReachabilityQuery& query : verify::build_reachability_queries(pai.b.p)) {
    if (query.claim.scope != pai.q11 || query.claim.own_work) continue;
    CHECK(!query.obligation.find_variable(verify::usage_var(pai.b.p.scopes[q])));  // summarised
    auto result = solver->check(query.obligation, std::chrono::milliseconds(10000));
    REQUIRE(std::holds_alternative<smt::Refuted>(result));
    const auto& m = std::get<smt::Refuted>(result).counterexample;
    auto u = [&](Index s) { return m.at(verify::usage_var(pai.b.p.scopes[s])); };
    const Amount u1 = u(pai.q1), u11 = u(pai.q11), u12 = u(pai.q12);
    const Amount nonpreemptible = m.at(verify::nonpreemptible_var(pai.b.p.scopes[pai.q12]));
    CHECK(nonpreemptible <= u12);
    CHECK(u11 + u12 <= u1);
    CHECK(u1 <= 128 * G);
    CHECK(u12 <= 128 * G);
    CHECK(u11 < 48 * G);
    const Amount idle = 128 * G - u1;
    const Amount own_q1 = u1 - u11 - u12;
    const Amount reclaimable = std::max<Amount>(0, u12 - std::max<Amount>(80 * G, nonpreemptible)) + own_q1;
    CHECK(idle + reclaimable < 48 * G - u11);
    CHECK(nonpreemptible > 80 * G);  // only borrowing beyond 80 can block
    checked = true;
  }
  CHECK(checked);

  // Without borrowing (Quota1_2 limited to its guarantee) it is reachable again.
  pai.b.bound(pai.q12, kGpu, 80 * G, 80 * G);
  DiagnosticSink fixed;
  verify::check_reachability(pai.b.p, fixed, {});
  CHECK(fixed.diagnostics().empty());
}

TEST_CASE("E0211: child preemption cannot take back non-preemptible work") {
  Pai pai(48 * G, 80 * G, /*limits_open=*/false);
  pai.b.p.scopes[pai.q1].child_preemption = true;
  pai.b.workspace("workspace-a", pai.q1);
  DiagnosticSink ok;
  verify::verify(SourceManager{}, pai.b.p, ok);
  CHECK(ok.diagnostics().empty());

  pai.b.p.scopes[pai.b.queue_of(pai.ws_c)].preemptible = false;
  DiagnosticSink sink;
  verify::verify(SourceManager{}, pai.b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0211"});
  const Diagnostic& d = sink.diagnostics()[0];
  CHECK(d.message.find("`workspace-a` cannot obtain its 128 gpu") != std::string::npos);
  CHECK(d.message.find("of non-preemptible work") != std::string::npos);
}

namespace {

struct FixedSolver : smt::Solver {
  smt::Result answer;
  explicit FixedSolver(smt::Result r) : answer(std::move(r)) {}
  smt::Result check(const smt::Obligation&, std::chrono::milliseconds) override { return answer; }
};

}  // namespace

TEST_CASE("E0212: unknown is a warning, never proved; bogus counterexamples are not reported") {
  Pai pai;
  // A borrowing non-preemptible queue, so that some claims need the solver.
  pai.b.p.scopes[pai.b.queue_of(pai.ws_c)].preemptible = false;
  FixedSolver unknown(smt::Unknown{"solver timed out after 1 ms"});
  verify::Options options;
  options.solver = &unknown;
  DiagnosticSink sink;
  verify::check_reachability(pai.b.p, sink, options);
  REQUIRE(!sink.diagnostics().empty());
  CHECK(sink.error_count() == 0);
  CHECK(sink.warning_count() == sink.diagnostics().size());
  CHECK(sink.diagnostics()[0].code == "E0212");
  CHECK(sink.diagnostics()[0].message.find("solver timed out after 1 ms") != std::string::npos);

  FixedSolver bogus(smt::Refuted{{{"u/Quota1", 1}}});
  options.solver = &bogus;
  DiagnosticSink sink2;
  verify::check_reachability(pai.b.p, sink2, options);
  CHECK(sink2.error_count() == 0);
  CHECK(sink2.warning_count() > 0);
}

TEST_CASE("E0211: the native argument proves guarantees without the solver when it is sound") {
  // All preemptible, with child preemption: every claim is proved natively.
  Pai pai;
  pai.b.p.scopes[pai.q1].child_preemption = true;
  pai.b.workspace("workspace-a", pai.q1);
  FixedSolver never(smt::Unknown{"the solver was asked"});
  verify::Options options;
  options.solver = &never;
  DiagnosticSink ok;
  verify::ReachabilityStats stats;
  CHECK(verify::check_reachability(pai.b.p, ok, options, &stats) == 0);
  CHECK(ok.diagnostics().empty());
  CHECK(stats.claims == 4);  // Quota1, Quota1's own jobs, Quota1_1, Quota1_2
  CHECK(stats.proved_natively == 4);
  CHECK(stats.solver_obligations == 0);
  CHECK(verify::build_reachability_queries(pai.b.p).empty());
  verify::ReachabilityBuild all;
  all.include_proved = true;
  const auto everything = verify::build_reachability_queries(pai.b.p, all);
  CHECK(everything.size() == 4);
  CHECK(std::all_of(everything.begin(), everything.end(), [](const auto& q) { return q.proved_natively; }));

  // A non-preemptible queue that can borrow beyond Quota1_2's 80 (up to 128):
  // the native argument no longer covers Quota1_1 (its sibling may hold
  // unreclaimable work beyond its guarantee) nor Quota1's own jobs; Quota1 and
  // Quota1_2 stay proved natively. Both others are real counterexamples.
  pai.b.p.scopes[pai.b.queue_of(pai.ws_c)].preemptible = false;
  DiagnosticSink sink;
  // Both refuted by the state the argument points at, without the solver;
  // one cause (the same queue), so one error with the second claim a note.
  CHECK(verify::check_reachability(pai.b.p, sink, {}, &stats) == 1);
  CHECK(stats.claims == 4);
  CHECK(stats.proved_natively == 2);
  CHECK(stats.refuted_natively == 2);
  CHECK(stats.solver_obligations == 0);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0211"});
  const Diagnostic& both = sink.diagnostics()[0];
  CHECK(both.message.find("`workspace-a` cannot obtain its 128 gpu") != std::string::npos);
  CHECK(std::any_of(both.notes.begin(), both.notes.end(),
                    [](const DiagnosticNote& n) { return n.message == "`Quota1_1` cannot obtain its 48 gpu either"; }));
  for (const verify::ReachabilityQuery& q : verify::build_reachability_queries(pai.b.p, all)) {
    const bool needs_solver = q.claim.scope == pai.q11 || q.claim.own_work;
    CHECK(q.proved_natively == !needs_solver);
  }

  // Limited to its guarantee, the queue cannot borrow: Quota1_1 is proved
  // natively again; Quota1's own jobs still need the solver (they may not
  // take back non-preemptible work even within a child's guarantee).
  pai.b.bound(pai.q12, kGpu, 80 * G, 80 * G);
  DiagnosticSink limited;
  CHECK(verify::check_reachability(pai.b.p, limited, {}, &stats) == 1);
  CHECK(stats.proved_natively == 3);
  REQUIRE(codes(limited) == std::vector<std::string>{"E0211"});
  CHECK(limited.diagnostics()[0].message ==
        "with `workspace-c/main/default-queue` using 80 gpu of non-preemptible work, `workspace-a` cannot obtain "
        "its 128 gpu");
}

namespace {

// A random small tree with one or two roots on one pool: quotas with random
// (often inconsistent) bounds, child preemption, workspaces whose queues may
// be non-preemptible; sometimes over `cu`, whose capacity a subscription pool
// does not fix (the encoding's `cap` variable).
Builder random_tree(std::mt19937& rng) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Builder b;
  const Index f = b.flavor("gpu-8", 8);
  const Index pool = b.pool("pool", f, pick(1, 3));
  const Index r = pick(0, 4) == 0 ? kCu : kGpu;
  int names = 0;
  auto bound = [&](Index s, bool root) {
    if (!root && pick(0, 4) == 0) return;  // unbounded
    const Amount g = pick(0, 6) * G;
    const std::optional<Amount> limit =
        pick(0, 2) == 0 ? std::nullopt : std::optional<Amount>(g + pick(0, 6) * G + (pick(0, 5) == 0 ? 500 : 0));
    b.bound(s, r, g, limit);
  };
  std::function<void(Index, int)> grow = [&](Index parent, int depth) {
    const int quotas = depth < 2 ? pick(0, 3) : 0;
    for (int i = 0; i < quotas; ++i) {
      const Index q = b.scope(ScopeKind::quota, "q" + std::to_string(names++), parent, pool);
      bound(q, false);
      b.p.scopes[q].child_preemption = pick(0, 3) == 0;
      grow(q, depth + 1);
    }
    if (pick(0, 2) != 0) {
      const Index w = b.workspace("w" + std::to_string(names++), parent);
      const Index queue = b.queue_of(w);
      b.p.scopes[queue].preemptible = pick(0, 2) != 0;
      if (pick(0, 4) == 0) bound(queue, false);
    }
  };
  const int roots = pick(1, 2);
  for (int i = 0; i < roots; ++i) {
    const Index root = b.scope(ScopeKind::quota, "root" + std::to_string(i), kNone, pool);
    bound(root, true);
    b.p.scopes[root].child_preemption = pick(0, 2) == 0;
    grow(root, 0);
  }
  return b;
}

}  // namespace

TEST_CASE("E0211: native proofs and path encodings agree with Z3 on the full encoding (random trees)") {
  std::mt19937 rng(61106);
  auto solver = smt::make_z3_solver();
  const auto timeout = std::chrono::milliseconds(10000);
  verify::ReachabilityBuild path, full;
  path.include_proved = full.include_proved = true;
  full.full = true;
  int native = 0, refuted = 0, proved = 0;
  for (int t = 0; t < 120; ++t) {
    const Builder b = random_tree(rng);
    const auto by_path = verify::build_reachability_queries(b.p, path);
    const auto by_full = verify::build_reachability_queries(b.p, full);
    REQUIRE(by_path.size() == by_full.size());
    for (std::size_t i = 0; i < by_path.size(); ++i) {
      const verify::ReachabilityQuery &p = by_path[i], &f = by_full[i];
      REQUIRE(p.claim.scope == f.claim.scope);
      REQUIRE(p.claim.own_work == f.claim.own_work);
      REQUIRE(p.proved_natively == f.proved_natively);
      const smt::Result reference = solver->check(f.obligation, timeout);
      const smt::Result summarised = solver->check(p.obligation, timeout);
      INFO("tree " << t << ", claim of " << b.p.scopes[p.claim.scope].path << (p.claim.own_work ? " (own work)" : ""));
      if (p.proved_natively) {
        ++native;
        CHECK(std::holds_alternative<smt::Proved>(reference));
      }
      if (std::holds_alternative<smt::Unknown>(reference) || std::holds_alternative<smt::Unknown>(summarised)) {
        continue;
      }
      // The summaries are exact: same verdict as the full encoding.
      CHECK(reference.index() == summarised.index());
      if (const auto* cex = std::get_if<smt::Refuted>(&summarised)) {
        ++refuted;
        CHECK(smt::satisfies(p.obligation, cex->counterexample));
      } else {
        ++proved;
      }
    }
  }
  // The sample exercises all three outcomes.
  CHECK(native > 50);
  CHECK(refuted > 20);
  CHECK(proved > native);
}

TEST_CASE("E0211: counterexamples built without the solver are real, and cover most refuted claims (random trees)") {
  std::mt19937 rng(24601);
  auto solver = smt::make_z3_solver();
  const auto timeout = std::chrono::milliseconds(10000);
  int native = 0, refuted = 0;
  for (int t = 0; t < 120; ++t) {
    const Builder b = random_tree(rng);
    verify::reach::for_each_claim(b.p, {}, [&](const verify::reach::Facts& f, verify::ReachabilityQuery& q) {
      if (q.proved_natively) return;
      INFO("tree " << t << ", claim of " << b.p.scopes[q.claim.scope].path << (q.claim.own_work ? " (own work)" : ""));
      const std::optional<smt::Values> witness = verify::reach::native_counterexample(f, q);
      const smt::Result reference = solver->check(q.obligation, timeout);
      if (witness) {
        ++native;
        CHECK(smt::satisfies(q.obligation, *witness));
        CHECK(std::holds_alternative<smt::Refuted>(reference));
      }
      if (std::holds_alternative<smt::Refuted>(reference)) ++refuted;
    });
  }
  INFO(native << " of " << refuted << " refuted claims refuted without the solver");
  CHECK(refuted > 20);
  CHECK(native * 2 > refuted);
}

namespace {

// The shape of bench/front_end/gen_policy.py --failing: a root with
// child_preemption, groups of leaves `1..8` with child_preemption and a
// workspace each, and in some groups a leaf whose workspace's queue is
// non-preemptible. `spare` GPUs beyond the guarantees decide how much room
// the counterexamples' fill passes find.
Builder blocked_groups(int groups, int leaves, int every, Amount spare, bool workspace_quota = false) {
  Builder b;
  const Index f = b.flavor("gpu-1", 1);
  const Amount gpus = (groups * (leaves + 8)) * G;
  const Index pool = b.pool("fleet", f, (gpus + spare) / G);
  const Index root = b.quota("root", kNone, pool, gpus, std::nullopt);
  b.p.scopes[root].child_preemption = true;
  int leaf = 0;
  for (int g = 0; g < groups; ++g) {
    const Index group = b.quota("g" + std::to_string(g), root, pool, leaves * G, (leaves + 8) * G);
    b.p.scopes[group].child_preemption = true;
    for (int i = 0; i < leaves; ++i, ++leaf) {
      const Index t = b.quota("t" + std::to_string(leaf), group, pool, G, 8 * G);
      if (every > 0 && leaf % every == every / 2) {
        const Index w = b.workspace("x" + std::to_string(leaf), t);
        b.p.scopes[b.queue_of(w)].preemptible = false;
      }
    }
    const Index w = b.workspace("w" + std::to_string(g), group);
    if (workspace_quota) b.bound(w, kGpu, 0, 4 * G);
  }
  return b;
}

// Every diagnostic as text, with its notes and their locations.
std::vector<std::string> rendered(const DiagnosticSink& sink) {
  std::vector<std::string> out;
  for (const Diagnostic& d : sink.diagnostics()) {
    std::string text = d.code + " " + d.message + " @" + std::to_string(d.range.begin);
    for (const DiagnosticNote& n : d.notes) text += "\n  " + n.message + " @" + std::to_string(n.range.begin);
    for (const std::string& h : d.help) text += "\n  help: " + h;
    out.push_back(std::move(text));
  }
  return out;
}

}  // namespace

TEST_CASE("E0211: claims decided with their parent's shared state report what their own obligations do") {
  auto solver = smt::make_z3_solver();
  verify::Options shared, reference;
  shared.solver = reference.solver = solver.get();
  reference.shared_witnesses = false;
  std::size_t decided = 0;
  auto same = [&](const Policy& p) {
    DiagnosticSink a, b;
    verify::ReachabilityStats sa, sb;
    const std::size_t ea = verify::check_reachability(p, a, shared, &sa);
    const std::size_t eb = verify::check_reachability(p, b, reference, &sb);
    CHECK(ea == eb);
    CHECK(rendered(a) == rendered(b));
    CHECK(sa.claims == sb.claims);
    CHECK(sa.refuted_natively == sb.refuted_natively);
    CHECK(sb.refuted_shared == 0);
    decided += sa.refuted_shared;
    return sa;
  };
  SECTION("benchmark-shaped trees, with and without room to spare") {
    for (const Amount spare : {Amount{0}, 3 * G, 40 * G, 1000 * G}) {
      for (const bool workspace_quota : {false, true}) {
        INFO("spare " << spare << ", bounded workspaces " << workspace_quota);
        const verify::ReachabilityStats s = same(blocked_groups(6, 12, 10, spare, workspace_quota).p);
        CHECK(s.refuted_natively > 0);
      }
    }
    DiagnosticSink sink;
    verify::ReachabilityStats s;
    const std::size_t errors = verify::check_reachability(blocked_groups(6, 12, 10, 0).p, sink, shared, &s);
    // Without room to spare the groups' culprits differ (a few errors), and
    // still almost every claim is one of a group's notes.
    CHECK(errors < 10);
    CHECK(s.refuted_shared * 10 > s.refuted_natively * 8);
  }
  SECTION("random trees") {
    std::mt19937 rng(8128);
    for (int t = 0; t < 300; ++t) {
      INFO("tree " << t);
      same(random_tree(rng).p);
    }
  }
  CHECK(decided > 0);
}

TEST_CASE("E0211: a state the shared levels refute is the claim's own native counterexample (random trees)") {
  std::mt19937 rng(5040);
  int shared = 0, native = 0;
  for (int t = 0; t < 300; ++t) {
    const Builder b = t % 3 == 0 ? blocked_groups(3, 4, 3 + t % 5, (t % 7) * G) : random_tree(rng);
    std::unique_ptr<verify::reach::LevelWitness> levels;
    Index pool = kNone, resource = kNone;
    verify::reach::for_each_claim(b.p, {}, [&](const verify::reach::Facts& f, verify::ReachabilityQuery& q) {
      if (q.proved_natively) return;
      if (!levels || pool != f.pool || resource != f.r) {
        levels = std::make_unique<verify::reach::LevelWitness>(f);
        pool = f.pool;
        resource = f.r;
      }
      INFO("tree " << t << ", claim of " << b.p.scopes[q.claim.scope].path << (q.claim.own_work ? " (own work)" : ""));
      const std::optional<smt::Values> witness = verify::reach::native_counterexample(f, q);
      native += witness.has_value();
      if (levels->refute(q.claim) != nullptr) {
        ++shared;
        REQUIRE(witness.has_value());
        CHECK(smt::satisfies(q.obligation, *witness));
      }
    });
  }
  INFO(shared << " of " << native << " native counterexamples found from the shared levels");
  CHECK(shared > 50);
}

namespace {

TypedExpr field(Index scope, Field f = Field::guarantee) {
  TypedExpr e;
  e.type = ExprType::amount;
  e.resource = kGpu;
  e.node = FieldRef{scope, kGpu, f};
  return e;
}
TypedExpr op(Op o, TypedExpr a, TypedExpr b, ExprType t) {
  TypedExpr e;
  e.type = t;
  e.resource = t == ExprType::amount ? kGpu : kNone;
  e.node = OpExpr{o, {std::move(a), std::move(b)}};
  return e;
}

}  // namespace

TEST_CASE("E0213: assertions are evaluated exactly") {
  Pai pai;
  // sum(children(Quota1).gpu) == Quota1.gpu
  TypedExpr sum;
  sum.type = ExprType::amount;
  sum.resource = kGpu;
  sum.node = AggregateExpr{AggregateOp::sum, {field(pai.q11), field(pai.q12)}};
  pai.b.p.assertions.push_back({op(Op::eq, sum, field(pai.q1), ExprType::boolean), std::nullopt, {}});
  // Quota1_1.gpu.max <= 0.6 * Quota1.gpu
  TypedExpr six;
  six.type = ExprType::number;
  six.node = ConstExpr{{3, 5}};
  pai.b.p.assertions.push_back(
      {op(Op::le, field(pai.q11, Field::limit), op(Op::mul, six, field(pai.q1), ExprType::amount), ExprType::boolean),
       std::string("team B never takes more than 60%"),
       {}});
  DiagnosticSink sink;
  verify::check_assertions(SourceManager{}, pai.b.p, sink);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0213"});
  const Diagnostic& d = sink.diagnostics()[0];
  CHECK(d.message == "assertion \"team B never takes more than 60%\" does not hold");
  REQUIRE(d.notes.size() == 2);
  CHECK(d.notes[0].message == "`Quota1_1.gpu.max` is 128 gpu");
  CHECK(d.notes[1].message == "`Quota1.gpu` is 128 gpu");

  pai.b.bound(pai.q11, kGpu, 48 * G, 76800);  // 76.8 == 0.6 * 128
  DiagnosticSink ok;
  verify::check_assertions(SourceManager{}, pai.b.p, ok);
  CHECK(ok.diagnostics().empty());
}

namespace {

verify::LiveState state_with(const std::string& text, SourceManager& sources, DiagnosticSink& sink) {
  const FileId id = sources.add("state.toml", text);
  auto state = verify::parse_state(sources, id, "2026-05-01", sink);
  REQUIRE(state.has_value());
  return *state;
}

}  // namespace

TEST_CASE("live state: the PAI rebalance is allowed unless the usage forbids it") {
  Pai deployed;
  Pai next(56 * G, 72 * G, false);
  Pai deployed_fixed(48 * G, 80 * G, false);
  SourceManager sources;
  DiagnosticSink sink;
  auto state = state_with(R"(
policy = "deployed.allot"
[pools.train-pool]
status = "running"
[scopes.Quota1_2]
used = { gpu = 70 }
deployments = 3
)",
                          sources, sink);
  CHECK(state.policy_files == std::vector<std::string>{"deployed.allot"});
  CHECK(verify::check_change(deployed_fixed.b.p, next.b.p, state, sink) == 0);
  CHECK(sink.diagnostics().empty());

  DiagnosticSink sink2;
  auto busy = state_with("policy = \"d.allot\"\n[scopes.Quota1_2]\nused = { gpu = 78 }\n", sources, sink2);
  CHECK(verify::check_change(deployed_fixed.b.p, next.b.p, busy, sink2) == 1);
  REQUIRE(codes(sink2) == std::vector<std::string>{"E0223"});
  CHECK(sink2.diagnostics()[0].message == "`Quota1_2` cannot be reduced to 72 gpu: it uses 78 gpu now");
  CHECK(sink2.diagnostics()[0].notes[0].message.find("78 gpu") != std::string::npos);
  CHECK(sink2.diagnostics()[0].notes[0].range.valid());

  // Usage reported on a queue counts for its ancestors.
  DiagnosticSink sink3;
  auto leaf =
      state_with("policy = \"d.allot\"\n[scopes.\"workspace-c/main/default-queue\"]\nused = { gpu = \"78000m\" }\n",
                 sources, sink3);
  CHECK(verify::check_change(deployed_fixed.b.p, next.b.p, leaf, sink3) == 1);
}

TEST_CASE("live state: deletions, pools and nodes") {
  Pai deployed;
  SourceManager sources;
  DiagnosticSink parse;
  auto state = state_with(R"(
policy = ["a.allot", "b.allot"]
as_of = 2026-05-01
[pools.train-pool]
status = "creating"
nodes = [ { name = "n1", expires = 2027-03-31 }, { name = "n0", expires = 2026-01-01 } ]
[scopes."workspace-c/main/default-queue"]
deployments = ["svc-a"]
)",
                          sources, parse);
  CHECK(parse.diagnostics().empty());
  REQUIRE(state.pools.size() == 1);
  CHECK(state.pools[0].nodes[0].expires == std::optional<std::string>("2027-03-31"));

  // Deleting workspace-c deletes its busy default-queue.
  Pai next;
  next.b.p.scopes.erase(next.b.p.scopes.begin() + static_cast<long>(next.ws_c), next.b.p.scopes.end());
  next.b.p.scopes[next.q12].children.clear();
  // More guarantee on a pool that is still being created; fewer nodes: one
  // less is n0, which has expired, two less is one too many.
  next.b.bound(next.q11, kGpu, 40 * G, 128 * G);
  next.b.bound(next.q12, kGpu, 88 * G, 128 * G);
  next.b.p.pools[0].node_groups[0].count = 15;
  DiagnosticSink expired_only;
  verify::check_change(deployed.b.p, next.b.p, state, expired_only);
  auto e = codes(expired_only);
  std::sort(e.begin(), e.end());
  CHECK(e == std::vector<std::string>{"E0221", "E0227"});
  next.b.p.pools[0].node_groups[0].count = 14;
  DiagnosticSink sink;
  verify::check_change(deployed.b.p, next.b.p, state, sink);
  auto c = codes(sink);
  std::sort(c.begin(), c.end());
  CHECK(c == std::vector<std::string>{"E0221", "E0225", "E0227"});

  DiagnosticSink bad;
  const FileId id = sources.add("bad.toml", "policy = 3\n[pools.p]\nstatus = \"sleeping\"\n");
  CHECK(!verify::parse_state(sources, id, "2026-05-01", bad).has_value());
  CHECK(bad.error_count() == 2);
  CHECK(bad.diagnostics()[0].code == "E0220");
}

TEST_CASE("E0222: a default-queue is never deleted") {
  // Sema gives every namespace a default-queue, so only a model built
  // otherwise (a policy from another tool, a future sema) can lose one.
  Pai deployed;
  SourceManager sources;
  DiagnosticSink parse;
  auto state = state_with("policy = \"a.allot\"\nas_of = 2026-05-01\n", sources, parse);
  CHECK(parse.diagnostics().empty());
  Pai next;
  const Index ns = next.b.p.scopes[next.ws_c].children[0];
  next.b.p.scopes.pop_back();  // workspace-c/main/default-queue, the last scope
  next.b.p.scopes[ns].children.clear();
  DiagnosticSink sink;
  CHECK(verify::check_change(deployed.b.p, next.b.p, state, sink) == 1);
  REQUIRE(codes(sink) == std::vector<std::string>{"E0222"});
  CHECK(sink.diagnostics()[0].message.find("`workspace-c/main/default-queue`") != std::string::npos);

  // Deleting the whole namespace deletes its default-queue with it: allowed.
  Pai gone;
  gone.b.p.scopes.resize(gone.ws_c + 1);
  gone.b.p.scopes[gone.ws_c].children.clear();
  DiagnosticSink sink2;
  CHECK(verify::check_change(deployed.b.p, gone.b.p, state, sink2) == 0);
}

TEST_CASE("live amounts convert exactly") {
  Builder b;
  CHECK(verify::parse_live_amount(b.p, kGpu, "78") == 78000);
  CHECK(verify::parse_live_amount(b.p, kGpu, "0.5") == 500);
  CHECK(verify::parse_live_amount(b.p, kGpu, "500m") == 500);
  CHECK(verify::parse_live_amount(b.p, kMemory, "80GiB") == 80 * 1024);
  CHECK(verify::parse_live_amount(b.p, kMemory, "2") == 2048);
  CHECK(!verify::parse_live_amount(b.p, kGpu, "0.0005"));
  CHECK(!verify::parse_live_amount(b.p, kGpu, "3 GPUs"));
}

TEST_CASE("SARIF 2.1.0 output") {
  SourceManager sources;
  const FileId id = sources.add("dir/my policy.allot", "quota Quota1 on p {\n  gpu = 128\n}\n");
  DiagnosticSink sink;
  sink.error("E0201", SourceRange{id, 22, 31}, "children of `Quota1` guarantee 136 gpu, more than its 128")
      .note("`Quota1_1` guarantees 48 gpu", SourceRange{id, 6, 12})
      .add_help("lower them");
  sink.warning("E0212", SourceRange{id, 0, 5}, "could not prove");
  const std::string sarif = emit::render_sarif(sources, sink, "0.1.0");
  CHECK(sarif.find("\"version\": \"2.1.0\"") != std::string::npos);
  CHECK(sarif.find("\"id\": \"E0201\"") != std::string::npos);
  CHECK(sarif.find("\"id\": \"E0212\"") != std::string::npos);
  CHECK(sarif.find("\"uri\": \"dir/my%20policy.allot\"") != std::string::npos);
  CHECK(sarif.find("\"startLine\": 2") != std::string::npos);
  CHECK(sarif.find("\"startColumn\": 3") != std::string::npos);
  CHECK(sarif.find("\"endColumn\": 12") != std::string::npos);
  CHECK(sarif.find("\"relatedLocations\"") != std::string::npos);
  CHECK(sarif.find("\"level\": \"warning\"") != std::string::npos);
  // helpUri must be absolute (schema "format": "uri"); the docs link goes in help.text.
  CHECK(sarif.find("\"helpUri\"") == std::string::npos);
  CHECK(sarif.find("\"text\": \"see docs/diagnostics.md#E0201\"") != std::string::npos);
}
