// Fair sharing in the language and the plan: what sema makes of `weight`
// and `fair_sharing`, and their way through the plan file into the
// runtime's Cluster.
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/plan/inventory.h"
#include "compiler/plan/placement.h"
#include "compiler/plan/plan.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"
#include "plan_fixture.h"
#include "runtime/core/plan_reader.h"

using namespace allot;

namespace {

struct Checked {
  SourceManager sources;
  DiagnosticSink sink;
  std::optional<model::Policy> policy;
};

std::unique_ptr<Checked> check(const std::string& text) {
  auto c = std::make_unique<Checked>();
  const FileId id = c->sources.add("case.allot", text);
  std::optional<ast::File> file = syntax::parse(c->sources, id, c->sink);
  REQUIRE(file);
  std::vector<ast::File> files;
  files.push_back(std::move(*file));
  c->policy = sema::analyze(c->sources, files, c->sink);
  return c;
}

using allot::testing::plan_text;
runtime::PlanReadResult read(const std::string& text) { return runtime::read_plan(text, "plan.toml"); }

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

std::string policy(const std::string& fair_sharing) {
  return R"(
flavor gpu-8 { gpu_model = "A100-80G", gpus = 8 }
pool p {
  type = dedicated
  purpose = training
  billing = subscription { term = 12mo }
  nodes = 2 x gpu-8
  )" + fair_sharing +
         R"(
}
quota Root on p {
  gpu = 16
  quota A { gpu = 4..16, weight = 1.5 }
  quota B { gpu = 4..16 }
}
workspace wa on A { namespace n { queue q { weight = 0.25 } } }
workspace wb on B { namespace n { queue q {} } }
)";
}

}  // namespace

TEST_CASE("fair sharing plan: weights and strategies go from the policy to the runtime's Cluster") {
  const auto c = check(policy("fair_sharing = [below_initial_share, at_most_final_share]"));
  REQUIRE(c->policy);
  CHECK_FALSE(c->sink.has_errors());
  const model::Pool& pool = c->policy->pools[0];
  CHECK(pool.fair_sharing == std::vector<model::FairStrategy>{model::FairStrategy::below_initial_share,
                                                              model::FairStrategy::at_most_final_share});
  const std::string text = plan_text(*c->policy);
  CHECK(text.find("fair_sharing = [\"below_initial_share\", \"at_most_final_share\"]") != std::string::npos);
  CHECK(text.find("weight_milli = 1500") != std::string::npos);
  CHECK(text.find("weight_milli = 250") != std::string::npos);
  runtime::PlanReadResult r = read(text);
  if (const auto* e = std::get_if<runtime::PlanError>(&r)) FAIL(e->to_string());
  const runtime::Cluster& cluster = std::get<runtime::LoadedPlan>(r).cluster;
  CHECK(cluster.fair_sharing == std::vector<runtime::FairStrategy>{runtime::FairStrategy::below_initial_share,
                                                                   runtime::FairStrategy::at_most_final_share});
  CHECK(cluster.scopes[runtime::find_scope(cluster, "A")].weight_milli == 1500);
  CHECK(cluster.scopes[runtime::find_scope(cluster, "B")].weight_milli == 1000);
  CHECK(cluster.scopes[runtime::find_scope(cluster, "wa/n/q")].weight_milli == 250);

  auto error = [](const std::string& t) {
    runtime::PlanReadResult bad = runtime::read_plan(t, "plan.toml");
    REQUIRE(std::holds_alternative<runtime::PlanError>(bad));
    return std::get<runtime::PlanError>(bad).message;
  };
  CHECK(error(replaced(text, "\"at_most_final_share\"]", "\"below_initial_share\"]")) ==
        "fair-sharing strategy `below_initial_share` is listed twice");
  CHECK(error(replaced(text, "\"at_most_final_share\"]", "\"fair\"]")).find("unknown fair-sharing strategy `fair`") ==
        0);
  CHECK(error(replaced(text, "weight_milli = 1500", "weight_milli = 0")).find("weight_milli") != std::string::npos);
}

TEST_CASE("fair sharing plan: `true` is both strategies, off writes no field") {
  const auto on = check(policy("fair_sharing = true"));
  REQUIRE(on->policy);
  CHECK(on->policy->pools[0].fair_sharing ==
        std::vector<model::FairStrategy>{model::FairStrategy::at_most_final_share,
                                         model::FairStrategy::below_initial_share});
  const auto off = check(policy("fair_sharing = false"));
  REQUIRE(off->policy);
  CHECK(off->policy->pools[0].fair_sharing.empty());
  // Weights without fair sharing are warned about (W0111) and still written.
  bool warned = false;
  for (const Diagnostic& d : off->sink.diagnostics()) warned |= d.code == "W0111";
  CHECK(warned);
  const std::string text = plan_text(*off->policy);
  CHECK(text.find("fair_sharing") == std::string::npos);
  runtime::PlanReadResult r = read(text);
  REQUIRE(std::holds_alternative<runtime::LoadedPlan>(r));
  CHECK(std::get<runtime::LoadedPlan>(r).cluster.fair_sharing.empty());
}
