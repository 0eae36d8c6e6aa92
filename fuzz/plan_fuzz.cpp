// The plan reader (allotd --plan, allot simulate): read the plan, cut it to
// its first node and let the scheduler check the cluster.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <variant>

#include "runtime/core/plan_reader.h"
#include "runtime/core/scheduler.h"

using namespace allot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  runtime::PlanReadResult read = runtime::read_plan(text, "fuzz.toml");
  if (const auto* e = std::get_if<runtime::PlanError>(&read)) {
    (void)e->to_string();
    return 0;
  }
  const runtime::LoadedPlan& plan = std::get<runtime::LoadedPlan>(read);
  if (plan.nodes.empty()) return 0;
  const runtime::Cluster cluster = runtime::restrict_to_nodes(plan, {plan.nodes.front().name});
  try {
    runtime::Scheduler scheduler(cluster);
    (void)scheduler.schedule(0);
  } catch (const std::invalid_argument&) {
    // a plan the core refuses, with a message: fine
  }
  return 0;
}
