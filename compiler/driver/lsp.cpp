// `allot lsp`: the language server (compiler/lsp/server.h) on standard input
// and output.
#include <iostream>

#include "compiler/driver/commands.h"
#include "compiler/lsp/server.h"

namespace allot::driver {

int run_lsp(const LspOptions& options, Streams& streams) {
  lsp::WorkspaceOptions workspace;
  workspace.solver_timeout = options.timeout;
  workspace.import_roots = options.import_roots;
  return lsp::serve(*std::cin.rdbuf(), streams.out, std::move(workspace));
}

}  // namespace allot::driver
