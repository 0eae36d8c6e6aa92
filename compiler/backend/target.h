// What every backend shares: the strictness of lossy mappings, the GPU shares
// of the scope tree, and name mapping with clash reports.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/plan/plan.h"
#include "compiler/sema/model.h"

namespace allot::backend {

struct TargetOptions {
  // `--target-strict`: a rule the target cannot express exactly is an error.
  bool strict = false;
  std::string kueue_version = "v1beta2";
};

// Reports a rule the target cannot express exactly: a warning, an error with
// `--target-strict`. Every lossy point goes through here, so that nothing is
// dropped silently.
class Lossy {
 public:
  Lossy(DiagnosticSink& sink, bool strict) : sink_(sink), strict_(strict) {}
  Diagnostic& report(std::string code, SourceRange range, std::string message);
  DiagnosticSink& sink() { return sink_; }

 private:
  DiagnosticSink& sink_;
  bool strict_;
};

// A file a backend writes, relative to the output directory.
struct OutputFile {
  std::string name;
  std::string text;
};

// GPU guarantees of the scope tree in milli-GPUs. `subtree` is the guarantee
// a scope holds for itself and its children: its own bound's guarantee, or
// (without a gpu bound) the sum of its children's. `own` is what is left for
// the scope itself after its children's subtrees.
struct Shares {
  std::vector<model::Amount> subtree;
  std::vector<model::Amount> own;
};
Shares gpu_shares(const model::Policy& policy);

// The nearest quota at or above a scope (the quota whose `child_preemption`
// lets a queue's jobs preempt), kNone for a tree of workspaces only.
model::Index owning_quota(const model::Policy& policy, model::Index scope);
// True when `scope` is `ancestor` or below it.
bool is_within(const model::Policy& policy, model::Index scope, model::Index ancestor);
// The root of the tree a scope is in.
model::Index root_of(const model::Policy& policy, model::Index scope);
// The roles usable on a scope: its own and every ancestor's, in order, once.
std::vector<model::Index> usable_roles(const model::Policy& policy, model::Index scope);

// Milli-GPUs as whole GPUs, rounded down.
std::int64_t whole_gpus(model::Amount milli);

// Collects a mapping from policy names to target names and reports two
// policy names that map to the same target name (`code`, an error: one of
// them would silently replace the other).
class NameMap {
 public:
  NameMap(DiagnosticSink& sink, std::string code, std::string what)
      : sink_(sink), code_(std::move(code)), what_(std::move(what)) {}
  // Records that `original` (declared at `range`) becomes `mapped`.
  void add(const std::string& original, const std::string& mapped, SourceRange range);

 private:
  struct Entry {
    std::string original;
    SourceRange range;
  };
  DiagnosticSink& sink_;
  std::string code_;
  std::string what_;
  std::map<std::string, Entry> taken_;
};

// `a, b and c` with each name in backticks.
std::string quoted_list(const std::vector<std::string>& names);

}  // namespace allot::backend
