#include "compiler/lsp/server.h"

#include <fmt/format.h>

#include <ostream>

#include "compiler/base/version.h"
#include "compiler/lsp/features.h"
#include "compiler/lsp/protocol.h"

namespace allot::lsp {
namespace {

// A request that cannot be answered: its error reply.
struct RpcError {
  int code = kInvalidParams;
  std::string message;
};

std::string reply(const json::Value& id, json::Value result) {
  return json::Value(json::Object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}}).dump();
}

std::string error_reply(const json::Value& id, int code, std::string message) {
  return json::Value(json::Object{{"jsonrpc", "2.0"},
                                  {"id", id},
                                  {"error", json::Object{{"code", code}, {"message", std::move(message)}}}})
      .dump();
}

const json::Value& member(const json::Value* object, std::string_view key, std::string_view where) {
  const json::Value* v = object != nullptr ? object->find(key) : nullptr;
  if (v == nullptr) throw RpcError{kInvalidParams, fmt::format("`{}` needs `{}`", where, key)};
  return *v;
}

std::string string_member(const json::Value* object, std::string_view key, std::string_view where) {
  const std::string* s = member(object, key, where).as_string();
  if (s == nullptr) throw RpcError{kInvalidParams, fmt::format("`{}.{}` must be a string", where, key)};
  return *s;
}

std::uint32_t index_member(const json::Value* object, std::string_view key, std::string_view where) {
  const std::optional<std::int64_t> n = member(object, key, where).as_int();
  if (!n || *n < 0 || *n > 0xffffffffLL) {
    throw RpcError{kInvalidParams, fmt::format("`{}.{}` must be a number from 0", where, key)};
  }
  return static_cast<std::uint32_t>(*n);
}

std::string uri_of(const json::Value* params) {
  return string_member(&member(params, "textDocument", "params"), "uri", "textDocument");
}

Position position_of_params(const json::Value* params) {
  const json::Value& p = member(params, "position", "params");
  return Position{index_member(&p, "line", "position"), index_member(&p, "character", "position")};
}

class WorkspaceUris : public FileUris {
 public:
  WorkspaceUris(const Workspace& ws, const Analysis& a) : ws_(ws), a_(a) {}
  std::string uri(FileId file) const override { return ws_.uri_of(a_, file); }

 private:
  const Workspace& ws_;
  const Analysis& a_;
};

}  // namespace

std::vector<std::string> Server::handle(std::string_view body) {
  const json::ParseResult parsed = json::parse(body);
  if (const auto* e = std::get_if<json::ParseError>(&parsed)) {
    return {error_reply(nullptr, kParseError, fmt::format("invalid JSON at byte {}: {}", e->offset, e->message))};
  }
  const json::Value& message = std::get<json::Value>(parsed);
  if (message.as_object() == nullptr) return {error_reply(nullptr, kInvalidRequest, "a message must be a JSON object")};
  const json::Value* id = message.find("id");
  const json::Value* version = message.find("jsonrpc");
  if (version == nullptr || version->as_string() == nullptr || *version->as_string() != "2.0") {
    if (id == nullptr && message.find("method") != nullptr) return {};  // a notification gets no reply
    return {error_reply(id != nullptr && (id->as_int() || id->as_string()) ? *id : json::Value(nullptr),
                        kInvalidRequest, "`jsonrpc` must be \"2.0\"")};
  }
  const json::Value* method = message.find("method");
  if (id != nullptr && !id->as_int() && id->as_string() == nullptr) {
    return {error_reply(nullptr, kInvalidRequest, "`id` must be an integer or a string")};
  }
  if (method == nullptr) {
    if (message.find("result") != nullptr || message.find("error") != nullptr) return {};  // a reply to nothing we sent
    return {error_reply(id != nullptr ? *id : json::Value(nullptr), kInvalidRequest, "a message without `method`")};
  }
  if (method->as_string() == nullptr) {
    return {error_reply(id != nullptr ? *id : json::Value(nullptr), kInvalidRequest, "`method` must be a string")};
  }
  const std::string& name = *method->as_string();
  const json::Value* params = message.find("params");
  if (params != nullptr && params->is_null()) params = nullptr;  // as if left out
  if (params != nullptr && params->as_object() == nullptr && params->as_array() == nullptr) {
    return {error_reply(id != nullptr ? *id : json::Value(nullptr), kInvalidRequest,
                        "`params` must be an object or an array")};
  }
  if (id == nullptr) {
    try {
      notify(name, params);
    } catch (const RpcError&) {
      // A notification gets no reply, not even an error.
    }
    return {};
  }
  if (!initialized_ && name != "initialize") {
    return {error_reply(*id, kServerNotInitialized, fmt::format("`{}` before `initialize`", name))};
  }
  if (shutdown_) return {error_reply(*id, kInvalidRequest, fmt::format("`{}` after `shutdown`", name))};
  try {
    return {reply(*id, dispatch(name, params))};
  } catch (const RpcError& problem) {
    return {error_reply(*id, problem.code, problem.message)};
  }
}

json::Value Server::initialize(const json::Value* params) {
  if (initialized_) throw RpcError{kInvalidRequest, "`initialize` was already sent"};
  initialized_ = true;
  // Imports may lead below the workspace's folders as well.
  if (params != nullptr) {
    if (const json::Value* folders = params->find("workspaceFolders"); folders && folders->as_array()) {
      for (const json::Value& f : *folders->as_array()) {
        const json::Value* uri = f.find("uri");
        if (uri && uri->as_string()) {
          if (auto path = path_of_uri(*uri->as_string())) workspace_.add_import_root(*path);
        }
      }
    } else if (const json::Value* root = params->find("rootUri"); root && root->as_string()) {
      if (auto path = path_of_uri(*root->as_string())) workspace_.add_import_root(*path);
    }
  }
  json::Value capabilities = json::Object{
      {"textDocumentSync", json::Object{{"openClose", true}, {"change", 1}}},
      {"hoverProvider", true},
      {"definitionProvider", true},
      {"completionProvider", json::Object{{"triggerCharacters", json::Array{"=", "[", ",", " "}}}},
  };
  return json::Object{{"capabilities", std::move(capabilities)},
                      {"serverInfo", json::Object{{"name", "allot"}, {"version", kAllotVersion}}}};
}

json::Value Server::dispatch(const std::string& method, const json::Value* params) {
  if (method == "initialize") return initialize(params);
  if (method == "shutdown") {
    shutdown_ = true;
    return nullptr;
  }
  const bool hover_request = method == "textDocument/hover";
  const bool definition_request = method == "textDocument/definition";
  const bool completion_request = method == "textDocument/completion";
  if (!hover_request && !definition_request && !completion_request) {
    throw RpcError{kMethodNotFound, fmt::format("unknown method `{}`", method)};
  }
  const std::string uri = uri_of(params);
  const Position position = position_of_params(params);
  const Document* doc = workspace_.document(uri);
  if (doc == nullptr) return hover_request ? json::Value(nullptr) : json::Value(json::Array{});
  const std::string text = doc->text;
  const Analysis& a = *workspace_.analysis(uri);
  const std::uint32_t offset = offset_of(text, position);
  if (hover_request) return hover(a, text, offset);
  if (definition_request) return definition(a, text, offset, WorkspaceUris(workspace_, a));
  return completion(a, text, offset);
}

void Server::notify(const std::string& method, const json::Value* params) {
  if (method == "exit") {
    exited_ = true;
    return;
  }
  if (!initialized_) return;  // the protocol drops notifications before `initialize`
  const auto mark = [&](const std::vector<std::string>& uris) {
    for (const std::string& u : uris) {
      changed_.insert(u);
      cleared_.erase(u);
    }
  };
  if (method == "textDocument/didOpen") {
    const json::Value& doc = member(params, "textDocument", "params");
    const std::optional<std::int64_t> version = member(&doc, "version", "textDocument").as_int();
    mark(workspace_.set(string_member(&doc, "uri", "textDocument"), string_member(&doc, "text", "textDocument"),
                        version.value_or(0)));
  } else if (method == "textDocument/didChange") {
    const std::string uri = uri_of(params);
    const Document* doc = workspace_.document(uri);
    const json::Value& changes = member(params, "contentChanges", "params");
    if (doc == nullptr || changes.as_array() == nullptr) return;
    std::string text = doc->text;
    for (const json::Value& change : *changes.as_array()) {
      std::string replacement = string_member(&change, "text", "contentChanges");
      if (const json::Value* range = change.find("range")) {
        const json::Value& start = member(range, "start", "range");
        const json::Value& end = member(range, "end", "range");
        const std::uint32_t b = offset_of(
            text, Position{index_member(&start, "line", "start"), index_member(&start, "character", "start")});
        const std::uint32_t e = std::max(
            b, offset_of(text, Position{index_member(&end, "line", "end"), index_member(&end, "character", "end")}));
        text.replace(b, e - b, replacement);
      } else {
        text = std::move(replacement);
      }
    }
    const json::Value* version = member(params, "textDocument", "params").find("version");
    mark(workspace_.set(uri, std::move(text), version ? version->as_int().value_or(0) : 0));
  } else if (method == "textDocument/didClose") {
    const std::string uri = uri_of(params);
    mark(workspace_.close(uri));
    changed_.erase(uri);
    cleared_.insert(uri);
  }
}

std::string Server::publish(const std::string& uri) {
  const Analysis& a = *workspace_.analysis(uri);
  const std::string_view text = a.main != kNoFile ? a.sources.text(a.main) : std::string_view{};
  const WorkspaceUris uris(workspace_, a);
  json::Array diagnostics;
  for (const Diagnostic& d : a.sink.diagnostics()) {
    SourceRange at;
    std::string prefix;
    if (d.range.valid() && d.range.file == a.main) {
      at = d.range;
    } else if (d.range.valid() && d.range.file < a.sources.file_count()) {
      // In an imported file: shown at the import that leads to it.
      const auto through = a.reached_through.find(d.range.file);
      if (through != a.reached_through.end()) at = through->second;
      const LineColumn lc = a.sources.line_column(d.range.file, d.range.begin);
      prefix = fmt::format("{}:{}:{}: ", a.sources.path(d.range.file), lc.line, lc.column);
    }
    if (!at.valid() && a.main != kNoFile) at = SourceRange{a.main, 0, 0};
    diagnostics.push_back(diagnostic_json(a.sources, d, at, prefix, uris));
  }
  if (a.sink.dropped_count() > 0) {
    diagnostics.push_back(json::Object{{"range", range_json(text, SourceRange{})},
                                       {"severity", 1},
                                       {"source", "allot"},
                                       {"message", fmt::format("{} more errors not shown", a.sink.dropped_count())}});
  }
  const Document* doc = workspace_.document(uri);
  json::Value params = json::Object{{"uri", uri}, {"diagnostics", std::move(diagnostics)}};
  if (doc != nullptr) params.set("version", doc->version);
  return json::Value(json::Object{{"jsonrpc", "2.0"},
                                  {"method", "textDocument/publishDiagnostics"},
                                  {"params", std::move(params)}})
      .dump();
}

std::vector<std::string> Server::flush() {
  std::vector<std::string> out;
  for (const std::string& uri : cleared_) {
    out.push_back(json::Value(json::Object{{"jsonrpc", "2.0"},
                                           {"method", "textDocument/publishDiagnostics"},
                                           {"params", json::Object{{"uri", uri}, {"diagnostics", json::Array{}}}}})
                      .dump());
  }
  cleared_.clear();
  for (const std::string& uri : changed_) {
    if (workspace_.document(uri) != nullptr) out.push_back(publish(uri));
  }
  changed_.clear();
  return out;
}

int serve(std::streambuf& in, std::ostream& out, WorkspaceOptions options, FrameLimits limits) {
  Server server(std::move(options));
  FrameReader reader(in, limits);
  const auto send = [&](const std::vector<std::string>& messages) {
    for (const std::string& m : messages) out << frame(m);
    out.flush();
  };
  for (;;) {
    const Frame f = reader.next();
    if (f.status == FrameStatus::end) return server.exited() ? server.exit_code() : 1;
    if (f.status != FrameStatus::message) {
      send({error_reply(nullptr, f.status == FrameStatus::too_large ? kInvalidRequest : kParseError, f.problem)});
      return 1;
    }
    send(server.handle(f.body));
    if (server.exited()) return server.exit_code();
    if (!reader.pending()) send(server.flush());
  }
}

}  // namespace allot::lsp
