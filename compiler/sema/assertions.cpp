// Type checking and lowering of assertions to model::TypedExpr.
//
// Types: numbers (exact rationals), amounts of one resource (in base units),
// conditions, and, only as intermediate values, scopes, lists of scopes and
// lists of amounts. A bare number meets an amount in the resource's display
// unit (`Q.gpu == 128` is 128 GPUs); memory has no bare display unit and
// needs `MiB`/`GiB`/`TiB`. A memory literal is an amount whose resource is
// not known yet (kNone) until it meets a memory resource; alone it is `memory`.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {

using model::ExprType;
using model::Rational;
using model::TypedExpr;

namespace {

enum class Kind { error, number, amount, boolean, scope, scopes, list };

struct Val {
  Kind kind = Kind::error;
  TypedExpr expr;                // number, amount, boolean
  Index resource = kNone;        // amount and list (kNone: a memory size, or a list of numbers)
  Index scope = kNone;           // scope
  std::vector<Index> scopes;     // scopes
  std::vector<TypedExpr> items;  // list
  SourceRange range;
};

bool is_const(const TypedExpr& e) { return std::holds_alternative<model::ConstExpr>(e.node); }
Rational const_of(const TypedExpr& e) { return std::get<model::ConstExpr>(e.node).value; }

TypedExpr make_const(ExprType type, Index resource, Rational value, SourceRange range) {
  TypedExpr e;
  e.type = type;
  e.resource = resource;
  e.range = range;
  e.node = model::ConstExpr{value};
  return e;
}

TypedExpr make_op(model::Op op, ExprType type, Index resource, std::vector<TypedExpr> operands, SourceRange range) {
  TypedExpr e;
  e.type = type;
  e.resource = resource;
  e.range = range;
  e.node = model::OpExpr{op, std::move(operands)};
  return e;
}

// Gives every amount in `e` that has no resource yet (memory literals) the
// resource `r`.
void retarget(TypedExpr& e, Index r) {
  if (e.type == ExprType::amount && e.resource == kNone) e.resource = r;
  if (auto* op = std::get_if<model::OpExpr>(&e.node)) {
    for (TypedExpr& operand : op->operands) retarget(operand, r);
  } else if (auto* agg = std::get_if<model::AggregateExpr>(&e.node)) {
    for (TypedExpr& item : agg->items) retarget(item, r);
  }
}

}  // namespace

class ExprChecker {
 public:
  explicit ExprChecker(Analyzer& a) : a_(a) {}

  std::optional<TypedExpr> check(const ast::Assertion& assertion) {
    Val v = eval(*assertion.expr);
    if (v.kind == Kind::error) return std::nullopt;
    if (v.kind != Kind::boolean) {
      a_.sink_
          .error(codes::kTypeMismatch, assertion.expr->range,
                 fmt::format("an assertion needs a condition, found {}", type_name(v)))
          .add_help("compare it with something, e.g. `Quota1.gpu <= 64`");
      return std::nullopt;
    }
    retarget(v.expr, model::kMemory);
    return std::move(v.expr);
  }

 private:
  std::string type_name(const Val& v) const {
    switch (v.kind) {
      case Kind::error:
        return "an error";
      case Kind::number:
        return "a number";
      case Kind::amount:
        return v.resource == kNone ? "a memory size"
                                   : fmt::format("a `{}` amount", a_.policy_.resources[v.resource].name);
      case Kind::boolean:
        return "a condition";
      case Kind::scope: {
        const model::Scope& s = a_.policy_.scopes[v.scope];
        return fmt::format("{} `{}`", model::to_string(s.kind), s.path);
      }
      case Kind::scopes:
        return "a list of scopes";
      case Kind::list:
        return v.resource == kNone ? "a list of numbers"
                                   : fmt::format("a list of `{}` amounts", a_.policy_.resources[v.resource].name);
    }
    return "?";
  }

  Val error() { return Val{}; }

  Val number(Rational r, SourceRange range) {
    Val v;
    v.kind = Kind::number;
    v.expr = make_const(ExprType::number, kNone, r, range);
    v.range = range;
    return v;
  }

  Val eval(const ast::Expr& e) {
    return std::visit([&](const auto& node) { return eval_node(node, e); }, e.node);
  }

  Val eval_node(const ast::NumberLit& lit, const ast::Expr& e) {
    Decimal dec;
    if (!a_.values_.decimal(lit, e.range, dec)) return error();
    const Rational value = to_rational(dec);
    Rational scaled;
    if (lit.unit.empty()) return number(value, e.range);
    if (lit.unit == "m") {
      rational_div(value, Rational{1000, 1}, scaled);
      return number(scaled, e.range);
    }
    if (auto mult = memory_unit(lit.unit)) {
      if (!rational_mul(value, Rational{*mult, 1}, scaled)) {
        a_.sink_.error(codes::kTooLarge, e.range, fmt::format("number `{}` is too large", a_.text(e.range)));
        return error();
      }
      Val v;
      v.kind = Kind::amount;
      v.expr = make_const(ExprType::amount, kNone, scaled, e.range);
      v.range = e.range;
      return v;
    }
    a_.sink_.error(codes::kBadUnit, e.range, fmt::format("`{}` cannot be used in an assertion", lit.unit))
        .add_help("assertions use plain numbers (in whole units), `m` for milli-units, or `MiB`, `GiB`, `TiB`");
    return error();
  }

  Val eval_node(const ast::StringLit&, const ast::Expr& e) {
    a_.sink_.error(codes::kTypeMismatch, e.range, "a string cannot appear in an assertion")
        .add_help("strings are only used as labels: `assert ... as \"label\"`");
    return error();
  }

  Val eval_node(const ast::NameRef& ref, const ast::Expr& e) {
    if (ref.name == "true" || ref.name == "false") {
      Val v;
      v.kind = Kind::boolean;
      v.expr = make_const(ExprType::boolean, kNone, Rational{ref.name == "true" ? 1 : 0, 1}, e.range);
      v.range = e.range;
      return v;
    }
    if (a_.top_scopes_.find(ref.name) == kNone) {
      Diagnostic& d =
          a_.sink_.error(codes::kUnknownScope, e.range, fmt::format("unknown quota or workspace `{}`", ref.name));
      a_.values_.suggest_symbol(d, ref.name, a_.top_scopes_);
      return error();
    }
    auto it = a_.scope_paths_.find(ref.name);
    if (it == a_.scope_paths_.end()) return error();  // declared but rejected; already reported
    Val v;
    v.kind = Kind::scope;
    v.scope = it->second;
    v.range = e.range;
    return v;
  }

  // `X.gpu`, `X.gpu.max`, `ws.ns.q.cu.min`, `children(X).gpu`.
  Val eval_node(const ast::MemberExpr&, const ast::Expr& e) {
    std::vector<const ast::Identifier*> chain;
    const ast::Expr* base = &e;
    while (const auto* m = std::get_if<ast::MemberExpr>(&base->node)) {
      chain.push_back(&m->member);
      base = m->object.get();
    }
    std::reverse(chain.begin(), chain.end());
    Val v = eval(*base);
    for (std::size_t i = 0; i < chain.size() && v.kind != Kind::error; ++i) {
      const ast::Identifier& id = *chain[i];
      const SourceRange range = join(v.range, id.range);
      if (v.kind != Kind::scope && v.kind != Kind::scopes) {
        a_.sink_.error(codes::kTypeMismatch, id.range,
                       fmt::format("`.{}` cannot be applied to {}", id.text, type_name(v)));
        return error();
      }
      const Index resource = a_.resources_.find(id.text);
      if (resource == kNone) {
        if (v.kind == Kind::scope) {
          const model::Scope& s = a_.policy_.scopes[v.scope];
          if (s.kind == model::ScopeKind::workspace || s.kind == model::ScopeKind::namespace_) {
            auto child = a_.scope_paths_.find(fmt::format("{}/{}", s.path, id.text));
            if (child != a_.scope_paths_.end()) {
              v.scope = child->second;
              v.range = range;
              continue;
            }
          }
        }
        Diagnostic& d =
            a_.sink_.error(codes::kUnknownResource, id.range, fmt::format("unknown resource `{}`", id.text));
        a_.values_.suggest_symbol(d, id.text, a_.resources_);
        return error();
      }
      model::Field field = model::Field::guarantee;
      SourceRange end = range;
      if (i + 1 < chain.size() && (chain[i + 1]->text == "min" || chain[i + 1]->text == "max")) {
        field = chain[i + 1]->text == "max" ? model::Field::limit : model::Field::guarantee;
        end = join(range, chain[i + 1]->range);
        ++i;
      }
      if (v.kind == Kind::scope) {
        v = field_of(v.scope, resource, field, end);
      } else {
        Val list;
        list.kind = Kind::list;
        list.resource = resource;
        list.range = end;
        for (Index s : v.scopes) {
          Val item = field_of(s, resource, field, end);
          if (item.kind == Kind::error) return error();
          list.items.push_back(std::move(item.expr));
        }
        v = std::move(list);
      }
    }
    return v;
  }

  // A scope's guarantee or limit for one resource. An unset resource is a
  // guarantee of 0 and no limit; an open range (`48..`) takes its limit from
  // the nearest ancestor that has one.
  Val field_of(Index scope, Index resource, model::Field field, SourceRange range) {
    const model::Scope& s = a_.policy_.scopes[scope];
    const auto& b = s.bounds[resource];
    const std::string& rname = a_.policy_.resources[resource].name;
    Val v;
    v.kind = Kind::amount;
    v.resource = resource;
    v.range = range;
    if (field == model::Field::guarantee) {
      if (!b) {
        v.expr = make_const(ExprType::amount, resource, Rational{0, 1}, range);
      } else {
        v.expr.type = ExprType::amount;
        v.expr.resource = resource;
        v.expr.range = range;
        v.expr.node = model::FieldRef{scope, resource, field};
      }
      return v;
    }
    if (!b) {
      a_.sink_
          .error(codes::kNoLimit, range,
                 fmt::format("{} `{}` has no `{}` limit", model::to_string(s.kind), s.path, rname))
          .note(fmt::format("`{}` declared here without `{}`", s.path, rname), s.name_range)
          .add_help(fmt::format("set `{} = GUARANTEE..LIMIT` on `{}`", rname, s.path));
      return error();
    }
    Index owner = scope;
    while (owner != kNone &&
           !(a_.policy_.scopes[owner].bounds[resource] && a_.policy_.scopes[owner].bounds[resource]->limit)) {
      owner = a_.policy_.scopes[owner].parent;
    }
    if (owner == kNone) {
      a_.sink_
          .error(codes::kNoLimit, range,
                 fmt::format("{} `{}` has no finite `{}` limit", model::to_string(s.kind), s.path, rname))
          .note("the range has no upper bound, and no enclosing scope sets one", b->range)
          .add_help(fmt::format("give `{}` a limit: `{} = GUARANTEE..LIMIT`", s.path, rname));
      return error();
    }
    v.expr.type = ExprType::amount;
    v.expr.resource = resource;
    v.expr.range = range;
    v.expr.node = model::FieldRef{owner, resource, model::Field::limit};
    return v;
  }

  Val eval_node(const ast::CallExpr& call, const ast::Expr& e) {
    const std::string_view f = call.callee.text;
    if (f == "children") {
      if (call.args.size() != 1) {
        a_.sink_.error(codes::kBadCall, e.range,
                       fmt::format("`children` takes 1 argument, found {}", call.args.size()));
        return error();
      }
      Val arg = eval(*call.args[0]);
      if (arg.kind == Kind::error) return error();
      if (arg.kind != Kind::scope) {
        a_.sink_.error(codes::kTypeMismatch, call.args[0]->range,
                       fmt::format("`children` expects a quota, workspace or namespace, found {}", type_name(arg)));
        return error();
      }
      Val v;
      v.kind = Kind::scopes;
      v.scopes = a_.policy_.scopes[arg.scope].children;
      v.range = e.range;
      return v;
    }
    const bool aggregate = f == "sum" || f == "min" || f == "max";
    if (!aggregate && f != "count") {
      Diagnostic& d = a_.sink_.error(codes::kBadCall, call.callee.range, fmt::format("unknown function `{}`", f));
      const std::unordered_map<std::string_view, int> known{
          {"children", 0}, {"sum", 0}, {"min", 0}, {"max", 0}, {"count", 0}};
      a_.values_.suggest(d, f, known, [](std::string_view) { return SourceRange{}; });
      d.add_help("functions: `children`, `sum`, `min`, `max`, `count`");
      return error();
    }
    if (call.args.empty()) {
      a_.sink_.error(codes::kBadCall, e.range, fmt::format("`{}` needs at least one argument", f));
      return error();
    }
    std::vector<Val> args;
    for (const ast::ExprPtr& arg : call.args) {
      args.push_back(eval(*arg));
      if (args.back().kind == Kind::error) return error();
    }
    if (f == "count") {
      std::int64_t n = 0;
      for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i].kind == Kind::scopes) {
          n += static_cast<std::int64_t>(args[i].scopes.size());
        } else if (args[i].kind == Kind::list) {
          n += static_cast<std::int64_t>(args[i].items.size());
        } else {
          a_.sink_.error(codes::kTypeMismatch, call.args[i]->range,
                         fmt::format("`count` expects a list such as `children(X)`, found {}", type_name(args[i])));
          return error();
        }
      }
      // The tree is static, so the count is a constant.
      return number(Rational{n, 1}, e.range);
    }
    // sum/min/max: flatten lists and scalars into items of one type.
    std::vector<Val> items;
    Index resource = kNone;
    bool any_amount = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
      Val& arg = args[i];
      if (arg.kind == Kind::list) {
        const bool amounts = arg.resource != kNone;
        for (TypedExpr& item : arg.items) {
          Val iv;
          iv.kind = amounts ? Kind::amount : Kind::number;
          iv.resource = arg.resource;
          iv.range = item.range;
          iv.expr = std::move(item);
          items.push_back(std::move(iv));
        }
        if (amounts) {
          any_amount = true;
          resource = arg.resource;
        }
      } else if (arg.kind == Kind::number || arg.kind == Kind::amount) {
        if (arg.kind == Kind::amount) {
          any_amount = true;
          if (arg.resource != kNone) resource = arg.resource;
        }
        items.push_back(std::move(arg));
      } else {
        Diagnostic& d = a_.sink_.error(codes::kTypeMismatch, call.args[i]->range,
                                       fmt::format("`{}` expects amounts or numbers, found {}", f, type_name(arg)));
        if (arg.kind == Kind::scopes) d.add_help(fmt::format("pick a resource: `{}(children(X).gpu)`", f));
        return error();
      }
    }
    if (items.empty()) {
      if (f == "sum") {
        Val v;
        v.kind = any_amount ? Kind::amount : Kind::number;
        v.resource = resource;
        v.expr = make_const(any_amount ? ExprType::amount : ExprType::number, resource, Rational{0, 1}, e.range);
        v.range = e.range;
        return v;
      }
      a_.sink_.error(codes::kBadCall, e.range, fmt::format("`{}` of an empty list", f))
          .add_help("the scope has no children");
      return error();
    }
    model::AggregateExpr agg;
    agg.op = f == "sum" ? model::AggregateOp::sum : f == "min" ? model::AggregateOp::min : model::AggregateOp::max;
    for (Val& item : items) {
      if (any_amount) {
        if (!to_amount(item, resource, e.range)) return error();
      }
      agg.items.push_back(std::move(item.expr));
    }
    if (any_amount && resource != kNone) {
      for (TypedExpr& item : agg.items) retarget(item, resource);
    }
    Val v;
    v.kind = any_amount ? Kind::amount : Kind::number;
    v.resource = any_amount ? resource : kNone;
    v.expr.type = any_amount ? ExprType::amount : ExprType::number;
    v.expr.resource = v.resource;
    v.expr.range = e.range;
    v.expr.node = std::move(agg);
    v.range = e.range;
    return v;
  }

  // Makes `v` an amount of `resource` (kNone: a memory size): numbers count
  // in display units; amounts of another resource are a type error.
  bool to_amount(Val& v, Index resource, SourceRange where) {
    if (v.kind == Kind::amount) {
      if (v.resource == resource || resource == kNone) return true;
      if (v.resource == kNone) {
        if (a_.policy_.resources[resource].kind != model::ResourceKind::memory) {
          mismatch(where, v, resource);
          return false;
        }
        retarget(v.expr, resource);
        v.resource = resource;
        return true;
      }
      mismatch(where, v, resource);
      return false;
    }
    // A number.
    if (resource == kNone || a_.policy_.resources[resource].kind == model::ResourceKind::memory) {
      a_.sink_.error(codes::kBadUnit, v.range, "a plain number cannot be compared with a memory size")
          .add_help(fmt::format("write the unit: `{}GiB`", a_.text(v.range)));
      return false;
    }
    constexpr Rational kMilli{1000, 1};
    if (is_const(v.expr)) {
      Rational scaled;
      if (!rational_mul(const_of(v.expr), kMilli, scaled)) {
        a_.sink_.error(codes::kTooLarge, v.range, "number too large");
        return false;
      }
      v.expr = make_const(ExprType::amount, resource, scaled, v.expr.range);
    } else {
      const SourceRange r = v.expr.range;
      std::vector<TypedExpr> operands;
      operands.push_back(std::move(v.expr));
      operands.push_back(make_const(ExprType::number, kNone, kMilli, r));
      v.expr = make_op(model::Op::mul, ExprType::amount, resource, std::move(operands), r);
    }
    v.kind = Kind::amount;
    v.resource = resource;
    return true;
  }

  void mismatch(SourceRange where, const Val& v, Index resource) {
    Val other;
    other.kind = Kind::amount;
    other.resource = resource;
    a_.sink_
        .error(codes::kTypeMismatch, where, fmt::format("cannot combine {} with {}", type_name(other), type_name(v)))
        .note(fmt::format("this is {}", type_name(v)), v.range);
  }

  void binary_mismatch(const ast::Expr& e, const char* what, const Val& l, const Val& r) {
    a_.sink_.error(codes::kTypeMismatch, e.range, fmt::format("cannot {} {} and {}", what, type_name(l), type_name(r)))
        .note(fmt::format("this is {}", type_name(l)), l.range)
        .note(fmt::format("this is {}", type_name(r)), r.range);
  }

  // Brings two numeric operands to one type. False after reporting.
  bool unify(const ast::Expr& e, const char* what, Val& l, Val& r) {
    const bool ln = l.kind == Kind::number || l.kind == Kind::amount;
    const bool rn = r.kind == Kind::number || r.kind == Kind::amount;
    if (!ln || !rn) {
      binary_mismatch(e, what, l, r);
      return false;
    }
    if (l.kind == Kind::number && r.kind == Kind::number) return true;
    if (l.kind == Kind::amount && r.kind == Kind::amount) {
      if (l.resource == r.resource) return true;
      if (l.resource == kNone || r.resource == kNone) {
        Val& unknown = l.resource == kNone ? l : r;
        const Index target = l.resource == kNone ? r.resource : l.resource;
        if (a_.policy_.resources[target].kind == model::ResourceKind::memory) {
          retarget(unknown.expr, target);
          unknown.resource = target;
          return true;
        }
      }
      binary_mismatch(e, what, l, r);
      return false;
    }
    Val& num = l.kind == Kind::number ? l : r;
    const Index resource = l.kind == Kind::amount ? l.resource : r.resource;
    return to_amount(num, resource, e.range);
  }

  Val fold_or_op(model::Op op, ExprType type, Index resource, Val l, Val r, const ast::Expr& e) {
    Val v;
    v.kind = type == ExprType::boolean ? Kind::boolean : type == ExprType::amount ? Kind::amount : Kind::number;
    v.resource = resource;
    v.range = e.range;
    const bool arithmetic =
        op == model::Op::add || op == model::Op::sub || op == model::Op::mul || op == model::Op::div;
    if (arithmetic && is_const(l.expr) && is_const(r.expr)) {
      Rational out;
      bool ok = false;
      switch (op) {
        case model::Op::add:
          ok = rational_add(const_of(l.expr), const_of(r.expr), out);
          break;
        case model::Op::sub:
          ok = rational_sub(const_of(l.expr), const_of(r.expr), out);
          break;
        case model::Op::mul:
          ok = rational_mul(const_of(l.expr), const_of(r.expr), out);
          break;
        default:
          ok = rational_div(const_of(l.expr), const_of(r.expr), out);
          break;
      }
      if (!ok) {
        a_.sink_.error(codes::kTooLarge, e.range, "this constant arithmetic overflows");
        return error();
      }
      v.expr = make_const(type, resource, out, e.range);
      return v;
    }
    std::vector<TypedExpr> operands;
    operands.push_back(std::move(l.expr));
    operands.push_back(std::move(r.expr));
    v.expr = make_op(op, type, resource, std::move(operands), e.range);
    return v;
  }

  Val eval_node(const ast::UnaryExpr& u, const ast::Expr& e) {
    Val v = eval(*u.operand);
    if (v.kind == Kind::error) return v;
    if (u.op == ast::UnaryOp::logical_not) {
      if (v.kind != Kind::boolean) {
        a_.sink_.error(codes::kTypeMismatch, e.range, fmt::format("`not` needs a condition, found {}", type_name(v)));
        return error();
      }
      std::vector<TypedExpr> operands;
      operands.push_back(std::move(v.expr));
      v.expr = make_op(model::Op::logical_not, ExprType::boolean, kNone, std::move(operands), e.range);
      v.range = e.range;
      return v;
    }
    if (v.kind != Kind::number && v.kind != Kind::amount) {
      a_.sink_.error(codes::kTypeMismatch, e.range, fmt::format("cannot negate {}", type_name(v)));
      return error();
    }
    if (is_const(v.expr)) {
      Rational c = const_of(v.expr);
      c.num = -c.num;
      v.expr = make_const(v.expr.type, v.expr.resource, c, e.range);
    } else {
      const ExprType type = v.expr.type;
      const Index resource = v.expr.resource;
      std::vector<TypedExpr> operands;
      operands.push_back(std::move(v.expr));
      v.expr = make_op(model::Op::neg, type, resource, std::move(operands), e.range);
    }
    v.range = e.range;
    return v;
  }

  Val eval_node(const ast::BinaryExpr& b, const ast::Expr& e) {
    Val l = eval(*b.lhs);
    Val r = eval(*b.rhs);
    if (l.kind == Kind::error || r.kind == Kind::error) return error();
    using ast::BinaryOp;
    switch (b.op) {
      case BinaryOp::logical_and:
      case BinaryOp::logical_or: {
        const char* word = b.op == BinaryOp::logical_and ? "and" : "or";
        for (const Val* side : {&l, &r}) {
          if (side->kind != Kind::boolean) {
            a_.sink_.error(codes::kTypeMismatch, side->range,
                           fmt::format("`{}` needs conditions, found {}", word, type_name(*side)));
            return error();
          }
        }
        return fold_or_op(b.op == BinaryOp::logical_and ? model::Op::logical_and : model::Op::logical_or,
                          ExprType::boolean, kNone, std::move(l), std::move(r), e);
      }
      case BinaryOp::eq:
      case BinaryOp::ne:
      case BinaryOp::lt:
      case BinaryOp::le:
      case BinaryOp::gt:
      case BinaryOp::ge: {
        const model::Op op = b.op == BinaryOp::eq   ? model::Op::eq
                             : b.op == BinaryOp::ne ? model::Op::ne
                             : b.op == BinaryOp::lt ? model::Op::lt
                             : b.op == BinaryOp::le ? model::Op::le
                             : b.op == BinaryOp::gt ? model::Op::gt
                                                    : model::Op::ge;
        const bool equality = op == model::Op::eq || op == model::Op::ne;
        if (equality && l.kind == Kind::boolean && r.kind == Kind::boolean) {
          return fold_or_op(op, ExprType::boolean, kNone, std::move(l), std::move(r), e);
        }
        if (!unify(e, "compare", l, r)) return error();
        return fold_or_op(op, ExprType::boolean, kNone, std::move(l), std::move(r), e);
      }
      case BinaryOp::add:
      case BinaryOp::sub: {
        if (!unify(e, b.op == BinaryOp::add ? "add" : "subtract", l, r)) return error();
        const ExprType type = l.kind == Kind::amount ? ExprType::amount : ExprType::number;
        return fold_or_op(b.op == BinaryOp::add ? model::Op::add : model::Op::sub, type, l.resource, std::move(l),
                          std::move(r), e);
      }
      case BinaryOp::mul: {
        const bool ln = l.kind == Kind::number, rn = r.kind == Kind::number;
        if ((!ln && l.kind != Kind::amount) || (!rn && r.kind != Kind::amount) || (!ln && !rn)) {
          binary_mismatch(e, "multiply", l, r);
          return error();
        }
        const bool amount = !ln || !rn;
        const Index resource = !ln ? l.resource : r.resource;
        return fold_or_op(model::Op::mul, amount ? ExprType::amount : ExprType::number, amount ? resource : kNone,
                          std::move(l), std::move(r), e);
      }
      case BinaryOp::div: {
        const bool numeric =
            (l.kind == Kind::number || l.kind == Kind::amount) && (r.kind == Kind::number || r.kind == Kind::amount);
        if (!numeric || (l.kind == Kind::number && r.kind == Kind::amount)) {
          binary_mismatch(e, "divide", l, r);
          return error();
        }
        if (is_const(r.expr) && const_of(r.expr).num == 0) {
          a_.sink_.error(codes::kDivisionByZero, b.rhs->range, "division by zero");
          return error();
        }
        if (l.kind == Kind::amount && r.kind == Kind::amount) {
          if (!unify(e, "divide", l, r)) return error();
          return fold_or_op(model::Op::div, ExprType::number, kNone, std::move(l), std::move(r), e);
        }
        const bool amount = l.kind == Kind::amount;
        return fold_or_op(model::Op::div, amount ? ExprType::amount : ExprType::number, amount ? l.resource : kNone,
                          std::move(l), std::move(r), e);
      }
    }
    return error();
  }

  Analyzer& a_;
};

void Analyzer::check_assertion(const ast::Assertion& a) {
  ExprChecker checker(*this);
  auto expr = checker.check(a);
  if (!expr) return;
  model::Assertion out;
  out.expr = std::move(*expr);
  out.label = a.label;
  out.range = a.range;
  policy_.assertions.push_back(std::move(out));
}

}  // namespace allot::sema
