// `allot graph` on the quick start: every scope drawn once with its GPU
// bounds, the child_preemption edges marked, the priority classes listed,
// and the same bytes on every run.
#include "compiler/emit/graph.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "compiler/base/diagnostic.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"

using namespace allot;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

model::Policy quickstart() {
  SourceManager sources;
  DiagnosticSink sink;
  syntax::LoadResult loaded =
      syntax::load(sources, {std::string(ALLOT_SOURCE_DIR) + "/examples/quickstart/cluster.allot"}, sink);
  std::optional<model::Policy> policy = sema::analyze(sources, loaded.files, sink);
  REQUIRE(policy);
  return *policy;
}

}  // namespace

TEST_CASE("the DOT graph has every scope, its bounds and the preemption edges") {
  const model::Policy policy = quickstart();
  const std::string dot = emit::render_graph_dot(policy);
  for (const model::Scope& s : policy.scopes) CHECK(count(dot, "\"" + s.path + "\" [label=") == 1);
  CHECK(dot.find("subgraph \"cluster_gpu-pool\"") != std::string::npos);
  CHECK(dot.find("quota lab\\ngpu 8") != std::string::npos);
  CHECK(dot.find("quota research\\ngpu 4..8, borrows up to 4\", style=dashed") != std::string::npos);
  // lab has child_preemption: both edges to its sub-quotas are red, the others not.
  CHECK(count(dot, "tooltip=\"child_preemption\"") == 2);
  CHECK(dot.find("\"priority:training\" -> \"priority:development\"") != std::string::npos);
  CHECK(emit::render_graph_dot(policy) == dot);
}

TEST_CASE("the SVG draws one box per scope and one edge per parent link") {
  const model::Policy policy = quickstart();
  const std::string svg = emit::render_graph_svg(policy);
  std::size_t links = 0;
  for (const model::Scope& s : policy.scopes) links += s.parent != model::kNone;
  CHECK(count(svg, "<rect class=\"scope") == policy.scopes.size());
  CHECK(count(svg, "<line class=\"edge") == links);
  CHECK(count(svg, "class=\"edge preempts\"") == 2);
  CHECK(svg.find("pool gpu-pool (dedicated, 8 gpu)") != std::string::npos);
  CHECK(svg.find("priority training (500) preempts development") != std::string::npos);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") == svg.size() - 7);
  CHECK(emit::render_graph_svg(policy) == svg);
}
