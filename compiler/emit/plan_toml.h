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

// A TOML basic string, quoted.
std::string toml_string(std::string_view text);

}  // namespace allot::emit
