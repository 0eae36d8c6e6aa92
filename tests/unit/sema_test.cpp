#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "compiler/base/diagnostic.h"
#include "compiler/sema/analyze.h"
#include "compiler/sema/units.h"
#include "compiler/syntax/parser.h"

using namespace allot;

namespace {

struct Analyzed {
  SourceManager sources;
  DiagnosticSink sink;
  std::optional<model::Policy> policy;

  bool has_code(std::string_view code) const {
    const auto& ds = sink.diagnostics();
    return std::any_of(ds.begin(), ds.end(), [&](const Diagnostic& d) { return d.code == code; });
  }
  const model::Scope& scope(std::string_view path) const {
    auto index = policy->find_scope(path);
    REQUIRE(index.has_value());
    return policy->scopes[*index];
  }
};

std::unique_ptr<Analyzed> analyze_texts(const std::vector<std::string>& texts) {
  auto a = std::make_unique<Analyzed>();
  std::vector<ast::File> files;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const FileId id = a->sources.add("test" + std::to_string(i) + ".allot", texts[i]);
    auto file = syntax::parse(a->sources, id, a->sink);
    REQUIRE(file.has_value());
    files.push_back(std::move(*file));
  }
  a->policy = sema::analyze(a->sources, files, a->sink);
  return a;
}

std::unique_ptr<Analyzed> analyze_text(std::string text) { return analyze_texts({std::move(text)}); }

constexpr const char* kBase = R"(
flavor a100-8 { gpus = 8, gpu_memory = 80GiB, cpu = 96, memory = 1024GiB }
pool train-pool {
  type = dedicated
  purpose = training
  billing = subscription { term = 12mo, auto_renew = true }
  nodes = 16 x a100-8
  system_disk = 500GiB
}
pool shared-pool { type = shared }
role team-a { users = [alice, "bob.smith"], permissions = [submit, admin] }
priority training { value = 500, preempts = [development] }
priority development = 100
)";

}  // namespace

TEST_CASE("amounts are converted to base units") {
  auto a = analyze_text(std::string(kBase) + R"(
quota Quota1 on train-pool {
  gpu = 0.5..128
  cpu = 500m
  memory = 2GiB..1TiB
  roles = [team-a]
}
workspace ws {
  pool = shared-pool
  namespace ns { queue q { priority = training } }
}
)");
  REQUIRE(a->policy.has_value());
  const model::Scope& q = a->scope("Quota1");
  REQUIRE(q.bounds.size() >= 4);
  REQUIRE(q.bounds[model::kGpu].has_value());
  CHECK(q.bounds[model::kGpu]->guarantee == 500);
  CHECK(q.bounds[model::kGpu]->limit == 128000);
  CHECK(q.bounds[model::kCpu]->guarantee == 500);
  CHECK(q.bounds[model::kCpu]->limit == 500);
  CHECK(q.bounds[model::kMemory]->guarantee == 2048);
  CHECK(q.bounds[model::kMemory]->limit == 1024 * 1024);
  CHECK_FALSE(q.bounds[model::kCu].has_value());

  const model::Flavor& f = a->policy->flavors.at(0);
  CHECK(f.gpus == 8);
  CHECK(f.gpu_memory == 80 * 1024);
  CHECK(f.cpu == 96000);
  const model::Pool& pool = a->policy->pools.at(*a->policy->find_pool("train-pool"));
  CHECK(pool.node_groups.size() == 1);
  CHECK(pool.node_groups[0].count == 16);
  CHECK(pool.system_disk_gib == 500);
  CHECK(pool.billing.mode == model::BillingMode::subscription);
  CHECK(pool.billing.term_months == 12);
  CHECK(pool.billing.auto_renew);
  CHECK(pool.hosts == (static_cast<model::WorkloadSet>(model::WorkloadKind::training) |
                       static_cast<model::WorkloadSet>(model::WorkloadKind::development)));
  CHECK(a->policy->roles.at(0).users == std::vector<std::string>{"alice", "bob.smith"});
  CHECK(a->policy->roles.at(0).permissions == (model::kSubmit | model::kAdmin));
}

TEST_CASE("open ranges have no limit of their own") {
  auto a = analyze_text(std::string(kBase) + "quota Q on train-pool { gpu = 48.. }\n");
  REQUIRE(a->policy.has_value());
  const auto& b = a->scope("Q").bounds[model::kGpu];
  REQUIRE(b.has_value());
  CHECK(b->guarantee == 48000);
  CHECK_FALSE(b->limit.has_value());
}

TEST_CASE("scope tree: parents first, pool inherited, implicit default-queue") {
  auto a = analyze_text(std::string(kBase) + R"(
workspace workspace-b on Quota1_1 { roles = [team-a] }
quota Quota1 on train-pool {
  gpu = 128
  child_preemption = true
  quota Quota1_1 { gpu = 48..128 }
  quota Quota1_2 { gpu = 80..128 }
}
workspace analytics {
  pool = shared-pool
  cu = 100..150
  billing = hybrid { term = 1mo, ceiling = { cu = 50 } }
  namespace prod {
    cu = 60
    queue batch { cu = 10..30, priority = training, accepts = [training], grace_period = 2min }
  }
  namespace empty {}
  namespace custom { queue default-queue { cu = 5 } }
}
)");
  REQUIRE(a->policy.has_value());
  const model::Policy& p = *a->policy;
  for (model::Index i = 0; i < p.scopes.size(); ++i) {
    if (p.scopes[i].parent != model::kNone) CHECK(p.scopes[i].parent < i);
  }
  const model::Scope& q1 = a->scope("Quota1");
  CHECK(q1.child_preemption);
  CHECK(q1.children.size() == 2);
  const model::Scope& wb = a->scope("workspace-b");
  CHECK(wb.kind == model::ScopeKind::workspace);
  CHECK(p.scopes[wb.parent].name == "Quota1_1");
  CHECK(wb.pool == *p.find_pool("train-pool"));

  const model::Scope& analytics = a->scope("analytics");
  CHECK(analytics.parent == model::kNone);
  CHECK(analytics.pool == *p.find_pool("shared-pool"));
  REQUIRE(analytics.billing.has_value());
  CHECK(analytics.billing->mode == model::BillingMode::hybrid);
  CHECK(analytics.billing->ceiling[model::kCu]->limit == 50000);

  const model::Scope& batch = a->scope("analytics/prod/batch");
  CHECK(batch.pool == analytics.pool);
  CHECK(batch.grace_period_ms == 120000);
  CHECK(p.priorities[batch.default_priority].name == "training");
  CHECK(batch.accepts == static_cast<model::WorkloadSet>(model::WorkloadKind::training));

  const model::Scope& implicit = a->scope("analytics/prod/default-queue");
  CHECK(implicit.implicit);
  CHECK(implicit.kind == model::ScopeKind::queue);
  CHECK(a->scope("analytics/empty/default-queue").implicit);
  const model::Scope& written = a->scope("analytics/custom/default-queue");
  CHECK_FALSE(written.implicit);
  CHECK(written.bounds[model::kCu]->guarantee == 5000);
  CHECK(a->scope("analytics/custom").children.size() == 1);
}

TEST_CASE("references resolve across files and in any order") {
  auto a = analyze_texts({"quota Q on p2 { gpu = 8 }\nassert Q.gpu <= 8\n", "pool p2 { type = shared }\n"});
  REQUIRE(a->policy.has_value());
  CHECK(a->scope("Q").pool == 0);
}

TEST_CASE("assertions are lowered with exact amounts") {
  auto a = analyze_text(std::string(kBase) + R"(
quota Quota1 on train-pool {
  gpu = 128
  quota Quota1_1 { gpu = 48..128 }
  quota Quota1_2 { gpu = 80..128 }
}
assert sum(children(Quota1).gpu) == Quota1.gpu
assert Quota1_1.gpu.max <= 0.6 * Quota1.gpu as "team B never takes more than 60%"
assert Quota1.gpu == 128
assert count(children(Quota1)) == 2
)");
  REQUIRE(a->policy.has_value());
  const auto& as = a->policy->assertions;
  REQUIRE(as.size() == 4);

  // sum(children(Quota1).gpu) == Quota1.gpu
  const auto& eq = std::get<model::OpExpr>(as[0].expr.node);
  CHECK(eq.op == model::Op::eq);
  CHECK(as[0].expr.type == model::ExprType::boolean);
  const auto& sum = std::get<model::AggregateExpr>(eq.operands[0].node);
  CHECK(sum.op == model::AggregateOp::sum);
  REQUIRE(sum.items.size() == 2);
  CHECK(eq.operands[0].resource == model::kGpu);
  const auto& first = std::get<model::FieldRef>(sum.items[0].node);
  CHECK(a->policy->scopes[first.scope].name == "Quota1_1");
  CHECK(first.field == model::Field::guarantee);

  // label and `.max`
  CHECK(as[1].label == "team B never takes more than 60%");
  const auto& le = std::get<model::OpExpr>(as[1].expr.node);
  CHECK(std::get<model::FieldRef>(le.operands[0].node).field == model::Field::limit);
  const auto& mul = std::get<model::OpExpr>(le.operands[1].node);
  CHECK(mul.op == model::Op::mul);
  const auto six_tenths = std::get<model::ConstExpr>(mul.operands[0].node).value;
  CHECK(six_tenths.num == 3);
  CHECK(six_tenths.den == 5);

  // a bare number meets a gpu amount in whole GPUs
  const auto& cmp = std::get<model::OpExpr>(as[2].expr.node);
  const auto& c = std::get<model::ConstExpr>(cmp.operands[1].node);
  CHECK(cmp.operands[1].type == model::ExprType::amount);
  CHECK(c.value.num == 128000);
  CHECK(c.value.den == 1);

  // count of a static tree is a constant
  const auto& count = std::get<model::OpExpr>(as[3].expr.node);
  CHECK(std::get<model::ConstExpr>(count.operands[0].node).value.num == 2);
}

TEST_CASE("open limits resolve to the nearest ancestor's limit") {
  auto a = analyze_text(std::string(kBase) + R"(
quota Q on train-pool {
  gpu = 8..64
  quota C { gpu = 4.. }
}
assert C.gpu.max <= 64
)");
  REQUIRE(a->policy.has_value());
  const auto& le = std::get<model::OpExpr>(a->policy->assertions.at(0).expr.node);
  const auto& ref = std::get<model::FieldRef>(le.operands[0].node);
  CHECK(a->policy->scopes[ref.scope].name == "Q");
  CHECK(ref.field == model::Field::limit);
}

TEST_CASE("semantic errors carry their codes") {
  CHECK(analyze_text("quota Q { gpu = 8 }\n")->has_code("E0107"));
  CHECK(analyze_text("pool p { type = shared }\nquota Q on p { gpu = 0.0005 }\n")->has_code("E0111"));
  CHECK(analyze_text("pool p { type = shared }\nquota Q on p { gpu = 99999999999999999999 }\n")->has_code("E0112"));
  CHECK(analyze_text("flavor f { gpus = 8, memory = 1024 }\n")->has_code("E0109"));
  CHECK(analyze_text("pool p { type = shared }\nquota Q on p { gpu = 8 }\nquota Q on p { gpu = 8 }\n")
            ->has_code("E0104"));
  CHECK(analyze_text("pool p { type = shared }\nquota Q on p { gpu = 8, memory = 8GiB }\nassert Q.gpu < Q.memory\n")
            ->has_code("E0121"));
  CHECK(analyze_text("pool p { type = shared }\nquota Q on p { gpu = 8 }\nassert Q.cpu.max < 8\n")->has_code("E0122"));
  auto unknown = analyze_text("pool train-pool { type = shared }\nquota Q on trian-pool { gpu = 8 }\n");
  REQUIRE(unknown->has_code("E0114"));
  const Diagnostic& d = unknown->sink.diagnostics().front();
  CHECK(d.message == "unknown pool `trian-pool`");
  REQUIRE(d.notes.size() == 1);
  CHECK(d.notes[0].message == "did you mean `train-pool`?");
  CHECK(unknown->sources.slice(d.notes[0].range) == "train-pool");
  CHECK_FALSE(unknown->policy.has_value());
}

TEST_CASE("warnings do not prevent a policy") {
  auto a = analyze_text("role unused { users = [x] }\n");
  CHECK(a->has_code("W0102"));
  CHECK(a->policy.has_value());
}

TEST_CASE("exact decimal arithmetic never overflows") {
  sema::Decimal d;
  CHECK(sema::parse_decimal("0.500", d) == sema::NumberError::none);
  CHECK(d.mantissa == 5);
  CHECK(d.scale == 1);
  std::int64_t out = 0;
  CHECK(sema::scale_exact(d, 1000, sema::kMaxAmount, out) == sema::NumberError::none);
  CHECK(out == 500);
  CHECK(sema::parse_decimal("99999999999999999999", d) == sema::NumberError::too_large);
  CHECK(sema::parse_decimal("0.0000000000000000001", d) == sema::NumberError::too_precise);
  CHECK(sema::parse_decimal("0.0005", d) == sema::NumberError::none);
  CHECK(sema::scale_exact(d, 1000, sema::kMaxAmount, out) == sema::NumberError::too_precise);
  model::Rational r;
  CHECK_FALSE(sema::rational_mul({INT64_MAX, 1}, {INT64_MAX, 1}, r));
  CHECK_FALSE(sema::rational_div({1, 1}, {0, 1}, r));
}

TEST_CASE("decimal memory units get the equal binary amount") {
  CHECK(sema::memory_unit_help("1000", "GB") ==
        "memory is counted in binary units (`MiB`, `GiB`, `TiB`): `1000GB` is 1000 x 10^9 bytes, about `931GiB`; "
        "write `931GiB`, or `1000GiB` if you meant binary units");
  CHECK(sema::memory_unit_help("512", "MB").find("about `488MiB`") != std::string::npos);
  CHECK(sema::memory_unit_help("64", "Gi") == "write `64GiB`");
  // `m` is milli, not a memory unit: the general help.
  CHECK(sema::memory_unit_help("500", "m") == "accepted units: `MiB`, `GiB`, `TiB`; e.g. `500GiB`");
}

TEST_CASE("dead rules: a preempts entry acts only in a preemptible queue of the victim class") {
  auto a = analyze_text(std::string(kBase) + R"(
priority hot { value = 900, preempts = [cold] }
priority cold = 100
quota q on train-pool { gpu = 8 }
workspace w on q {
  namespace n {
    queue default-queue { priority = hot }
    queue c { priority = cold, preemptible = false }
  }
}
)");
  auto dead_hot = [](const Analyzed& x) {
    const auto& ds = x.sink.diagnostics();
    return std::any_of(ds.begin(), ds.end(), [](const Diagnostic& d) {
      return d.code == "W0107" && d.message.rfind("`hot` preempts `cold`", 0) == 0;
    });
  };
  REQUIRE(a->policy.has_value());
  CHECK(dead_hot(*a));
  auto b = analyze_text(std::string(kBase) + R"(
priority hot { value = 900, preempts = [cold] }
priority cold = 100
quota q on train-pool { gpu = 8 }
workspace w on q {
  namespace n {
    queue default-queue { priority = hot }
    queue c { priority = cold }
  }
}
)");
  REQUIRE(b->policy.has_value());
  CHECK_FALSE(dead_hot(*b));
}
