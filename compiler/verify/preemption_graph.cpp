// Invariant 5: the preemption graph of the priority classes. An edge A -> B
// is an entry B in A's `preempts`. The runtime lets a job preempt another by
// its class only when the preemptor's `value` is strictly higher, so every
// edge must go downwards (E0209); a cycle of edges (E0210) would let two
// classes undo each other's preemptions, like Slurm's "QOS Preemption loop".
// Sema reports both on the source (E0129) and drops such entries; verify
// repeats the check on the model so that no later change can slip past.
// Linear in the size of the graph.
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;

namespace {

constexpr std::size_t kQueuesNamed = 3;

// Where entry `edge` of class `from`'s `preempts` was written, else the class.
SourceRange entry_range(const PriorityClass& from, std::size_t edge) {
  if (edge < from.preempts_ranges.size() && from.preempts_ranges[edge].valid()) return from.preempts_ranges[edge];
  return from.range;
}

std::size_t entry_of(const PriorityClass& from, Index to) {
  const auto it = std::find(from.preempts.begin(), from.preempts.end(), to);
  return static_cast<std::size_t>(it - from.preempts.begin());
}

// "queues `a/b/c`, `d/e/f` and 2 more use these classes", or empty.
std::string queues_using(const Policy& policy, const std::vector<Index>& classes) {
  std::vector<const Scope*> queues;
  for (const Scope& s : policy.scopes) {
    if (s.kind != ScopeKind::queue || s.default_priority == kNone) continue;
    if (std::find(classes.begin(), classes.end(), s.default_priority) != classes.end()) queues.push_back(&s);
  }
  if (queues.empty()) return {};
  std::string names;
  for (std::size_t i = 0; i < queues.size() && i < kQueuesNamed; ++i) {
    names += (i == 0 ? "" : ", ") + quoted(queues[i]->path);
  }
  if (queues.size() > kQueuesNamed) names += fmt::format(" and {} more", queues.size() - kQueuesNamed);
  return fmt::format("{} {} {}", queues.size() == 1 ? "queue" : "queues", names,
                     queues.size() == 1 ? "uses them" : "use them");
}

// E0209: an edge that does not go strictly downwards, unless E0210 already
// reported it as part of a cycle.
void check_order(const Policy& policy, DiagnosticSink& sink, const std::set<std::pair<Index, Index>>& in_cycles) {
  const auto& classes = policy.priorities;
  const Index n = static_cast<Index>(classes.size());
  for (Index a = 0; a < n; ++a) {
    for (std::size_t e = 0; e < classes[a].preempts.size(); ++e) {
      const Index b = classes[a].preempts[e];
      if (b >= n || classes[b].value < classes[a].value || in_cycles.count({a, b}) != 0) continue;
      const bool equal = classes[b].value == classes[a].value;
      Diagnostic& d = sink.error(
          code::E0209, entry_range(classes[a], e),
          equal ? fmt::format("priority {} ({}) preempts {}, which has the same value", quoted(classes[a].name),
                              classes[a].value, quoted(classes[b].name))
                : fmt::format("priority {} ({}) preempts {}, which has the higher value {}", quoted(classes[a].name),
                              classes[a].value, quoted(classes[b].name), classes[b].value));
      d.note(fmt::format("{} is declared here", quoted(classes[b].name)), classes[b].range);
      if (const std::string q = queues_using(policy, {a, b}); !q.empty()) d.note(q);
      d.add_help(fmt::format(
          "a class only preempts classes of lower `value` (the runtime ignores this entry): remove {} from `preempts`, "
          "or give {} a higher value",
          quoted(classes[b].name), quoted(classes[a].name)));
    }
  }
}

// E0210: one cycle per strongly connected component that has one, the
// shortest through its first class, reported at the entry that closes it.
// Returns the edges of the cycles it reported.
std::set<std::pair<Index, Index>> check_cycles(const Policy& policy, DiagnosticSink& sink) {
  std::set<std::pair<Index, Index>> edges;
  const auto& classes = policy.priorities;
  const Index n = static_cast<Index>(classes.size());
  // Strongly connected components (Tarjan, iterative).
  std::vector<int> index(n, -1), low(n, 0), component(n, -1);
  std::vector<bool> on_stack(n, false);
  std::vector<Index> stack;
  int counter = 0, components = 0;
  for (Index root = 0; root < n; ++root) {
    if (index[root] != -1) continue;
    std::vector<std::pair<Index, std::size_t>> work{{root, 0}};
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = true;
    while (!work.empty()) {
      auto& [v, edge] = work.back();
      if (edge < classes[v].preempts.size()) {
        const Index w = classes[v].preempts[edge++];
        if (w >= n) continue;
        if (index[w] == -1) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = true;
          work.push_back({w, 0});
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const Index done = v;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
      if (low[done] == index[done]) {
        Index w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          component[w] = components;
        } while (w != done);
        ++components;
      }
    }
  }
  std::vector<bool> reported(static_cast<std::size_t>(components), false);
  for (Index start = 0; start < n; ++start) {
    const int comp = component[start];
    if (reported[static_cast<std::size_t>(comp)]) continue;
    // Shortest path from `start` back to itself inside its component.
    std::vector<Index> previous(n, kNone);
    std::vector<Index> queue{start};
    bool closed = false;
    Index last = kNone;
    for (std::size_t head = 0; head < queue.size() && !closed; ++head) {
      const Index v = queue[head];
      for (Index w : classes[v].preempts) {
        if (w >= n || component[w] != comp) continue;
        if (w == start) {
          closed = true;
          last = v;
          break;
        }
        if (previous[w] == kNone) {
          previous[w] = v;
          queue.push_back(w);
        }
      }
    }
    if (!closed) continue;
    reported[static_cast<std::size_t>(comp)] = true;
    std::vector<Index> cycle;
    for (Index v = last; v != start; v = previous[v]) cycle.push_back(v);
    cycle.push_back(start);
    std::reverse(cycle.begin(), cycle.end());
    std::string text;
    for (Index v : cycle) text += quoted(classes[v].name) + " -> ";
    text += quoted(classes[start].name);
    // The closing entry: the last class of the cycle lists `start`.
    const PriorityClass& closer = classes[cycle.back()];
    Diagnostic& d =
        sink.error(code::E0210, entry_range(closer, entry_of(closer, start)),
                   cycle.size() == 1 ? fmt::format("priority {} preempts itself", quoted(classes[start].name))
                                     : fmt::format("priority classes preempt each other in a cycle: {}", text));
    for (std::size_t i = 0; i < cycle.size(); ++i) edges.insert({cycle[i], cycle[(i + 1) % cycle.size()]});
    for (std::size_t i = 0; i + 1 < cycle.size(); ++i) {
      const PriorityClass& from = classes[cycle[i]];
      const Index to = cycle[i + 1];
      d.note(fmt::format("{} preempts {} here", quoted(from.name), quoted(classes[to].name)),
             entry_range(from, entry_of(from, to)));
    }
    if (const std::string q = queues_using(policy, cycle); !q.empty()) d.note(q);
    d.add_help("remove one of the entries; a class may only preempt classes of lower `value`");
  }
  return edges;
}

}  // namespace

std::size_t check_preemption_graph(const Policy& policy, DiagnosticSink& sink) {
  const std::size_t before = sink.error_count();
  const std::set<std::pair<Index, Index>> in_cycles = check_cycles(policy, sink);
  check_order(policy, sink, in_cycles);
  return sink.error_count() - before;
}

}  // namespace allot::verify
