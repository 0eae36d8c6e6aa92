#include "compiler/driver/driver.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <set>
#include <sstream>

#include "compiler/backend/kueue.h"
#include "compiler/backend/slurm.h"
#include "compiler/backend/slurm_cli.h"
#include "compiler/base/diagnostic.h"
#include "compiler/base/version.h"
#include "compiler/emit/diagnostics.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/emit/sarif.h"
#include "compiler/plan/plan.h"
#include "compiler/sema/analyze.h"
#include "compiler/smt/z3.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/state.h"
#include "compiler/verify/verify.h"
#include "runtime/api/client.h"
#include "runtime/sim/command.h"

namespace allot::driver {
namespace {

constexpr const char* kVersion = kAllotVersion;

constexpr const char* kUsage = R"(usage: allot <command> [options]

commands:
  check FILE|DIR...   parse and check a policy; a directory means every
                      `.allot` file below it
  compile POLICY... -o FILE
                      check a policy and write its plan (docs/plan-format.md);
                      `-o -` writes it to standard output
  plan POLICY...      check a policy and show what its plan would change
  submit --queue Q --gpus N [--priority P] [--kind K] -- CMD...
                      submit a job to the local `allotd` (docs/runtime-api.md)
  ps                  list the jobs of the local `allotd`
  cancel ID           cancel a job
  status              per scope: guarantee, limit, used, borrowed, pending
  apply PLAN          load a new plan into the running `allotd`
  submit --backend slurm --queue Q --gpus N [--map FILE] -- CMD...
                      submit through `sbatch` with the queue's account,
                      partition and tier (docs/backends.md)
  state --from slurm --policy POLICY [--map FILE] [-o FILE]
                      the live state of a Slurm cluster (docs/state.md)
  apply --target slurm POLICY --deployed POLICY [--map FILE] [--conf FILE]
                      prove a change against the live Slurm state, then
                      apply it with `sacctmgr` (and `scontrol reconfigure`)
  simulate --plan PLAN --trace TRACE [-o DIR] [--compare PLAN2]
                      replay a GPU-cluster trace through a plan (docs/simulate.md);
                      a `.allot` policy in place of a plan is compiled first,
                      on the nodes of `--nodes` when given
  help                show this help
  version             show the version

check options:
  --format=text|json|sarif
                      output format (default: text; sarif is SARIF 2.1.0)
  --state FILE        also prove that the change from the deployed policy
                      named in FILE (docs/state.md) is allowed
  --timeout-ms N      per-obligation solver timeout (default: 10000)
  --deny-warnings     exit 1 when there are warnings
  --max-file-bytes N  refuse policy files larger than N bytes (default: 16 MiB)
  --import-root DIR   also allow imports of files below DIR (default: only
                      below the directories of the files and directories
                      given); may be repeated
  --color=auto|always|never
  -q, --quiet         print nothing when the policy is clean

compile and plan options:
  --state FILE        the live state (docs/state.md): order the change from
                      the deployed policy, keep GPUs where the deployed plan
                      homes them
  --inventory FILE    the nodes: TOML (`[[node]]`) or an openb node list
                      (`.csv`); default: the nodes the pools declare
  --pool NAME         the pool of a `.csv` node list (default: the only pool)
  --previous FILE     a previous plan: move as few GPUs from it as possible
  --method=auto|exact|heuristic|first-fit
                      placement method (default: auto, exact for small pools)
  --budget-ms N       time budget of the exact placement per pool (default: 2000)
  --timeout-ms N      per-obligation solver timeout (default: 10000)
  --import-root DIR   also allow imports of files below DIR (as for `check`)
  -o FILE             where `compile` writes the plan; `plan` with `-o` also
                      writes it
  --target plan|slurm|kueue
                      what `compile` writes (default: plan); slurm and kueue
                      write a directory, `-o DIR` (`-o -`: every file to
                      standard output; docs/backends.md)
  --target-strict     a rule the target cannot express exactly is an error
  --kueue-version V   the Kueue API version: v1beta2 (default) or v1beta1
  --color=auto|always|never

exit status: 0 clean, 1 policy errors, 2 usage or I/O errors
)";

enum class Format { text, json, sarif };

struct CheckOptions {
  Format format = Format::text;
  bool deny_warnings = false;
  bool quiet = false;
  std::string color = "auto";
  std::string state;
  long long timeout_ms = 10000;
  std::size_t max_file_bytes = syntax::ParseLimits{}.max_file_bytes;
  std::vector<std::string> import_roots;  // --import-root
  std::vector<std::string> inputs;
};

int usage_error(Streams& streams, const std::string& message) {
  streams.err << "allot: " << message << "\n"
              << "try `allot help`\n";
  return kExitUsage;
}

// Where imports may lead: below each directory given, below the directory
// of each file given, and below each `--import-root`.
syntax::ImportPolicy import_policy(const std::vector<std::string>& inputs, const std::vector<std::string>& extra) {
  syntax::ImportPolicy policy;
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      policy.roots.push_back(input);
    } else {
      const std::filesystem::path parent = std::filesystem::path(input).parent_path();
      policy.roots.push_back(parent.empty() ? "." : parent.string());
    }
  }
  policy.extra_roots = extra;
  return policy;
}

// Expands directories into their `.allot` files, sorted for stable output.
// Problems are reported to `sink` (E0008), so that every output format
// shows them.
bool expand_inputs(const std::vector<std::string>& inputs, std::vector<std::string>& files, DiagnosticSink& sink) {
  for (const std::string& input : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(input, ec)) {
      std::vector<std::string> found;
      for (auto it = std::filesystem::recursive_directory_iterator(input, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".allot") found.push_back(it->path().string());
      }
      if (ec) {
        sink.error("E0008", SourceRange{}, fmt::format("cannot read directory `{}`: {}", input, ec.message()));
        return false;
      }
      if (found.empty()) {
        sink.error("E0008", SourceRange{}, fmt::format("no `.allot` files in `{}`", input));
        return false;
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(input);
    }
  }
  return true;
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// The live state and the deployed policy it names.
struct LoadedState {
  verify::LiveState state;
  model::Policy deployed;
};

// `--state FILE`: loads the live state and the deployed policy it names.
// False on a usage or I/O problem (the state file unreadable or invalid, the
// deployed policy missing or broken).
bool load_state(const std::string& path, SourceManager& sources, DiagnosticSink& sink, Streams&,
                std::optional<LoadedState>& out) {
  std::string text;
  const syntax::ReadOutcome read = syntax::read_source_file(path, syntax::ParseLimits{}.max_file_bytes, text);
  if (!read.ok) {
    // In the diagnostics, so that JSON and SARIF output carry it too.
    sink.error("E0008", SourceRange{}, fmt::format("cannot read state file `{}`: {}", path, read.problem));
    return false;
  }
  const FileId file = sources.add(path, std::move(text));
  std::optional<verify::LiveState> state = verify::parse_state(sources, file, today(), sink);
  if (!state) return false;
  DiagnosticSink deployed_sink;
  syntax::LoadResult loaded = syntax::load(sources, state->policy_files, deployed_sink);
  std::optional<model::Policy> deployed;
  if (!loaded.io_error) deployed = sema::analyze(sources, loaded.files, deployed_sink);
  if (loaded.io_error || !deployed || deployed_sink.has_errors()) {
    Diagnostic& d = sink.error("E0228", state->policy_range, "the deployed policy named by the state does not check");
    for (const Diagnostic& problem : deployed_sink.diagnostics()) {
      if (problem.severity != Severity::error) continue;
      d.note(fmt::format("{}: {}", problem.code, problem.message), problem.range);
      if (d.notes.size() >= 3) break;
    }
    if (loaded.io_error) d.note("a file of the deployed policy could not be read");
    d.add_help("`policy` in the state file names the deployed `.allot` files, relative to the state file");
    return false;
  }
  out = LoadedState{std::move(*state), std::move(*deployed)};
  return true;
}

// `--state FILE`: proves the change from the deployed policy to `next`
// allowed. False on a usage or I/O problem.
bool check_state(const std::string& path, const model::Policy& next, SourceManager& sources, DiagnosticSink& sink,
                 Streams& streams, std::optional<LoadedState>* keep = nullptr) {
  std::optional<LoadedState> loaded;
  if (!load_state(path, sources, sink, streams, loaded)) return false;
  verify::check_change(loaded->deployed, next, loaded->state, sink);
  if (keep) *keep = std::move(loaded);
  return true;
}

// `--name VALUE` or `--name=VALUE`; advances `i`. Empty optional: not this option.
std::optional<std::optional<std::string>> option_value(const std::vector<std::string>& args, std::size_t& i,
                                                       const std::string& name) {
  const std::string& a = args[i];
  if (a == name) {
    if (i + 1 >= args.size()) return std::optional<std::string>();
    return std::optional<std::string>(args[++i]);
  }
  if (a.rfind(name + "=", 0) == 0) return std::optional<std::string>(a.substr(name.size() + 1));
  return std::nullopt;
}

bool parse_count(const std::string& value, long long& out) {
  if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoll(value);
  return out > 0;
}

// What every subcommand's option loop ends with: `--color=MODE`, `--` (all
// that follows is inputs), an unknown option, or an input. Returns the usage
// error, if any; sets `rest_are_inputs` after `--`.
std::optional<std::string> common_argument(const std::vector<std::string>& args, std::size_t i, std::string& color,
                                           std::vector<std::string>& inputs, bool& rest_are_inputs) {
  const std::string& a = args[i];
  if (a.rfind("--color=", 0) == 0) {
    color = a.substr(8);
    if (color != "auto" && color != "always" && color != "never") {
      return fmt::format("unknown color mode `{}`", color);
    }
  } else if (a == "--") {
    inputs.insert(inputs.end(), args.begin() + static_cast<long>(i) + 1, args.end());
    rest_are_inputs = true;
  } else if (!a.empty() && a[0] == '-') {
    return fmt::format("unknown option `{}`", a);
  } else {
    inputs.push_back(a);
  }
  return std::nullopt;
}

int run_check(const std::vector<std::string>& args, Streams& streams) {
  CheckOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--format=text") {
      options.format = Format::text;
    } else if (a == "--format=json") {
      options.format = Format::json;
    } else if (a == "--format=sarif") {
      options.format = Format::sarif;
    } else if (a == "--format" && i + 1 < args.size()) {
      const std::string& f = args[++i];
      if (f == "text") {
        options.format = Format::text;
      } else if (f == "json") {
        options.format = Format::json;
      } else if (f == "sarif") {
        options.format = Format::sarif;
      } else {
        return usage_error(streams, fmt::format("unknown format `{}`", f));
      }
    } else if (a.rfind("--format=", 0) == 0) {
      return usage_error(streams, fmt::format("unknown format `{}`", a.substr(9)));
    } else if (const auto state = option_value(args, i, "--state")) {
      if (!*state || (*state)->empty()) return usage_error(streams, "`--state` needs a file");
      options.state = **state;
    } else if (const auto timeout = option_value(args, i, "--timeout-ms")) {
      if (!*timeout || !parse_count(**timeout, options.timeout_ms)) {
        return usage_error(
            streams, fmt::format("invalid timeout `{}`: a number of milliseconds, at least 1", timeout->value_or("")));
      }
    } else if (const auto max_bytes = option_value(args, i, "--max-file-bytes")) {
      long long limit = 0;
      if (!*max_bytes || !parse_count(**max_bytes, limit)) {
        return usage_error(streams,
                           fmt::format("invalid size `{}`: a number of bytes, at least 1", max_bytes->value_or("")));
      }
      options.max_file_bytes = static_cast<std::size_t>(limit);
    } else if (const auto root = option_value(args, i, "--import-root")) {
      if (!*root || (*root)->empty()) return usage_error(streams, "`--import-root` needs a directory");
      options.import_roots.push_back(**root);
    } else if (a == "--deny-warnings") {
      options.deny_warnings = true;
    } else if (a == "-q" || a == "--quiet") {
      options.quiet = true;
    } else {
      bool rest_are_inputs = false;
      if (auto error = common_argument(args, i, options.color, options.inputs, rest_are_inputs)) {
        return usage_error(streams, *error);
      }
      if (rest_are_inputs) break;
    }
  }
  if (options.inputs.empty()) return usage_error(streams, "`check` needs at least one file or directory");

  std::vector<std::string> files;
  SourceManager sources;
  DiagnosticSink sink;
  syntax::LoadResult loaded;
  if (expand_inputs(options.inputs, files, sink)) {
    syntax::ParseLimits limits;
    limits.max_file_bytes = options.max_file_bytes;
    loaded = syntax::load(sources, files, sink, limits, import_policy(options.inputs, options.import_roots));
  } else {
    loaded.io_error = true;
  }
  std::optional<model::Policy> policy;
  if (!loaded.io_error) policy = sema::analyze(sources, loaded.files, sink);
  const std::size_t checked_files = sources.file_count();
  verify::Options verify_options;
  verify_options.timeout = std::chrono::milliseconds(options.timeout_ms);
  if (policy && !sink.has_errors()) verify::verify(sources, *policy, sink, verify_options);
  bool state_error = false;
  if (policy && !sink.has_errors() && !options.state.empty()) {
    state_error = !check_state(options.state, *policy, sources, sink, streams);
  }
  sink.sort();

  if (options.format == Format::json) {
    streams.out << emit::render_json(sources, sink);
  } else if (options.format == Format::sarif) {
    streams.out << emit::render_sarif(sources, sink, kVersion);
  } else {
    const bool color = options.color == "always" || (options.color == "auto" && streams.err_is_terminal);
    const std::string text = emit::render_text(sources, sink, emit::TextOptions{color});
    streams.err << text;
    if (!options.quiet && !sink.has_errors() && sink.warning_count() == 0) {
      streams.out << fmt::format("ok: {} file{} checked, no problems\n", checked_files, checked_files == 1 ? "" : "s");
    }
  }
  if (loaded.io_error || state_error) return kExitUsage;
  if (sink.has_errors()) return kExitPolicyError;
  if (options.deny_warnings && sink.warning_count() > 0) return kExitPolicyError;
  return kExitOk;
}

// ---- compile and plan --------------------------------------------------------

struct PlanOptions {
  bool dry_run = false;  // `plan`: print what would change
  std::string output;
  std::string state;
  std::string inventory;
  std::string previous;
  std::string pool;
  std::string color = "auto";
  long long timeout_ms = 10000;
  long long budget_ms = 2000;
  std::vector<std::string> import_roots;  // --import-root
  plan::PlaceOptions::Mode method = plan::PlaceOptions::Mode::automatic;
  std::vector<std::string> inputs;
  std::string target = "plan";  // plan, slurm, kueue
  backend::TargetOptions target_options;
};

bool read_file(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  text = s.str();
  return true;
}

// Reads `--inventory` (TOML, or an openb CSV) against `policy`; the nodes of
// the policy's pools without one. False (with a message) on a problem.
bool load_inventory(const PlanOptions& options, const model::Policy& policy, plan::Inventory& out, Streams& streams) {
  if (options.inventory.empty()) {
    out = plan::expand_policy_nodes(policy);
    return true;
  }
  std::string text;
  if (!read_file(options.inventory, text)) {
    streams.err << fmt::format("allot: cannot read inventory `{}`\n", options.inventory);
    return false;
  }
  std::vector<plan::InventoryError> errors;
  std::optional<plan::Inventory> inventory;
  const std::string& path = options.inventory;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
    std::string pool = options.pool;
    if (pool.empty()) {
      if (policy.pools.size() != 1) {
        streams.err << fmt::format("allot: `{}` is a node list without pools; name the pool with `--pool`\n", path);
        return false;
      }
      pool = policy.pools[0].name;
    }
    inventory = plan::parse_openb_csv(policy, text, path, pool, errors);
  } else {
    inventory = plan::parse_inventory_toml(policy, text, path, errors);
  }
  if (!inventory) {
    for (const plan::InventoryError& e : errors) {
      streams.err << (e.line > 0 ? fmt::format("allot: {}:{}: {}\n", path, e.line, e.message)
                                 : fmt::format("allot: {}: {}\n", path, e.message));
    }
    return false;
  }
  out = std::move(*inventory);
  return true;
}

bool write_output(const std::string& path, const std::string& text, Streams& streams) {
  if (path == "-") {
    streams.out << text;
    return true;
  }
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) {
      streams.err << fmt::format("allot: cannot write `{}`\n", path);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    streams.err << fmt::format("allot: cannot write `{}`\n", path);
    return false;
  }
  return true;
}

// `apply --target slurm`: runs once the new policy compiled and the change
// was proved allowed against the live state, with the new configuration, the
// deployed one and the new slurm.conf include.
using SlurmApplyHook = std::function<int(const backend::SlurmConfig&, const backend::SlurmConfig&, const std::string&)>;

// `compile --target slurm|kueue -o DIR`: the target's files, or nothing when
// the target reports an error (a name clash, or a lossy rule with
// `--target-strict`).
template <typename Report>
int write_target(const PlanOptions& options, const plan::Plan& result, DiagnosticSink& sink, Report& report,
                 Streams& streams, const model::Policy* deployed = nullptr, const SlurmApplyHook* apply = nullptr) {
  backend::Lossy lossy(sink, options.target_options.strict);
  std::vector<backend::OutputFile> files;
  backend::SlurmConfig slurm;
  if (options.target == "slurm") {
    slurm = backend::build_slurm(result, lossy);
    files = backend::render_slurm(slurm);
  } else {
    files = backend::render_kueue(result, options.target_options, lossy);
  }
  if (sink.warning_count() > 0 || sink.has_errors()) report();
  if (sink.has_errors()) return kExitPolicyError;
  if (options.output == "-") {
    for (const backend::OutputFile& f : files) streams.out << fmt::format("==> {} <==\n{}", f.name, f.text);
    return kExitOk;
  }
  std::error_code ec;
  std::filesystem::create_directories(options.output, ec);
  if (ec) {
    streams.err << fmt::format("allot: cannot create directory `{}`: {}\n", options.output, ec.message());
    return kExitUsage;
  }
  for (const backend::OutputFile& f : files) {
    if (!write_output((std::filesystem::path(options.output) / f.name).string(), f.text, streams)) return kExitUsage;
  }
  std::string names;
  for (const backend::OutputFile& f : files) names += (names.empty() ? "" : ", ") + f.name;
  streams.out << fmt::format("ok: wrote {} to `{}` ({})\n", options.target, options.output, names);
  if (apply && options.target == "slurm") {
    backend::SlurmConfig before;
    if (deployed) {
      plan::Plan deployed_plan;
      deployed_plan.policy = deployed;
      DiagnosticSink ignored;
      backend::Lossy quiet(ignored, false);
      before = backend::build_slurm(deployed_plan, quiet);
    }
    return (*apply)(slurm, before, files.front().text);
  }
  return kExitOk;
}

int run_compile(const std::vector<std::string>& args, Streams& streams, bool dry_run,
                const SlurmApplyHook* apply = nullptr) {
  PlanOptions options;
  options.dry_run = dry_run;
  const char* command = dry_run ? "plan" : "compile";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool matched = false;
    for (auto [name, target] : {std::pair<const char*, std::string*>{"--state", &options.state},
                                {"--inventory", &options.inventory},
                                {"--previous", &options.previous},
                                {"--pool", &options.pool},
                                {"--output", &options.output},
                                {"--target", &options.target},
                                {"--kueue-version", &options.target_options.kueue_version}}) {
      if (const auto v = option_value(args, i, name)) {
        if (!*v || (*v)->empty()) return usage_error(streams, fmt::format("`{}` needs a value", name));
        *target = **v;
        matched = true;
        break;
      }
    }
    if (!matched) {
      if (const auto root = option_value(args, i, "--import-root")) {
        if (!*root || (*root)->empty()) return usage_error(streams, "`--import-root` needs a directory");
        options.import_roots.push_back(**root);
        matched = true;
      }
    }
    if (matched) continue;
    if (a == "--target-strict") {
      options.target_options.strict = true;
    } else if (a == "-o") {
      if (i + 1 >= args.size()) return usage_error(streams, "`-o` needs a file (or `-` for standard output)");
      options.output = args[++i];
    } else if (const auto t = option_value(args, i, "--timeout-ms")) {
      if (!*t || !parse_count(**t, options.timeout_ms)) {
        return usage_error(streams, "`--timeout-ms` needs a number of milliseconds, at least 1");
      }
    } else if (const auto b = option_value(args, i, "--budget-ms")) {
      if (!*b || !parse_count(**b, options.budget_ms)) {
        return usage_error(streams, "`--budget-ms` needs a number of milliseconds, at least 1");
      }
    } else if (a.rfind("--method=", 0) == 0) {
      const std::string m = a.substr(9);
      if (m == "auto") {
        options.method = plan::PlaceOptions::Mode::automatic;
      } else if (m == "exact") {
        options.method = plan::PlaceOptions::Mode::exact;
      } else if (m == "heuristic") {
        options.method = plan::PlaceOptions::Mode::heuristic;
      } else if (m == "first-fit") {
        options.method = plan::PlaceOptions::Mode::first_fit;
      } else {
        return usage_error(streams, fmt::format("unknown placement method `{}`", m));
      }
    } else {
      bool rest_are_inputs = false;
      if (auto error = common_argument(args, i, options.color, options.inputs, rest_are_inputs)) {
        return usage_error(streams, *error);
      }
      if (rest_are_inputs) break;
    }
  }
  if (options.inputs.empty()) return usage_error(streams, fmt::format("`{}` needs at least one policy file", command));
  if (!dry_run && options.output.empty()) {
    return usage_error(streams, "`compile` needs `-o FILE` (or `-o -` for standard output)");
  }
  if (options.target != "plan" && options.target != "slurm" && options.target != "kueue") {
    return usage_error(streams, fmt::format("unknown target `{}`: plan, slurm or kueue", options.target));
  }
  if (!backend::known_kueue_version(options.target_options.kueue_version)) {
    return usage_error(
        streams, fmt::format("unknown Kueue version `{}`: v1beta2 or v1beta1", options.target_options.kueue_version));
  }
  if (options.target != "plan" && dry_run) {
    return usage_error(streams, fmt::format("`--target {}` is for `compile -o DIR`", options.target));
  }

  // The checks of `allot check`, with the live state when given.
  std::vector<std::string> files;
  SourceManager sources;
  DiagnosticSink sink;
  if (!expand_inputs(options.inputs, files, sink)) {
    streams.err << emit::render_text(sources, sink, emit::TextOptions{false});
    return kExitUsage;
  }
  syntax::LoadResult loaded =
      syntax::load(sources, files, sink, syntax::ParseLimits{}, import_policy(options.inputs, options.import_roots));
  std::optional<model::Policy> policy;
  if (!loaded.io_error) policy = sema::analyze(sources, loaded.files, sink);
  const std::size_t policy_files = sources.file_count();
  verify::Options verify_options;
  verify_options.timeout = std::chrono::milliseconds(options.timeout_ms);
  if (policy && !sink.has_errors()) verify::verify(sources, *policy, sink, verify_options);
  bool state_error = false;
  std::optional<LoadedState> state;
  if (policy && !sink.has_errors() && !options.state.empty()) {
    state_error = !check_state(options.state, *policy, sources, sink, streams, &state);
  }
  const bool color = options.color == "always" || (options.color == "auto" && streams.err_is_terminal);
  auto report = [&] {
    sink.sort();
    streams.err << emit::render_text(sources, sink, emit::TextOptions{color});
  };
  if (loaded.io_error || state_error) {
    report();
    return kExitUsage;
  }
  if (!policy || sink.has_errors()) {
    report();
    return kExitPolicyError;
  }

  // Inventory, previous placement, placement, migration.
  plan::Plan result;
  result.allot_version = kVersion;
  result.policy = &*policy;
  if (!load_inventory(options, *policy, result.inventory, streams)) return kExitUsage;
  const std::unique_ptr<smt::PlacementOptimizer> optimizer = smt::make_z3_placement_optimizer();
  plan::PlaceOptions place_options;
  place_options.mode = options.method;
  place_options.budget = std::chrono::milliseconds(options.budget_ms);
  place_options.optimizer = optimizer.get();
  std::optional<plan::Homes> previous;
  if (!options.previous.empty()) {
    std::string text, error;
    if (!read_file(options.previous, text)) {
      streams.err << fmt::format("allot: cannot read plan `{}`\n", options.previous);
      return kExitUsage;
    }
    previous = plan::read_plan_homes(text, options.previous, error);
    if (!previous) {
      streams.err << fmt::format("allot: {}\n", error);
      return kExitUsage;
    }
    result.previous = options.previous;
  } else if (state) {
    // The deployed plan: the deployed policy placed the same way (placement
    // is deterministic), on the same inventory where it fits.
    plan::Inventory deployed_nodes;
    PlanOptions deployed_options = options;
    std::ostringstream ignored;
    Streams quiet{ignored, ignored, false, false};
    if (load_inventory(deployed_options, state->deployed, deployed_nodes, quiet)) {
      DiagnosticSink scratch;
      const plan::Placement deployed_placement =
          plan::place(state->deployed, deployed_nodes, nullptr, place_options, scratch);
      if (!scratch.has_errors()) {
        previous = plan::homes_of(deployed_nodes, deployed_placement);
        result.previous = "deployed policy";
      }
    }
  }
  result.placement = plan::place(*policy, result.inventory, previous ? &*previous : nullptr, place_options, sink);
  if (state) {
    plan::MigrationOptions migration;
    migration.verify = verify_options;
    result.has_migration = true;
    result.steps = plan::plan_migration(state->deployed, *policy, &state->state, migration, sink);
  }
  if (sink.has_errors()) {
    report();
    return kExitPolicyError;
  }
  std::vector<std::pair<std::string, std::string>> texts;
  for (FileId f = 0; f < policy_files; ++f) texts.emplace_back(sources.path(f), std::string(sources.text(f)));
  plan::fingerprint(result, texts);
  if (options.target != "plan") {
    return write_target(options, result, sink, report, streams, state ? &state->deployed : nullptr, apply);
  }
  if (sink.warning_count() > 0) report();

  if (dry_run) {
    const bool out_color = options.color == "always" || (options.color == "auto" && streams.out_is_terminal);
    emit::PlanTextOptions text_options;
    text_options.color = out_color;
    text_options.previous = previous ? &*previous : nullptr;
    streams.out << emit::render_plan_text(result, text_options);
    if (!options.output.empty() && !write_output(options.output, emit::render_plan_toml(result), streams)) {
      return kExitUsage;
    }
    return kExitOk;
  }
  if (!write_output(options.output, emit::render_plan_toml(result), streams)) return kExitUsage;
  if (options.output != "-") {
    streams.out << fmt::format(
        "ok: wrote plan `{}` ({} step{}, {} placement)\n", options.output, result.steps.size(),
        result.steps.size() == 1 ? "" : "s",
        result.placement.pools.empty() ? "no" : plan::to_string(result.placement.pools[0].method));
  }
  return kExitOk;
}

// `allot simulate` with a policy where a plan is expected: compiles it (on
// the trace's node list when `--nodes` names one) into a temporary plan, so
// that a policy can be replayed in one command.
int run_simulate(std::vector<std::string> args, Streams& streams) {
  std::string nodes;
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--nodes") nodes = args[i + 1];
  }
  std::vector<std::filesystem::path> temporaries;
  std::vector<std::string> labels;
  int code = kExitOk;
  for (std::size_t i = 0; i + 1 < args.size() && code == kExitOk; ++i) {
    if (args[i] != "--plan" && args[i] != "--compare") continue;
    const std::string policy = args[i + 1];  // a copy: args[i + 1] is replaced below
    if (std::filesystem::path(policy).extension() != ".allot") continue;
    const std::filesystem::path plan_path = std::filesystem::temp_directory_path() /
                                            fmt::format("allot-simulate-{}-{}-{}.toml", ::getpid(), temporaries.size(),
                                                        std::filesystem::path(policy).stem().string());
    temporaries.push_back(plan_path);
    std::vector<std::string> compile_args{policy, "-o", plan_path.string()};
    if (!nodes.empty()) {
      compile_args.push_back("--inventory");
      compile_args.push_back(nodes);
    }
    std::ostringstream quiet;
    Streams compile_streams{quiet, streams.err, false, streams.err_is_terminal};
    code = run_compile(compile_args, compile_streams, false);
    args[i + 1] = plan_path.string();
    // Reports name the policy, not the temporary plan, so they stay the same
    // from run to run.
    labels.push_back(args[i] == "--plan" ? "--plan-name" : "--compare-name");
    labels.push_back(policy);
  }
  args.insert(args.end(), labels.begin(), labels.end());
  if (code == kExitOk)
    code = runtime::sim::run_simulate_command(args, streams.out, streams.err, streams.out_is_terminal);
  for (const auto& path : temporaries) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  return code;
}

// `allot apply --target slurm POLICY... --deployed POLICY... [--map FILE]
// [--conf FILE] [-o DIR] [--target-strict]`: reads the live state from
// Slurm, proves the change from the deployed policy allowed as `compile
// --state` does (refusing a busy queue deleted, a limit cut below usage, ...),
// then applies it in a safe order (backend::apply_slurm).
int run_slurm_apply(const std::vector<std::string>& args, Streams& streams) {
  std::vector<std::string> policies, deployed;
  std::string map = backend::default_slurm_map(), conf, output;
  bool strict = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--target" && i + 1 < args.size()) {
      ++i;
    } else if (a == "--deployed" && i + 1 < args.size()) {
      deployed.push_back(args[++i]);
    } else if (a == "--map" && i + 1 < args.size()) {
      map = args[++i];
    } else if (a == "--conf" && i + 1 < args.size()) {
      conf = args[++i];
    } else if (a == "-o" && i + 1 < args.size()) {
      output = args[++i];
    } else if (a == "--target-strict") {
      strict = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error(streams, fmt::format("unknown option `{}`", a));
    } else {
      policies.push_back(a);
    }
  }
  if (policies.empty() || deployed.empty()) {
    return usage_error(streams,
                       "`apply --target slurm` needs the new policy and `--deployed` (the policy now applied)");
  }
  const std::filesystem::path scratch =
      std::filesystem::temp_directory_path() / fmt::format("allot-apply-{}", ::getpid());
  std::error_code ec;
  std::filesystem::create_directories(scratch, ec);
  if (output.empty()) output = (scratch / "slurm").string();
  const std::string state_path = (scratch / "state.toml").string();
  int code = kExitUsage;
  if (backend::write_slurm_state(map, deployed, state_path, streams.out, streams.err)) {
    std::vector<std::string> compile_args = policies;
    for (const std::string& x : {std::string("--target"), std::string("slurm"), std::string("--state"), state_path,
                                 std::string("-o"), output}) {
      compile_args.push_back(x);
    }
    if (strict) compile_args.push_back("--target-strict");
    const SlurmApplyHook hook = [&](const backend::SlurmConfig& next, const backend::SlurmConfig& before,
                                    const std::string& allot_conf) {
      return backend::apply_slurm(next, before, allot_conf, conf, streams.out, streams.err);
    };
    code = run_compile(compile_args, streams, false, &hook);
    if (code == kExitPolicyError)
      streams.err << "allot: refused: the change is not safe for the live state; nothing was applied\n";
  }
  std::filesystem::remove_all(scratch, ec);
  return code;
}

}  // namespace

int run(const std::vector<std::string>& args, Streams streams) {
  if (args.empty()) {
    streams.err << kUsage;
    return kExitUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "check") return run_check(rest, streams);
  if (command == "compile") return run_compile(rest, streams, false);
  if (command == "plan") return run_compile(rest, streams, true);
  auto has = [&](const char* option, const char* value) {
    for (std::size_t i = 0; i + 1 < rest.size(); ++i) {
      if (rest[i] == "--") break;
      if (rest[i] == option && rest[i + 1] == value) return true;
    }
    return false;
  };
  if (command == "submit" && has("--backend", "slurm"))
    return backend::run_slurm_submit(rest, streams.out, streams.err);
  if (command == "apply" && has("--target", "slurm")) return run_slurm_apply(rest, streams);
  if (command == "state") return backend::run_slurm_state(rest, streams.out, streams.err);
  if (command == "submit" || command == "ps" || command == "cancel" || command == "status" || command == "apply") {
    return api::run_client_command(args, streams.out, streams.err);
  }
  if (command == "simulate") return run_simulate(rest, streams);
  if (command == "help" || command == "--help" || command == "-h") {
    streams.out << kUsage;
    return kExitOk;
  }
  if (command == "version" || command == "--version") {
    streams.out << "allot " << kVersion << "\n";
    return kExitOk;
  }
  return usage_error(streams, fmt::format("unknown command `{}`", command));
}

}  // namespace allot::driver
