// The plan file of a checked model, as `allot compile` writes it, on the
// nodes its pools declare: what unit tests hand to the runtime's plan reader.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "compiler/base/diagnostic.h"
#include "compiler/emit/plan_toml.h"
#include "compiler/plan/inventory.h"
#include "compiler/plan/placement.h"
#include "compiler/plan/plan.h"
#include "compiler/sema/model.h"

namespace allot::testing {

inline std::string plan_text(const model::Policy& policy) {
  plan::Plan p;
  p.allot_version = "test";
  p.policy = &policy;
  p.inventory = plan::expand_policy_nodes(policy);
  DiagnosticSink sink;
  p.placement = plan::place(policy, p.inventory, nullptr, {}, sink);
  REQUIRE_FALSE(sink.has_errors());
  plan::fingerprint(p, {{"case.allot", "x"}});
  return emit::render_plan_toml(p);
}

}  // namespace allot::testing
