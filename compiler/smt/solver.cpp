#include "compiler/smt/solver.h"

#include <algorithm>
#include <limits>

namespace allot::smt {

NodeId Obligation::push(NodeKind kind, std::int64_t value, std::vector<NodeId> args) {
  nodes_.push_back(Node{kind, value, std::move(args)});
  return static_cast<NodeId>(nodes_.size() - 1);
}

NodeId Obligation::var(std::string name, std::int64_t lower) {
  variables_.push_back(Variable{std::move(name), lower});
  return push(NodeKind::variable, static_cast<std::int64_t>(variables_.size() - 1), {});
}

NodeId Obligation::constant(std::int64_t value) { return push(NodeKind::constant, value, {}); }
NodeId Obligation::add(std::vector<NodeId> terms) {
  if (terms.empty()) return constant(0);
  if (terms.size() == 1) return terms[0];
  return push(NodeKind::add, 0, std::move(terms));
}
NodeId Obligation::sub(NodeId a, NodeId b) { return push(NodeKind::sub, 0, {a, b}); }
NodeId Obligation::scale(std::int64_t factor, NodeId a) { return push(NodeKind::scale, factor, {a}); }
NodeId Obligation::min(NodeId a, NodeId b) { return push(NodeKind::min, 0, {a, b}); }
NodeId Obligation::max(NodeId a, NodeId b) { return push(NodeKind::max, 0, {a, b}); }
NodeId Obligation::ite(NodeId c, NodeId t, NodeId e) { return push(NodeKind::ite, 0, {c, t, e}); }
NodeId Obligation::le(NodeId a, NodeId b) { return push(NodeKind::le, 0, {a, b}); }
NodeId Obligation::lt(NodeId a, NodeId b) { return push(NodeKind::lt, 0, {a, b}); }
NodeId Obligation::eq(NodeId a, NodeId b) { return push(NodeKind::eq, 0, {a, b}); }
NodeId Obligation::all(std::vector<NodeId> c) { return push(NodeKind::logical_and, 0, std::move(c)); }
NodeId Obligation::any(std::vector<NodeId> c) { return push(NodeKind::logical_or, 0, std::move(c)); }
NodeId Obligation::negate(NodeId c) { return push(NodeKind::logical_not, 0, {c}); }

std::optional<std::uint32_t> Obligation::find_variable(std::string_view name) const {
  for (std::uint32_t i = 0; i < variables_.size(); ++i) {
    if (variables_[i].name == name) return i;
  }
  return std::nullopt;
}

namespace {

// Checked arithmetic: an overflow makes the evaluation fail rather than lie.
std::optional<std::int64_t> checked(__int128 v) {
  if (v > std::numeric_limits<std::int64_t>::max() || v < std::numeric_limits<std::int64_t>::min()) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(v);
}

std::optional<std::int64_t> eval(const Obligation& o, NodeId id, const Values& a, int depth) {
  if (depth > 10000 || id >= o.nodes().size()) return std::nullopt;
  const Node& n = o.nodes()[id];
  auto arg = [&](std::size_t i) { return eval(o, n.args[i], a, depth + 1); };
  switch (n.kind) {
    case NodeKind::constant:
      return n.value;
    case NodeKind::variable: {
      const auto index = static_cast<std::size_t>(n.value);
      if (index >= a.size()) return std::nullopt;
      return a[index];
    }
    case NodeKind::add: {
      __int128 sum = 0;
      for (std::size_t i = 0; i < n.args.size(); ++i) {
        auto x = arg(i);
        if (!x) return std::nullopt;
        sum += *x;
      }
      return checked(sum);
    }
    case NodeKind::sub: {
      auto x = arg(0), y = arg(1);
      if (!x || !y) return std::nullopt;
      return checked(static_cast<__int128>(*x) - *y);
    }
    case NodeKind::scale: {
      auto x = arg(0);
      if (!x) return std::nullopt;
      return checked(static_cast<__int128>(*x) * n.value);
    }
    case NodeKind::min:
    case NodeKind::max: {
      auto x = arg(0), y = arg(1);
      if (!x || !y) return std::nullopt;
      return n.kind == NodeKind::min ? std::min(*x, *y) : std::max(*x, *y);
    }
    case NodeKind::ite: {
      auto c = arg(0);
      if (!c) return std::nullopt;
      return *c != 0 ? arg(1) : arg(2);
    }
    case NodeKind::le:
    case NodeKind::lt:
    case NodeKind::eq: {
      auto x = arg(0), y = arg(1);
      if (!x || !y) return std::nullopt;
      if (n.kind == NodeKind::le) return *x <= *y ? 1 : 0;
      if (n.kind == NodeKind::lt) return *x < *y ? 1 : 0;
      return *x == *y ? 1 : 0;
    }
    case NodeKind::logical_and:
    case NodeKind::logical_or: {
      const bool is_and = n.kind == NodeKind::logical_and;
      for (std::size_t i = 0; i < n.args.size(); ++i) {
        auto x = arg(i);
        if (!x) return std::nullopt;
        if (is_and && *x == 0) return 0;
        if (!is_and && *x != 0) return 1;
      }
      return is_and ? 1 : 0;
    }
    case NodeKind::logical_not: {
      auto x = arg(0);
      if (!x) return std::nullopt;
      return *x == 0 ? 1 : 0;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Values> values_of(const Obligation& obligation, const Assignment& assignment) {
  Values values(obligation.variables().size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto it = assignment.find(obligation.variables()[i].name);
    if (it == assignment.end()) return std::nullopt;
    values[i] = it->second;
  }
  return values;
}

Assignment assignment_of(const Obligation& obligation, const Values& values) {
  Assignment out;
  for (std::size_t i = 0; i < values.size() && i < obligation.variables().size(); ++i)
    out[obligation.variables()[i].name] = values[i];
  return out;
}

std::optional<std::int64_t> evaluate(const Obligation& obligation, NodeId node, const Values& values) {
  if (values.size() != obligation.variables().size()) return std::nullopt;
  return eval(obligation, node, values, 0);
}

std::optional<std::int64_t> evaluate(const Obligation& obligation, NodeId node, const Assignment& assignment) {
  const std::optional<Values> values = values_of(obligation, assignment);
  if (!values) return std::nullopt;
  return eval(obligation, node, *values, 0);
}

bool satisfies(const Obligation& obligation, const Values& values) {
  if (values.size() != obligation.variables().size()) return false;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (values[i] < obligation.variables()[i].lower) return false;
  }
  for (NodeId c : obligation.constraints()) {
    auto x = eval(obligation, c, values, 0);
    if (!x || *x == 0) return false;
  }
  return true;
}

bool satisfies(const Obligation& obligation, const Assignment& assignment) {
  const std::optional<Values> values = values_of(obligation, assignment);
  return values && satisfies(obligation, *values);
}

}  // namespace allot::smt
