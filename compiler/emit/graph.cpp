#include "compiler/emit/graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "compiler/sema/model_queries.h"

namespace allot::emit {
namespace {

using model::Index;
using model::kGpu;
using model::kNone;
using model::Policy;
using model::Scope;
using model::ScopeKind;

// One box of the picture: what a scope is and what it may use.
struct Box {
  std::string title;   // `quota lab`
  std::string detail;  // `gpu 4..8`, `borrows up to 4 gpu`
  bool borrows = false;
  bool child_preemption = false;
};

Box box_of(const Policy& policy, Index s) {
  const Scope& scope = policy.scopes[s];
  Box box;
  box.title = fmt::format("{} {}", model::to_string(scope.kind), scope.name);
  if (scope.kind == ScopeKind::queue) {
    std::string priority =
        scope.default_priority == kNone ? std::string("no priority") : policy.priorities[scope.default_priority].name;
    box.detail = fmt::format("{}{}", priority, scope.preemptible ? "" : ", not preemptible");
    return box;
  }
  const model::Amount guarantee = model::guarantee_of(policy, s, kGpu);
  const std::optional<model::Amount> limit = model::effective_limit(policy, s, kGpu);
  const std::string g = model::format_quantity(policy, kGpu, guarantee);
  if (!limit) {
    box.detail = fmt::format("gpu {}.. (no limit)", g);
  } else if (*limit == guarantee) {
    box.detail = fmt::format("gpu {}", g);
  } else {
    box.detail = fmt::format("gpu {}..{}", g, model::format_quantity(policy, kGpu, *limit));
  }
  box.borrows = model::bound_of(policy, s, kGpu) != nullptr && (!limit || *limit > guarantee);
  if (box.borrows && limit) {
    box.detail += fmt::format(", borrows up to {}", model::format_quantity(policy, kGpu, *limit - guarantee));
  }
  box.child_preemption = scope.child_preemption;
  return box;
}

std::string pool_label(const Policy& policy, Index p) {
  const model::Pool& pool = policy.pools[p];
  const model::Capacity capacity = model::pool_capacity(policy, p, kGpu);
  std::string gpus = capacity.unbounded ? "elastic"
                     : capacity.known   ? model::format_amount(policy, kGpu, capacity.amount)
                                        : "no gpu";
  return fmt::format("pool {} ({}, {})", pool.name, pool.type == model::PoolType::shared ? "shared" : "dedicated",
                     gpus);
}

std::vector<std::string> preemption_lines(const Policy& policy) {
  std::vector<std::string> out;
  for (const model::PriorityClass& c : policy.priorities) {
    std::string line = fmt::format("priority {} ({})", c.name, c.value);
    if (!c.preempts.empty()) {
      line += " preempts ";
      for (std::size_t i = 0; i < c.preempts.size(); ++i) {
        if (i > 0) line += ", ";
        line += policy.priorities[c.preempts[i]].name;
      }
    }
    out.push_back(std::move(line));
  }
  return out;
}

// Roots of the scope tree grouped by pool (pool order), then the roots on no pool.
std::vector<std::pair<Index, std::vector<Index>>> roots_by_pool(const Policy& policy) {
  std::vector<std::pair<Index, std::vector<Index>>> out;
  for (Index p = 0; p < policy.pools.size(); ++p) out.push_back({p, {}});
  out.push_back({kNone, {}});
  for (Index s = 0; s < policy.scopes.size(); ++s) {
    if (policy.scopes[s].parent != kNone) continue;
    const Index p = policy.scopes[s].pool;
    (p == kNone ? out.back() : out[p]).second.push_back(s);
  }
  return out;
}

std::string dot_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// ---- SVG layout: leaves left to right in tree order, a parent centred over
// its children, one row per depth.
constexpr double kBoxWidth = 200, kBoxHeight = 44, kGapX = 16, kRowHeight = 84, kMargin = 20, kPoolHeader = 34;

struct Placed {
  double x = 0, y = 0;  // top-left corner
};

class SvgLayout {
 public:
  explicit SvgLayout(const Policy& policy) : policy_(policy), placed_(policy.scopes.size()) {}

  std::string render() {
    std::string body;
    double x = kMargin;
    double height = 0;
    for (const auto& [pool, roots] : roots_by_pool(policy_)) {
      if (roots.empty()) continue;
      const double start = x;
      next_leaf_x_ = x;
      int depth = 0;
      for (Index r : roots) depth = std::max(depth, place(r, 0));
      const double end = next_leaf_x_ - kGapX;
      const std::string label = pool == kNone ? std::string("no pool") : pool_label(policy_, pool);
      body += fmt::format(
          "<rect class=\"pool\" x=\"{:.0f}\" y=\"{:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" rx=\"6\"/>\n"
          "<text class=\"pool-label\" x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n",
          start - 8, kMargin, end - start + 16, kPoolHeader + (depth + 1) * kRowHeight - (kRowHeight - kBoxHeight) + 8,
          start, kMargin + 20, xml_escape(label));
      height = std::max(height, kPoolHeader + (depth + 1) * kRowHeight);
      x = end + kGapX + 24;
    }
    std::string edges, boxes;
    for (Index s = 0; s < policy_.scopes.size(); ++s) {
      const Scope& scope = policy_.scopes[s];
      const Box box = box_of(policy_, s);
      const Placed& at = placed_[s];
      if (scope.parent != kNone) {
        const Placed& up = placed_[scope.parent];
        // child_preemption: the parent's own jobs come before its sub-quotas'.
        const bool red = policy_.scopes[scope.parent].child_preemption && scope.kind == ScopeKind::quota;
        edges += fmt::format("<line class=\"{}\" x1=\"{:.0f}\" y1=\"{:.0f}\" x2=\"{:.0f}\" y2=\"{:.0f}\"/>\n",
                             red ? "edge preempts" : "edge", up.x + kBoxWidth / 2, up.y + kBoxHeight,
                             at.x + kBoxWidth / 2, at.y);
      }
      boxes += fmt::format(
          "<g><title>{}</title><rect class=\"{}\" x=\"{:.0f}\" y=\"{:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" "
          "rx=\"4\"/>\n<text x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n<text class=\"detail\" x=\"{:.0f}\" "
          "y=\"{:.0f}\">{}</text></g>\n",
          xml_escape(scope.path), box.borrows ? "scope borrows" : "scope", at.x, at.y, kBoxWidth, kBoxHeight, at.x + 8,
          at.y + 18, xml_escape(box.title), at.x + 8, at.y + 35, xml_escape(box.detail));
    }
    const std::vector<std::string> legend = preemption_lines(policy_);
    std::string notes;
    double y = kMargin + height + 10;
    notes += fmt::format(
        "<text class=\"legend\" x=\"{:.0f}\" y=\"{:.0f}\">red edges: the parent's own jobs "
        "preempt its sub-quotas' (child_preemption); dashed: may borrow beyond its guarantee</text>\n",
        kMargin, y);
    for (const std::string& line : legend) {
      y += 18;
      notes +=
          fmt::format("<text class=\"legend\" x=\"{:.0f}\" y=\"{:.0f}\">{}</text>\n", kMargin, y, xml_escape(line));
    }
    const double width = std::max(x + kMargin, 760.0);
    return fmt::format(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} "
        "{1:.0f}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        "<style>\n"
        ".pool {{ fill: #f4f6fa; stroke: #8a94a6; }}\n"
        ".pool-label {{ font-weight: bold; }}\n"
        ".scope {{ fill: #ffffff; stroke: #3b4a63; }}\n"
        ".borrows {{ stroke-dasharray: 5 3; }}\n"
        ".detail {{ fill: #4a5568; font-size: 11px; }}\n"
        ".edge {{ stroke: #3b4a63; }}\n"
        ".preempts {{ stroke: #c53030; stroke-width: 2; }}\n"
        ".legend {{ fill: #2d3748; }}\n"
        "</style>\n"
        "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
        "{2}{3}{4}{5}</svg>\n",
        width, y + kMargin, body, edges, boxes, notes);
  }

 private:
  // Places the subtree of `s` at `depth`; returns the deepest depth used.
  int place(Index s, int depth) {
    const Scope& scope = policy_.scopes[s];
    int deepest = depth;
    placed_[s].y = kMargin + kPoolHeader + depth * kRowHeight;
    if (scope.children.empty()) {
      placed_[s].x = next_leaf_x_;
      next_leaf_x_ += kBoxWidth + kGapX;
      return deepest;
    }
    for (Index c : scope.children) deepest = std::max(deepest, place(c, depth + 1));
    placed_[s].x = (placed_[scope.children.front()].x + placed_[scope.children.back()].x) / 2;
    return deepest;
  }

  const Policy& policy_;
  std::vector<Placed> placed_;
  double next_leaf_x_ = 0;
};

}  // namespace

std::string render_graph_dot(const Policy& policy) {
  std::string out = "digraph policy {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\", fontsize=11];\n";
  for (const auto& [pool, roots] : roots_by_pool(policy)) {
    if (roots.empty()) continue;
    const std::string label = pool == kNone ? std::string("no pool") : pool_label(policy, pool);
    out += fmt::format("  subgraph \"cluster_{}\" {{\n    label=\"{}\";\n",
                       pool == kNone ? std::string("none") : dot_escape(policy.pools[pool].name), dot_escape(label));
    std::vector<Index> stack(roots.rbegin(), roots.rend());
    while (!stack.empty()) {
      const Index s = stack.back();
      stack.pop_back();
      const Box box = box_of(policy, s);
      out += fmt::format("    \"{}\" [label=\"{}\\n{}\"{}];\n", dot_escape(policy.scopes[s].path),
                         dot_escape(box.title), dot_escape(box.detail), box.borrows ? ", style=dashed" : "");
      const auto& children = policy.scopes[s].children;
      stack.insert(stack.end(), children.rbegin(), children.rend());
    }
    out += "  }\n";
  }
  for (Index s = 0; s < policy.scopes.size(); ++s) {
    const Scope& scope = policy.scopes[s];
    if (scope.parent == kNone) continue;
    const bool red = policy.scopes[scope.parent].child_preemption && scope.kind == ScopeKind::quota;
    out += fmt::format("  \"{}\" -> \"{}\"{};\n", dot_escape(policy.scopes[scope.parent].path), dot_escape(scope.path),
                       red ? " [color=\"#c53030\", penwidth=2, tooltip=\"child_preemption\"]" : "");
  }
  for (const model::PriorityClass& c : policy.priorities) {
    out += fmt::format("  \"priority:{}\" [shape=ellipse, label=\"priority {}\\n{}\"];\n", dot_escape(c.name),
                       dot_escape(c.name), c.value);
    for (Index victim : c.preempts) {
      out += fmt::format("  \"priority:{}\" -> \"priority:{}\" [label=\"preempts\", style=dotted];\n",
                         dot_escape(c.name), dot_escape(policy.priorities[victim].name));
    }
  }
  out += "}\n";
  return out;
}

std::string render_graph_svg(const Policy& policy) { return SvgLayout(policy).render(); }

}  // namespace allot::emit
