// `allot graph`: the quota tree of a checked policy as a picture. Pools hold
// their root quotas; every scope shows its GPU guarantee and the limit that
// applies; a scope that may borrow beyond its guarantee has a dashed border
// and says how much; `child_preemption` edges are drawn in red; the
// priority classes and whom they preempt are listed beside the tree.
// Both renderings are deterministic: the policy's order, no randomness.
#pragma once

#include <string>

#include "compiler/sema/model.h"

namespace allot::emit {

// Graphviz DOT, for `dot -Tsvg` or any tool that reads it.
std::string render_graph_dot(const model::Policy& policy);

// A stand-alone SVG with its own tree layout (no Graphviz needed).
std::string render_graph_svg(const model::Policy& policy);

}  // namespace allot::emit
