// Invariant 7: user assertions. Every field an assertion can name (a
// guarantee or a limit) is a constant of the policy, so assertions are
// evaluated natively and exactly, with rationals.
#include <fmt/format.h>

#include <numeric>
#include <set>

#include "compiler/base/codes.h"
#include "compiler/sema/model_queries.h"
#include "compiler/sema/units.h"
#include "compiler/verify/verify.h"

namespace allot::verify {

using namespace model;

namespace {

struct Exact {
  __int128 num = 0;
  __int128 den = 1;
};

Exact normalize(__int128 num, __int128 den) {
  sema::reduce_fraction(num, den);
  return {num, den};
}

bool overflowed(const Exact& x) {
  constexpr __int128 kMax = static_cast<__int128>(1) << 100;
  return x.num > kMax || x.num < -kMax || x.den > kMax;
}

struct Value {
  bool is_bool = false;
  bool flag = false;
  Exact q;
};

struct Failure {
  std::string reason;
};

class Evaluator {
 public:
  explicit Evaluator(const Policy& policy) : policy_(policy) {}

  std::variant<Value, Failure> eval(const TypedExpr& e, int depth = 0) {
    if (depth > 500) return Failure{"the expression is nested too deeply"};
    if (const auto* c = std::get_if<ConstExpr>(&e.node)) {
      if (c->value.den == 0) return Failure{"a constant divides by zero"};
      return Value{false, false, normalize(c->value.num, c->value.den)};
    }
    if (const auto* f = std::get_if<FieldRef>(&e.node)) {
      if (f->scope >= policy_.scopes.size()) return Failure{"a field names an unknown scope"};
      refs.push_back(*f);
      if (f->field == Field::guarantee) return Value{false, false, {guarantee_of(policy_, f->scope, f->resource), 1}};
      const Bound* b = bound_of(policy_, f->scope, f->resource);
      std::optional<Amount> limit = b && b->limit ? b->limit : effective_limit(policy_, f->scope, f->resource);
      if (!limit) {
        return Failure{fmt::format("`{}.{}.max` has no limit", policy_.scopes[f->scope].name,
                                   resource_name(policy_, f->resource))};
      }
      return Value{false, false, {*limit, 1}};
    }
    if (const auto* a = std::get_if<AggregateExpr>(&e.node)) {
      if (a->op == AggregateOp::count) return Value{false, false, {static_cast<__int128>(a->items.size()), 1}};
      std::optional<Exact> acc;
      for (const TypedExpr& item : a->items) {
        auto v = eval(item, depth + 1);
        if (auto* fail = std::get_if<Failure>(&v)) return *fail;
        const Exact x = std::get<Value>(v).q;
        if (!acc) {
          acc = x;
        } else if (a->op == AggregateOp::sum) {
          acc = normalize(acc->num * x.den + x.num * acc->den, acc->den * x.den);
        } else {
          const bool less = x.num * acc->den < acc->num * x.den;
          if ((a->op == AggregateOp::min) == less) acc = x;
        }
        if (overflowed(*acc)) return Failure{"the numbers are too large"};
      }
      if (!acc) {
        if (a->op == AggregateOp::sum) return Value{false, false, {0, 1}};
        return Failure{fmt::format("`{}` of an empty list", a->op == AggregateOp::min ? "min" : "max")};
      }
      return Value{false, false, *acc};
    }
    const auto& op = std::get<OpExpr>(e.node);
    std::vector<Value> args;
    for (const TypedExpr& operand : op.operands) {
      auto v = eval(operand, depth + 1);
      if (auto* fail = std::get_if<Failure>(&v)) return *fail;
      args.push_back(std::get<Value>(v));
    }
    auto need = [&](std::size_t n) { return args.size() >= n; };
    if (!need(op.op == Op::neg || op.op == Op::logical_not ? 1 : 2)) return Failure{"an operator lacks operands"};
    const Exact& x = args[0].q;
    const Exact y = args.size() > 1 ? args[1].q : Exact{};
    Value out;
    switch (op.op) {
      case Op::add:
        out.q = normalize(x.num * y.den + y.num * x.den, x.den * y.den);
        break;
      case Op::sub:
        out.q = normalize(x.num * y.den - y.num * x.den, x.den * y.den);
        break;
      case Op::mul:
        out.q = normalize(x.num * y.num, x.den * y.den);
        break;
      case Op::div:
        if (y.num == 0) return Failure{"it divides by zero"};
        out.q = normalize(x.num * y.den, x.den * y.num);
        break;
      case Op::neg:
        out.q = {-x.num, x.den};
        break;
      case Op::eq:
      case Op::ne:
      case Op::lt:
      case Op::le:
      case Op::gt:
      case Op::ge: {
        out.is_bool = true;
        if (args[0].is_bool || args[1].is_bool) {
          out.flag = (op.op == Op::eq) == (args[0].flag == args[1].flag);
          break;
        }
        const __int128 l = x.num * y.den, r = y.num * x.den;
        switch (op.op) {
          case Op::eq:
            out.flag = l == r;
            break;
          case Op::ne:
            out.flag = l != r;
            break;
          case Op::lt:
            out.flag = l < r;
            break;
          case Op::le:
            out.flag = l <= r;
            break;
          case Op::gt:
            out.flag = l > r;
            break;
          default:
            out.flag = l >= r;
            break;
        }
        break;
      }
      case Op::logical_and:
        out = {true, args[0].flag && args[1].flag, {}};
        break;
      case Op::logical_or:
        out = {true, args[0].flag || args[1].flag, {}};
        break;
      case Op::logical_not:
        out = {true, !args[0].flag, {}};
        break;
    }
    if (overflowed(out.q)) return Failure{"the numbers are too large"};
    return out;
  }

  std::vector<FieldRef> refs;

 private:
  const Policy& policy_;
};

std::string show(const Policy& policy, const Exact& q, Index resource) {
  if (q.den == 1 && q.num >= INT64_MIN && q.num <= INT64_MAX) {
    const auto v = static_cast<Amount>(q.num);
    if (resource == kNone) return std::to_string(v / 1);
    return format_amount(policy, resource, v);
  }
  // Not a whole base unit: three decimals of the base unit are plenty.
  const long double d = static_cast<long double>(q.num) / static_cast<long double>(q.den);
  if (resource == kNone) return fmt::format("{:.3f}", static_cast<double>(d));
  return fmt::format("{} (about)", format_amount(policy, resource, static_cast<Amount>(d)));
}

std::string one_line(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::size_t check_assertions(const SourceManager& sources, const Policy& policy, DiagnosticSink& sink) {
  const std::size_t before = sink.error_count();
  for (const Assertion& a : policy.assertions) {
    Evaluator ev(policy);
    auto result = ev.eval(a.expr);
    const std::string text = a.expr.range.valid() && a.expr.range.file < sources.file_count()
                                 ? one_line(sources.slice(a.expr.range))
                                 : std::string("assert");
    const std::string what = a.label ? fmt::format("assertion \"{}\"", *a.label) : fmt::format("assertion `{}`", text);
    if (auto* fail = std::get_if<Failure>(&result)) {
      sink.error(code::E0214, a.range, fmt::format("{} cannot be evaluated: {}", what, fail->reason));
      continue;
    }
    const Value& v = std::get<Value>(result);
    if (!v.is_bool || v.flag) continue;
    Diagnostic& d = sink.error(code::E0213, a.range, fmt::format("{} does not hold", what));
    // The two sides of a top-level comparison, then every field it read.
    if (const auto* op = std::get_if<OpExpr>(&a.expr.node);
        op && op->operands.size() == 2 && op->op >= Op::eq && op->op <= Op::ge) {
      for (const TypedExpr& side : op->operands) {
        Evaluator side_ev(policy);
        auto sv = side_ev.eval(side);
        if (auto* val = std::get_if<Value>(&sv);
            val && !val->is_bool && side.range.valid() && side.range.file < sources.file_count()) {
          d.note(fmt::format("`{}` is {}", one_line(sources.slice(side.range)),
                             show(policy, val->q, side.type == ExprType::amount ? side.resource : kNone)),
                 side.range);
        }
      }
    }
    std::set<std::string> shown;
    for (const DiagnosticNote& n : d.notes) shown.insert(n.message);
    std::set<std::tuple<Index, Index, int>> seen;
    for (const FieldRef& f : ev.refs) {
      if (!seen.insert({f.scope, f.resource, static_cast<int>(f.field)}).second) continue;
      const Scope& s = policy.scopes[f.scope];
      const bool limit = f.field == Field::limit;
      const Bound* b = bound_of(policy, f.scope, f.resource);
      const Amount value = limit
                               ? (b && b->limit ? *b->limit : effective_limit(policy, f.scope, f.resource).value_or(0))
                               : guarantee_of(policy, f.scope, f.resource);
      std::string note = fmt::format("`{}.{}{}` is {}", s.name, resource_name(policy, f.resource), limit ? ".max" : "",
                                     format_amount(policy, f.resource, value));
      if (!shown.insert(note).second) continue;
      d.note(std::move(note), bound_range(policy, f.scope, f.resource));
    }
  }
  return sink.error_count() - before;
}

}  // namespace allot::verify
