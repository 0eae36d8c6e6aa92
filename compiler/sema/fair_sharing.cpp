// Fair sharing among siblings (docs/language.md "Fair sharing",
// docs/scheduling.md rule R5): the pools' `fair_sharing`, the scopes'
// `weight`, and the checks that tie them together.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {

namespace {
constexpr std::int64_t kMaxWeightMilli = 1'000'000;  // weight 1000
}  // namespace

void Analyzer::weight(Index scope, const ast::Property& p) {
  const ast::Expr* e = values_.scalar(p.value, "a number");
  if (e == nullptr) return;
  const ast::NumberLit* lit = values_.number_lit(*e, "weight", "a number");
  if (lit == nullptr) return;
  if (!lit->unit.empty()) {
    sink_.error(codes::kBadUnit, e->range, fmt::format("`weight` takes a plain number, not `{}`", lit->unit))
        .add_help(fmt::format("write `{}`", lit->digits));
    return;
  }
  Decimal dec;
  if (!values_.decimal(*lit, e->range, dec)) return;
  if (dec.scale > 3) {
    sink_.error(codes::kTooPrecise, e->range, fmt::format("`weight` is exact to 0.001, found `{}`", text(e->range)));
    return;
  }
  std::uint64_t milli = dec.mantissa;
  for (int i = dec.scale; i < 3 && milli <= static_cast<std::uint64_t>(kMaxWeightMilli); ++i) milli *= 10;
  if (milli == 0 || milli > static_cast<std::uint64_t>(kMaxWeightMilli)) {
    model::Scope& s = policy_.scopes[scope];
    sink_
        .error(codes::kWeightOutOfRange, e->range,
               fmt::format("{} `{}` has weight `{}`, outside 0.001..1000", model::to_string(s.kind), s.path,
                           text(e->range)))
        .add_help("a weight divides the scope's fair share: 2 may borrow twice as much as 1 before it gives way");
    return;
  }
  policy_.scopes[scope].weight_milli = static_cast<std::int64_t>(milli);
  policy_.scopes[scope].weight_range = p.range;
}

void Analyzer::fair_sharing(model::Pool& pool, const ast::Property& p) {
  const auto* list = std::get_if<ast::ListValue>(&p.value.node);
  if (list == nullptr) {
    const std::optional<bool> on = values_.boolean(p.value);
    if (!on) return;
    pool.fair_sharing.clear();
    if (*on) pool.fair_sharing = {model::FairStrategy::at_most_final_share, model::FairStrategy::below_initial_share};
    pool.fair_sharing_range = p.range;
    return;
  }
  std::vector<model::FairStrategy> out;
  bool ok = true;
  for (const ast::Value& item : list->items) {
    const std::optional<int> st =
        values_.choice(item,
                       {{"at_most_final_share", static_cast<int>(model::FairStrategy::at_most_final_share)},
                        {"below_initial_share", static_cast<int>(model::FairStrategy::below_initial_share)}},
                       "fair-sharing strategy");
    if (!st) {
      ok = false;
      continue;
    }
    const auto strategy = static_cast<model::FairStrategy>(*st);
    if (std::find(out.begin(), out.end(), strategy) != out.end()) {
      sink_
          .error(codes::kFairStrategies, item.range,
                 fmt::format("pool `{}` lists the fair-sharing strategy `{}` twice", pool.name, text(item.range)))
          .add_help("list each strategy once; they are tried in order");
      ok = false;
      continue;
    }
    out.push_back(strategy);
  }
  if (ok && out.empty()) {
    sink_
        .error(codes::kFairStrategies, p.value.range,
               fmt::format("pool `{}` lists no fair-sharing strategy", pool.name))
        .add_help("write `fair_sharing = [at_most_final_share, below_initial_share]`, or `fair_sharing = false`");
    return;
  }
  if (!ok) return;
  pool.fair_sharing = std::move(out);
  pool.fair_sharing_range = p.range;
}

// After the tree is built and options are inherited: rule R4 has no place
// where fair sharing decides among siblings, and a weight means nothing
// without fair sharing.
void Analyzer::check_fair_sharing() {
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& s = policy_.scopes[i];
    if (s.pool >= policy_.pools.size()) continue;
    const model::Pool& pool = policy_.pools[s.pool];
    const bool fair = !pool.fair_sharing.empty();
    const bool own_borrow_within =
        s.borrow_within.enabled && s.borrow_within.range.valid() &&
        (s.parent == kNone || policy_.scopes[s.parent].borrow_within.range != s.borrow_within.range);
    if (fair && own_borrow_within)
      sink_
          .error(codes::kBorrowWithinUnderFairSharing, s.borrow_within.range,
                 fmt::format("{} `{}` sets `borrow_within`, but pool `{}` shares fairly", model::to_string(s.kind),
                             s.path, pool.name))
          .note("fair sharing is turned on here", pool.fair_sharing_range)
          .add_help(
              "remove `borrow_within`: with fair sharing, borrowed work is taken by fair share (rule R5), "
              "not by priority");
    if (!fair && s.weight_range.valid())
      sink_
          .warning(codes::kWeightWithoutFairSharing, s.weight_range,
                   fmt::format("{} `{}` has a `weight`, but pool `{}` does not share fairly", model::to_string(s.kind),
                               s.path, pool.name))
          .add_help(fmt::format("write `fair_sharing = true` on pool `{}`, or remove `weight`", pool.name));
  }
}

}  // namespace allot::sema
