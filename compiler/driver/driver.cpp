#include "compiler/driver/driver.h"

#include <fmt/format.h>

#include "compiler/backend/slurm_cli.h"
#include "compiler/driver/cli.h"
#include "compiler/driver/commands.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/sarif.h"

namespace allot::driver {
namespace {

// A command line that does not parse: `allot: message`, its help lines and
// a pointer to `allot help`; with `--format=json|sarif`, one E0007
// diagnostic in that format instead.
int usage_error(Streams& streams, const CommandLineError& problem) {
  if (problem.format != Format::text) {
    SourceManager sources;
    DiagnosticSink sink;
    Diagnostic& d = sink.error("E0007", SourceRange{}, problem.error.message);
    for (const std::string& help : problem.error.help) d.add_help(help);
    d.add_help("`allot help` lists the commands and their options");
    streams.out << (problem.format == Format::json ? emit::render_json(sources, sink)
                                                   : emit::render_sarif(sources, sink, kVersion));
    return kExitUsage;
  }
  streams.err << "allot: " << problem.error.message << "\n";
  for (const std::string& help : problem.error.help) streams.err << "help: " << help << "\n";
  streams.err << "try `allot help`\n";
  return kExitUsage;
}

struct Dispatch {
  Streams& streams;

  int operator()(const HelpOptions& o) const {
    const std::optional<std::string> text = help_text(o.topic);
    if (!text) {
      CommandLineError problem{{fmt::format("unknown command `{}`", o.topic), {}}, Format::text};
      if (const auto near = cli::closest(o.topic, command_names())) {
        problem.error.help.push_back(fmt::format("did you mean `{}`", *near));
      }
      return usage_error(streams, problem);
    }
    streams.out << *text;
    return kExitOk;
  }
  int operator()(const VersionOptions&) const {
    streams.out << "allot " << kVersion << "\n";
    return kExitOk;
  }
  int operator()(const CompletionOptions& o) const {
    const std::optional<std::string> script = completion_script(o.shell);
    if (!script) {
      return usage_error(streams, {{fmt::format("unknown shell `{}`: bash or zsh", o.shell), {}}, Format::text});
    }
    streams.out << *script;
    return kExitOk;
  }
  int operator()(const CheckOptions& o) const { return run_check(o, streams); }
  int operator()(const CompileOptions& o) const { return run_compile(o, streams); }
  int operator()(const FmtOptions& o) const { return run_fmt(o, streams); }
  int operator()(const GraphOptions& o) const { return run_graph(o, streams); }
  int operator()(const LspOptions& o) const { return run_lsp(o, streams); }
  int operator()(const DiffOptions& o) const { return run_diff(o, streams); }
  int operator()(const ExplainOptions& o) const { return run_explain(o, streams); }
  int operator()(const SimulateOptions& o) const { return run_simulate(o, streams); }
  int operator()(const api::ClientOptions& o) const { return api::run_client(o, streams.out, streams.err); }
  int operator()(const backend::SlurmSubmitOptions& o) const {
    return backend::run_slurm_submit(o, streams.out, streams.err);
  }
  int operator()(const backend::SlurmStateOptions& o) const {
    return backend::run_slurm_state(o, streams.out, streams.err);
  }
  int operator()(const SlurmApplyOptions& o) const { return run_slurm_apply(o, streams); }
  int operator()(const LiveStateOptions& o) const { return run_live_state(o, streams); }
  int operator()(const CheckedApplyOptions& o) const { return run_checked_apply(o, streams); }
};

}  // namespace

int run(const std::vector<std::string>& args, Streams streams) {
  if (args.empty()) {
    streams.err << help_text("").value_or("");
    return kExitUsage;
  }
  tl::expected<Command, CommandLineError> command = parse_command_line(args);
  if (!command) return usage_error(streams, command.error());
  return std::visit(Dispatch{streams}, *command);
}

}  // namespace allot::driver
