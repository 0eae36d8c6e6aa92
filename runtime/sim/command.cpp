#include "runtime/sim/command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "runtime/api/cli.h"
#include "runtime/core/plan_reader.h"
#include "runtime/sim/assign.h"
#include "runtime/sim/load_experiment.h"
#include "runtime/sim/report.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace.h"

namespace allot::runtime::sim {

namespace {

using Options = SimulateOptions;

// An input that cannot be used: a file unreadable or invalid. The message
// names the file (and line and column where there is one).
struct InputFailure {
  std::string message;
};

tl::expected<std::string, InputFailure> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return tl::unexpected(InputFailure{path + ": cannot open"});
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return tl::unexpected(InputFailure{path + ": read error"});
  return std::move(buffer).str();
}

bool write_file(const std::filesystem::path& path, const std::string& text, std::ostream& err) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.good()) {
      err << "allot simulate: " << tmp.string() << ": cannot write\n";
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    err << "allot simulate: " << path.string() << ": " << ec.message() << "\n";
    return false;
  }
  return true;
}

// A bar on stderr, drawn only once a run has taken a second, at most ten
// times a second, and erased when done.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, bool enabled, std::string label)
      : err_(err), enabled_(enabled), label_(std::move(label)), started_(Clock::now()), last_(started_) {}
  ~ProgressBar() { clear(); }
  void update(double fraction) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - started_ < std::chrono::seconds(1) || (drawn_ && now - last_ < std::chrono::milliseconds(100))) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth + 0.5);
    err_ << fmt::format("\r{} [{}{}] {:3.0f}%", label_, std::string(static_cast<std::size_t>(filled), '#'),
                        std::string(static_cast<std::size_t>(kWidth - filled), '.'), fraction * 100)
         << std::flush;
  }
  void clear() {
    if (drawn_) err_ << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& err_;
  bool enabled_;
  std::string label_;
  Clock::time_point started_, last_;
  bool drawn_ = false;
};

// Everything one plan's run needs and produces.
struct Run {
  Cluster cluster;
  RunContext context;
  std::vector<SimJob> jobs;  // as resolved and submitted, in trace order
  SimResult result;
  double wall_seconds = 0;
};

tl::expected<Cluster, InputFailure> cluster_for(const LoadedPlan& plan, const Options& o, RunContext& context) {
  if (o.nodes.empty()) {
    context.inventory = "plan";
    return plan.cluster;
  }
  context.inventory = o.nodes;
  const tl::expected<std::string, InputFailure> text = read_file(o.nodes);
  if (!text) return tl::unexpected(text.error());
  NodeListResult parsed = parse_node_list(*text, o.nodes);
  if (const InputError* e = std::get_if<InputError>(&parsed)) return tl::unexpected(InputFailure{e->to_string()});
  const std::vector<NodeRow>& rows = std::get<std::vector<NodeRow>>(parsed);
  std::unordered_set<std::string_view> plan_nodes;
  for (const Node& n : plan.cluster.nodes) plan_nodes.insert(n.name);
  bool all_known = true;
  for (const NodeRow& r : rows) all_known = all_known && plan_nodes.count(r.name) > 0;
  std::vector<std::string> names;
  for (const NodeRow& r : rows) names.push_back(r.name);
  if (all_known) return restrict_to_nodes(plan, names);
  // Nodes the plan does not know: keep its scopes, drop its GPU placement.
  Cluster c;
  c.scopes = plan.cluster.scopes;
  c.priorities = plan.cluster.priorities;
  for (const NodeRow& r : rows) c.nodes.push_back({r.name, r.gpus, r.model, 0});
  context.notes.push_back("the node list names nodes the plan does not have: the plan's GPU placement is not used");
  return c;
}

tl::expected<Run, InputFailure> simulate_plan(const std::string& plan_path, const std::string& plan_name,
                                              const Options& o, const Trace& trace, const Mapping* mapping,
                                              std::ostream& err, bool show_progress) {
  Run run;
  const tl::expected<std::string, InputFailure> text = read_file(plan_path);
  if (!text) return tl::unexpected(text.error());
  PlanReadResult plan = read_plan(*text, plan_path);
  if (const PlanError* e = std::get_if<PlanError>(&plan)) return tl::unexpected(InputFailure{e->to_string()});
  RunContext& c = run.context;
  c.plan = plan_name.empty() ? plan_path : plan_name;
  c.trace = o.trace;
  c.mapping = o.mapping;
  c.format = trace.format;
  c.seed = o.seed;
  c.trace_lines = trace.lines;
  c.skipped = trace.skipped;
  tl::expected<Cluster, InputFailure> cluster = cluster_for(std::get<LoadedPlan>(plan), o, c);
  if (!cluster) return tl::unexpected(cluster.error());
  run.cluster = std::move(*cluster);
  c.synthetic_queues = add_synthetic_queues(run.cluster);
  if (c.synthetic_queues > 0)
    c.notes.push_back(fmt::format("{} scopes without queues got a synthetic queue `<scope>/{}`", c.synthetic_queues,
                                  kSyntheticQueueName));
  ResolveResult jobs = resolve_jobs(run.cluster, trace, mapping, o.mapping, o.seed);
  if (const InputError* e = std::get_if<InputError>(&jobs)) return tl::unexpected(InputFailure{e->to_string()});
  run.jobs = std::get<std::vector<SimJob>>(std::move(jobs));
  ProgressBar bar(err, show_progress, "simulating " + plan_path);
  SimOptions options;
  options.samples = o.samples;
  options.load = o.load;
  options.load_failures = o.load_failures;
  options.progress = [&](double f) { bar.update(f); };
  const auto started = std::chrono::steady_clock::now();
  try {
    run.result = simulate(run.cluster, run.jobs, options);
  } catch (const std::invalid_argument& e) {  // the simulator's own report of a plan it cannot run
    return tl::unexpected(InputFailure{plan_path + ": " + e.what()});
  }
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  bar.clear();
  return run;
}

// The placement experiment: the plan's scopes and queues on its nodes (or
// --nodes), each node with its CPU and memory.
tl::expected<int, InputFailure> run_experiment(const Options& o, const Trace& trace, const Mapping* mapping,
                                               std::ostream& out, std::ostream& err) {
  const tl::expected<std::string, InputFailure> text = read_file(o.plan);
  if (!text) return tl::unexpected(text.error());
  PlanReadResult plan = read_plan(*text, o.plan);
  if (const PlanError* e = std::get_if<PlanError>(&plan)) return tl::unexpected(InputFailure{e->to_string()});
  const LoadedPlan& loaded = std::get<LoadedPlan>(plan);
  RunContext context;
  tl::expected<Cluster, InputFailure> built = cluster_for(loaded, o, context);
  if (!built) return tl::unexpected(built.error());
  Cluster cluster = std::move(*built);
  std::unordered_map<std::string, std::pair<Amount, Amount>> capacity;  // name -> (cpu, memory)
  for (const PlanNode& n : loaded.nodes) capacity[n.name] = {n.cpu_milli, n.memory_mib};
  if (!o.nodes.empty()) {
    const tl::expected<std::string, InputFailure> nodes_text = read_file(o.nodes);
    if (!nodes_text) return tl::unexpected(nodes_text.error());
    NodeListResult rows = parse_node_list(*nodes_text, o.nodes);
    if (const InputError* e = std::get_if<InputError>(&rows)) return tl::unexpected(InputFailure{e->to_string()});
    for (const NodeRow& r : std::get<std::vector<NodeRow>>(rows)) capacity[r.name] = {r.cpu_milli, r.memory_mib};
  }
  for (Node& n : cluster.nodes)
    if (const auto it = capacity.find(n.name); it != capacity.end()) std::tie(n.cpu_milli, n.memory_mib) = it->second;
  add_synthetic_queues(cluster);
  // Every pod, CPU-only ones included, in submit order (then file order).
  Trace pods = trace;
  pods.jobs = trace.format == TraceFormat::openb ? trace.pods : trace.jobs;
  std::stable_sort(pods.jobs.begin(), pods.jobs.end(),
                   [](const TraceJob& a, const TraceJob& b) { return a.submit_ms < b.submit_ms; });
  ResolveResult jobs = resolve_jobs(cluster, pods, mapping, o.mapping, o.seed);
  if (const InputError* e = std::get_if<InputError>(&jobs)) return tl::unexpected(InputFailure{e->to_string()});
  LoadExperimentOptions options;
  options.policies = o.placement;
  options.seeds = o.seeds;
  LoadExperimentResult result;
  try {
    result = run_load_experiment(cluster, std::get<std::vector<SimJob>>(jobs), options);
  } catch (const std::invalid_argument& e) {
    return tl::unexpected(InputFailure{o.plan + ": " + e.what()});
  }
  print_load_experiment(out, result);
  if (o.output.empty()) return 0;
  const std::filesystem::path dir(o.output);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    err << "allot simulate: " << dir.string() << ": " << ec.message() << "\n";
    return 2;
  }
  const std::string name = std::filesystem::path(o.trace).filename().string();
  const std::string plan_name = o.plan_name.empty() ? o.plan : o.plan_name;
  if (!write_file(dir / "placement.json", load_experiment_json(result, o.trace, plan_name), err) ||
      !write_file(dir / "placement.csv", load_experiment_csv(result), err) ||
      !write_file(dir / "unallocated.svg", unallocated_svg(result, name), err) ||
      !write_file(dir / "fragmented.svg", fragmented_svg(result, name), err))
    return 2;
  out << "report written to " << o.output << "\n";
  return 0;
}

bool write_report(const std::filesystem::path& dir, const Run& run, std::ostream& err) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    err << "allot simulate: " << dir.string() << ": " << ec.message() << "\n";
    return false;
  }
  if (run.result.load.enabled)
    return write_file(dir / "load.json", load_json(run.cluster, run.context, run.result), err);
  return write_file(dir / "report.json", report_json(run.cluster, run.context, run.result), err) &&
         write_file(dir / "timeseries.csv", timeseries_csv(run.cluster, run.result), err) &&
         write_file(dir / "scopes.csv", scopes_csv(run.cluster, run.result), err) &&
         write_file(dir / "jobs.csv", jobs_csv(run.cluster, run.jobs, run.result), err) &&
         write_file(dir / "utilization.svg", utilization_svg(run.cluster, run.result), err) &&
         write_file(dir / "capacity.svg", capacity_svg(run.result), err) &&
         write_file(dir / "waiting.svg", waiting_svg(run.result), err);
}

}  // namespace

void add_simulate_options(CLI::App& app, SimulateOptions& o) {
  app.description("replay a GPU-cluster trace through a plan (docs/simulate.md)");
  app.add_option("--plan", o.plan, "the compiled plan (`allot compile ... -o FILE`); required")->type_name("FILE");
  app.add_option("--trace", o.trace, "an openb pod list or a generic job CSV (detected by header); required")
      ->type_name("FILE");
  app.add_option("--mapping", o.mapping, "TOML: [pods] pod -> queue, [weights] queue -> hash weight")
      ->type_name("FILE");
  app.add_option("--nodes", o.nodes, "an openb node list replacing the plan's nodes")->type_name("FILE");
  app.add_option("--seed", o.seed, "folded into the pod-to-queue hash (default 0)")->type_name("N");
  app.add_option("--compare", o.compare, "a second plan run on the same trace, shown side by side")->type_name("FILE");
  app.add_option("--plan-name", o.plan_name, "how reports name the plan (default: its path)")->type_name("NAME");
  app.add_option("--compare-name", o.compare_name, "how reports name the second plan (default: its path)")
      ->type_name("NAME");
  cli::check(app.add_option("--samples", o.samples, "time-series buckets (default 400)")->type_name("N"),
             [](const std::string& v) -> std::optional<std::string> {
               if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
                   std::stoul(v) < 1 || std::stoul(v) > 100000) {
                 return "`--samples` must be between 1 and 100000";
               }
               return std::nullopt;
             });
  app.add_flag("--load", o.load,
               "load mode: pods arrive in trace order and never end; stop at the first pod left pending; report "
               "unallocated GPUs");
  cli::check(app.add_option("--load-failures", o.load_failures,
                            "in load mode, withdraw failed pods and stop at the N-th failure (default 1)")
                 ->type_name("N"),
             cli::positive_count("`--load-failures` must be at least 1"));
  app.add_option_function<std::string>(
         "--placement",
         [&o](const std::string& list) {
           for (std::size_t begin = 0; begin <= list.size();) {
             std::size_t end = list.find(',', begin);
             if (end == std::string::npos) end = list.size();
             const std::string name = list.substr(begin, end - begin);
             const std::optional<PlacementPolicy> p = parse_placement_policy(name);
             if (!p) {
               o.placement_problem =
                   "unknown placement policy `" + name + "` (fgd, best_fit, first_fit, spread, random)";
             } else if (std::find(o.placement.begin(), o.placement.end(), *p) == o.placement.end()) {
               o.placement.push_back(*p);
             }
             begin = end + 1;
           }
         },
         "with --load: the placement experiment, pods drawn at random until their GPU requests exceed the "
         "cluster's, once per policy of LIST (fgd,best_fit,first_fit,spread,random)")
      ->type_name("LIST");
  app.add_option_function<std::uint64_t>(
         "--seeds",
         [&o](std::uint64_t n) {
           o.seeds = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 1001));
           o.seeds_given = true;
         },
         "the placement experiment's seeds 1..N (default 5)")
      ->type_name("N");
  cli::check(app.add_option_function<std::string>(
                    "--progress",
                    [&o](const std::string& v) {
                      o.progress = v == "always"  ? ProgressMode::always
                                   : v == "never" ? ProgressMode::never
                                                  : ProgressMode::automatic;
                    },
                    "on a terminal, runs over 1 s (default: auto)")
                 ->type_name("auto|always|never"),
             cli::one_of({"auto", "always", "never"}, "progress mode"));
  app.add_option("-o,--output", o.output,
                 "write report.json, timeseries.csv, scopes.csv, jobs.csv and SVG charts to DIR")
      ->type_name("DIR");
  for (CLI::Option* option : app.get_options()) {
    if (option->get_type_name() == "N") {
      cli::check(option, [name = option->get_name()](const std::string& v) -> std::optional<std::string> {
        if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
          return "`" + name + "` needs a non-negative integer, not `" + v + "`";
        }
        return std::nullopt;
      });
    }
  }
}

std::optional<std::string> check_simulate_options(const SimulateOptions& o) {
  if (o.plan.empty()) return "missing `--plan`";
  if (o.trace.empty()) return "missing `--trace`";
  if (o.load_failures != 1 && !o.load) return "`--load-failures` needs `--load`";
  if (!o.placement_problem.empty()) return o.placement_problem;
  if (!o.placement.empty() && !o.load) return "`--placement` needs `--load`";
  if (o.seeds_given && o.placement.empty()) return "`--seeds` needs `--placement`";
  if (o.seeds_given && (o.seeds < 1 || o.seeds > 1000)) return "`--seeds` must be between 1 and 1000";
  if (!o.placement.empty() && !o.compare.empty()) return "`--placement` runs one plan: drop `--compare`";
  return std::nullopt;
}

int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         bool out_is_terminal) {
  CLI::App app("", "allot simulate");
  SimulateOptions o;
  add_simulate_options(app, o);
  std::vector<std::string> words = args;
  if (!words.empty() && words[0] == "simulate") words.erase(words.begin());
  tl::expected<cli::Parsed, cli::UsageError> parsed = cli::parse(app, words);
  if (parsed && parsed->help) {
    out << cli::help_text(app, "allot simulate");
    return 0;
  }
  std::optional<std::string> problem;
  if (!parsed) {
    problem = parsed.error().message;
  } else if (!parsed->rest.empty()) {
    problem = "unexpected argument `" + parsed->rest[0] + "`";
  } else {
    problem = check_simulate_options(o);
  }
  if (problem) {
    err << "allot simulate: " << *problem << "\n" << cli::help_text(app, "allot simulate");
    return 2;
  }
  return run_simulation(o, out, err, out_is_terminal);
}

namespace {

// The runs and their reports: 0, or 2 when a report cannot be written.
tl::expected<int, InputFailure> simulate_all(const SimulateOptions& o, std::ostream& out, std::ostream& err,
                                             bool out_is_terminal, bool show_progress) {
  const tl::expected<std::string, InputFailure> trace_text = read_file(o.trace);
  if (!trace_text) return tl::unexpected(trace_text.error());
  TraceResult parsed = parse_trace(*trace_text, o.trace);
  if (const InputError* e = std::get_if<InputError>(&parsed)) return tl::unexpected(InputFailure{e->to_string()});
  const Trace& trace = std::get<Trace>(parsed);
  if (!trace.timed && !o.load) {
    return tl::unexpected(
        InputFailure{o.trace + ": an untimed pod list (no creation/deletion times) can only be loaded: use `--load`"});
  }
  std::optional<Mapping> mapping;
  if (!o.mapping.empty()) {
    const tl::expected<std::string, InputFailure> text = read_file(o.mapping);
    if (!text) return tl::unexpected(text.error());
    MappingResult m = parse_mapping(*text, o.mapping);
    if (const InputError* e = std::get_if<InputError>(&m)) return tl::unexpected(InputFailure{e->to_string()});
    mapping = std::get<Mapping>(std::move(m));
  }
  const Mapping* mapping_ptr = mapping ? &*mapping : nullptr;
  if (!o.placement.empty()) return run_experiment(o, trace, mapping_ptr, out, err);
  const tl::expected<Run, InputFailure> a =
      simulate_plan(o.plan, o.plan_name, o, trace, mapping_ptr, err, show_progress);
  if (!a) return tl::unexpected(a.error());
  if (o.load) {
    print_load(out, a->cluster, a->context, a->result, out_is_terminal);
  } else {
    print_table(out, a->cluster, a->context, a->result, out_is_terminal);
  }
  out << fmt::format("simulated {} events in {:.2f} s ({:.0f} events/s)\n", a->result.events, a->wall_seconds,
                     a->wall_seconds > 0 ? static_cast<double>(a->result.events) / a->wall_seconds : 0.0);
  if (!o.output.empty() && !write_report(o.output, *a, err)) return 2;
  if (!o.compare.empty()) {
    const tl::expected<Run, InputFailure> b =
        simulate_plan(o.compare, o.compare_name, o, trace, mapping_ptr, err, show_progress);
    if (!b) return tl::unexpected(b.error());
    if (o.load) {
      print_load_comparison(out, a->context, a->result, b->context, b->result);
    } else {
      print_comparison(out, a->cluster, a->context, a->result, b->cluster, b->context, b->result);
    }
    if (!o.output.empty() && o.load) {
      if (!write_report(std::filesystem::path(o.output) / "compare", *b, err)) return 2;
    } else if (!o.output.empty()) {
      const std::filesystem::path dir(o.output);
      if (!write_report(dir / "compare", *b, err)) return 2;
      if (!write_file(dir / "comparison.json",
                      comparison_json(a->cluster, a->context, a->result, b->cluster, b->context, b->result), err))
        return 2;
    }
  }
  if (!o.output.empty()) out << "report written to " << o.output << "\n";
  return 0;
}

}  // namespace

int run_simulation(const SimulateOptions& o, std::ostream& out, std::ostream& err, bool out_is_terminal) {
  const bool show_progress = o.progress == ProgressMode::always ||
                             (o.progress == ProgressMode::automatic && &err == &std::cerr && isatty(STDERR_FILENO));
  const tl::expected<int, InputFailure> code = simulate_all(o, out, err, out_is_terminal, show_progress);
  if (!code) {
    err << "allot simulate: " << code.error().message << "\n";
    return 2;
  }
  return *code;
}

}  // namespace allot::runtime::sim
