#include "runtime/api/front.h"

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "runtime/api/cli.h"

namespace allot::api {

std::optional<ClientOptions> local_client_command(const std::vector<std::string>& args) {
  if (args.empty()) return std::nullopt;
  // `apply` is the compiler's checked apply; `explain` with a diagnostic
  // code fails check_client_options below and goes to the compiler too.
  const std::string& name = args[0];
  if (name == "apply" || !is_client_command(name)) return std::nullopt;
  CLI::App app{"", "allot"};
  ClientOptions options;
  add_client_commands(app, options);
  const tl::expected<cli::Parsed, cli::UsageError> parsed = cli::parse(app, args);
  if (!parsed || parsed->help || !parsed->command) return std::nullopt;
  options.command = parsed->command->get_name();
  options.arguments.insert(options.arguments.end(), parsed->rest.begin(), parsed->rest.end());
  if (check_client_options(options)) return std::nullopt;
  return options;
}

std::optional<std::string> find_compiler(const std::string& own_dir, const std::string& relative_libexec) {
  std::string beside = own_dir;
  beside += "/allot-compiler";
  if (::access(beside.c_str(), X_OK) == 0) return beside;
  std::string installed = own_dir;
  installed += '/';
  installed += relative_libexec;
  installed += "/allot-compiler";
  if (::access(installed.c_str(), X_OK) == 0) return installed;
  return std::nullopt;
}

}  // namespace allot::api
