// The value reader alone: no analyzer, only a resource table.
#include "compiler/sema/values.h"

#include <catch2/catch.hpp>
#include <string>

#include "compiler/syntax/parser.h"

using namespace allot;

namespace {

// One quota body, its properties readable by key, and a reader that knows
// the built-in resources and `rdma`.
struct Fixture {
  SourceManager sources;
  DiagnosticSink sink;
  sema::SymbolTable names;
  std::vector<model::Resource> resources;
  std::optional<ast::File> file;
  sema::ValueReader values{sources, sink, names, resources};

  explicit Fixture(const std::string& body) {
    for (const char* r : {"gpu", "cpu", "memory", "cu", "rdma"}) {
      names.add(r, nullptr);
      model::Resource res;
      res.name = r;
      res.kind = std::string(r) == "memory" ? model::ResourceKind::memory : model::ResourceKind::count;
      resources.push_back(res);
    }
    const FileId id = sources.add("v.allot", "quota q on p {\n" + body + "\n}\n");
    file = syntax::parse(sources, id, sink);
    REQUIRE(file.has_value());
  }
  const ast::Property& prop(std::string_view key) const {
    const ast::Property* found = nullptr;
    for (const ast::Property& p : file->declarations.at(0).body->properties) {
      if (p.key.text == key) found = &p;
    }
    REQUIRE(found != nullptr);
    return *found;
  }
  std::vector<std::string> codes() const {
    std::vector<std::string> out;
    for (const Diagnostic& d : sink.diagnostics()) out.push_back(d.code);
    return out;
  }
};

}  // namespace

TEST_CASE("values: amounts, bounds and durations in exact base units") {
  Fixture f("gpu = 0.5..16, memory = 80GiB, grace = 90s, term = 6mo, n = 12, ok = true");
  const auto gpu = f.values.bound(f.prop("gpu"), model::kGpu);
  REQUIRE(gpu.has_value());
  CHECK(gpu->guarantee == 500);
  CHECK(gpu->limit == std::optional<model::Amount>(16000));
  model::Amount mem = 0;
  CHECK(f.values.amount(*std::get<ast::ScalarValue>(f.prop("memory").value.node).expr, model::kMemory, mem));
  CHECK(mem == 80 * 1024);
  CHECK(f.values.duration_ms("grace", f.prop("grace").value, 3'600'000) == std::optional<std::int64_t>(90'000));
  CHECK(f.values.months("term", f.prop("term").value) == std::optional<int>(6));
  CHECK(f.values.integer("n", f.prop("n").value, 0, 100) == std::optional<std::int64_t>(12));
  CHECK(f.values.boolean(f.prop("ok").value) == std::optional<bool>(true));
  CHECK(f.sink.diagnostics().empty());
}

TEST_CASE("values: resource amounts report unknown and repeated resources, keep the rest") {
  Fixture f("lend = { gpu = 4, rdmaa = 1, gpu = 2, rdma = 3 }");
  std::vector<std::pair<model::Index, model::Amount>> seen;
  f.values.resource_amounts(
      f.prop("lend").value, "{ gpu = 8 }", "`lend`", "",
      [&](model::Index r, const ast::Property&, const ast::Expr&, model::Amount a) { seen.emplace_back(r, a); });
  CHECK(seen == std::vector<std::pair<model::Index, model::Amount>>{{model::kGpu, 4000}, {4, 3000}});
  CHECK(f.codes() == std::vector<std::string>{"E0119", "E0106"});
  // The misspelt resource gets a suggestion.
  REQUIRE(!f.sink.diagnostics()[0].notes.empty());
  CHECK(f.sink.diagnostics()[0].notes[0].message == "did you mean `rdma`?");
}

TEST_CASE("values: a wrong shape is reported, never read") {
  Fixture f("gpu = 16..8, lend = 4, n = 1.5, term = 13mo");
  CHECK(!f.values.bound(f.prop("gpu"), model::kGpu).has_value());
  bool called = false;
  f.values.resource_amounts(
      f.prop("lend").value, "{ gpu = 8 }", "`lend`", "write `lend = { gpu = 4 }`",
      [&](model::Index, const ast::Property&, const ast::Expr&, model::Amount) { called = true; });
  CHECK(!called);
  CHECK(!f.values.integer("n", f.prop("n").value, 0, 100).has_value());
  CHECK(!f.values.months("term", f.prop("term").value).has_value());
  CHECK(f.codes() == std::vector<std::string>{"E0126", "E0108", "E0108", "E0110"});
  CHECK(f.sink.diagnostics()[1].help == std::vector<std::string>{"write `lend = { gpu = 4 }`"});
}
