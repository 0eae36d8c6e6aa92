// The compiled plan: everything `allot compile` writes (docs/plan-format.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/plan/inventory.h"
#include "compiler/plan/migration.h"
#include "compiler/plan/placement.h"
#include "compiler/sema/model.h"

namespace allot::plan {

inline constexpr int kFormatVersion = 1;

struct SourceFile {
  std::string path;
  std::string sha256;
};

struct Plan {
  std::string allot_version;
  std::vector<SourceFile> sources;  // every file of the policy, in load order
  std::string source_sha256;        // over the `sha256  path` lines of `sources`
  const model::Policy* policy = nullptr;
  Inventory inventory;
  Placement placement;
  // With a deployed policy (--state): the ordered steps towards this one.
  bool has_migration = false;
  std::vector<Step> steps;
  std::string previous;  // where the previous placement came from, empty if none
};

// Fills `sources` and `source_sha256`.
void fingerprint(Plan& plan, const std::vector<std::pair<std::string, std::string>>& files);

// Reads the placement of a plan file written by `allot compile` (the
// `[[placement.nodes]]` tables). Nothing, with `error` set, when unreadable.
std::optional<Homes> read_plan_homes(const std::string& text, const std::string& path, std::string& error);

}  // namespace allot::plan
