// The plan stage: SHA-256, placement (capacity, guarantees, heuristic against
// Z3's optimum on random small instances), migration order (every
// intermediate state valid) and the plan file.
#include "compiler/plan/plan.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

#include "compiler/emit/plan_toml.h"
#include "compiler/plan/migration.h"
#include "compiler/plan/placement.h"
#include "compiler/plan/sha256.h"
#include "compiler/sema/analyze.h"
#include "compiler/sema/model_queries.h"
#include "compiler/smt/z3.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/verify.h"

using namespace allot;

namespace {

std::optional<model::Policy> compile(SourceManager& sources, const std::string& name, const std::string& text) {
  DiagnosticSink sink;
  const FileId id = sources.add(name, text);
  std::optional<ast::File> file = syntax::parse(sources, id, sink);
  if (!file) return std::nullopt;
  std::vector<ast::File> files;
  files.push_back(std::move(*file));
  std::optional<model::Policy> policy = sema::analyze(sources, files, sink);
  if (sink.has_errors()) return std::nullopt;
  return policy;
}

std::string pai(int g11, int g12) {
  return R"(
flavor gpu-8 { gpu_model = "A100-80G", gpus = 8 }
pool pai-pool {
  type = dedicated
  purpose = training
  billing = subscription { term = 12mo }
  nodes = 16 x gpu-8
}
quota Quota1 on pai-pool {
  gpu = 128
  quota Quota1_1 { gpu = )" +
         std::to_string(g11) + R"(.. }
  quota Quota1_2 { gpu = )" +
         std::to_string(g12) + R"(.. }
}
)";
}

// The objectives in their lexicographic order, all to be minimised.
std::array<std::int64_t, 6> objectives(const plan::Quality& q) {
  return {q.shared_nodes, q.scope_nodes, q.scope_domains, -q.whole_free_nodes, q.pay_as_you_go_gpus, q.moved_gpus};
}

smt::PlacementProblem random_problem(std::mt19937& rng) {
  smt::PlacementProblem p;
  const int nodes = std::uniform_int_distribution<int>(2, 6)(rng);
  const std::int64_t sizes[] = {1, 2, 4, 8};
  std::int64_t capacity = 0;
  for (int n = 0; n < nodes; ++n) {
    smt::OptNode node;
    node.capacity = sizes[std::uniform_int_distribution<int>(0, 3)(rng)];
    node.pay_as_you_go = std::uniform_int_distribution<int>(0, 3)(rng) == 0;
    const std::int64_t domain = node.capacity >= 4 && rng() % 2 ? node.capacity / 2 : node.capacity;
    node.first_domain = static_cast<std::uint32_t>(p.domains.size());
    for (std::int64_t g = 0; g < node.capacity; g += domain) {
      p.domains.push_back({static_cast<std::uint32_t>(n), domain});
    }
    node.domain_count = static_cast<std::uint32_t>(p.domains.size()) - node.first_domain;
    capacity += node.capacity;
    p.nodes.push_back(node);
  }
  std::vector<std::uint32_t> all(p.nodes.size());
  for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  const int demands = std::uniform_int_distribution<int>(1, 4)(rng);
  std::int64_t left = capacity - std::uniform_int_distribution<std::int64_t>(0, capacity / 3)(rng);
  for (int d = 0; d < demands && left > 0; ++d) {
    const std::int64_t g = d + 1 == demands ? left : std::uniform_int_distribution<std::int64_t>(1, left)(rng);
    p.demands.push_back({g, all});
    left -= g;
  }
  return p;
}

}  // namespace

TEST_CASE("sha-256 matches the published test vectors") {
  CHECK(plan::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(plan::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(plan::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(plan::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("placement never exceeds capacity and meets every demand (random instances)") {
  std::mt19937 rng(20260501);
  for (int i = 0; i < 300; ++i) {
    const smt::PlacementProblem p = random_problem(rng);
    CHECK(plan::valid_solution(p, plan::heuristic_place(p)));
    CHECK(plan::valid_solution(p, plan::first_fit_place(p)));
  }
}

TEST_CASE("the heuristic is never better than z3's optimum (random instances)") {
  std::mt19937 rng(7);
  const auto optimizer = smt::make_z3_placement_optimizer();
  int compared = 0, equal = 0, timeouts = 0;
  std::int64_t shared_gap = 0, span_gap = 0;
  for (int i = 0; i < 60; ++i) {
    const smt::PlacementProblem p = random_problem(rng);
    const smt::PlacementSolution h = plan::heuristic_place(p);
    REQUIRE(plan::valid_solution(p, h));
    const smt::OptimizeResult r = optimizer->optimize(p, std::chrono::milliseconds(5000));
    if (r.status == smt::OptStatus::timeout) {
      ++timeouts;
      continue;
    }
    REQUIRE(r.status == smt::OptStatus::optimal);
    REQUIRE(plan::valid_solution(p, r.solution));
    const auto hq = objectives(plan::evaluate(p, h));
    const auto oq = objectives(plan::evaluate(p, r.solution));
    CHECK(oq <= hq);  // lexicographic
    ++compared;
    if (oq == hq) ++equal;
    shared_gap += hq[0] - oq[0];
    span_gap += hq[1] - oq[1];
    plan::Quality bounds;
    plan::compute_bounds(p, bounds);
    CHECK(plan::evaluate(p, r.solution).shared_nodes >= bounds.shared_nodes_lower_bound);
    CHECK(plan::evaluate(p, r.solution).whole_free_nodes <= bounds.whole_free_nodes_upper_bound);
  }
  CHECK(compared >= 50);
  // The gap, recorded: shown with `allot_unit_tests -s "[gap]"` or on failure.
  INFO("compared " << compared << ", heuristic optimal in " << equal << ", timeouts " << timeouts
                   << ", extra shared nodes " << shared_gap << ", extra node spans " << span_gap);
  CHECK(equal * 3 >= compared);  // regression guard: measured 26 of 60 at seed 7
  WARN("placement gap: heuristic optimal in " << equal << " of " << compared << " instances; extra shared nodes "
                                              << shared_gap << ", extra node spans " << span_gap);
}

TEST_CASE("place() homes whole nodes and reports against its bounds") {
  SourceManager sources;
  const std::optional<model::Policy> policy = compile(sources, "pai.allot", pai(48, 80));
  REQUIRE(policy);
  const plan::Inventory inventory = plan::expand_policy_nodes(*policy);
  REQUIRE(inventory.nodes.size() == 16);
  CHECK(inventory.nodes[0].name == "pai-pool-0001");
  const auto optimizer = smt::make_z3_placement_optimizer();
  plan::PlaceOptions options;
  options.optimizer = optimizer.get();
  DiagnosticSink sink;
  const plan::Placement placement = plan::place(*policy, inventory, nullptr, options, sink);
  CHECK_FALSE(sink.has_errors());
  REQUIRE(placement.pools.size() == 1);
  CHECK(placement.pools[0].optimal);
  CHECK(placement.quality.shared_nodes == 0);
  CHECK(placement.quality.scope_nodes == 16);  // 6 + 10 whole nodes
  std::map<std::string, int> per_scope;
  for (const auto& node : placement.home) {
    std::set<std::int32_t> homes(node.begin(), node.end());
    CHECK(homes.size() == 1);  // whole nodes stay whole
    for (std::int32_t d : node) ++per_scope[placement.demands[static_cast<std::size_t>(d)].path];
  }
  CHECK(per_scope["Quota1_1"] == 48);
  CHECK(per_scope["Quota1_2"] == 80);

  // Re-planning after the rebalance moves exactly one node.
  const std::optional<model::Policy> next = compile(sources, "next.allot", pai(56, 72));
  REQUIRE(next);
  const plan::Homes previous = plan::homes_of(inventory, placement);
  const plan::Placement again = plan::place(*next, inventory, &previous, options, sink);
  CHECK(again.quality.moved_gpus == 8);
  CHECK(again.quality.shared_nodes == 0);
}

TEST_CASE("the pai rebalance shrinks before it grows, and every step is valid") {
  SourceManager sources;
  const std::optional<model::Policy> deployed = compile(sources, "deployed.allot", pai(48, 80));
  const std::optional<model::Policy> next = compile(sources, "next.allot", pai(56, 72));
  REQUIRE(deployed);
  REQUIRE(next);
  DiagnosticSink sink;
  const std::vector<plan::Step> steps = plan::plan_migration(*deployed, *next, nullptr, {}, sink);
  CHECK_FALSE(sink.has_errors());
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].action == plan::StepAction::shrink);
  CHECK(steps[0].target == "Quota1_2");
  CHECK(steps[1].action == plan::StepAction::grow);
  CHECK(steps[1].target == "Quota1_1");
}

TEST_CASE("every migration step's state is valid (random quota trees)") {
  std::mt19937 rng(99);
  for (int round = 0; round < 40; ++round) {
    const int children = std::uniform_int_distribution<int>(2, 4)(rng);
    auto tree = [&](std::vector<int> g) {
      std::string text = R"(
flavor gpu-8 { gpus = 8 }
pool p { type = dedicated, purpose = training, billing = subscription { term = 12mo }, nodes = 8 x gpu-8 }
quota root on p {
  gpu = 64
)";
      for (std::size_t i = 0; i < g.size(); ++i) {
        if (g[i] >= 0) text += "  quota c" + std::to_string(i) + " { gpu = " + std::to_string(g[i]) + "..64 }\n";
      }
      return text + "}\n";
    };
    auto random_split = [&] {
      std::vector<int> g(static_cast<std::size_t>(children));
      int left = 64;
      for (int& x : g) {
        x = std::uniform_int_distribution<int>(0, left)(rng);
        left -= x;
        if (std::uniform_int_distribution<int>(0, 5)(rng) == 0) x = -1;  // absent
      }
      return g;
    };
    SourceManager sources;
    const auto deployed = compile(sources, "d.allot", tree(random_split()));
    const auto next = compile(sources, "n.allot", tree(random_split()));
    REQUIRE(deployed);
    REQUIRE(next);
    DiagnosticSink sink;
    plan::MigrationOptions options;
    options.reachability = false;
    const std::vector<plan::Step> steps = plan::plan_migration(*deployed, *next, nullptr, options, sink);
    REQUIRE_FALSE(sink.has_errors());
    for (std::size_t k = 0; k <= steps.size(); ++k) {
      const std::vector<plan::Step> prefix(steps.begin(), steps.begin() + static_cast<long>(k));
      const model::Policy state = plan::apply_steps(*deployed, *next, prefix);
      DiagnosticSink check;
      CHECK(verify::check_structure(state, check) == 0);
    }
    // The last state is the new policy's tree.
    const model::Policy last = plan::apply_steps(*deployed, *next, steps);
    for (const model::Scope& s : next->scopes) {
      const std::optional<model::Index> i = last.find_scope(s.path);
      REQUIRE(i);
      CHECK(model::guarantee_of(last, *i, model::kGpu) == model::guarantee_of(*next, *next->find_scope(s.path), 0));
    }
    CHECK(last.scopes.size() == next->scopes.size());
  }
}

TEST_CASE("the plan file is canonical TOML and reads back") {
  SourceManager sources;
  const std::optional<model::Policy> policy = compile(sources, "pai.allot", pai(48, 80));
  REQUIRE(policy);
  plan::Plan p;
  p.allot_version = "test";
  p.policy = &*policy;
  p.inventory = plan::expand_policy_nodes(*policy);
  DiagnosticSink sink;
  p.placement = plan::place(*policy, p.inventory, nullptr, {}, sink);
  plan::fingerprint(p, {{"pai.allot", std::string(sources.text(0))}});
  const std::string a = emit::render_plan_toml(p), b = emit::render_plan_toml(p);
  CHECK(a == b);
  CHECK(a.find("\nformat_version = 1\n") != std::string::npos);
  CHECK(a.find("source_sha256 = \"" + p.source_sha256 + "\"") != std::string::npos);
  std::string error;
  const std::optional<plan::Homes> homes = plan::read_plan_homes(a, "plan.toml", error);
  REQUIRE(homes);
  CHECK(*homes == plan::homes_of(p.inventory, p.placement));
  CHECK(emit::toml_string("a\"b\\c\n") == "\"a\\\"b\\\\c\\n\"");
}
