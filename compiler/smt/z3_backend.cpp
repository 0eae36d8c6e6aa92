// The only file that knows Z3: translates an `Obligation` into a Z3 query over
// integers, and runs the placement optimizer; a fresh context per call.
#include <z3++.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "compiler/smt/z3.h"

namespace allot::smt {
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

}  // namespace allot::smt

// ---- placement optimizer (compiler/smt/z3.h) -------------------
// Added for the plan stage; independent of the obligation solver above.

namespace allot::smt {
namespace {

class Z3PlacementOptimizer final : public PlacementOptimizer {
 public:
  // A linear encoding (0/1 integers, not Booleans) so that the LP relaxation
  // bounds every objective; nodes that are interchangeable are ordered by
  // load to break symmetry.
  OptimizeResult optimize(const PlacementProblem& problem, std::chrono::milliseconds budget) override {
    OptimizeResult result;
    try {
      z3::context ctx;
      z3::optimize opt(ctx);
      const std::size_t demands = problem.demands.size(), domains = problem.domains.size();
      const std::size_t nodes = problem.nodes.size();
      auto num = [&](std::int64_t v) { return ctx.int_val(static_cast<int64_t>(v)); };
      const z3::expr zero = num(0), one = num(1);
      auto binary = [&](const std::string& name) {
        z3::expr v = ctx.int_const(name.c_str());
        opt.add(v >= zero && v <= one);
        return v;
      };
      auto total_of = [&](const z3::expr_vector& v) { return v.empty() ? zero : z3::sum(v); };
      std::vector<std::vector<std::optional<z3::expr>>> x(demands, std::vector<std::optional<z3::expr>>(domains));
      std::vector<z3::expr_vector> node_users, node_load, domain_load;
      for (std::size_t n = 0; n < nodes; ++n) {
        node_users.emplace_back(ctx);
        node_load.emplace_back(ctx);
      }
      for (std::size_t k = 0; k < domains; ++k) domain_load.emplace_back(ctx);
      std::vector<std::vector<std::optional<z3::expr>>> uses(demands, std::vector<std::optional<z3::expr>>(nodes));
      z3::expr_vector spans(ctx), domain_spans(ctx), payg(ctx), moves(ctx);
      for (std::size_t d = 0; d < demands; ++d) {
        z3::expr_vector total(ctx);
        for (std::uint32_t n : problem.demands[d].nodes) {
          const OptNode& node = problem.nodes.at(n);
          z3::expr_vector on_node(ctx);
          for (std::uint32_t k = node.first_domain; k < node.first_domain + node.domain_count; ++k) {
            const std::string id = std::to_string(d) + "_" + std::to_string(k);
            z3::expr v = ctx.int_const(("x_" + id).c_str());
            const std::int64_t cap = problem.domains[k].capacity;
            opt.add(v >= zero && v <= num(cap));
            const z3::expr used = binary("v_" + id);
            opt.add(v <= num(cap) * used);
            opt.add(v >= used);
            domain_spans.push_back(used);
            domain_load[k].push_back(v);
            on_node.push_back(v);
            total.push_back(v);
            node_load[n].push_back(v);
            if (node.pay_as_you_go) payg.push_back(v);
            if (d < problem.previous.size() && problem.previous[d][k] > 0) {
              z3::expr m = ctx.int_const(("m_" + id).c_str());
              opt.add(m >= zero && m >= num(problem.previous[d][k]) - v);
              moves.push_back(m);
            }
            x[d][k] = v;
          }
          const z3::expr u = binary("u_" + std::to_string(d) + "_" + std::to_string(n));
          const z3::expr sum = total_of(on_node);
          opt.add(sum <= num(node.capacity) * u);
          opt.add(sum >= u);
          spans.push_back(u);
          node_users[n].push_back(u);
          uses[d][n] = u;
        }
        opt.add(total_of(total) == num(problem.demands[d].gpus));
        // Redundant cuts the LP relaxation does not find by itself: a demand
        // spans at least ceil(gpus / largest node) nodes, and likewise domains.
        std::int64_t largest_node = 0, largest_domain = 0;
        z3::expr_vector own_spans(ctx), own_domains(ctx);
        for (std::uint32_t n : problem.demands[d].nodes) {
          const OptNode& node = problem.nodes.at(n);
          largest_node = std::max(largest_node, node.capacity);
          own_spans.push_back(*uses[d][n]);
          for (std::uint32_t k = node.first_domain; k < node.first_domain + node.domain_count; ++k) {
            largest_domain = std::max(largest_domain, problem.domains[k].capacity);
          }
        }
        if (largest_node > 0) {
          opt.add(total_of(own_spans) >= num((problem.demands[d].gpus + largest_node - 1) / largest_node));
        }
        (void)largest_domain;
      }
      for (std::size_t k = 0; k < domains; ++k) {
        if (!domain_load[k].empty()) opt.add(z3::sum(domain_load[k]) <= num(problem.domains[k].capacity));
      }
      z3::expr_vector shared(ctx), free_nodes(ctx);
      for (std::size_t n = 0; n < nodes; ++n) {
        const std::int64_t users = static_cast<std::int64_t>(node_users[n].size());
        if (users >= 2) {
          const z3::expr s = binary("s_" + std::to_string(n));
          opt.add(total_of(node_users[n]) - one <= num(users - 1) * s);
          shared.push_back(s);
        }
        if (problem.nodes[n].capacity > 0) {
          const z3::expr f = binary("f_" + std::to_string(n));
          for (std::size_t d = 0; d < demands; ++d) {
            if (uses[d][n]) opt.add(f + *uses[d][n] <= one);
          }
          free_nodes.push_back(f);
        }
      }
      // Symmetry: consecutive interchangeable nodes carry non-increasing loads.
      auto same = [&](std::size_t a, std::size_t b) {
        const OptNode &p = problem.nodes[a], &q = problem.nodes[b];
        if (p.capacity != q.capacity || p.domain_count != q.domain_count || p.pay_as_you_go != q.pay_as_you_go) {
          return false;
        }
        for (std::uint32_t i = 0; i < p.domain_count; ++i) {
          if (problem.domains[p.first_domain + i].capacity != problem.domains[q.first_domain + i].capacity)
            return false;
          for (const auto& prev : problem.previous) {
            if (prev[p.first_domain + i] != 0 || prev[q.first_domain + i] != 0) return false;
          }
        }
        for (const OptDemand& dm : problem.demands) {
          const bool has_a = std::binary_search(dm.nodes.begin(), dm.nodes.end(), static_cast<std::uint32_t>(a));
          const bool has_b = std::binary_search(dm.nodes.begin(), dm.nodes.end(), static_cast<std::uint32_t>(b));
          if (has_a != has_b) return false;
        }
        return true;
      };
      for (std::size_t n = 0; n + 1 < nodes; ++n) {
        if (same(n, n + 1)) opt.add(total_of(node_load[n]) >= total_of(node_load[n + 1]));
      }
      const std::array<z3::expr, 6> objectives = {total_of(shared),     total_of(spans), total_of(domain_spans),
                                                  total_of(free_nodes), total_of(payg),  total_of(moves)};
      for (std::size_t i = 0; i < objectives.size(); ++i) {
        const PlacementProblem::Hint& hint = problem.hints[i];
        if (hint.equal) opt.add(objectives[i] == num(*hint.equal));
        if (hint.bound) opt.add(i == 3 ? objectives[i] >= num(*hint.bound) : objectives[i] <= num(*hint.bound));
      }
      // Lexicographic by stages: optimise one objective, fix it at its
      // optimum, go on with the next (sturdier than the optimizer's own
      // `lex` priority, whose models were seen to lose earlier optima).
      const auto deadline = std::chrono::steady_clock::now() + budget;
      std::optional<z3::model> best;
      for (std::size_t i = 0; i < objectives.size(); ++i) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          result.status = OptStatus::timeout;
          result.detail = "timeout";
          return result;
        }
        z3::params stage(ctx);
        stage.set("timeout", static_cast<unsigned>(left.count()));
        opt.set(stage);
        opt.push();
        if (i == 3) {
          opt.maximize(objectives[i]);
        } else {
          opt.minimize(objectives[i]);
        }
        const z3::check_result answer = opt.check();
        if (answer == z3::unsat) {
          result.status = OptStatus::infeasible;
          result.detail = "no placement meets every share";
          return result;
        }
        if (answer == z3::unknown) {
          const std::string reason = Z3_optimize_get_reason_unknown(ctx, opt);
          const bool timed_out =
              reason.find("timeout") != std::string::npos || reason.find("canceled") != std::string::npos;
          result.status = timed_out ? OptStatus::timeout : OptStatus::failed;
          result.detail = reason;
          return result;
        }
        best = opt.get_model();
        const z3::expr value = best->eval(objectives[i], true);
        opt.pop();
        opt.add(objectives[i] == value);
      }
      result.solution.amount.assign(demands, std::vector<std::int64_t>(domains, 0));
      for (std::size_t d = 0; d < demands; ++d) {
        for (std::size_t k = 0; k < domains; ++k) {
          if (!x[d][k]) continue;
          int64_t value = 0;
          if (!best->eval(*x[d][k], true).is_numeral_i64(value)) {
            result.status = OptStatus::failed;
            result.detail = "value out of range";
            return result;
          }
          result.solution.amount[d][k] = value;
        }
      }
      result.status = OptStatus::optimal;
      return result;
    } catch (const z3::exception& e) {
      result.status = OptStatus::failed;
      result.detail = std::string("solver error: ") + e.msg();
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<PlacementOptimizer> make_z3_placement_optimizer() { return std::make_unique<Z3PlacementOptimizer>(); }

}  // namespace allot::smt
