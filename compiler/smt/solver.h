// The obligation interface between the verifier and a decision procedure.
//
// An obligation is a named *negated* property: a conjunction of constraints
// over integer variables that is satisfiable exactly when the property fails.
// The solver answers
//   proved   - the constraints are unsatisfiable: the property holds;
//   refuted  - a satisfying assignment: a counterexample to the property;
//   unknown  - no answer within the timeout (or the solver gave up); callers
//              report this honestly as a warning, never as proved.
//
// Terms are linear integer arithmetic plus min, max and if-then-else, which is
// all capacity reasoning needs. No solver library is visible here: the Z3
// implementation is behind compiler/smt/z3.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/base/source.h"

namespace allot::smt {

using NodeId = std::uint32_t;

enum class NodeKind {
  constant,  // integer `value`
  variable,  // `value` is the variable's index
  add,       // n-ary
  sub,       // binary
  scale,     // `value` * args[0]
  min,       // binary
  max,       // binary
  ite,       // args: condition, then, else
  le,
  lt,
  eq,
  logical_and,  // n-ary
  logical_or,   // n-ary
  logical_not,
};

struct Node {
  NodeKind kind = NodeKind::constant;
  std::int64_t value = 0;
  std::vector<NodeId> args;
};

struct Variable {
  std::string name;
  std::int64_t lower = 0;  // every variable is an integer >= lower
};

class Obligation {
 public:
  explicit Obligation(std::string name = {}) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  // The declarations the property is about (for reports).
  std::vector<SourceRange> ranges;

  // Builders. Variables are integers bounded below by `lower`.
  NodeId var(std::string name, std::int64_t lower = 0);
  NodeId constant(std::int64_t value);
  NodeId add(std::vector<NodeId> terms);
  NodeId add(NodeId a, NodeId b) { return add(std::vector<NodeId>{a, b}); }
  NodeId sub(NodeId a, NodeId b);
  NodeId scale(std::int64_t factor, NodeId a);
  NodeId min(NodeId a, NodeId b);
  NodeId max(NodeId a, NodeId b);
  NodeId ite(NodeId condition, NodeId then, NodeId otherwise);
  NodeId le(NodeId a, NodeId b);
  NodeId lt(NodeId a, NodeId b);
  NodeId eq(NodeId a, NodeId b);
  NodeId all(std::vector<NodeId> conditions);
  NodeId any(std::vector<NodeId> conditions);
  NodeId negate(NodeId condition);

  // Adds a constraint of the negated property.
  void require(NodeId condition) { constraints_.push_back(condition); }

  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Variable>& variables() const { return variables_; }
  const std::vector<NodeId>& constraints() const { return constraints_; }
  // Index of a variable by name.
  std::optional<std::uint32_t> find_variable(std::string_view name) const;

 private:
  NodeId push(NodeKind kind, std::int64_t value, std::vector<NodeId> args);

  std::string name_;
  std::vector<Node> nodes_;
  std::vector<Variable> variables_;
  std::vector<NodeId> constraints_;
};

using Assignment = std::map<std::string, std::int64_t>;

struct Proved {};
struct Refuted {
  Assignment counterexample;  // variable name -> value
};
struct Unknown {
  std::string reason;
};
using Result = std::variant<Proved, Refuted, Unknown>;

// An assignment by variable index (Obligation::variables()): the form the
// evaluator works on, without a lookup by name per use.
using Values = std::vector<std::int64_t>;
// Nothing when a variable of the obligation is missing from the assignment.
std::optional<Values> values_of(const Obligation& obligation, const Assignment& assignment);
Assignment assignment_of(const Obligation& obligation, const Values& values);

// Evaluates a node natively under an assignment (missing variables are an
// error: returns nothing). Booleans are 0 or 1. Used to re-check
// counterexamples independently of the solver.
std::optional<std::int64_t> evaluate(const Obligation& obligation, NodeId node, const Assignment& assignment);
std::optional<std::int64_t> evaluate(const Obligation& obligation, NodeId node, const Values& values);
// True when every variable is at least its lower bound and every constraint
// of the obligation holds under the assignment.
bool satisfies(const Obligation& obligation, const Assignment& assignment);
bool satisfies(const Obligation& obligation, const Values& values);

class Solver {
 public:
  virtual ~Solver() = default;
  virtual Result check(const Obligation& obligation, std::chrono::milliseconds timeout) = 0;
};

}  // namespace allot::smt
