// `allot lsp` on hostile input: the bytes as a framed stream through the
// whole server loop, as one message body, and (when valid UTF-8) as the text
// of an open document with hover, definition and completion at a few places.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "compiler/lsp/server.h"
#include "json/json.h"

using namespace allot;

namespace {

lsp::WorkspaceOptions options() {
  lsp::WorkspaceOptions o;
  o.solver_timeout = std::chrono::milliseconds(50);
  return o;
}

std::string request(int id, const std::string& method, json::Value params) {
  return json::Value(json::Object{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}})
      .dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  {
    // The framed stream, messages and all; a small body limit keeps runs fast.
    std::stringbuf in(input);
    std::ostringstream out;
    lsp::FrameLimits limits;
    limits.max_body_bytes = 1u << 20;
    const int code = lsp::serve(in, out, options(), limits);
    if (code != 0 && code != 1) __builtin_trap();
  }
  lsp::Server server(options());
  server.handle(request(1, "initialize", json::Object{}));
  for (const std::string& reply : server.handle(input)) {
    if (!std::holds_alternative<json::Value>(json::parse(reply))) __builtin_trap();
  }
  if (find_invalid_utf8(input) == std::string::npos && !server.exited()) {
    const std::string uri = "file:///nonexistent/fuzz.allot";
    server.handle(
        json::Value(
            json::Object{{"jsonrpc", "2.0"},
                         {"method", "textDocument/didOpen"},
                         {"params",
                          json::Object{{"textDocument", json::Object{{"uri", uri}, {"version", 1}, {"text", input}}}}}})
            .dump());
    server.flush();
    std::int64_t line = 0;
    for (std::size_t at = 0; at <= input.size(); at += 1 + input.size() / 7) {
      const json::Value params = json::Object{
          {"textDocument", json::Object{{"uri", uri}}},
          {"position", json::Object{{"line", line++ % 4}, {"character", static_cast<std::int64_t>(at % 40)}}}};
      for (const char* method : {"textDocument/hover", "textDocument/definition", "textDocument/completion"}) {
        for (const std::string& reply : server.handle(request(2, method, params))) {
          if (!std::holds_alternative<json::Value>(json::parse(reply))) __builtin_trap();
        }
      }
    }
  }
  return 0;
}
