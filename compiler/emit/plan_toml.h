// The plan file (docs/plan-format.md): canonical TOML, byte-identical for the
// same inputs, written without a TOML library so that the format is ours.
// And the dry-run text of `allot plan`.
#pragma once

#include <string>

#include "compiler/plan/plan.h"

namespace allot::emit {

std::string render_plan_toml(const plan::Plan& plan);

struct PlanTextOptions {
  bool color = false;
  const plan::Homes* previous = nullptr;  // to list the GPUs that move
};

// What would change: the migration steps (old -> new) and the placement
// moves, with the placement's quality.
std::string render_plan_text(const plan::Plan& plan, const PlanTextOptions& options);

// The migration part of it: `migration: N steps`, then each step as
// `  1. shrink quota `Q`: gpu 80.. -> 72..`.
std::string render_migration_text(const plan::Plan& plan, bool color);
// Step `index` (0-based) of `plan.steps` as one line, numbered from 1.
std::string render_step(const plan::Plan& plan, std::size_t index, bool color);

// A TOML basic string, quoted.
std::string toml_string(std::string_view text);

}  // namespace allot::emit
