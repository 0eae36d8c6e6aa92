// The user-facing `allot`: a small binary that runs the commands talking to
// the local allotd itself (submit, ps, cancel, status, metrics, node,
// explain ID) and hands every other command line, unchanged, to the
// compiler binary `allot-compiler`. Client commands so load neither Z3 nor
// ANTLR; help, completions and errors stay the compiler's, which defines
// every command.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/api/client.h"

namespace allot::api {

// The client command `args` (without the program name) asks for, when the
// client commands' own definitions parse it cleanly and it means the same
// for the full `allot`; nothing otherwise (another command, `--help`, an
// option only the compiler knows such as `submit --backend`, a usage
// error), and the compiler then answers.
std::optional<ClientOptions> local_client_command(const std::vector<std::string>& args);

// Where the compiler binary is, given the directory of this executable:
// beside it (the build tree), else `relative_libexec` from it (the
// installed layout, bin/../libexec/allot). Nothing when neither exists.
std::optional<std::string> find_compiler(const std::string& own_dir, const std::string& relative_libexec);

}  // namespace allot::api
