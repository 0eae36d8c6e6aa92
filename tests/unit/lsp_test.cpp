// The language server (compiler/lsp): framing edge cases, the JSON-RPC
// state machine, the parse cache, hover, definition and completion, and the
// completion vocabulary held against what sema accepts.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/lsp/features.h"
#include "compiler/lsp/framing.h"
#include "compiler/lsp/protocol.h"
#include "compiler/lsp/server.h"
#include "compiler/lsp/vocabulary.h"
#include "compiler/sema/analyze.h"
#include "compiler/syntax/parser.h"
#include "json/json.h"

using namespace allot;
using namespace allot::lsp;

namespace {

json::Value parse_json(const std::string& text) {
  json::ParseResult r = json::parse(text);
  REQUIRE(std::holds_alternative<json::Value>(r));
  return std::get<json::Value>(std::move(r));
}

std::string message(const std::string& method, json::Value params, std::optional<int> id = std::nullopt) {
  json::Value m = json::Object{{"jsonrpc", "2.0"}};
  if (id) m.set("id", *id);
  m.set("method", method);
  m.set("params", std::move(params));
  return m.dump();
}

std::int64_t error_code(const std::string& reply) {
  const json::Value v = parse_json(reply);
  const json::Value* e = v.find("error");
  REQUIRE(e != nullptr);
  return e->find("code")->as_int().value();
}

// A temporary directory, removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "allot-lsp-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return (path / name).string();
  }
};

const char* const kPools =
    "flavor a100-8 { gpus = 8, gpu_memory = 80GiB, cpu = 96, memory = 1024GiB }\n"
    "pool pai { type = dedicated\n  nodes = 8 x a100-8 }\n"
    "priority high { value = 1000, preempts = [low] }\n"
    "priority low = 100\n";

const char* const kMain =
    "import \"pools.allot\"\n"
    "quota Quota1 on pai {\n"
    "  gpu = 32..64\n"
    "  quota Quota1_1 { gpu = 16..48 }\n"
    "  quota Quota1_2 { gpu = 8 }\n"
    "}\n"
    "workspace ws on Quota1_1 {\n"
    "  namespace team {\n"
    "    queue batch { priority = low }\n"
    "  }\n"
    "}\n";

// A server with `main.allot` (importing `pools.allot`) open.
struct Session {
  TempDir dir;
  std::string main_uri, pools_path;
  Server server{WorkspaceOptions{}};
  Session() {
    pools_path = dir.write("pools.allot", kPools);
    const std::string main_path = dir.write("main.allot", kMain);
    main_uri = uri_of_path(main_path);
    REQUIRE(server.handle(message("initialize", json::Object{{"rootUri", nullptr}}, 1)).size() == 1);
    open(main_uri, kMain);
  }
  void open(const std::string& uri, const std::string& text, int version = 1) {
    server.handle(message(
        "textDocument/didOpen",
        json::Object{{"textDocument",
                      json::Object{{"uri", uri}, {"languageId", "allot"}, {"version", version}, {"text", text}}}}));
  }
  void change(const std::string& uri, const std::string& text, int version) {
    server.handle(message("textDocument/didChange",
                          json::Object{{"textDocument", json::Object{{"uri", uri}, {"version", version}}},
                                       {"contentChanges", json::Array{json::Object{{"text", text}}}}}));
  }
  json::Value request(const std::string& method, std::uint32_t line, std::uint32_t character) {
    const std::vector<std::string> out = server.handle(
        message(method,
                json::Object{{"textDocument", json::Object{{"uri", main_uri}}},
                             {"position", json::Object{{"line", static_cast<std::int64_t>(line)},
                                                       {"character", static_cast<std::int64_t>(character)}}}},
                7));
    REQUIRE(out.size() == 1);
    const json::Value reply = parse_json(out[0]);
    REQUIRE(reply.find("result") != nullptr);
    return *reply.find("result");
  }
};

std::vector<std::string> labels(const json::Value& items) {
  std::vector<std::string> out;
  for (const json::Value& item : *items.as_array()) out.push_back(*item.find("label")->as_string());
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("lsp framing: messages, partial headers and oversized lengths") {
  SECTION("two messages, header names in any case, a bare newline, Content-Type ignored") {
    std::stringbuf in(frame("{}") + "content-length: 2\nContent-Type: application/vscode-jsonrpc; charset=utf-8\n\n[]");
    FrameReader reader(in);
    Frame a = reader.next();
    CHECK(a.status == FrameStatus::message);
    CHECK(a.body == "{}");
    CHECK(reader.pending());
    Frame b = reader.next();
    CHECK(b.status == FrameStatus::message);
    CHECK(b.body == "[]");
    CHECK(reader.next().status == FrameStatus::end);
  }
  SECTION("the input ends inside a header or a body") {
    std::stringbuf header("Content-Length: 10\r\n");
    CHECK(FrameReader(header).next().status == FrameStatus::malformed);
    std::stringbuf body("Content-Length: 10\r\n\r\n{\"a\"");
    const Frame f = FrameReader(body).next();
    CHECK(f.status == FrameStatus::malformed);
    CHECK(f.problem == "the input ended after 4 of the 10 bytes of a message");
  }
  SECTION("a length above the limit is refused before its body is read") {
    std::stringbuf in("Content-Length: 1000\r\n\r\n" + std::string(1000, ' '));
    FrameLimits limits;
    limits.max_body_bytes = 999;
    const Frame f = FrameReader(in, limits).next();
    CHECK(f.status == FrameStatus::too_large);
    CHECK(f.problem == "`Content-Length` is 1000 bytes, more than the limit of 999 bytes");
    CHECK(in.in_avail() == 1000);
    std::stringbuf absurd("Content-Length: 99999999999999999999999999\r\n\r\n");
    CHECK(FrameReader(absurd).next().status == FrameStatus::too_large);
  }
  SECTION("headers that are not `Content-Length: N`") {
    for (const char* bad : {"Content-Length: -1\r\n\r\n", "Content-Length: 12abc\r\n\r\n", "Content-Type: x\r\n\r\n",
                            "no colon here\r\n\r\n", "Content-Length: 1\r\nContent-Length: 2\r\n\r\n"}) {
      std::stringbuf in(bad);
      INFO(bad);
      CHECK(FrameReader(in).next().status == FrameStatus::malformed);
    }
  }
  SECTION("an endless header is cut at the limit") {
    std::stringbuf in(std::string(100000, 'a'));
    FrameLimits limits;
    limits.max_header_bytes = 100;
    CHECK(FrameReader(in, limits).next().status == FrameStatus::malformed);
    CHECK(in.in_avail() == 100000 - 101);
  }
}

TEST_CASE("lsp serve: a broken stream gets an error reply, then the server stops") {
  std::stringbuf in("Content-Length: 999999999999\r\n\r\n");
  std::ostringstream out;
  CHECK(serve(in, out, WorkspaceOptions{}) == 1);
  CHECK(out.str().find("\"code\":-32600") != std::string::npos);
  CHECK(out.str().find("more than the limit") != std::string::npos);

  std::stringbuf session(frame(message("initialize", json::Object{}, 1)) + frame(message("shutdown", nullptr, 2)) +
                         frame("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}"));
  std::ostringstream replies;
  CHECK(serve(session, replies, WorkspaceOptions{}) == 0);
  CHECK(replies.str().find("\"id\":2,\"result\":null") != std::string::npos);
}

TEST_CASE("lsp server: JSON-RPC errors, never a crash") {
  Server server{WorkspaceOptions{}};
  CHECK(error_code(server.handle("{\"jsonrpc\":\"2.0\",\"id\":1,")[0]) == kParseError);
  CHECK(error_code(server.handle("[1,2]")[0]) == kInvalidRequest);
  CHECK(error_code(server.handle("{\"jsonrpc\":\"2.0\",\"id\":[1]}")[0]) == kInvalidRequest);
  CHECK(error_code(server.handle("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"initialize\"}")[0]) == kInvalidRequest);
  CHECK(error_code(server.handle(message("textDocument/hover", json::Object{}, 1))[0]) == kServerNotInitialized);
  CHECK(server.handle(message("textDocument/didOpen", json::Object{})).empty());  // dropped before initialize
  const json::Value init = parse_json(server.handle(message("initialize", json::Object{}, 2))[0]);
  const json::Value* caps = init.find("result")->find("capabilities");
  CHECK(*caps->find("hoverProvider")->as_bool());
  CHECK(*caps->find("definitionProvider")->as_bool());
  CHECK(caps->find("completionProvider") != nullptr);
  CHECK(error_code(server.handle(message("initialize", json::Object{}, 3))[0]) == kInvalidRequest);
  CHECK(error_code(server.handle(message("no/such/method", json::Object{}, 4))[0]) == kMethodNotFound);
  CHECK(error_code(server.handle(message("textDocument/hover", json::Object{{"position", 1}}, 5))[0]) ==
        kInvalidParams);
  CHECK(error_code(server.handle(message("textDocument/hover",
                                         json::Object{{"textDocument", json::Object{{"uri", "file:///x.allot"}}},
                                                      {"position", json::Object{{"line", -1}, {"character", 0}}}},
                                         6))[0]) == kInvalidParams);
  // Malformed notifications are dropped without a reply.
  CHECK(server.handle(message("textDocument/didChange", json::Object{{"contentChanges", 3}})).empty());
  CHECK(server.handle(message("shutdown", nullptr, 7)).size() == 1);
  CHECK(error_code(server.handle(message("textDocument/hover", json::Object{}, 8))[0]) == kInvalidRequest);
  CHECK_FALSE(server.exited());
  server.handle("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
  CHECK(server.exited());
  CHECK(server.exit_code() == 0);

  Server abrupt{WorkspaceOptions{}};
  abrupt.handle("{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
  CHECK(abrupt.exited());
  CHECK(abrupt.exit_code() == 1);
}

TEST_CASE("lsp server: diagnostics on open and change, parsing only what changed") {
  Session s;
  std::vector<std::string> published = s.server.flush();
  REQUIRE(published.size() == 1);
  json::Value p = parse_json(published[0]);
  CHECK(*p.find("method")->as_string() == "textDocument/publishDiagnostics");
  CHECK(*p.find("params")->find("uri")->as_string() == s.main_uri);
  const std::size_t parses = s.server.workspace().parses();
  CHECK(parses == 2);  // main.allot and pools.allot

  // An unknown pool: one error, at its name, with the code of `allot check`.
  std::string broken = kMain;
  broken.replace(broken.find("on pai"), 6, "on paj");
  s.change(s.main_uri, broken, 2);
  s.change(s.main_uri, broken, 3);  // a burst of changes is analyzed once
  published = s.server.flush();
  REQUIRE(published.size() == 1);
  p = parse_json(published[0]);
  CHECK(p.find("params")->find("version")->as_int() == 3);
  const json::Value* unknown_pool = nullptr;
  for (const json::Value& d : *p.find("params")->find("diagnostics")->as_array()) {
    if (*d.find("code")->as_string() == "E0114") unknown_pool = &d;
  }
  REQUIRE(unknown_pool != nullptr);
  CHECK(unknown_pool->find("range")->find("start")->find("line")->as_int() == 1);
  CHECK(unknown_pool->find("range")->find("start")->find("character")->as_int() == 16);
  // Only the changed document was parsed again, not its import.
  CHECK(s.server.workspace().parses() == parses + 1);

  // A change to the imported file, open in the editor, re-analyzes its importer.
  const std::string pools_uri = uri_of_path(s.pools_path);
  s.change(s.main_uri, kMain, 4);
  s.server.flush();
  std::string pools = kPools;
  pools.replace(pools.find("pool pai"), 8, "pool pa2");
  s.open(pools_uri, pools);
  published = s.server.flush();
  REQUIRE(published.size() == 2);
  bool main_has_e0114 = false;
  for (const std::string& m : published) {
    const json::Value v = parse_json(m);
    if (*v.find("params")->find("uri")->as_string() != s.main_uri) continue;
    for (const json::Value& d : *v.find("params")->find("diagnostics")->as_array()) {
      main_has_e0114 = main_has_e0114 || *d.find("code")->as_string() == "E0114";
    }
  }
  CHECK(main_has_e0114);

  // Closing a document clears its diagnostics.
  s.server.handle(message("textDocument/didClose", json::Object{{"textDocument", json::Object{{"uri", pools_uri}}}}));
  published = s.server.flush();
  bool cleared = false;
  for (const std::string& m : published) {
    const json::Value v = parse_json(m);
    if (*v.find("params")->find("uri")->as_string() == pools_uri) {
      cleared = v.find("params")->find("diagnostics")->as_array()->empty();
    }
  }
  CHECK(cleared);
}

TEST_CASE("lsp hover: a scope's effective guarantee and limit") {
  Session s;
  s.server.flush();
  // On `Quota1_1` in `quota Quota1_1 { gpu = 16..48 }` (line 3).
  const json::Value h = s.request("textDocument/hover", 3, 10);
  REQUIRE(h.as_object() != nullptr);
  const std::string text = *h.find("contents")->find("value")->as_string();
  INFO(text);
  CHECK(text.find("**quota** `Quota1_1` in pool `pai`") != std::string::npos);
  CHECK(text.find("| gpu | 16 | 48 |") != std::string::npos);
  // `Quota1_2 { gpu = 8 }` on line 4; the workspace inherits from Quota1_1.
  CHECK(std::string(*s.request("textDocument/hover", 4, 10).find("contents")->find("value")->as_string())
            .find("| gpu | 8 | 8 |") != std::string::npos);
  const std::string ws = *s.request("textDocument/hover", 6, 11).find("contents")->find("value")->as_string();
  INFO(ws);
  CHECK(ws.find("| gpu | 0 | 48 (from `Quota1_1`) |") != std::string::npos);
  // A reference to the quota (`on Quota1_1`) shows the same.
  CHECK(std::string(*s.request("textDocument/hover", 6, 18).find("contents")->find("value")->as_string())
            .find("| gpu | 16 | 48 |") != std::string::npos);
  // Nothing on white space.
  CHECK(s.request("textDocument/hover", 5, 1).is_null());
}

TEST_CASE("lsp definition: names resolve to their declarations, across imports") {
  Session s;
  s.server.flush();
  // `pai` in `quota Quota1 on pai` (line 1) is declared in pools.allot, line 1.
  const json::Value d = s.request("textDocument/definition", 1, 17);
  REQUIRE(d.as_array()->size() == 1);
  const json::Value& loc = (*d.as_array())[0];
  CHECK(*loc.find("uri")->as_string() == uri_of_path(s.pools_path));
  CHECK(loc.find("range")->find("start")->find("line")->as_int() == 1);
  CHECK(loc.find("range")->find("start")->find("character")->as_int() == 5);
  // `low` in `priority = low` (line 8).
  const json::Value low = s.request("textDocument/definition", 8, 30);
  REQUIRE(low.as_array()->size() == 1);
  CHECK((*low.as_array())[0].find("range")->find("start")->find("line")->as_int() == 4);
  // `Quota1_1` after `workspace ws on`.
  const json::Value q = s.request("textDocument/definition", 6, 18);
  REQUIRE(q.as_array()->size() == 1);
  CHECK(*(*q.as_array())[0].find("uri")->as_string() == s.main_uri);
  CHECK((*q.as_array())[0].find("range")->find("start")->find("line")->as_int() == 3);
}

TEST_CASE("lsp completion: property names per kind and references") {
  Session s;
  s.server.flush();
  // Start of a member of the queue (line 8, after `{ `): queue properties and resources.
  std::vector<std::string> queue = labels(s.request("textDocument/completion", 8, 18));
  CHECK(has(queue, "preemptible"));
  CHECK(has(queue, "gpu"));
  CHECK_FALSE(has(queue, "child_preemption"));
  // After `priority = `: the priority classes.
  std::vector<std::string> priorities = labels(s.request("textDocument/completion", 8, 29));
  CHECK(has(priorities, "low"));
  CHECK(has(priorities, "high"));
  CHECK_FALSE(has(priorities, "pai"));
  // Start of a line of a quota body: quota properties and nested quotas.
  std::vector<std::string> quota = labels(s.request("textDocument/completion", 2, 2));
  CHECK(has(quota, "child_preemption"));
  CHECK(has(quota, "quota"));
  CHECK_FALSE(has(quota, "preemptible"));
  // At the top of the file: the declaration kinds.
  std::vector<std::string> top = labels(s.request("textDocument/completion", 11, 0));
  CHECK(has(top, "workspace"));
  CHECK(has(top, "import"));
  CHECK_FALSE(has(top, "queue"));
}

TEST_CASE("lsp completion context: incomplete text") {
  const std::string text = "pool p {\n  type = \n  billing = subscription { te\n";
  Context c = context_at(text, static_cast<std::uint32_t>(text.find("type = ") + 7));
  CHECK(c.where == Context::Where::value);
  CHECK(c.key == "type");
  c = context_at(text, static_cast<std::uint32_t>(text.size() - 1));
  CHECK(c.where == Context::Where::object);
  CHECK(c.key == "billing");
  CHECK(c.tag == "subscription");
  CHECK(c.word_begin == text.size() - 3);
  const std::string nodes = "pool p { nodes = 4 x ";
  CHECK(context_at(nodes, static_cast<std::uint32_t>(nodes.size())).where == Context::Where::flavor);
  const std::string list = "priority a { preempts = [b, ";
  c = context_at(list, static_cast<std::uint32_t>(list.size()));
  CHECK(c.where == Context::Where::list);
  CHECK(c.key == "preempts");
  const std::string target = "quota q on ";
  c = context_at(target, static_cast<std::uint32_t>(target.size()));
  CHECK(c.where == Context::Where::target);
  CHECK(c.kind == "quota");
}

TEST_CASE("lsp positions: UTF-16 columns and file URIs") {
  const std::string text = "a\n\xc3\xa9\xf0\x9f\x98\x80x\n";  // é (1 unit), 😀 (2 units)
  CHECK(offset_of(text, {1, 0}) == 2);
  CHECK(offset_of(text, {1, 1}) == 4);
  CHECK(offset_of(text, {1, 3}) == 8);
  CHECK(offset_of(text, {1, 99}) == 9);  // clamped to the line
  CHECK(offset_of(text, {99, 0}) == text.size());
  CHECK(position_of(text, 8).line == 1);
  CHECK(position_of(text, 8).character == 3);
  CHECK(path_of_uri("file:///tmp/a%20b.allot") == std::optional<std::string>("/tmp/a b.allot"));
  CHECK(path_of_uri("file://host/x") == std::nullopt);
  CHECK(path_of_uri("untitled:1") == std::nullopt);
  CHECK(path_of_uri("file:///a%00b") == std::nullopt);
  CHECK(uri_of_path("/tmp/a b.allot") == "file:///tmp/a%20b.allot");
}

// Every key the completion offers is one sema accepts for that kind, and an
// unknown key is refused in each (so that the check can fail).
TEST_CASE("lsp vocabulary: the property keys are those sema reads") {
  const auto unknown_property = [](const std::string& kind, const std::string& key) {
    std::string inner = key + " = 1";
    std::string policy = "flavor f { gpus = 1 }\npool p { type = shared }\n";
    if (kind == "node") {
      policy += "pool d { type = dedicated\n node n1 { flavor = f\n " + inner + " } }\n";
    } else if (kind == "quota") {
      policy += "quota q on p { gpu = 0..8\n " + inner + " }\n";
    } else if (kind == "workspace" || kind == "namespace" || kind == "queue") {
      const std::string q = kind == "queue" ? inner : "";
      const std::string n = kind == "namespace" ? inner : "";
      const std::string w = kind == "workspace" ? inner : "";
      policy += "quota q on p { gpu = 0..8 }\nworkspace w on q {\n " + w + "\n namespace n {\n " + n +
                "\n queue k {\n " + q + " } } }\n";
    } else {
      policy += kind + " x {\n " + inner + " }\n";
    }
    SourceManager sources;
    DiagnosticSink sink;
    const FileId file = sources.add("case.allot", policy);
    std::optional<ast::File> tree = syntax::parse(sources, file, sink);
    REQUIRE(tree);
    std::vector<ast::File> files;
    files.push_back(std::move(*tree));
    sema::analyze(sources, files, sink);
    for (const Diagnostic& d : sink.diagnostics()) {
      if (d.code == "E0105" && d.message.find("`" + key + "`") != std::string::npos) return true;
    }
    return false;
  };
  std::size_t keys = 0;
  for (const KindWords& k : kinds()) {
    INFO(k.kind);
    CHECK(unknown_property(std::string(k.kind), "no_such_key"));
    for (const std::string_view key : k.properties) {
      INFO(key);
      CHECK_FALSE(unknown_property(std::string(k.kind), std::string(key)));
      ++keys;
    }
  }
  CHECK(keys > 40);
}

TEST_CASE("lsp workspace: imports as `allot check` resolves them") {
  TempDir dir;
  std::filesystem::create_directory(dir.path / "team");
  dir.write("shared.allot", "pool p { type = shared }\n");
  dir.write("team/a.allot", "import \"b.allot\"\nquota q on p { gpu = 0..1 }\n");
  dir.write("team/b.allot", "import \"a.allot\"\n");
  const std::string outside = "import \"../shared.allot\"\nquota q on p { gpu = 0..1 }\n";
  Workspace ws{WorkspaceOptions{}};
  const auto codes = [&](const std::string& uri) {
    std::vector<std::string> out;
    for (const Diagnostic& d : ws.analysis(uri)->sink.diagnostics()) out.push_back(d.code);
    return out;
  };
  // Below the document's directory only, unless a workspace folder allows it.
  const std::string team_uri = uri_of_path((dir.path / "team/c.allot").string());
  ws.set(team_uri, outside, 1);
  CHECK(has(codes(team_uri), "E0012"));
  ws.add_import_root(dir.path.string());
  ws.set(team_uri, outside, 2);
  CHECK(codes(team_uri).empty());
  // A cycle through a file on disk.
  const std::string a_uri = uri_of_path((dir.path / "team/a.allot").string());
  ws.set(a_uri, "import \"b.allot\"\nimport \"../shared.allot\"\nquota q on p { gpu = 0..1 }\n", 1);
  CHECK(has(codes(a_uri), "E0010"));
  // A document that is not a file has no directory to import from.
  ws.set("untitled:Untitled-1", "import \"x.allot\"\n", 1);
  CHECK(has(codes("untitled:Untitled-1"), "E0012"));
  ws.set("untitled:Untitled-2", "pool p { type = shared }\nquota q on p { gpu = 0..1 }\n", 1);
  CHECK(codes("untitled:Untitled-2").empty());
}
