// The stages every compiling subcommand runs, in one place: load -> parse ->
// analyze -> verify -> (state check) -> (plan). `check`, `compile`, `plan`,
// the backends' targets, `simulate` with a policy and `apply --target slurm`
// all call check_policy and differ only in what they render.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/plan/plan.h"
#include "compiler/sema/model.h"
#include "compiler/syntax/parser.h"
#include "compiler/verify/state.h"

namespace allot::driver {

// What to place the policy on and how (`compile`, `plan`).
struct PlanRequest {
  std::string inventory;  // TOML or an openb `.csv` node list; empty: the pools' own nodes
  std::string pool;       // the pool of a `.csv` node list; empty: the only pool
  std::string previous;   // a previous plan to stay close to
  plan::PlaceOptions::Mode method = plan::PlaceOptions::Mode::automatic;
  std::chrono::milliseconds budget{2000};
  std::string allot_version;  // written into the plan
};

struct CheckRequest {
  std::vector<std::string> inputs;        // files, or directories of `.allot` files
  std::vector<std::string> import_roots;  // `--import-root`
  std::size_t max_file_bytes = syntax::ParseLimits{}.max_file_bytes;
  std::chrono::milliseconds timeout{10000};  // per solver obligation
  std::string state;                         // `--state FILE`; empty: none
  std::optional<PlanRequest> plan;           // also place and plan
};

// The live state and the deployed policy it names.
struct LoadedState {
  verify::LiveState state;
  model::Policy deployed;
};

// How far the pipeline got. `input` failures (a file unreadable or invalid,
// an option's value wrong) exit 2; `policy` failures exit 1.
enum class Failure { none, input, policy };

// The stage an input failure came from: a plan input (inventory, previous
// plan) or anything before.
enum class FailedStage { none, load, analyze, verify, state, plan_inputs, plan };

struct CheckResult {
  SourceManager sources;
  DiagnosticSink sink;                    // every problem a user can fix, in every format
  std::unique_ptr<model::Policy> policy;  // stable address: `plan->policy` points at it
  std::unique_ptr<LoadedState> state;     // with `--state`, once it loaded
  std::vector<plan::Step> steps;          // with `--state`: the migration, in order
  std::optional<plan::Plan> plan;         // with a PlanRequest and no errors
  std::optional<plan::Homes> previous;    // where `plan` started from
  std::size_t policy_files = 0;           // the files of the policy: the first ones of `sources`
  Failure failure = Failure::none;
  FailedStage failed_stage = FailedStage::none;
};

// Runs the stages as far as they succeed. Never prints: every problem is a
// diagnostic of the result's sink (E0008 for unreadable inputs, E0013 for
// invalid inventories and previous plans).
std::unique_ptr<CheckResult> check_policy(const CheckRequest& request);

// The exit status a result means (kExitOk, kExitPolicyError, kExitUsage),
// before `--deny-warnings`.
int exit_status(const CheckResult& result);

// Expands directories into their `.allot` files (sorted, for stable output);
// an unreadable or empty directory is E0008.
bool expand_inputs(const std::vector<std::string>& inputs, std::vector<std::string>& files, DiagnosticSink& sink);

// Where imports may lead: below each directory given, below the directory of
// each file given, and below each `--import-root`.
syntax::ImportPolicy import_policy(const std::vector<std::string>& inputs, const std::vector<std::string>& extra);

}  // namespace allot::driver
