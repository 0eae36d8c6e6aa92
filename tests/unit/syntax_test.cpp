#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "compiler/base/diagnostic.h"
#include "compiler/syntax/parser.h"
#include "repository_files.h"

using namespace allot;

namespace {

struct Parsed {
  SourceManager sources;
  DiagnosticSink sink;
  std::optional<ast::File> file;
};

std::unique_ptr<Parsed> parse_text(std::string text) {
  auto p = std::make_unique<Parsed>();
  const FileId id = p->sources.add("test.allot", std::move(text));
  p->file = syntax::parse(p->sources, id, p->sink);
  return p;
}

}  // namespace

TEST_CASE("declarations, properties and nested blocks") {
  auto p = parse_text(R"(
pool train-pool {
  type = dedicated,
  nodes = 16 x a100-8
  billing = subscription { term = 12mo, auto_renew = true, }
}
quota Quota1 on train-pool {
  gpu = 48..128
  quota Quota1_1 { gpu = 48.. }
}
priority inference = 1000
)");
  REQUIRE(p->file.has_value());
  REQUIRE(p->file->declarations.size() == 3);
  const ast::Declaration& pool = p->file->declarations[0];
  CHECK(pool.kind.text == "pool");
  CHECK(pool.name.text == "train-pool");
  REQUIRE(pool.body.has_value());
  REQUIRE(pool.body->properties.size() == 3);
  const auto* nodes = std::get_if<ast::NodesValue>(&pool.body->properties[1].value.node);
  REQUIRE(nodes != nullptr);
  CHECK(nodes->count.digits == "16");
  CHECK(nodes->flavor.text == "a100-8");
  const auto* billing = std::get_if<ast::ObjectValue>(&pool.body->properties[2].value.node);
  REQUIRE(billing != nullptr);
  REQUIRE(billing->tag.has_value());
  CHECK(billing->tag->text == "subscription");
  CHECK(billing->body->properties.size() == 2);

  const ast::Declaration& quota = p->file->declarations[1];
  REQUIRE(quota.target.has_value());
  CHECK(quota.target->text == "train-pool");
  const auto* range = std::get_if<ast::RangeValue>(&quota.body->properties[0].value.node);
  REQUIRE(range != nullptr);
  CHECK(range->high != nullptr);
  const auto* open = std::get_if<ast::RangeValue>(&quota.body->declarations[0].body->properties[0].value.node);
  REQUIRE(open != nullptr);
  CHECK(open->high == nullptr);

  const ast::Declaration& priority = p->file->declarations[2];
  REQUIRE(priority.value != nullptr);
  CHECK_FALSE(priority.body.has_value());
}

TEST_CASE("source ranges are byte ranges and survive non-ASCII text") {
  auto p = parse_text("// priorité élevée\npool p { description = \"équipe\" }\n");
  REQUIRE(p->file.has_value());
  const ast::Declaration& pool = p->file->declarations[0];
  CHECK(p->sources.slice(pool.name.range) == "p");
  CHECK(p->sources.slice(pool.body->properties[0].key.range) == "description");
  const LineColumn lc = p->sources.line_column(0, pool.name.range.begin);
  CHECK(lc.line == 2);
  CHECK(lc.column == 6);
}

TEST_CASE("numbers keep their unit suffix") {
  auto p = parse_text("quota q on p { gpu = 500m, memory = 80GiB }");
  REQUIRE(p->file.has_value());
  const auto& props = p->file->declarations[0].body->properties;
  const auto& expr = std::get<ast::ScalarValue>(props[0].value.node).expr;
  const auto& number = std::get<ast::NumberLit>(expr->node);
  CHECK(number.digits == "500");
  CHECK(number.unit == "m");
}

TEST_CASE("expressions follow precedence") {
  auto p = parse_text("assert a.gpu.max <= 0.6 * b.gpu + 1 and not c.gpu == 2");
  REQUIRE(p->file.has_value());
  REQUIRE(p->file->assertions.size() == 1);
  const auto& top = std::get<ast::BinaryExpr>(p->file->assertions[0].expr->node);
  CHECK(top.op == ast::BinaryOp::logical_and);
  const auto& le = std::get<ast::BinaryExpr>(top.lhs->node);
  CHECK(le.op == ast::BinaryOp::le);
  const auto& add = std::get<ast::BinaryExpr>(le.rhs->node);
  CHECK(add.op == ast::BinaryOp::add);
  CHECK(std::get<ast::BinaryExpr>(add.lhs->node).op == ast::BinaryOp::mul);
}

TEST_CASE("dotted declaration names are kept for sema to reject") {
  auto p = parse_text("quota Quota1 on p { quota Quota1.1 { gpu = 1 } }");
  REQUIRE(p->file.has_value());
  const auto& child = p->file->declarations[0].body->declarations[0];
  CHECK(child.dotted_name);
  CHECK(child.name.text == "Quota1.1");
}

TEST_CASE("syntax errors are reported with a location and no tree") {
  auto p = parse_text("pool p {\n  type = \n}\n");
  CHECK_FALSE(p->file.has_value());
  REQUIRE(p->sink.error_count() >= 1);
  const Diagnostic& d = p->sink.diagnostics()[0];
  CHECK(d.code == "E0004");
  CHECK(p->sources.line_column(0, d.range.begin).line == 3);
}

TEST_CASE("lexical errors") {
  SECTION("unterminated string") {
    auto p = parse_text("pool p { description = \"abc }\n");
    REQUIRE(p->sink.error_count() == 1);
    CHECK(p->sink.diagnostics()[0].code == "E0003");
  }
  SECTION("unexpected character") {
    auto p = parse_text("pool p { type = dedicated; }\n");
    REQUIRE(p->sink.error_count() == 1);
    CHECK(p->sink.diagnostics()[0].code == "E0002");
    CHECK(p->sink.diagnostics()[0].range.begin == 25);
  }
  SECTION("invalid UTF-8") {
    auto p = parse_text("pool p { description = \"\xff\" }\n");
    REQUIRE(p->sink.error_count() == 1);
    CHECK(p->sink.diagnostics()[0].code == "E0001");
    CHECK(p->sink.diagnostics()[0].range.begin == 24);
  }
}

TEST_CASE("limits stop hostile input before it reaches the parser") {
  syntax::ParseLimits limits;
  limits.max_nesting = 8;
  SourceManager sources;
  DiagnosticSink sink;
  const FileId id = sources.add("deep.allot", "assert ((((((((((1))))))))))");
  CHECK_FALSE(syntax::parse(sources, id, sink, limits).has_value());
  REQUIRE(sink.error_count() == 1);
  CHECK(sink.diagnostics()[0].code == "E0005");

  limits.max_file_bytes = 4;
  DiagnosticSink sink2;
  const FileId big = sources.add("big.allot", "pool p {}");
  CHECK_FALSE(syntax::parse(sources, big, sink2, limits).has_value());
  CHECK(sink2.diagnostics()[0].code == "E0006");
}

TEST_CASE("find_invalid_utf8") {
  CHECK(find_invalid_utf8("plain") == std::string_view::npos);
  CHECK(find_invalid_utf8("\xc3\xa9") == std::string_view::npos);
  CHECK(find_invalid_utf8("a\xc0\x80") == 1);       // overlong
  CHECK(find_invalid_utf8("ab\xed\xa0\x80") == 2);  // surrogate
  CHECK(find_invalid_utf8("\xe2\x82") == 0);        // truncated
}

TEST_CASE("closest_match suggests near names only") {
  CHECK(closest_match("trian-pool", {"train-pool", "serve-pool"}) == "train-pool");
  CHECK(closest_match("gpus", {"gpu", "cpu", "memory"}) == "gpu");
  CHECK(closest_match("zzzzzz", {"gpu", "cpu"}).empty());
}

TEST_CASE("closest_match takes a word cut short, never a short one") {
  CHECK(closest_match("serve", {"inference", "serving", "training"}) == "serving");
  CHECK(closest_match("train", {"inference", "serving", "training"}) == "training");
  CHECK(closest_match("ser", {"serving"}).empty());
  CHECK(closest_match("sxrve", {"serving"}).empty());
}

TEST_CASE("a broken top-level item is reported once and the rest still parses") {
  SourceManager sources;
  DiagnosticSink sink;
  const FileId id = sources.add("broken.allot",
                                "pool 1st-pool {\n  type = shared\n  nodes = 2 x f\n}\n"
                                "quota q on p { gpu = 8 }\n"
                                "pool train pool {\n}\n"
                                "role r { users = [a] }\n");
  const syntax::ParsedFile parsed = syntax::parse_recovering(sources, id, sink);
  REQUIRE(parsed.file.has_value());
  CHECK_FALSE(parsed.complete);
  REQUIRE(sink.error_count() == 2);
  CHECK(sink.diagnostics()[0].message == "`1st-pool` is not a valid name: a name cannot start with a digit");
  CHECK(sink.diagnostics()[1].message == "a name cannot contain spaces: `train pool`");
  REQUIRE(parsed.file->declarations.size() == 2);
  CHECK(parsed.file->declarations[0].name.text == "q");
  CHECK(parsed.file->declarations[1].name.text == "r");

  // parse() keeps its contract: no tree when anything was left out.
  DiagnosticSink again;
  CHECK_FALSE(syntax::parse(sources, id, again).has_value());
  CHECK(again.error_count() == 2);
}

TEST_CASE("a property without `=` is not mistaken for a bad name") {
  auto p = parse_text("quota q on p {\n  gpu = 8\n  cpu 4\n}\n");
  REQUIRE(p->sink.error_count() == 1);
  CHECK(p->sink.diagnostics()[0].message == "expected a name, found `4`");
}

namespace {

// The declarations of a tree, with every range, for comparing two parses.
void dump(const ast::Body& body, std::string& out);
void dump(const ast::Declaration& d, std::string& out) {
  out += fmt::format("decl {}@{}-{} {}@{}-{} dotted={} [{}-{}]", d.kind.text, d.kind.range.begin, d.kind.range.end,
                     d.name.text, d.name.range.begin, d.name.range.end, d.dotted_name, d.range.begin, d.range.end);
  if (d.target) out += fmt::format(" on {}@{}-{}", d.target->text, d.target->range.begin, d.target->range.end);
  if (d.value) out += fmt::format(" value {} [{}-{}]", d.value->node.index(), d.value->range.begin, d.value->range.end);
  out += "\n";
  if (d.body) dump(*d.body, out);
}
void dump(const ast::Body& body, std::string& out) {
  out += fmt::format("body [{}-{}]\n", body.range.begin, body.range.end);
  for (const ast::Property& p : body.properties)
    out += fmt::format("prop {}@{}-{} [{}-{}] value {} [{}-{}]\n", p.key.text, p.key.range.begin, p.key.range.end,
                       p.range.begin, p.range.end, p.value.node.index(), p.value.range.begin, p.value.range.end);
  for (const ast::Declaration& d : body.declarations) dump(d, out);
  for (const ast::Assertion& a : body.assertions) out += fmt::format("assert [{}-{}]\n", a.range.begin, a.range.end);
  out += "end\n";
}
std::string dump(const ast::File& file) {
  std::string out;
  for (const ast::Declaration& d : file.declarations) dump(d, out);
  for (const ast::Assertion& a : file.assertions) out += fmt::format("assert [{}-{}]\n", a.range.begin, a.range.end);
  return out;
}

}  // namespace

// A clean file's bodies are parsed member by member; a file with an error
// is parsed item by item, each item's whole parse tree at once. Both must
// give the same tree: a lexical error after the last item sends the same
// text down the second path.
TEST_CASE("member-by-member parsing gives the tree of the whole-item parse") {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"edges",
       "quota a.b.1 on p { gpu = 1..8, quota c { cpu = 4 }, assert c.gpu <= 8 }, \n"
       "on on { on = 1 }\nx on on on { }\nassert x { x = 1 }\nquota q { billing = subscription { term = 12mo } }\n"
       "quota r on p { }\npool p = 3\nassert 1 < 2 as \"one\"\n"}};
  for (const char* dir : {"policies", "examples"}) {
    for (const auto& entry : std::filesystem::directory_iterator(testing::kRepository / dir)) {
      if (entry.path().extension() == ".allot")
        cases.emplace_back(entry.path().filename().string(), testing::read_repository_file(entry.path()));
    }
  }
  REQUIRE(cases.size() > 5);
  for (const auto& [name, text] : cases) {
    INFO(name);
    SourceManager sources;
    DiagnosticSink clean_sink;
    DiagnosticSink broken_sink;
    const FileId clean_id = sources.add("clean.allot", text);
    const FileId broken_id = sources.add("broken.allot", text + "\n$\n");
    const syntax::ParsedFile clean = syntax::parse_recovering(sources, clean_id, clean_sink);
    const syntax::ParsedFile broken = syntax::parse_recovering(sources, broken_id, broken_sink);
    REQUIRE(clean.complete);
    REQUIRE_FALSE(broken.complete);
    REQUIRE(broken_sink.error_count() == 1);
    REQUIRE(clean.file.has_value());
    REQUIRE(broken.file.has_value());
    CHECK(dump(*clean.file) == dump(*broken.file));
  }
}
