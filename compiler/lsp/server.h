// `allot lsp`: a Language Server (JSON-RPC 2.0 over stdio, LSP 3.17) for
// policy files: diagnostics on open and change from the stages of `allot
// check`, hover over a scope with its effective guarantee and limit,
// go-to-definition of names, completion of property names and references
// (docs/editors.md).
#pragma once

#include <iosfwd>
#include <set>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/lsp/framing.h"
#include "compiler/lsp/workspace.h"
#include "json/json.h"

namespace allot::lsp {

// The JSON-RPC and LSP error codes the server answers with.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kServerNotInitialized = -32002;

// The protocol's state machine, one message at a time; no I/O, so that
// tests drive it directly.
class Server {
 public:
  explicit Server(WorkspaceOptions options) : workspace_(std::move(options)) {}

  // One message body in; the messages to send (bodies, unframed) out.
  // Changes to documents are analyzed by `flush`, not here, so that a burst
  // of keystrokes is analyzed once.
  std::vector<std::string> handle(std::string_view body);
  // Analyzes the documents changed since the last flush and returns their
  // `textDocument/publishDiagnostics` notifications.
  std::vector<std::string> flush();

  bool exited() const { return exited_; }
  // 0 after `shutdown` then `exit`, 1 for `exit` alone (the protocol's rule).
  int exit_code() const { return shutdown_ ? 0 : 1; }

  const Workspace& workspace() const { return workspace_; }

 private:
  json::Value dispatch(const std::string& method, const json::Value* params);
  void notify(const std::string& method, const json::Value* params);
  json::Value initialize(const json::Value* params);
  std::string publish(const std::string& uri);

  Workspace workspace_;
  std::set<std::string> changed_;  // URIs whose diagnostics are due
  std::set<std::string> cleared_;  // closed URIs whose diagnostics are to be removed
  bool initialized_ = false;
  bool shutdown_ = false;
  bool exited_ = false;
};

// Reads framed messages from `in` and answers on `out` until `exit` or the
// end of the input. Returns the exit status: Server::exit_code, or 1 when
// the input ended or broke (a malformed or oversized header is answered with
// an error, then the server stops: the stream is no longer at a message).
int serve(std::streambuf& in, std::ostream& out, WorkspaceOptions options, FrameLimits limits = {});

}  // namespace allot::lsp
