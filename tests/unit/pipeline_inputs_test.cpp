// The pipeline reports invalid plan inputs as E0013 diagnostics (exit 2),
// never as plain text: the same inventory as the golden case
// plan/inventory-unknown-pool, whose text output shows no code.
#include <catch2/catch.hpp>
#include <string>

#include "compiler/driver/pipeline.h"

using namespace allot;

TEST_CASE("an inventory naming an unknown pool is E0013, an input failure") {
  const std::string dir = std::string(ALLOT_SOURCE_DIR) + "/tests/golden/plan/inventory-unknown-pool/";
  driver::CheckRequest request;
  request.inputs = {dir + "case.allot"};
  request.plan = driver::PlanRequest{};
  request.plan->inventory = dir + "nodes.toml";
  const std::unique_ptr<driver::CheckResult> result = driver::check_policy(request);
  REQUIRE(result->failure == driver::Failure::input);
  REQUIRE(result->failed_stage == driver::FailedStage::plan_inputs);
  std::size_t e0013 = 0;
  for (const Diagnostic& d : result->sink.diagnostics()) e0013 += d.code == "E0013";
  CHECK(e0013 == 2);
  CHECK_FALSE(result->plan);
}
