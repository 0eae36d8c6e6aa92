// The preemption options of the language (`lend`, `reclaim`,
// `borrow_within`, queue `preemption`): what sema makes of them, their
// diagnostics, and their way through the plan file into the runtime's
// Cluster and into migration updates.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <variant>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/plan/inventory.h"
#include "compiler/plan/migration.h"
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

  // Every code but W0103 and W0107: the header's classes are not all used
  // everywhere, nor run in a preemptible queue where the header preempts them.
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (const Diagnostic& d : sink.diagnostics()) {
      if (d.code != "W0103" && d.code != "W0107") out.push_back(d.code);
    }
    return out;
  }
  const Diagnostic* find(std::string_view code) const {
    for (const Diagnostic& d : sink.diagnostics()) {
      if (d.code == code) return &d;
    }
    return nullptr;
  }
  const model::Scope& scope(std::string_view path) const {
    REQUIRE(policy);
    const std::optional<model::Index> i = policy->find_scope(path);
    REQUIRE(i);
    return policy->scopes[*i];
  }
  model::Index priority(std::string_view name) const {
    for (model::Index i = 0; i < policy->priorities.size(); ++i) {
      if (policy->priorities[i].name == name) return i;
    }
    FAIL("no priority class " << name);
    return model::kNone;
  }
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

constexpr const char* kHeader = R"(
flavor gpu-8 { gpu_model = "A100-80G", gpus = 8 }
pool pai-pool {
  type = dedicated
  purpose = training
  billing = subscription { term = 12mo }
  nodes = 4 x gpu-8
}
priority inference { value = 1000, preempts = [training] }
priority training { value = 500, preempts = [batch] }
priority batch = 100
)";

// Every option, written once, some inherited.
const std::string kAll = std::string(kHeader) + R"(
quota Quota1 on pai-pool {
  gpu = 32
  reclaim = lower_priority
  borrow_within = lower_priority { max_priority = training }
  quota Quota1_1 { gpu = 8..32, lend = { gpu = 4 } }
  quota Quota1_2 { gpu = 24..32, cpu = 16..32, lend = { gpu = 0.5, cpu = 0 }, reclaim = any, borrow_within = never }
}
workspace team-a on Quota1_1 {
  namespace serve {
    queue online { priority = inference, preemption = lower_or_newer_equal_priority }
    queue batch { priority = batch, preemption = never, borrow_within = lower_priority }
  }
}
workspace team-b on Quota1_2 {
  namespace train {
    queue jobs { priority = training, preemption = lower_priority, reclaim = never }
  }
}
)";

using allot::testing::plan_text;
runtime::LoadedPlan read_back(const std::string& text) {
  runtime::PlanReadResult r = runtime::read_plan(text, "plan.toml");
  if (const auto* e = std::get_if<runtime::PlanError>(&r)) FAIL(e->to_string());
  return std::get<runtime::LoadedPlan>(std::move(r));
}

std::string read_error(const std::string& text) {
  runtime::PlanReadResult r = runtime::read_plan(text, "plan.toml");
  REQUIRE(std::holds_alternative<runtime::PlanError>(r));
  return std::get<runtime::PlanError>(r).message;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

const runtime::Scope& scope_of(const runtime::Cluster& c, std::string_view path) {
  const runtime::ScopeId s = runtime::find_scope(c, path);
  REQUIRE(s != runtime::kNone);
  return c.scopes[s];
}

}  // namespace

TEST_CASE("preemption options: sema reads them and inherits reclaim and borrow_within") {
  const auto c = check(kAll);
  REQUIRE(c->policy);
  CHECK(c->codes().empty());

  const model::Scope& q1 = c->scope("Quota1");
  CHECK(q1.reclaim == model::ReclaimPolicy::lower_priority);
  CHECK(c->sources.slice(q1.reclaim_range) == "reclaim = lower_priority");
  CHECK(q1.borrow_within.enabled);
  CHECK(q1.borrow_within.max_priority == c->priority("training"));
  CHECK_FALSE(q1.bounds[model::kGpu]->lend);

  const model::Scope& q11 = c->scope("Quota1_1");
  CHECK(q11.bounds[model::kGpu]->lend == 4000);
  CHECK(c->sources.slice(q11.bounds[model::kGpu]->lend_range) == "gpu = 4");
  // Inherited: the value and where it was written.
  CHECK(q11.reclaim == model::ReclaimPolicy::lower_priority);
  CHECK(q11.reclaim_range.begin == q1.reclaim_range.begin);
  CHECK(q11.borrow_within.enabled);
  CHECK(q11.borrow_within.max_priority == c->priority("training"));

  const model::Scope& q12 = c->scope("Quota1_2");
  CHECK(q12.bounds[model::kGpu]->lend == 500);
  CHECK(q12.bounds[model::kCpu]->lend == 0);
  CHECK(q12.reclaim == model::ReclaimPolicy::any);
  CHECK(c->sources.slice(q12.reclaim_range).substr(0, 13) == "reclaim = any");
  CHECK_FALSE(q12.borrow_within.enabled);

  // Down through a bound workspace to its queues; a queue's own setting wins.
  const model::Scope& online = c->scope("team-a/serve/online");
  CHECK(online.reclaim == model::ReclaimPolicy::lower_priority);
  CHECK(online.borrow_within.max_priority == c->priority("training"));
  CHECK(online.within_queue == model::WithinQueue::lower_or_newer_equal_priority);
  const model::Scope& batch = c->scope("team-a/serve/batch");
  CHECK(batch.within_queue == model::WithinQueue::never);
  CHECK(batch.borrow_within.enabled);
  CHECK(batch.borrow_within.max_priority == model::kNone);
  CHECK(c->scope("team-a/serve/default-queue").within_queue == model::WithinQueue::by_class);
  CHECK(c->scope("team-a/serve/default-queue").reclaim == model::ReclaimPolicy::lower_priority);
  const model::Scope& jobs = c->scope("team-b/train/jobs");
  CHECK(jobs.reclaim == model::ReclaimPolicy::never);
  CHECK(jobs.within_queue == model::WithinQueue::lower_priority);
  CHECK_FALSE(jobs.borrow_within.enabled);
  CHECK(c->scope("team-b/train/default-queue").reclaim == model::ReclaimPolicy::any);
}

TEST_CASE("preemption options: defaults when nothing is written") {
  const auto c = check(std::string(kHeader) + "quota Q on pai-pool { gpu = 8..32 }\n");
  REQUIRE(c->policy);
  const model::Scope& q = c->scope("Q");
  CHECK(q.reclaim == model::ReclaimPolicy::any);
  CHECK_FALSE(q.reclaim_range.valid());
  CHECK_FALSE(q.borrow_within.enabled);
  CHECK_FALSE(q.bounds[model::kGpu]->lend);
}

TEST_CASE("preemption options: each mistake has its code") {
  const std::string q = std::string(kHeader) + "quota Q on pai-pool {\n";
  auto codes = [&](const std::string& body) { return check(q + body + "\n}\n")->codes(); };
  using V = std::vector<std::string>;
  CHECK(codes("cpu = 4, lend = { gpu = 8 }") == V{"E0132"});
  CHECK(codes("gpu = 8..16, lend = { gpu = 9 }") == V{"E0133"});
  CHECK(codes("gpu = 8..16, lend = { gpu = -1 }") == V{"E0110"});
  CHECK(codes("gpu = 8..16, lend = { gpus = 1 }") == V{"E0119"});
  CHECK(codes("gpu = 8..16, lend = { gpu = 1, gpu = 2 }") == V{"E0106"});
  CHECK(codes("gpu = 8..16, lend = 4") == V{"E0108"});
  CHECK(codes("gpu = 8..16, lend = { gpu = 1GiB }") == V{"E0109"});
  CHECK(codes("gpu = 8..16, reclaim = sometimes") == V{"E0113"});
  CHECK(codes("gpu = 8..16, borrow_within = always") == V{"E0113"});
  CHECK(codes("gpu = 8..16, borrow_within = [never]") == V{"E0108"});
  CHECK(codes("gpu = 8..16, borrow_within = never { max_priority = batch }") == V{"E0105"});
  CHECK(codes("gpu = 8..16, borrow_within = lower_priority { max = batch }") == V{"E0105"});
  CHECK(codes("gpu = 8..16, preemption = never") == V{"E0105"});  // queues only

  // A lend of exactly the guarantee, or of nothing, is fine.
  CHECK(codes("gpu = 8..16, lend = { gpu = 8 }").empty());
  CHECK(codes("gpu = 8..16, lend = { gpu = 0 }").empty());

  const auto above = check(q + "gpu = 48..64, lend = { gpu = 48.5 }\n}\n");
  const Diagnostic* d = above->find("E0133");
  REQUIRE(d);
  CHECK(d->message == "quota `Q` lends `48.5` of `gpu`, more than its guarantee of `48`");
  REQUIRE(d->notes.size() == 1);
  CHECK(above->sources.slice(d->notes[0].range).substr(0, 12) == "gpu = 48..64");

  // Misspellings get a suggestion, as every other property and reference.
  const auto key = check(q + "gpu = 8..16, reclam = never\n}\n");
  REQUIRE(key->find("E0105"));
  REQUIRE(key->find("E0105")->notes.size() == 1);
  CHECK(key->find("E0105")->notes[0].message == "did you mean `reclaim`?");
  const auto value = check(q + "gpu = 8..16, borrow_within = lower_priorty\n}\n");
  REQUIRE(value->find("E0113"));
  CHECK(value->find("E0113")->notes.at(0).message == "did you mean `lower_priority`?");
  const auto cls = check(q + "gpu = 8..16, borrow_within = lower_priority { max_priority = trainin }\n}\n");
  REQUIRE(cls->find("E0118"));
  CHECK(cls->find("E0118")->message == "unknown priority class `trainin`");
  CHECK(cls->find("E0118")->notes.at(0).message == "did you mean `training`?");
  const auto within =
      check(std::string(kHeader) +
            "workspace w {\n pool = pai-pool\n namespace n { queue q { preemption = lower_priorty } }\n}\n");
  REQUIRE(within->find("E0113"));
  CHECK(within->find("E0113")->notes.at(0).message == "did you mean `lower_priority`?");
}

TEST_CASE("preemption options: a queue that is never preempted cannot preempt its own jobs") {
  auto queue = [](const std::string& props) {
    return check(std::string(kHeader) + "workspace w {\n pool = pai-pool\n namespace n { queue q { " + props +
                 " } }\n}\n")
        ->codes();
  };
  CHECK(queue("preemptible = false, preemption = lower_priority") == std::vector<std::string>{"E0127"});
  CHECK(queue("preemptible = false, preemption = never").empty());
  CHECK(queue("preemptible = true, preemption = lower_priority").empty());
}

TEST_CASE("preemption options: W0104 once per `reclaim = never`, naming who would lose a guarantee") {
  const auto c = check(std::string(kHeader) + R"(
quota Quota1 on pai-pool {
  gpu = 32
  reclaim = never
  quota A { gpu = 8.. }
  quota B { gpu = 8.., lend = { gpu = 0 } }
  quota C { gpu = 8.., reclaim = lower_priority }
  quota D { gpu = 8.. }
}
)");
  REQUIRE(c->policy);  // a warning only
  REQUIRE(c->codes() == std::vector<std::string>{"W0104"});
  const Diagnostic& d = *c->find("W0104");
  CHECK(d.severity == Severity::warning);
  CHECK(c->sources.slice(d.range) == "reclaim = never");
  CHECK(d.message == "quota `Quota1` would lose its `gpu` guarantee to borrowers: it never reclaims what it lends");
  // A lends, D lends; B lends nothing; C reclaims.
  REQUIRE(d.notes.size() == 2);
  CHECK(d.notes[0].message == "quota `A` inherits it and would lose its `gpu` guarantee too");
  CHECK(d.notes[1].message == "quota `D` inherits it and would lose its `gpu` guarantee too");
  REQUIRE(d.help.size() == 1);
  CHECK(d.help[0].find("`reclaim = lower_priority`") != std::string::npos);
  CHECK(d.help[0].find("`lend = { gpu = 0 }`") != std::string::npos);

  // Nothing to lose: no guarantee, or nothing lent.
  CHECK(check(std::string(kHeader) + "quota Q on pai-pool { gpu = 0..8, reclaim = never }\n")->codes().empty());
  CHECK(check(std::string(kHeader) + "quota Q on pai-pool { gpu = 8, lend = { gpu = 0 }, reclaim = never }\n")
            ->codes()
            .empty());
}

TEST_CASE("preemption options: compile, write the plan, read it into the runtime's Cluster") {
  const auto c = check(kAll);
  REQUIRE(c->policy);
  const std::string text = plan_text(*c->policy);
  CHECK(text.find("bounds = { gpu = { guarantee = 8000, limit = 32000, lend = 4000 } }") != std::string::npos);
  const runtime::LoadedPlan loaded = read_back(text);
  const runtime::Cluster& cluster = loaded.cluster;

  const runtime::Scope& q1 = scope_of(cluster, "Quota1");
  CHECK(q1.reclaim == runtime::ReclaimPolicy::lower_priority);
  CHECK(q1.borrow_within);
  CHECK(q1.borrow_max_priority == 500);  // the value of `training`
  CHECK_FALSE(q1.bounds.gpu->lend);

  const runtime::Scope& q11 = scope_of(cluster, "Quota1_1");
  REQUIRE(q11.bounds.gpu);
  CHECK(q11.bounds.gpu->guarantee == 8000);
  CHECK(q11.bounds.gpu->lend == 4000);
  CHECK(q11.reclaim == runtime::ReclaimPolicy::lower_priority);
  CHECK(q11.borrow_max_priority == 500);

  const runtime::Scope& q12 = scope_of(cluster, "Quota1_2");
  CHECK(q12.bounds.gpu->lend == 500);
  REQUIRE(q12.bounds.cpu);
  CHECK(q12.bounds.cpu->lend == 0);
  CHECK(q12.reclaim == runtime::ReclaimPolicy::any);
  CHECK_FALSE(q12.borrow_within);
  CHECK_FALSE(q12.borrow_max_priority);

  const runtime::Scope& online = scope_of(cluster, "team-a/serve/online");
  CHECK(online.queue.within == runtime::WithinQueue::lower_or_newer_equal_priority);
  CHECK(online.reclaim == runtime::ReclaimPolicy::lower_priority);
  CHECK(online.borrow_max_priority == 500);
  const runtime::Scope& batch = scope_of(cluster, "team-a/serve/batch");
  CHECK(batch.queue.within == runtime::WithinQueue::never);
  CHECK(batch.borrow_within);
  CHECK_FALSE(batch.borrow_max_priority);
  CHECK(scope_of(cluster, "team-a/serve/default-queue").queue.within == runtime::WithinQueue::by_class);
  const runtime::Scope& jobs = scope_of(cluster, "team-b/train/jobs");
  CHECK(jobs.queue.within == runtime::WithinQueue::lower_priority);
  CHECK(jobs.reclaim == runtime::ReclaimPolicy::never);
  CHECK_FALSE(jobs.borrow_within);
}

TEST_CASE("preemption options: a policy without them writes none of their fields") {
  const auto c = check(std::string(kHeader) + R"(
quota Q on pai-pool { gpu = 8..32 }
workspace w on Q { namespace n { queue q { priority = training } } }
)");
  REQUIRE(c->policy);
  const std::string text = plan_text(*c->policy);
  for (const char* key : {"lend", "reclaim", "borrow_within", "borrow_max_priority", "\npreemption"}) {
    INFO(key);
    CHECK(text.find(key) == std::string::npos);
  }
  const runtime::LoadedPlan loaded = read_back(text);
  for (const runtime::Scope& s : loaded.cluster.scopes) {
    CHECK(s.reclaim == runtime::ReclaimPolicy::any);
    CHECK_FALSE(s.borrow_within);
    CHECK(s.queue.within == runtime::WithinQueue::by_class);
  }
}

TEST_CASE("preemption options: the plan reader refuses bad values") {
  const auto c = check(kAll);
  REQUIRE(c->policy);
  const std::string text = plan_text(*c->policy);
  CHECK(read_error(replaced(text, "lend = 4000", "lend = 9000")) ==
        "the `lend` of `gpu` must be between 0 and its guarantee (8000)");
  CHECK(read_error(replaced(text, "lend = 4000", "lend = -1")) ==
        "the `lend` of `gpu` must be between 0 and its guarantee (8000)");
  CHECK(read_error(replaced(text, "lend = 4000", "lend = \"all\"")) == "`lend` must be an integer");
  CHECK(read_error(replaced(text, "reclaim = \"lower_priority\"", "reclaim = \"sometimes\"")) ==
        "`reclaim` must be \"any\", \"lower_priority\" or \"never\"");
  CHECK(read_error(replaced(text, "preemption = \"never\"", "preemption = \"always\"")) ==
        "`preemption` must be \"by_class\", \"never\", \"lower_priority\" or \"lower_or_newer_equal_priority\"");
  CHECK(read_error(replaced(text, "borrow_within = true\n", "")) ==
        "`borrow_max_priority` needs `borrow_within = true`");
  CHECK(read_error(replaced(text, "borrow_within = true", "borrow_within = 1")) ==
        "`borrow_within` must be true or false");
}

TEST_CASE("preemption options: a change of any of them is an update step naming it") {
  const std::string before = std::string(kHeader) + R"(
quota Quota1 on pai-pool {
  gpu = 32
  quota A { gpu = 8..32 }
  quota B { gpu = 24..32, lend = { gpu = 4 } }
}
workspace w on A { namespace n { queue q { priority = training } } }
)";
  const std::string after = std::string(kHeader) + R"(
quota Quota1 on pai-pool {
  gpu = 32
  quota A { gpu = 8..32, lend = { gpu = 2 }, reclaim = lower_priority }
  quota B { gpu = 24..32, lend = { gpu = 4 }, borrow_within = lower_priority { max_priority = batch } }
}
workspace w on A { namespace n { queue q { priority = training, preemption = never } } }
)";
  const auto deployed = check(before), next = check(after);
  REQUIRE(deployed->policy);
  REQUIRE(next->policy);
  DiagnosticSink sink;
  const std::vector<plan::Step> steps = plan::plan_migration(*deployed->policy, *next->policy, nullptr, {}, sink);
  CHECK_FALSE(sink.has_errors());
  std::map<std::string, std::vector<std::string>> updates;
  for (const plan::Step& s : steps) {
    CHECK(s.action == plan::StepAction::update);  // no bound changes
    updates[s.target] = s.fields;
  }
  using V = std::vector<std::string>;
  CHECK(updates["A"] == V{"lend", "reclaim"});
  CHECK(updates["B"] == V{"borrow_within"});
  // Inherited from A: the effective value of every scope below changes.
  CHECK(updates["w"] == V{"reclaim"});
  CHECK(updates["w/n"] == V{"reclaim"});
  CHECK(updates["w/n/q"] == V{"reclaim", "preemption"});
  CHECK(updates["w/n/default-queue"] == V{"reclaim"});
  CHECK(updates.count("Quota1") == 0);
  CHECK(updates.size() == 6);
}
