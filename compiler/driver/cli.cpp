#include "compiler/driver/cli.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <map>
#include <memory>

#include "compiler/driver/explain.h"

namespace allot::driver {
namespace {

// Every subcommand's options, bound to the structs they fill. Numbers are
// read as text first so that a bad value gets the house-style message.
struct Definitions {
  CLI::App app{"", "allot"};
  CheckOptions check;
  CompileOptions compile, plan;
  SimulateOptions simulate;
  api::ClientOptions client;
  std::string submit_backend, submit_name, submit_output, submit_map = backend::default_slurm_map();
  bool submit_dry_run = false;
  backend::SlurmStateOptions state;
  std::string state_from;
  SlurmApplyOptions slurm_apply;
  std::string apply_target;
  CheckedApplyOptions checked_apply;
  long long apply_timeout = 10000;
  std::string state_socket;
  FmtOptions fmt;
  GraphOptions graph;
  LspOptions lsp;
  long long lsp_timeout = 300;
  bool lsp_stdio = false;
  DiffOptions diff;
  std::vector<std::string> diff_sides;
  long long diff_timeout = 10000;
  ExplainOptions explain;
  long long fmt_max_bytes = 0;
  HelpOptions help;
  bool version = false;
  CompletionOptions completion;
  long long check_timeout = 10000, check_max_bytes = 0;
  long long compile_timeout[2] = {10000, 10000}, compile_budget[2] = {2000, 2000};
};

template <typename T>
CLI::Option* enum_option(CLI::App& app, const std::string& name, T& into,
                         const std::vector<std::pair<std::string, T>>& values, const std::string& what,
                         const std::string& description) {
  std::vector<std::string> names;
  for (const auto& entry : values) names.push_back(entry.first);
  CLI::Option* option = app.add_option_function<std::string>(
      name,
      [&into, values](const std::string& v) {
        for (const auto& [key, value] : values) {
          if (key == v) into = value;
        }
      },
      description);
  return cli::check(option, cli::one_of(names, what));
}

CLI::Option* color_option(CLI::App& app, ColorMode& into) {
  return enum_option(app, "--color", into,
                     {{"auto", ColorMode::automatic}, {"always", ColorMode::always}, {"never", ColorMode::never}},
                     "color mode", "color diagnostics (default: auto, on a terminal)")
      ->type_name("auto|always|never");
}

CLI::Option* import_roots(CLI::App& app, std::vector<std::string>& into) {
  return app
      .add_option("--import-root", into,
                  "also allow imports of files below DIR (default: only below the directories of the files and "
                  "directories given); may be repeated")
      ->type_name("DIR")
      ->allow_extra_args(false);
}

CLI::Option* count(CLI::App& app, const std::string& name, long long& into, const std::string& description,
                   cli::Check accept) {
  return cli::check(app.add_option(name, into, description)->type_name("N"), std::move(accept));
}

void define_check(Definitions& d) {
  CLI::App* c =
      d.app.add_subcommand("check", "parse and check a policy; a directory means every `.allot` file below it");
  CheckOptions& o = d.check;
  c->add_option("inputs", o.request.inputs, "policy files and directories")->type_name("FILE|DIR...");
  enum_option(*c, "--format", o.format, {{"text", Format::text}, {"json", Format::json}, {"sarif", Format::sarif}},
              "format", "output format (default: text; sarif is SARIF 2.1.0)")
      ->type_name("text|json|sarif");
  c->add_option("--state", o.request.state,
                "also prove that the change from the deployed policy named in FILE (docs/state.md) is allowed")
      ->type_name("FILE");
  count(*c, "--timeout-ms", d.check_timeout, "per-obligation solver timeout (default: 10000)",
        [](const std::string& v) -> std::optional<std::string> {
          if (cli::positive_count("")(v))
            return fmt::format("invalid timeout `{}`: a number of milliseconds, at least 1", v);
          return std::nullopt;
        });
  c->add_flag("--deny-warnings", o.deny_warnings, "exit 1 when there are warnings");
  count(*c, "--max-file-bytes", d.check_max_bytes, "refuse policy files larger than N bytes (default: 16 MiB)",
        [](const std::string& v) -> std::optional<std::string> {
          if (cli::positive_count("")(v)) return fmt::format("invalid size `{}`: a number of bytes, at least 1", v);
          return std::nullopt;
        });
  import_roots(*c, o.request.import_roots);
  color_option(*c, o.color);
  c->add_flag("-q,--quiet", o.quiet, "print nothing when the policy is clean");
}

void define_fmt(Definitions& d) {
  CLI::App* c = d.app.add_subcommand(
      "fmt",
      "rewrite policy files in the canonical layout (docs/language.md); a directory means every `.allot` "
      "file below it, `-` standard input to standard output");
  FmtOptions& o = d.fmt;
  c->add_option("inputs", o.inputs, "policy files and directories, or `-`")->type_name("FILE|DIR...|-");
  c->add_flag("--check", o.check, "write nothing; list the files whose layout would change and exit 1 if any");
  count(*c, "--max-file-bytes", d.fmt_max_bytes, "refuse policy files larger than N bytes (default: 16 MiB)",
        [](const std::string& v) -> std::optional<std::string> {
          if (cli::positive_count("")(v)) return fmt::format("invalid size `{}`: a number of bytes, at least 1", v);
          return std::nullopt;
        });
  color_option(*c, o.color);
}

void define_graph(Definitions& d) {
  CLI::App* c = d.app.add_subcommand(
      "graph", "draw the quota tree: pools, guarantees and limits, borrowing and preemption (SVG or DOT)");
  GraphOptions& o = d.graph;
  c->add_option("policies", o.request.inputs, "the policy's files and directories")->type_name("POLICY...");
  c->add_option("-o,--output", o.output, "where to write it (default: standard output)")->type_name("FILE");
  enum_option(*c, "--format", o.format, {{"dot", GraphFormat::dot}, {"svg", GraphFormat::svg}}, "graph format",
              "dot or svg (default: by the extension of `-o`, else svg)")
      ->type_name("dot|svg");
  import_roots(*c, o.request.import_roots);
  color_option(*c, o.color);
}

void define_lsp(Definitions& d) {
  CLI::App* c = d.app.add_subcommand(
      "lsp", "run the language server on standard input and output, for editors (docs/editors.md)");
  c->add_flag("--stdio", d.lsp_stdio, "talk on standard input and output (the default and only transport)");
  count(*c, "--timeout-ms", d.lsp_timeout, "per-obligation solver timeout (default: 300)",
        cli::positive_count("`--timeout-ms` needs a number of milliseconds, at least 1"));
  import_roots(*c, d.lsp.import_roots);
}

void define_diff(Definitions& d) {
  CLI::App* c = d.app.add_subcommand(
      "diff",
      "compare two policies by meaning: guarantees and limits in effect, proven relations with witnesses, "
      "preemption, permissions (docs/diff.md); exit status 0 no semantic change, 1 changed, 2 trouble");
  DiffOptions& o = d.diff;
  c->add_option("sides", d.diff_sides,
                "OLD and NEW: files, directories or git revisions (`allot diff HEAD~1 HEAD -- policies/`)")
      ->type_name("OLD NEW [-- PATH...]");
  enum_option(*c, "--format", o.format,
              {{"text", DiffFormat::text}, {"json", DiffFormat::json}, {"markdown", DiffFormat::markdown}}, "format",
              "output format (default: text; markdown for a pull-request comment)")
      ->type_name("text|json|markdown");
  count(*c, "--timeout-ms", d.diff_timeout, "per-obligation solver timeout (default: 10000)",
        cli::positive_count("`--timeout-ms` needs a number of milliseconds, at least 1"));
  import_roots(*c, o.import_roots);
  color_option(*c, o.color);
}

void define_compile(Definitions& d, bool dry_run) {
  const int i = dry_run ? 1 : 0;
  CLI::App* c = dry_run ? d.app.add_subcommand("plan", "check a policy and show what its plan would change")
                        : d.app.add_subcommand("compile",
                                               "check a policy and write its plan (docs/plan-format.md); `-o -` "
                                               "writes it to standard output");
  CompileOptions& o = dry_run ? d.plan : d.compile;
  o.dry_run = dry_run;
  o.request.plan.emplace();
  o.request.plan->allot_version = kVersion;
  PlanRequest& p = *o.request.plan;
  c->add_option("policies", o.request.inputs, "the policy's files and directories")->type_name("POLICY...");
  c->add_option("--state", o.request.state,
                "the live state (docs/state.md): order the change from the deployed policy, keep GPUs where the "
                "deployed plan homes them")
      ->type_name("FILE");
  c->add_option("--inventory", p.inventory,
                "the nodes: TOML (`[[node]]`) or an openb node list (`.csv`); default: the nodes the pools declare")
      ->type_name("FILE");
  c->add_option("--pool", p.pool, "the pool of a `.csv` node list (default: the only pool)")->type_name("NAME");
  c->add_option("--previous", p.previous, "a previous plan: move as few GPUs from it as possible")->type_name("FILE");
  enum_option(*c, "--method", p.method,
              {{"auto", plan::PlaceOptions::Mode::automatic},
               {"exact", plan::PlaceOptions::Mode::exact},
               {"heuristic", plan::PlaceOptions::Mode::heuristic},
               {"first-fit", plan::PlaceOptions::Mode::first_fit}},
              "placement method", "placement method (default: auto, exact for small pools)")
      ->type_name("auto|exact|heuristic|first-fit");
  count(*c, "--budget-ms", d.compile_budget[i], "time budget of the exact placement per pool (default: 2000)",
        cli::positive_count("`--budget-ms` needs a number of milliseconds, at least 1"));
  count(*c, "--timeout-ms", d.compile_timeout[i], "per-obligation solver timeout (default: 10000)",
        cli::positive_count("`--timeout-ms` needs a number of milliseconds, at least 1"));
  import_roots(*c, o.request.import_roots);
  c->add_option("-o,--output", o.output,
                dry_run ? "also write the plan to FILE"
                        : "where to write the plan (`-` for standard output); a directory for `--target slurm|kueue`")
      ->type_name("FILE");
  enum_option(*c, "--target", o.target, {{"plan", std::string("plan")}, {"slurm", "slurm"}, {"kueue", "kueue"}},
              "target",
              "what `compile` writes (default: plan); slurm and kueue write a directory, `-o DIR` (`-o -`: every "
              "file to standard output; docs/backends.md)")
      ->type_name("plan|slurm|kueue");
  c->add_flag("--target-strict", o.target_options.strict, "a rule the target cannot express exactly is an error");
  enum_option(*c, "--kueue-version", o.target_options.kueue_version,
              {{"v1beta2", std::string("v1beta2")}, {"v1beta1", "v1beta1"}}, "Kueue version",
              "the Kueue API version: v1beta2 (default) or v1beta1")
      ->type_name("v1beta2|v1beta1");
  color_option(*c, o.color);
}

// `submit` and `apply` are the client's; a backend adds its own options.
void extend_client(Definitions& d) {
  CLI::App* submit = d.app.get_subcommand("submit");
  enum_option(*submit, "--backend", d.submit_backend, {{"slurm", std::string("slurm")}}, "backend",
              "submit through `sbatch` with the queue's account, partition and tier (docs/backends.md)")
      ->type_name("slurm");
  submit->add_option("--name", d.submit_name, "`--backend slurm`: the job's name")->type_name("NAME");
  submit->add_option("--output", d.submit_output, "`--backend slurm`: the job's output file")->type_name("FILE");
  submit->add_option("--map", d.submit_map, "`--backend slurm`: the queue map (`compile --target slurm` writes it)")
      ->type_name("FILE");
  submit->add_flag("--dry-run", d.submit_dry_run, "`--backend slurm`: print the `sbatch` command, run nothing");
  CLI::App* explain = d.app.get_subcommand("explain");
  explain->description(
      "explain a diagnostic code with its example (`allot explain E0211`), or why a job of the local `allotd` waits "
      "and whom it could preempt (`allot explain 7`)");
  if (CLI::Option* subject = explain->get_option_no_throw("id")) subject->type_name("CODE|ID");
  CLI::App* apply = d.app.get_subcommand("apply");
  apply->description(
      "prove a change (a policy, or a compiled plan) against the live state of the local `allotd` and carry out its "
      "migration steps there in order (docs/state.md); with `--target slurm POLICY --deployed POLICY`: prove it "
      "against the live Slurm state, then apply it with `sacctmgr` (and `scontrol reconfigure`)");
  apply->add_flag("--force", d.checked_apply.force,
                  "apply a change the live-state check refuses, in one step (allotd logs who did)");
  apply->add_option("--inventory", d.checked_apply.inventory, "the nodes, as for `compile` (default: the pools' own)")
      ->type_name("FILE");
  apply->add_option("--timeout-ms", d.apply_timeout, "per-obligation solver timeout of the checks")->type_name("N");
  color_option(*apply, d.checked_apply.color);
  enum_option(*apply, "--target", d.apply_target, {{"slurm", std::string("slurm")}}, "apply target",
              "apply a policy to a Slurm cluster")
      ->type_name("slurm");
  apply
      ->add_option("--deployed", d.slurm_apply.deployed,
                   "the policy now applied (default for allotd: the files its plan was compiled from)")
      ->type_name("POLICY")
      ->allow_extra_args(false);
  apply->add_option("--map", d.slurm_apply.map, "`--target slurm`: the queue map")->type_name("FILE");
  apply->add_option("--conf", d.slurm_apply.conf, "`--target slurm`: the slurm.conf include to replace")
      ->type_name("FILE");
  apply->add_option("-o", d.slurm_apply.output, "`--target slurm`: where the new configuration is written")
      ->type_name("DIR");
  apply->add_flag("--target-strict", d.slurm_apply.strict, "a rule Slurm cannot express exactly is an error");
}

void define(Definitions& d) {
  CLI::App& app = d.app;
  app.description("the Allot policy compiler, verifier and client");
  app.set_help_flag("-h,--help", "show this help");
  app.add_flag("--version", d.version, "show the version");
  define_check(d);
  define_compile(d, false);
  define_compile(d, true);
  define_fmt(d);
  define_graph(d);
  define_lsp(d);
  define_diff(d);
  CLI::App* simulate = app.add_subcommand("simulate");
  runtime::sim::add_simulate_options(*simulate, d.simulate.sim);
  simulate->description(
      "replay a GPU-cluster trace through a plan (docs/simulate.md); a `.allot` policy in place of a plan is "
      "compiled first, on the nodes of `--nodes` when given");
  api::add_client_commands(app, d.client);
  extend_client(d);
  CLI::App* state =
      app.add_subcommand("state", "the live state of the local `allotd` or a Slurm cluster (docs/state.md)");
  enum_option(*state, "--from", d.state_from, {{"allotd", std::string("allotd")}, {"slurm", std::string("slurm")}},
              "state source", "where the state comes from (default: allotd)")
      ->type_name("allotd|slurm");
  state->add_option("--socket", d.state_socket, "allotd's socket (default: as for `status`)")->type_name("PATH");
  state->add_option("--map", d.state.map, "the queue map (`compile --target slurm` writes it)")->type_name("FILE");
  state
      ->add_option("--policy", d.state.policies,
                   "the deployed policy the state refers to (required with `--from slurm`; for allotd, default: the "
                   "files its plan was compiled from)")
      ->type_name("POLICY")
      ->allow_extra_args(false);
  state->add_option("-o,--output", d.state.output, "where to write the state (default: standard output)")
      ->type_name("FILE");
  CLI::App* help = app.add_subcommand("help", "show this help, or a command's");
  help->add_option("command", d.help.topic, "the command")->type_name("COMMAND");
  app.add_subcommand("version", "show the version");
  CLI::App* completion = app.add_subcommand("completion", "print a shell completion script");
  completion->add_option("shell", d.completion.shell, "bash or zsh")->type_name("bash|zsh");
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->set_help_flag("-h,--help", "show this help");
  }
}

std::unique_ptr<Definitions> definitions() {
  auto d = std::make_unique<Definitions>();
  define(*d);
  return d;
}

// The `--format` of `allot check`, read from the raw words, for an error
// found before the options were all parsed.
Format requested_format(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "check") return Format::text;
  for (std::size_t i = 1; i < args.size() && args[i] != "--"; ++i) {
    std::string value;
    if (args[i].rfind("--format=", 0) == 0) value = args[i].substr(9);
    if (args[i] == "--format" && i + 1 < args.size()) value = args[i + 1];
    if (value == "json") return Format::json;
    if (value == "sarif") return Format::sarif;
  }
  return Format::text;
}

tl::expected<Command, cli::UsageError> command_of(Definitions& d, const cli::Parsed& parsed) {
  auto usage = [](std::string message) { return tl::unexpected(cli::UsageError{std::move(message), {}}); };
  if (!parsed.command) {
    if (parsed.help) return HelpOptions{};
    if (d.version) return VersionOptions{};
    return usage("a command is needed");
  }
  const std::string name = parsed.command->get_name();
  if (parsed.help) return HelpOptions{name};
  const std::vector<std::string>& rest = parsed.rest;
  if (name == "check") {
    CheckOptions o = d.check;
    o.request.inputs.insert(o.request.inputs.end(), rest.begin(), rest.end());
    o.request.timeout = std::chrono::milliseconds(d.check_timeout);
    if (d.check_max_bytes > 0) o.request.max_file_bytes = static_cast<std::size_t>(d.check_max_bytes);
    if (o.request.inputs.empty()) return usage("`check` needs at least one file or directory");
    return o;
  }
  if (name == "compile" || name == "plan") {
    const bool dry_run = name == "plan";
    CompileOptions o = dry_run ? d.plan : d.compile;
    o.request.inputs.insert(o.request.inputs.end(), rest.begin(), rest.end());
    o.request.timeout = std::chrono::milliseconds(d.compile_timeout[dry_run ? 1 : 0]);
    o.request.plan->budget = std::chrono::milliseconds(d.compile_budget[dry_run ? 1 : 0]);
    if (o.request.inputs.empty()) return usage(fmt::format("`{}` needs at least one policy file", name));
    if (!dry_run && o.output.empty()) return usage("`compile` needs `-o FILE` (or `-o -` for standard output)");
    if (o.target != "plan" && dry_run) return usage(fmt::format("`--target {}` is for `compile -o DIR`", o.target));
    return o;
  }
  if (name == "fmt") {
    FmtOptions o = d.fmt;
    o.inputs.insert(o.inputs.end(), rest.begin(), rest.end());
    if (d.fmt_max_bytes > 0) o.max_file_bytes = static_cast<std::size_t>(d.fmt_max_bytes);
    if (o.inputs.empty()) return usage("`fmt` needs at least one file or directory, or `-`");
    return o;
  }
  if (name == "graph") {
    GraphOptions o = d.graph;
    o.request.inputs.insert(o.request.inputs.end(), rest.begin(), rest.end());
    if (o.request.inputs.empty()) return usage("`graph` needs at least one policy file");
    return o;
  }
  if (name == "lsp") {
    if (!rest.empty()) return usage(fmt::format("unexpected argument `{}`", rest[0]));
    LspOptions o = d.lsp;
    o.timeout = std::chrono::milliseconds(d.lsp_timeout);
    return o;
  }
  if (name == "diff") {
    DiffOptions o = d.diff;
    if (d.diff_sides.size() != 2) {
      return usage("`diff` needs OLD and NEW: two files, directories or git revisions");
    }
    o.old_input = d.diff_sides[0];
    o.new_input = d.diff_sides[1];
    o.paths = rest;
    o.timeout = std::chrono::milliseconds(d.diff_timeout);
    return o;
  }
  // `explain` is one command of two forms: a diagnostic code is explained
  // here, anything else is a job of the local allotd (the client's form).
  if (name == "explain") {
    std::vector<std::string> subjects = d.client.arguments;
    subjects.insert(subjects.end(), rest.begin(), rest.end());
    if (subjects.empty()) {
      return usage("`explain` needs a diagnostic code (`allot explain E0211`) or a job id (`allot explain 7`)");
    }
    if (is_diagnostic_code(subjects[0]) || !std::isdigit(static_cast<unsigned char>(subjects[0][0]))) {
      if (subjects.size() > 1) return usage(fmt::format("unexpected argument `{}`", subjects[1]));
      ExplainOptions o = d.explain;
      o.subject = subjects[0];
      return o;
    }
  }
  if (name == "simulate") {
    if (!rest.empty()) return usage(fmt::format("unexpected argument `{}`", rest[0]));
    if (const auto problem = runtime::sim::check_simulate_options(d.simulate.sim)) return usage(*problem);
    return d.simulate;
  }
  if (name == "submit" && !d.submit_backend.empty()) {
    backend::SlurmSubmitOptions o;
    o.queue = d.client.queue;
    o.kind = d.client.kind;
    o.priority = d.client.priority;
    o.name = d.submit_name;
    o.output = d.submit_output;
    o.map = d.submit_map;
    o.dry_run = d.submit_dry_run;
    o.command = rest;
    if (d.client.gpu_milli && *d.client.gpu_milli % 1000 != 0) {
      return usage("`--gpus` needs a whole number of GPUs: Slurm allocates whole GPUs");
    }
    if (o.queue.empty() || !d.client.gpu_milli || o.command.empty()) {
      return usage("`submit` needs `--queue`, `--gpus` and a command");
    }
    o.gpus = *d.client.gpu_milli / 1000;
    return o;
  }
  if (name == "apply" && !d.apply_target.empty()) {
    SlurmApplyOptions o = d.slurm_apply;
    o.policies = d.client.arguments;
    o.policies.insert(o.policies.end(), rest.begin(), rest.end());
    if (o.policies.empty() || o.deployed.empty()) {
      return usage("`apply --target slurm` needs the new policy and `--deployed` (the policy now applied)");
    }
    return o;
  }
  if (name == "apply") {
    for (const char* slurm_only : {"--map", "--conf", "-o", "--target-strict", "--json"}) {
      const CLI::Option* option = parsed.command->get_option_no_throw(slurm_only);
      if (option && option->count() > 0) return usage(fmt::format("`{}` is for `apply --target slurm`", slurm_only));
    }
    CheckedApplyOptions o = d.checked_apply;
    o.socket = d.client.socket;
    o.deployed = d.slurm_apply.deployed;
    o.timeout = std::chrono::milliseconds(d.apply_timeout);
    std::vector<std::string> inputs = d.client.arguments;
    inputs.insert(inputs.end(), rest.begin(), rest.end());
    if (inputs.size() != 1) return usage("`apply` needs one policy or plan file");
    o.input = inputs[0];
    return o;
  }
  if (api::is_client_command(name)) {
    for (const char* slurm_only :
         {"--name", "--output", "--map", "--dry-run", "--deployed", "--conf", "-o", "--target-strict"}) {
      const CLI::Option* option = parsed.command->get_option_no_throw(slurm_only);
      if (option && option->count() > 0) {
        return usage(fmt::format("`{}` is for `{}`", slurm_only,
                                 name == "submit" ? "submit --backend slurm" : "apply --target slurm"));
      }
    }
    api::ClientOptions o = d.client;
    o.command = name;
    o.arguments.insert(o.arguments.end(), rest.begin(), rest.end());
    if (const auto problem = api::check_client_options(o)) return usage(*problem);
    return o;
  }
  if (name == "state") {
    if (!rest.empty()) return usage(fmt::format("unexpected argument `{}`", rest[0]));
    if (d.state_from.empty() || d.state_from == "allotd") {
      if (const CLI::Option* map = parsed.command->get_option_no_throw("--map"); map && map->count() > 0)
        return usage("`--map` is for `state --from slurm`");
      LiveStateOptions o;
      o.socket = d.state_socket;
      o.output = d.state.output.empty() ? "-" : d.state.output;
      o.deployed = d.state.policies;
      return o;
    }
    if (!d.state_socket.empty()) return usage("`--socket` is for allotd's state, not `--from slurm`");
    if (d.state.policies.empty()) return usage("`state` needs `--policy`: the deployed policy the state refers to");
    return d.state;
  }
  if (name == "help") return d.help;
  if (name == "version") return VersionOptions{};
  if (name == "completion") {
    if (d.completion.shell.empty()) return usage("`completion` needs a shell: bash or zsh");
    return d.completion;
  }
  return usage(fmt::format("unknown command `{}`", name));
}

}  // namespace

tl::expected<Command, CommandLineError> parse_command_line(const std::vector<std::string>& args) {
  // `help COMMAND`: CLI11 would take COMMAND for the command itself.
  if (args.size() == 2 && args[0] == "help" && args[1].rfind('-', 0) != 0) return HelpOptions{args[1]};
  const std::unique_ptr<Definitions> d = definitions();
  const Format format = requested_format(args);
  tl::expected<cli::Parsed, cli::UsageError> parsed = cli::parse(d->app, args);
  if (!parsed) return tl::unexpected(CommandLineError{parsed.error(), format});
  tl::expected<Command, cli::UsageError> command = command_of(*d, *parsed);
  if (!command) return tl::unexpected(CommandLineError{command.error(), format});
  return std::move(*command);
}

std::optional<std::string> help_text(const std::string& command) {
  constexpr const char* kFooter =
      "\n`allot help COMMAND` (or `allot COMMAND --help`) shows a command's options.\n"
      "exit status: 0 clean, 1 policy errors, 2 usage or I/O errors\n";
  const std::unique_ptr<Definitions> d = definitions();
  if (command.empty()) {
    // The overview, and the options of the commands used most.
    std::string text = cli::help_text(d->app, "allot");
    for (const char* name : {"check", "compile", "plan"}) {
      text += "\n" + cli::help_text(*d->app.get_subcommand(name), "allot");
    }
    return text + kFooter;
  }
  for (CLI::App* sub : d->app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == command) return cli::help_text(*sub, "allot") + kFooter;
  }
  return std::nullopt;
}

std::vector<std::string> command_names() {
  const std::unique_ptr<Definitions> d = definitions();
  std::vector<std::string> names;
  for (CLI::App* sub : d->app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
  return names;
}

std::optional<std::string> completion_script(const std::string& shell) {
  const std::unique_ptr<Definitions> d = definitions();
  return cli::completion_script(d->app, "allot", shell);
}

}  // namespace allot::driver
