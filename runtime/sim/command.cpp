#include "runtime/sim/command.h"

#include <fmt/format.h>
#include <unistd.h>

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

#include "runtime/core/plan_reader.h"
#include "runtime/sim/assign.h"
#include "runtime/sim/load_experiment.h"
#include "runtime/sim/report.h"
#include "runtime/sim/simulator.h"
#include "runtime/sim/trace.h"

namespace allot::runtime::sim {

namespace {

constexpr const char* kUsage = R"(usage: allot simulate --plan PLAN.toml --trace TRACE.csv [options]

Replays a trace through a compiled plan (docs/simulate.md).

  --plan FILE        the compiled plan (`allot compile ... -o FILE`)
  --trace FILE       an openb pod list or a generic job CSV (detected by header)
  --mapping FILE     TOML: [pods] pod -> queue, [weights] queue -> hash weight
  --nodes FILE       an openb node list replacing the plan's nodes
  --seed N           folded into the pod-to-queue hash (default 0)
  --compare FILE     a second plan run on the same trace, shown side by side
  --plan-name NAME   how reports name the plan (default: its path)
  --compare-name NAME
                     how reports name the second plan (default: its path)
  --samples N        time-series buckets (default 400)
  --load             load mode: pods arrive in trace order and never end; stop
                     at the first pod left pending; report unallocated GPUs
  --load-failures N  in load mode, withdraw failed pods and stop at the N-th
                     failure (default 1)
  --placement LIST   with --load: the placement experiment, pods drawn at random
                     until their GPU requests exceed the cluster's, once per
                     policy of LIST (fgd,best_fit,first_fit,spread,random)
  --seeds N          the experiment's seeds 1..N (default 5)
  --progress=WHEN    auto (default: on a terminal, runs over 1 s), always, never
  -o DIR             write report.json, timeseries.csv, scopes.csv, jobs.csv and SVG
                     charts
)";

enum class ProgressMode { automatic, always, never };

struct Options {
  std::string plan, trace, mapping, nodes, compare, output;
  std::string plan_name, compare_name;  // labels in reports; empty: the path
  std::uint64_t seed = 0;
  std::uint32_t samples = 400;
  bool load = false;
  std::uint64_t load_failures = 1;
  // ---- placement experiment (load_experiment.h) ----
  std::vector<PlacementPolicy> placement;  // empty: no experiment
  std::uint32_t seeds = 5;
  bool seeds_given = false;
  // ----
  ProgressMode progress = ProgressMode::automatic;
};

struct UsageError {
  std::string message;
};

std::optional<std::string> read_file(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open";
    return std::nullopt;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    error = path + ": read error";
    return std::nullopt;
  }
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

Options parse_options(const std::vector<std::string>& args) {
  Options o;
  std::size_t i = !args.empty() && args[0] == "simulate" ? 1 : 0;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= args.size()) throw UsageError{"`" + flag + "` needs a value"};
    return args[++i];
  };
  auto number = [](const std::string& flag, const std::string& text) {
    std::uint64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size())
      throw UsageError{"`" + flag + "` needs a non-negative integer, not `" + text + "`"};
    return v;
  };
  for (; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0)
      if (const std::size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    auto get = [&]() { return inline_value ? *inline_value : value(arg); };
    if (arg == "--plan") {
      o.plan = get();
    } else if (arg == "--trace") {
      o.trace = get();
    } else if (arg == "--mapping") {
      o.mapping = get();
    } else if (arg == "--nodes") {
      o.nodes = get();
    } else if (arg == "--compare") {
      o.compare = get();
    } else if (arg == "--plan-name") {
      o.plan_name = get();
    } else if (arg == "--compare-name") {
      o.compare_name = get();
    } else if (arg == "-o" || arg == "--output") {
      o.output = get();
    } else if (arg == "--seed") {
      o.seed = number(arg, get());
    } else if (arg == "--samples") {
      const std::uint64_t n = number(arg, get());
      if (n < 1 || n > 100000) throw UsageError{"`--samples` must be between 1 and 100000"};
      o.samples = static_cast<std::uint32_t>(n);
    } else if (arg == "--load") {
      if (inline_value) throw UsageError{"`--load` takes no value"};
      o.load = true;
    } else if (arg == "--load-failures") {
      o.load_failures = number(arg, get());
      if (o.load_failures < 1) throw UsageError{"`--load-failures` must be at least 1"};
    } else if (arg == "--placement") {
      const std::string list = get();
      for (std::size_t begin = 0; begin <= list.size();) {
        std::size_t end = list.find(',', begin);
        if (end == std::string::npos) end = list.size();
        const std::string name = list.substr(begin, end - begin);
        const std::optional<PlacementPolicy> p = parse_placement_policy(name);
        if (!p) throw UsageError{"unknown placement policy `" + name + "` (fgd, best_fit, first_fit, spread, random)"};
        if (std::find(o.placement.begin(), o.placement.end(), *p) == o.placement.end()) o.placement.push_back(*p);
        begin = end + 1;
      }
    } else if (arg == "--seeds") {
      const std::uint64_t n = number(arg, get());
      if (n < 1 || n > 1000) throw UsageError{"`--seeds` must be between 1 and 1000"};
      o.seeds = static_cast<std::uint32_t>(n);
      o.seeds_given = true;
    } else if (arg == "--progress") {
      const std::string when = get();
      if (when == "auto") {
        o.progress = ProgressMode::automatic;
      } else if (when == "always") {
        o.progress = ProgressMode::always;
      } else if (when == "never") {
        o.progress = ProgressMode::never;
      } else {
        throw UsageError{"`--progress` must be auto, always or never"};
      }
    } else {
      throw UsageError{"unknown argument `" + args[i] + "`"};
    }
  }
  if (o.plan.empty()) throw UsageError{"missing `--plan`"};
  if (o.trace.empty()) throw UsageError{"missing `--trace`"};
  if (o.load_failures != 1 && !o.load) throw UsageError{"`--load-failures` needs `--load`"};
  if (!o.placement.empty() && !o.load) throw UsageError{"`--placement` needs `--load`"};
  if (o.seeds_given && o.placement.empty()) throw UsageError{"`--seeds` needs `--placement`"};
  if (!o.placement.empty() && !o.compare.empty()) throw UsageError{"`--placement` runs one plan: drop `--compare`"};
  return o;
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

struct InputFailure {
  std::string message;
};

Cluster cluster_for(const LoadedPlan& plan, const Options& o, RunContext& context) {
  if (o.nodes.empty()) {
    context.inventory = "plan";
    return plan.cluster;
  }
  context.inventory = o.nodes;
  std::string error;
  const std::optional<std::string> text = read_file(o.nodes, error);
  if (!text) throw InputFailure{error};
  NodeListResult parsed = parse_node_list(*text, o.nodes);
  if (const InputError* e = std::get_if<InputError>(&parsed)) throw InputFailure{e->to_string()};
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

Run simulate_plan(const std::string& plan_path, const std::string& plan_name, const Options& o, const Trace& trace,
                  const Mapping* mapping, std::ostream& err, bool show_progress) {
  Run run;
  std::string error;
  const std::optional<std::string> text = read_file(plan_path, error);
  if (!text) throw InputFailure{error};
  PlanReadResult plan = read_plan(*text, plan_path);
  if (const PlanError* e = std::get_if<PlanError>(&plan)) throw InputFailure{e->to_string()};
  RunContext& c = run.context;
  c.plan = plan_name.empty() ? plan_path : plan_name;
  c.trace = o.trace;
  c.mapping = o.mapping;
  c.format = trace.format;
  c.seed = o.seed;
  c.trace_lines = trace.lines;
  c.skipped = trace.skipped;
  run.cluster = cluster_for(std::get<LoadedPlan>(plan), o, c);
  c.synthetic_queues = add_synthetic_queues(run.cluster);
  if (c.synthetic_queues > 0)
    c.notes.push_back(fmt::format("{} scopes without queues got a synthetic queue `<scope>/{}`", c.synthetic_queues,
                                  kSyntheticQueueName));
  ResolveResult jobs = resolve_jobs(run.cluster, trace, mapping, o.mapping, o.seed);
  if (const InputError* e = std::get_if<InputError>(&jobs)) throw InputFailure{e->to_string()};
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
  } catch (const std::invalid_argument& e) {
    throw InputFailure{plan_path + ": " + e.what()};
  }
  run.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  bar.clear();
  return run;
}

// The placement experiment: the plan's scopes and queues on its nodes (or
// --nodes), each node with its CPU and memory.
int run_experiment(const Options& o, const Trace& trace, const Mapping* mapping, std::ostream& out, std::ostream& err) {
  std::string error;
  const std::optional<std::string> text = read_file(o.plan, error);
  if (!text) throw InputFailure{error};
  PlanReadResult plan = read_plan(*text, o.plan);
  if (const PlanError* e = std::get_if<PlanError>(&plan)) throw InputFailure{e->to_string()};
  const LoadedPlan& loaded = std::get<LoadedPlan>(plan);
  RunContext context;
  Cluster cluster = cluster_for(loaded, o, context);
  std::unordered_map<std::string, std::pair<Amount, Amount>> capacity;  // name -> (cpu, memory)
  for (const PlanNode& n : loaded.nodes) capacity[n.name] = {n.cpu_milli, n.memory_mib};
  if (!o.nodes.empty()) {
    const std::optional<std::string> nodes_text = read_file(o.nodes, error);
    if (!nodes_text) throw InputFailure{error};
    NodeListResult rows = parse_node_list(*nodes_text, o.nodes);
    if (const InputError* e = std::get_if<InputError>(&rows)) throw InputFailure{e->to_string()};
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
  if (const InputError* e = std::get_if<InputError>(&jobs)) throw InputFailure{e->to_string()};
  LoadExperimentOptions options;
  options.policies = o.placement;
  options.seeds = o.seeds;
  LoadExperimentResult result;
  try {
    result = run_load_experiment(cluster, std::get<std::vector<SimJob>>(jobs), options);
  } catch (const std::invalid_argument& e) {
    throw InputFailure{o.plan + ": " + e.what()};
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

int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                         bool out_is_terminal) {
  for (const std::string& a : args)
    if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    }
  Options o;
  try {
    o = parse_options(args);
  } catch (const UsageError& e) {
    err << "allot simulate: " << e.message << "\n" << kUsage;
    return 2;
  }
  const bool show_progress = o.progress == ProgressMode::always ||
                             (o.progress == ProgressMode::automatic && &err == &std::cerr && isatty(STDERR_FILENO));
  try {
    std::string error;
    const std::optional<std::string> trace_text = read_file(o.trace, error);
    if (!trace_text) throw InputFailure{error};
    TraceResult parsed = parse_trace(*trace_text, o.trace);
    if (const InputError* e = std::get_if<InputError>(&parsed)) throw InputFailure{e->to_string()};
    const Trace& trace = std::get<Trace>(parsed);
    if (!trace.timed && !o.load)
      throw InputFailure{o.trace +
                         ": an untimed pod list (no creation/deletion times) can only be loaded: use `--load`"};
    std::optional<Mapping> mapping;
    if (!o.mapping.empty()) {
      const std::optional<std::string> text = read_file(o.mapping, error);
      if (!text) throw InputFailure{error};
      MappingResult m = parse_mapping(*text, o.mapping);
      if (const InputError* e = std::get_if<InputError>(&m)) throw InputFailure{e->to_string()};
      mapping = std::get<Mapping>(std::move(m));
    }
    const Mapping* mapping_ptr = mapping ? &*mapping : nullptr;
    if (!o.placement.empty()) return run_experiment(o, trace, mapping_ptr, out, err);
    const Run a = simulate_plan(o.plan, o.plan_name, o, trace, mapping_ptr, err, show_progress);
    if (o.load) {
      print_load(out, a.cluster, a.context, a.result, out_is_terminal);
    } else {
      print_table(out, a.cluster, a.context, a.result, out_is_terminal);
    }
    out << fmt::format("simulated {} events in {:.2f} s ({:.0f} events/s)\n", a.result.events, a.wall_seconds,
                       a.wall_seconds > 0 ? static_cast<double>(a.result.events) / a.wall_seconds : 0.0);
    if (!o.output.empty() && !write_report(o.output, a, err)) return 2;
    if (!o.compare.empty()) {
      const Run b = simulate_plan(o.compare, o.compare_name, o, trace, mapping_ptr, err, show_progress);
      if (o.load) {
        print_load_comparison(out, a.context, a.result, b.context, b.result);
      } else {
        print_comparison(out, a.cluster, a.context, a.result, b.cluster, b.context, b.result);
      }
      if (!o.output.empty() && o.load) {
        if (!write_report(std::filesystem::path(o.output) / "compare", b, err)) return 2;
      } else if (!o.output.empty()) {
        const std::filesystem::path dir(o.output);
        if (!write_report(dir / "compare", b, err)) return 2;
        if (!write_file(dir / "comparison.json",
                        comparison_json(a.cluster, a.context, a.result, b.cluster, b.context, b.result), err))
          return 2;
      }
    }
    if (!o.output.empty()) out << "report written to " << o.output << "\n";
  } catch (const InputFailure& f) {
    err << "allot simulate: " << f.message << "\n";
    return 2;
  }
  return 0;
}

}  // namespace allot::runtime::sim
