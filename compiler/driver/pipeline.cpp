#include "compiler/driver/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "compiler/driver/driver.h"
#include "compiler/driver/io.h"
#include "compiler/sema/analyze.h"
#include "compiler/smt/z3.h"
#include "compiler/verify/verify.h"

namespace allot::driver {

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

namespace {

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// `--state FILE`: the live state and the deployed policy it names; null when
// either is unreadable or invalid (reported to `sink`).
std::unique_ptr<LoadedState> load_state(const std::string& path, SourceManager& sources, DiagnosticSink& sink) {
  std::string text;
  const syntax::ReadOutcome read = syntax::read_source_file(path, syntax::ParseLimits{}.max_file_bytes, text);
  if (!read.ok) {
    sink.error("E0008", SourceRange{}, fmt::format("cannot read state file `{}`: {}", path, read.problem));
    return nullptr;
  }
  const FileId file = sources.add(path, std::move(text));
  std::optional<verify::LiveState> state = verify::parse_state(sources, file, today(), sink);
  if (!state) return nullptr;
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
    return nullptr;
  }
  return std::make_unique<LoadedState>(LoadedState{std::move(*state), std::move(*deployed)});
}

// The range of line `line` (1-based) of `file`, for an input's diagnostics.
SourceRange line_range(const SourceManager& sources, FileId file, std::size_t line) {
  const std::string_view text = sources.text(file);
  std::size_t begin = 0;
  for (std::size_t l = 1; l < line && begin < text.size(); ++l) {
    const std::size_t newline = text.find('\n', begin);
    if (newline == std::string_view::npos) break;
    begin = newline + 1;
  }
  std::size_t end = text.find('\n', begin);
  if (end == std::string_view::npos) end = text.size();
  return SourceRange{file, static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end)};
}

// `--inventory` (TOML, or an openb CSV) read against `policy`; the nodes of
// the policy's pools without one. Problems go to `sink` when it is given.
std::optional<plan::Inventory> load_inventory(const PlanRequest& request, const model::Policy& policy,
                                              SourceManager& sources, DiagnosticSink& sink) {
  if (request.inventory.empty()) return plan::expand_policy_nodes(policy);
  const std::string& path = request.inventory;
  tl::expected<std::string, IoError> text = read_whole_file(path);
  if (!text) {
    sink.error("E0008", SourceRange{}, fmt::format("cannot read inventory `{}`: {}", path, text.error().reason));
    return std::nullopt;
  }
  std::vector<plan::InventoryError> errors;
  std::optional<plan::Inventory> inventory;
  if (path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0) {
    std::string pool = request.pool;
    if (pool.empty()) {
      if (policy.pools.size() != 1) {
        sink.error("E0013", SourceRange{},
                   fmt::format("`{}` is a node list without pools; name the pool with `--pool`", path));
        return std::nullopt;
      }
      pool = policy.pools[0].name;
    }
    inventory = plan::parse_openb_csv(policy, *text, path, pool, errors);
  } else {
    inventory = plan::parse_inventory_toml(policy, *text, path, errors);
  }
  if (!inventory) {
    const FileId file = sources.add(path, std::move(*text));
    for (const plan::InventoryError& e : errors) {
      if (e.line > 0) {
        sink.error("E0013", line_range(sources, file, e.line), e.message);
      } else {
        sink.error("E0013", SourceRange{}, fmt::format("{}: {}", path, e.message));
      }
    }
  }
  return inventory;
}

// Inventory, previous placement, placement and migration; fills
// `result.plan`. False on a plan-input problem (reported).
bool build_plan(const PlanRequest& plan_request, CheckResult& result) {
  model::Policy& policy = *result.policy;
  DiagnosticSink& sink = result.sink;
  plan::Plan plan;
  plan.allot_version = plan_request.allot_version;
  plan.policy = &policy;
  std::optional<plan::Inventory> inventory = load_inventory(plan_request, policy, result.sources, sink);
  if (!inventory) return false;
  plan.inventory = std::move(*inventory);
  const std::unique_ptr<smt::PlacementOptimizer> optimizer = smt::make_z3_placement_optimizer();
  plan::PlaceOptions place_options;
  place_options.mode = plan_request.method;
  place_options.budget = plan_request.budget;
  place_options.optimizer = optimizer.get();
  if (!plan_request.previous.empty()) {
    tl::expected<std::string, IoError> text = read_whole_file(plan_request.previous);
    if (!text) {
      sink.error("E0008", SourceRange{},
                 fmt::format("cannot read plan `{}`: {}", plan_request.previous, text.error().reason));
      return false;
    }
    std::string error;
    result.previous = plan::read_plan_homes(*text, plan_request.previous, error);
    if (!result.previous) {
      sink.error("E0013", SourceRange{}, error);
      return false;
    }
    plan.previous = plan_request.previous;
  } else if (result.state) {
    // The deployed plan: the deployed policy placed the same way (placement
    // is deterministic), on the same inventory where it fits.
    SourceManager scratch_sources;
    DiagnosticSink scratch;
    const std::optional<plan::Inventory> deployed_nodes =
        load_inventory(plan_request, result.state->deployed, scratch_sources, scratch);
    if (deployed_nodes) {
      const plan::Placement deployed_placement =
          plan::place(result.state->deployed, *deployed_nodes, nullptr, place_options, scratch);
      if (!scratch.has_errors()) {
        result.previous = plan::homes_of(*deployed_nodes, deployed_placement);
        plan.previous = "deployed policy";
      }
    }
  }
  plan.placement =
      plan::place(policy, plan.inventory, result.previous ? &*result.previous : nullptr, place_options, sink);
  if (result.state) {
    plan.has_migration = true;
    plan.steps = result.steps;
  }
  if (sink.has_errors()) return true;
  std::vector<std::pair<std::string, std::string>> texts;
  for (FileId f = 0; f < result.policy_files; ++f) {
    texts.emplace_back(result.sources.path(f), std::string(result.sources.text(f)));
  }
  plan::fingerprint(plan, texts);
  result.plan = std::move(plan);
  return true;
}

}  // namespace

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

std::unique_ptr<CheckResult> check_policy(const CheckRequest& request) {
  auto result = std::make_unique<CheckResult>();
  CheckResult& r = *result;
  auto fail = [&](Failure failure, FailedStage stage) {
    r.failure = failure;
    r.failed_stage = stage;
    return std::move(result);
  };
  std::vector<std::string> files;
  if (!expand_inputs(request.inputs, files, r.sink)) return fail(Failure::input, FailedStage::load);
  syntax::ParseLimits limits;
  limits.max_file_bytes = request.max_file_bytes;
  syntax::LoadResult loaded =
      syntax::load(r.sources, files, r.sink, limits, import_policy(request.inputs, request.import_roots));
  r.policy_files = r.sources.file_count();
  if (loaded.io_error) return fail(Failure::input, FailedStage::load);
  std::optional<model::Policy> policy;
  if (loaded.partial) {
    sema::analyze_partial(r.sources, loaded.files, r.sink);
  } else {
    policy = sema::analyze(r.sources, loaded.files, r.sink);
  }
  r.policy_files = r.sources.file_count();
  if (!policy || r.sink.has_errors()) return fail(Failure::policy, FailedStage::analyze);
  r.policy = std::make_unique<model::Policy>(std::move(*policy));
  verify::Options verify_options;
  verify_options.timeout = request.timeout;
  verify::verify(r.sources, *r.policy, r.sink, verify_options);
  if (r.sink.has_errors()) return fail(Failure::policy, FailedStage::verify);
  if (!request.state.empty()) {
    r.state = load_state(request.state, r.sources, r.sink);
    if (!r.state) return fail(Failure::input, FailedStage::state);
    verify::check_change(r.state->deployed, *r.policy, r.state->state, r.sink);
    if (r.sink.has_errors()) return fail(Failure::policy, FailedStage::state);
    // The order of the change is part of the check: `check --state` and
    // `plan --state` refuse the same changes.
    plan::MigrationOptions migration;
    migration.verify.timeout = request.timeout;
    r.steps = plan::plan_migration(r.state->deployed, *r.policy, &r.state->state, migration, r.sink);
    if (r.sink.has_errors()) return fail(Failure::policy, FailedStage::state);
  }
  if (request.plan) {
    if (!build_plan(*request.plan, r)) return fail(Failure::input, FailedStage::plan_inputs);
    if (r.sink.has_errors()) return fail(Failure::policy, FailedStage::plan);
  }
  return result;
}

int exit_status(const CheckResult& result) {
  switch (result.failure) {
    case Failure::none:
      return kExitOk;
    case Failure::input:
      return kExitUsage;
    case Failure::policy:
      return kExitPolicyError;
  }
  return kExitUsage;
}

}  // namespace allot::driver
