// The trace readers of `allot simulate`: job traces (openb, generic) and
// openb node lists.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "runtime/sim/trace.h"

using namespace allot;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const runtime::sim::TraceResult trace = runtime::sim::parse_trace(text, "fuzz.csv");
  if (const auto* e = std::get_if<runtime::sim::InputError>(&trace)) (void)e->to_string();
  const runtime::sim::NodeListResult nodes = runtime::sim::parse_node_list(text, "fuzz-nodes.csv");
  if (const auto* e = std::get_if<runtime::sim::InputError>(&nodes)) (void)e->to_string();
  return 0;
}
