// Invariant 5 on a policy from source: sema accepts only downward
// `preempts` entries (E0129), so the graph is changed on the model, as a
// later stage or a hand-built policy could, and verify must catch it.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/verify.h"

using namespace allot;

namespace {

struct Checked {
  SourceManager sources;
  std::optional<model::Policy> policy;
  DiagnosticSink verified;

  model::PriorityClass& cls(std::string_view name) {
    for (model::PriorityClass& c : policy->priorities) {
      if (c.name == name) return c;
    }
    FAIL("no class " << name);
    return policy->priorities.front();
  }
  model::Index index(std::string_view name) {
    return static_cast<model::Index>(&cls(name) - policy->priorities.data());
  }
  std::uint32_t line(SourceRange r) const { return sources.line_column(r.file, r.begin).line; }
  std::vector<std::string> verify() {
    verify::check_preemption_graph(*policy, verified);
    std::vector<std::string> out;
    for (const Diagnostic& d : verified.diagnostics()) out.push_back(d.code);
    return out;
  }
};

std::unique_ptr<Checked> load() {
  auto c = std::make_unique<Checked>();
  const FileId id = c->sources.add("case.allot", R"(pool shared-pool { type = shared }
priority urgent { value = 900, preempts = [normal] }
priority normal { value = 500, preempts = [low] }
priority low { value = 100, preempts = [scavenger] }
priority scavenger = 10
workspace w {
  pool = shared-pool
  namespace n {
    queue a { priority = urgent }
    queue b { priority = normal }
    queue c { priority = low }
    queue d { priority = low }
    queue e { priority = normal }
  }
}
)");
  DiagnosticSink sink;
  std::optional<ast::File> file = syntax::parse(c->sources, id, sink);
  REQUIRE(file);
  std::vector<ast::File> files;
  files.push_back(std::move(*file));
  c->policy = sema::analyze(c->sources, files, sink);
  REQUIRE(c->policy);
  REQUIRE_FALSE(sink.has_errors());
  return c;
}

}  // namespace

TEST_CASE("preemption graph: the policy from source has no loop") {
  auto c = load();
  CHECK(c->verify().empty());
  // Sema kept where every entry was written.
  CHECK(c->sources.slice(c->cls("normal").preempts_ranges.at(0)) == "low");
}

TEST_CASE("preemption graph: E0210 at the entry that closes the loop, with the rules and the queues") {
  auto c = load();
  // `low` now also preempts `urgent`: urgent -> normal -> low -> urgent.
  c->cls("low").preempts = {c->index("scavenger"), c->index("urgent")};
  c->cls("low").preempts_ranges = {c->cls("low").preempts_ranges.at(0), c->cls("low").range};
  REQUIRE(c->verify() == std::vector<std::string>{"E0210"});  // the upward entry is part of the loop: once
  const Diagnostic& d = c->verified.diagnostics().front();
  CHECK(d.severity == Severity::error);
  CHECK(d.message == "priority classes preempt each other in a cycle: `urgent` -> `normal` -> `low` -> `urgent`");
  CHECK(c->sources.slice(d.range) == "low");  // the closing entry's range: here the class
  REQUIRE(d.notes.size() == 3);
  CHECK(d.notes[0].message == "`urgent` preempts `normal` here");
  CHECK(c->sources.slice(d.notes[0].range) == "normal");
  CHECK(c->line(d.notes[0].range) == 2);
  CHECK(d.notes[1].message == "`normal` preempts `low` here");
  CHECK(c->line(d.notes[1].range) == 3);
  CHECK(d.notes[2].message == "queues `w/n/a`, `w/n/b`, `w/n/c` and 2 more use them");
  REQUIRE(d.help.size() == 1);
  CHECK(d.help[0] == "remove one of the entries; a class may only preempt classes of lower `value`");
}

TEST_CASE("preemption graph: E0209 for an entry that does not go down, equal values included") {
  auto c = load();
  c->cls("scavenger").value = 500;  // `low` (100) now preempts a class of 500
  REQUIRE(c->verify() == std::vector<std::string>{"E0209"});
  const Diagnostic& up = c->verified.diagnostics().front();
  CHECK(up.message == "priority `low` (100) preempts `scavenger`, which has the higher value 500");
  CHECK(c->sources.slice(up.range) == "scavenger");
  CHECK(c->line(up.range) == 4);
  REQUIRE(up.notes.size() == 2);
  CHECK(up.notes[1].message == "queues `w/n/c`, `w/n/d` use them");

  auto same = load();
  same->cls("normal").value = 900;  // the runtime never lets equal values preempt
  REQUIRE(same->verify() == std::vector<std::string>{"E0209"});
  const Diagnostic& eq = same->verified.diagnostics().front();
  CHECK(eq.message == "priority `urgent` (900) preempts `normal`, which has the same value");
  CHECK(same->sources.slice(eq.range) == "normal");
  REQUIRE(eq.help.size() == 1);
  CHECK(eq.help[0].find("remove `normal` from `preempts`") != std::string::npos);
}

TEST_CASE("preemption graph: a class that preempts itself") {
  auto c = load();
  c->cls("scavenger").preempts = {c->index("scavenger")};
  REQUIRE(c->verify() == std::vector<std::string>{"E0210"});
  CHECK(c->verified.diagnostics().front().message == "priority `scavenger` preempts itself");
  CHECK(c->verified.diagnostics().front().notes.empty());  // no queue uses it
}
