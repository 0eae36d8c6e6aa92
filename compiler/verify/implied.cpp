// N0201: an assertion the structure implies. Every field an assertion reads
// is a constant, so check_assertions decides whether it holds; this pass asks
// a different question: would it hold for *any* numbers that pass the
// structural invariants (E0201..E0205) and keep the policy's shape (which
// ranges are open, which amounts are single)? Then it can never fail, and
// the author is told so; it stays as documentation. The fields become
// integer variables, the invariants constraints, and the solver proves that
// the negated assertion has no solution.
#include <fmt/format.h>

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"
#include "compiler/sema/units.h"
#include "compiler/smt/z3.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;

namespace {

// Above this many fields the question is not worth a solver call.
constexpr std::size_t kMaxScopes = 200;

// A numeric term: `node / den`, `den` > 0; `constant` when it has no variable.
struct Term {
  smt::NodeId node = 0;
  std::int64_t den = 1;
  std::optional<Rational> constant;
};

bool fits(__int128 v) { return v >= -(static_cast<__int128>(1) << 62) && v <= (static_cast<__int128>(1) << 62); }

class Encoder {
 public:
  Encoder(const Policy& policy, smt::Obligation& ob) : policy_(policy), ob_(ob) {}

  // The assertion as a condition, or nothing when it leaves linear integer
  // arithmetic (a product of two fields, a division by a field, a `.max`
  // without a limit, numbers too large).
  std::optional<smt::NodeId> condition(const TypedExpr& e, int depth = 0) {
    if (depth > 200) return std::nullopt;
    const auto* op = std::get_if<OpExpr>(&e.node);
    if (op == nullptr) return std::nullopt;
    std::vector<smt::NodeId> args;
    switch (op->op) {
      case Op::logical_and:
      case Op::logical_or:
      case Op::logical_not:
        for (const TypedExpr& o : op->operands) {
          auto c = condition(o, depth + 1);
          if (!c) return std::nullopt;
          args.push_back(*c);
        }
        if (op->op == Op::logical_not) return args.empty() ? std::nullopt : std::optional(ob_.negate(args[0]));
        return op->op == Op::logical_and ? ob_.all(args) : ob_.any(args);
      case Op::eq:
      case Op::ne:
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge: {
        if (op->operands.size() != 2 || op->operands[0].type == ExprType::boolean) return std::nullopt;
        auto l = term(op->operands[0], depth + 1);
        auto r = term(op->operands[1], depth + 1);
        if (!l || !r) return std::nullopt;
        // a/p op b/q  <=>  a*q op b*p  (p, q > 0)
        const smt::NodeId a = ob_.scale(r->den, l->node), b = ob_.scale(l->den, r->node);
        switch (op->op) {
          case Op::eq:
            return ob_.eq(a, b);
          case Op::ne:
            return ob_.negate(ob_.eq(a, b));
          case Op::lt:
            return ob_.lt(a, b);
          case Op::le:
            return ob_.le(a, b);
          case Op::gt:
            return ob_.lt(b, a);
          default:
            return ob_.le(b, a);
        }
      }
      default:
        return std::nullopt;
    }
  }

  // Fields the assertion reads, in order.
  std::vector<FieldRef> read;
  // Variables, for the structural constraints.
  std::map<std::pair<Index, Index>, smt::NodeId> guarantees, limits;

  smt::NodeId guarantee(Index scope, Index r) {
    auto [it, fresh] = guarantees.try_emplace({scope, r}, 0);
    if (fresh) it->second = ob_.var(fmt::format("g:{}:{}", policy_.scopes[scope].path, r), 0);
    return it->second;
  }
  // The limit in effect, or nothing when there is none.
  std::optional<smt::NodeId> limit(Index scope, Index r) {
    for (Index s = scope; s != kNone; s = policy_.scopes[s].parent) {
      const Bound* b = bound_of(policy_, s, r);
      if (b && b->limit) {
        auto [it, fresh] = limits.try_emplace({s, r}, 0);
        if (fresh) it->second = ob_.var(fmt::format("l:{}:{}", policy_.scopes[s].path, r), 0);
        return it->second;
      }
      if (policy_.scopes[s].parent == kNone) {
        const Capacity cap = pool_capacity(policy_, policy_.scopes[s].pool, r);
        if (cap.known && !cap.unbounded) return ob_.constant(cap.amount);
      }
    }
    return std::nullopt;
  }

 private:
  std::optional<Term> make_constant(__int128 num, __int128 den) {
    if (den < 0) {
      num = -num;
      den = -den;
    }
    if (den == 0) return std::nullopt;
    sema::reduce_fraction(num, den);
    if (!fits(num) || !fits(den)) return std::nullopt;
    const Rational q{static_cast<std::int64_t>(num), static_cast<std::int64_t>(den)};
    return Term{ob_.constant(q.num), q.den, q};
  }

  // Brings two terms to one denominator.
  std::optional<std::pair<smt::NodeId, smt::NodeId>> common(const Term& a, const Term& b, std::int64_t& den) {
    if (!fits(static_cast<__int128>(a.den) * b.den)) return std::nullopt;
    den = a.den * b.den;
    return std::pair{ob_.scale(b.den, a.node), ob_.scale(a.den, b.node)};
  }

  std::optional<Term> term(const TypedExpr& e, int depth) {
    if (depth > 200) return std::nullopt;
    if (const auto* c = std::get_if<ConstExpr>(&e.node)) return make_constant(c->value.num, c->value.den);
    if (const auto* f = std::get_if<FieldRef>(&e.node)) {
      if (f->scope >= policy_.scopes.size()) return std::nullopt;
      if (f->field == Field::guarantee) {
        // Unset, a guarantee is 0 whatever the numbers.
        if (!bound_of(policy_, f->scope, f->resource)) return make_constant(0, 1);
        read.push_back(*f);
        return Term{guarantee(f->scope, f->resource), 1, std::nullopt};
      }
      read.push_back(*f);
      auto l = limit(f->scope, f->resource);
      if (!l) return std::nullopt;
      return Term{*l, 1, std::nullopt};
    }
    if (const auto* a = std::get_if<AggregateExpr>(&e.node)) {
      if (a->op == AggregateOp::count) return make_constant(static_cast<__int128>(a->items.size()), 1);
      if (a->items.empty()) return a->op == AggregateOp::sum ? make_constant(0, 1) : std::nullopt;
      std::optional<Term> acc;
      for (const TypedExpr& item : a->items) {
        auto t = term(item, depth + 1);
        if (!t) return std::nullopt;
        if (!acc) {
          acc = t;
          continue;
        }
        std::int64_t den = 1;
        auto both = common(*acc, *t, den);
        if (!both) return std::nullopt;
        smt::NodeId n = a->op == AggregateOp::sum   ? ob_.add(both->first, both->second)
                        : a->op == AggregateOp::min ? ob_.min(both->first, both->second)
                                                    : ob_.max(both->first, both->second);
        acc = Term{n, den, std::nullopt};
      }
      return acc;
    }
    const auto& op = std::get<OpExpr>(e.node);
    std::vector<Term> args;
    for (const TypedExpr& o : op.operands) {
      auto t = term(o, depth + 1);
      if (!t) return std::nullopt;
      args.push_back(*t);
    }
    if (args.empty()) return std::nullopt;
    if (op.op == Op::neg) return Term{ob_.scale(-1, args[0].node), args[0].den, std::nullopt};
    if (args.size() != 2) return std::nullopt;
    const Term& x = args[0];
    const Term& y = args[1];
    std::int64_t den = 1;
    switch (op.op) {
      case Op::add:
      case Op::sub: {
        auto both = common(x, y, den);
        if (!both) return std::nullopt;
        return Term{op.op == Op::add ? ob_.add(both->first, both->second) : ob_.sub(both->first, both->second), den,
                    std::nullopt};
      }
      case Op::mul: {
        const Term* k = x.constant ? &x : y.constant ? &y : nullptr;
        if (k == nullptr) return std::nullopt;  // not linear
        const Term& other = k == &x ? y : x;
        if (!fits(static_cast<__int128>(other.den) * k->constant->den)) return std::nullopt;
        return Term{ob_.scale(k->constant->num, other.node), other.den * k->constant->den, std::nullopt};
      }
      case Op::div: {
        if (!y.constant || y.constant->num == 0) return std::nullopt;
        // x / (p/q) = x * q / p
        std::int64_t p = y.constant->num, q = y.constant->den;
        if (p < 0) {
          p = -p;
          q = -q;
        }
        if (!fits(static_cast<__int128>(x.den) * p)) return std::nullopt;
        return Term{ob_.scale(q, x.node), x.den * p, std::nullopt};
      }
      default:
        return std::nullopt;
    }
  }

  const Policy& policy_;
  smt::Obligation& ob_;
};

// The invariants the verifier enforces, over the fields the assertion reads
// and those they are compared with by the invariants.
// Returns false when that is too many fields to be worth asking.
bool add_structure(const Policy& policy, Encoder& enc, smt::Obligation& ob) {
  // Close over parents and the bounded children of every scope read, so that
  // E0201 and E0202 relate them.
  std::set<std::pair<Index, Index>> scopes;
  for (const auto& [key, node] : enc.guarantees) scopes.insert(key);
  for (const auto& [key, node] : enc.limits) scopes.insert(key);
  std::set<std::pair<Index, Index>> closed;
  for (auto [s, r] : scopes) {
    for (Index a = s; a != kNone; a = policy.scopes[a].parent) {
      if (bound_of(policy, a, r)) closed.insert({a, r});
    }
  }
  std::set<std::pair<Index, Index>> with_children = closed;
  for (auto [s, r] : closed) {
    for (Index c : bounded_frontier(policy, s, r)) with_children.insert({c, r});
    if (with_children.size() > kMaxScopes) return false;
  }
  for (auto [s, r] : with_children) {
    const Bound* b = bound_of(policy, s, r);
    if (!b) continue;
    const smt::NodeId g = enc.guarantee(s, r);
    // The shape of the bound: a single amount is a guarantee equal to its limit.
    if (b->limit) {
      const smt::NodeId l = *enc.limit(s, r);
      ob.require(b->guarantee == *b->limit ? ob.eq(g, l) : ob.le(g, l));
    }
    // E0202 (and the open range: the limit in effect above).
    if (const Index p = policy.scopes[s].parent; p != kNone) {
      if (auto above = enc.limit(p, r); above && b->limit) ob.require(ob.le(*enc.limit(s, r), *above));
    } else if (b->limit) {
      // E0205.
      const Capacity cap = pool_capacity(policy, policy.scopes[s].pool, r);
      if (cap.known && !cap.unbounded) ob.require(ob.le(*enc.limit(s, r), ob.constant(cap.amount)));
    }
  }
  // E0201: children within the parent's guarantee.
  for (auto [s, r] : closed) {
    std::vector<smt::NodeId> kids;
    for (Index c : bounded_frontier(policy, s, r)) kids.push_back(enc.guarantee(c, r));
    if (!kids.empty()) ob.require(ob.le(ob.add(kids), enc.guarantee(s, r)));
  }
  // E0204: the roots of a pool within its capacity.
  std::set<std::pair<Index, Index>> pools;
  for (auto [s, r] : closed) {
    if (policy.scopes[s].parent == kNone) pools.insert({policy.scopes[s].pool, r});
  }
  for (auto [p, r] : pools) {
    if (pool_frontier(policy, p, r).size() > kMaxScopes) return false;
    const Capacity cap = pool_capacity(policy, p, r);
    if (!cap.known || cap.unbounded) continue;
    std::vector<smt::NodeId> tops;
    for (Index s : pool_frontier(policy, p, r)) tops.push_back(enc.guarantee(s, r));
    if (!tops.empty()) ob.require(ob.le(ob.add(tops), ob.constant(cap.amount)));
  }
  return true;
}

}  // namespace

std::size_t check_implied_assertions(const Policy& policy, DiagnosticSink& sink, const Options& options) {
  std::size_t found = 0;
  std::unique_ptr<smt::Solver> own_solver;
  smt::Solver* solver = options.solver;
  for (const Assertion& a : policy.assertions) {
    smt::Obligation ob("implied assertion");
    Encoder enc(policy, ob);
    const std::optional<smt::NodeId> holds = enc.condition(a.expr);
    // An assertion of constants alone is trivially what it is.
    if (!holds || (enc.guarantees.empty() && enc.limits.empty())) continue;
    if (enc.guarantees.size() + enc.limits.size() > kMaxScopes) continue;
    if (!add_structure(policy, enc, ob)) continue;
    ob.require(ob.negate(*holds));
    if (solver == nullptr) {
      own_solver = smt::make_z3_solver();
      solver = own_solver.get();
    }
    const smt::Result result = solver->check(ob, options.timeout);
    if (!std::holds_alternative<smt::Proved>(result)) continue;
    ++found;
    const std::string what = a.label ? fmt::format("assertion \"{}\"", *a.label) : std::string("this assertion");
    Diagnostic& d =
        sink.notice(code::N0201, a.range, fmt::format("{} always holds: the structure of the policy implies it", what));
    std::set<std::pair<Index, Index>> shown;
    for (const FieldRef& f : enc.read) {
      if (!shown.insert({f.scope, f.resource}).second) continue;
      d.note(fmt::format("it reads the bound of `{}`, which the checks of guarantees and limits (E0201 to E0205) "
                         "keep within its parent and pool",
                         policy.scopes[f.scope].path),
             bound_range(policy, f.scope, f.resource));
      if (shown.size() >= 3) break;
    }
    d.add_help("keep it as documentation; it can never fail");
  }
  return found;
}

}  // namespace allot::verify
