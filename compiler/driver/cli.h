// The `allot` command line: every subcommand's options as a typed struct,
// defined once (cli.cpp) for parsing, help and shell completions.
#pragma once

#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <variant>
#include <vector>

#include "compiler/backend/slurm_cli.h"
#include "compiler/backend/target.h"
#include "compiler/base/version.h"
#include "compiler/driver/pipeline.h"
#include "runtime/api/cli.h"
#include "runtime/api/client.h"
#include "runtime/sim/command.h"

namespace allot::driver {

inline constexpr const char* kVersion = kAllotVersion;  // project(VERSION)

enum class Format { text, json, sarif };
enum class ColorMode { automatic, always, never };

struct CheckOptions {
  CheckRequest request;
  Format format = Format::text;
  bool deny_warnings = false;
  bool quiet = false;
  ColorMode color = ColorMode::automatic;
};

// `compile` and `plan` (`dry_run`).
struct CompileOptions {
  bool dry_run = false;
  CheckRequest request;  // with `request.plan` set
  std::string output;    // `-o`; `-` for standard output
  std::string target = "plan";
  backend::TargetOptions target_options;
  ColorMode color = ColorMode::automatic;
};

// `simulate`: a `.allot` file given as `--plan` or `--compare` is compiled
// first, on the nodes of `--nodes` when given.
struct SimulateOptions {
  runtime::sim::SimulateOptions sim;
};

// `apply --target slurm POLICY... --deployed POLICY...`.
struct SlurmApplyOptions {
  std::vector<std::string> policies, deployed;
  std::string map = backend::default_slurm_map();
  std::string conf, output;
  bool strict = false;
};

// `fmt [--check] FILE|DIR...|-`.
struct FmtOptions {
  std::vector<std::string> inputs;  // `-`: standard input to standard output
  bool check = false;               // list what would change, exit 1; write nothing
  std::size_t max_file_bytes = syntax::ParseLimits{}.max_file_bytes;
  ColorMode color = ColorMode::automatic;
};

// `graph POLICY... [-o FILE] [--format dot|svg]`.
enum class GraphFormat { automatic, dot, svg };  // automatic: by `-o`'s extension, else svg
struct GraphOptions {
  CheckRequest request;
  std::string output = "-";
  GraphFormat format = GraphFormat::automatic;
  ColorMode color = ColorMode::automatic;
};

// `state [--socket S] [-o FILE] [--deployed POLICY...]`: the live state of
// the local allotd (docs/state.md).
struct LiveStateOptions {
  std::string socket;  // empty: api::default_socket_path
  std::string output = "-";
  std::vector<std::string> deployed;  // empty: the files the plan in force was compiled from
};

// `apply POLICY|PLAN [--force]`: check the change against the live state of
// the local allotd, then carry out its migration steps there, in order.
struct CheckedApplyOptions {
  std::string socket;
  std::string input;                  // a `.allot` policy (or directory), or a `.toml` plan
  std::vector<std::string> deployed;  // empty: the files the plan in force was compiled from
  std::string inventory;
  bool force = false;
  std::chrono::milliseconds timeout{10000};
  ColorMode color = ColorMode::automatic;
};

// `lsp`: the language server on standard input and output.
struct LspOptions {
  std::vector<std::string> import_roots;
  std::chrono::milliseconds timeout{300};  // per solver obligation: short, so that typing stays responsive
};

// `diff OLD NEW [-- PATH...]` (docs/diff.md).
enum class DiffFormat { text, json, markdown };
struct DiffOptions {
  std::string old_input, new_input;  // files, directories or git revisions
  std::vector<std::string> paths;    // after `--`: what to read at a revision
  std::vector<std::string> import_roots;
  std::chrono::milliseconds timeout{10000};
  DiffFormat format = DiffFormat::text;
  ColorMode color = ColorMode::automatic;
};

// `explain SUBJECT`: a diagnostic code (compiler/driver/explain.h).
struct ExplainOptions {
  std::string subject;
};

struct HelpOptions {
  std::string topic;  // a command, or empty for the overview
};
struct VersionOptions {};
struct CompletionOptions {
  std::string shell;
};

using Command = std::variant<HelpOptions, VersionOptions, CompletionOptions, CheckOptions, CompileOptions, FmtOptions,
                             GraphOptions, LspOptions, DiffOptions, ExplainOptions, SimulateOptions, api::ClientOptions,
                             backend::SlurmSubmitOptions, backend::SlurmStateOptions, SlurmApplyOptions,
                             LiveStateOptions, CheckedApplyOptions>;

// A command line that does not parse; `format` is the `--format` it asked
// for, where it got that far, so that the error comes in that format.
struct CommandLineError {
  cli::UsageError error;
  Format format = Format::text;
};

tl::expected<Command, CommandLineError> parse_command_line(const std::vector<std::string>& args);

// `allot help [COMMAND]`: generated from the definitions; nothing for an
// unknown command.
std::optional<std::string> help_text(const std::string& command);

// The names of `allot`'s commands, for suggestions.
std::vector<std::string> command_names();

// `allot completion bash|zsh`; nothing for another shell.
std::optional<std::string> completion_script(const std::string& shell);

}  // namespace allot::driver
