// The only file that knows Z3: translates an `Obligation` into a Z3 query
// over integers, with a fresh context per obligation (no shared state).
#include <z3++.h>

#include <string>

#include "compiler/verify/solver.h"

namespace allot::verify {
namespace {

class Z3Solver final : public Solver {
 public:
  Result check(const Obligation& obligation, std::chrono::milliseconds timeout) override {
    try {
      z3::context ctx;
      std::vector<z3::expr> vars;
      vars.reserve(obligation.variables().size());
      for (const Variable& v : obligation.variables()) vars.push_back(ctx.int_const(v.name.c_str()));
      // Nodes only refer to earlier nodes, so one pass in order translates all.
      std::vector<z3::expr> terms;
      terms.reserve(obligation.nodes().size());
      for (const Node& n : obligation.nodes()) {
        auto a = [&](std::size_t i) { return terms.at(n.args.at(i)); };
        switch (n.kind) {
          case NodeKind::constant:
            terms.push_back(ctx.int_val(static_cast<int64_t>(n.value)));
            break;
          case NodeKind::variable:
            terms.push_back(vars.at(static_cast<std::size_t>(n.value)));
            break;
          case NodeKind::add: {
            z3::expr_vector v(ctx);
            for (std::size_t i = 0; i < n.args.size(); ++i) v.push_back(a(i));
            terms.push_back(z3::sum(v));
            break;
          }
          case NodeKind::sub:
            terms.push_back(a(0) - a(1));
            break;
          case NodeKind::scale:
            terms.push_back(ctx.int_val(static_cast<int64_t>(n.value)) * a(0));
            break;
          case NodeKind::min:
            terms.push_back(z3::ite(a(0) <= a(1), a(0), a(1)));
            break;
          case NodeKind::max:
            terms.push_back(z3::ite(a(0) >= a(1), a(0), a(1)));
            break;
          case NodeKind::ite:
            terms.push_back(z3::ite(a(0), a(1), a(2)));
            break;
          case NodeKind::le:
            terms.push_back(a(0) <= a(1));
            break;
          case NodeKind::lt:
            terms.push_back(a(0) < a(1));
            break;
          case NodeKind::eq:
            terms.push_back(a(0) == a(1));
            break;
          case NodeKind::logical_and:
          case NodeKind::logical_or: {
            z3::expr_vector v(ctx);
            for (std::size_t i = 0; i < n.args.size(); ++i) v.push_back(a(i));
            if (v.empty()) {
              terms.push_back(ctx.bool_val(n.kind == NodeKind::logical_and));
            } else {
              terms.push_back(n.kind == NodeKind::logical_and ? z3::mk_and(v) : z3::mk_or(v));
            }
            break;
          }
          case NodeKind::logical_not:
            terms.push_back(!a(0));
            break;
        }
      }
      z3::solver solver(ctx, "QF_LIA");
      z3::params params(ctx);
      params.set("timeout", static_cast<unsigned>(std::max<long long>(1, timeout.count())));
      solver.set(params);
      for (std::size_t i = 0; i < vars.size(); ++i) {
        solver.add(vars[i] >= ctx.int_val(static_cast<int64_t>(obligation.variables()[i].lower)));
      }
      for (NodeId c : obligation.constraints()) solver.add(terms.at(c));
      switch (solver.check()) {
        case z3::unsat:
          return Proved{};
        case z3::sat: {
          Refuted refuted;
          z3::model model = solver.get_model();
          for (std::size_t i = 0; i < vars.size(); ++i) {
            z3::expr value = model.eval(vars[i], true);
            int64_t x = 0;
            if (!value.is_numeral_i64(x)) return Unknown{"counterexample value out of range"};
            refuted.counterexample[obligation.variables()[i].name] = x;
          }
          return refuted;
        }
        case z3::unknown: {
          std::string reason = solver.reason_unknown();
          if (reason == "timeout" || reason == "canceled") {
            return Unknown{"solver timed out after " + std::to_string(timeout.count()) + " ms"};
          }
          return Unknown{"solver gave up: " + reason};
        }
      }
      return Unknown{"solver gave up"};
    } catch (const z3::exception& e) {
      return Unknown{std::string("solver error: ") + e.msg()};
    }
  }
};

}  // namespace

std::unique_ptr<Solver> make_z3_solver() { return std::make_unique<Z3Solver>(); }

}  // namespace allot::verify
