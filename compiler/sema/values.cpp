#include "compiler/sema/values.h"

#include <fmt/format.h>

#include <unordered_map>

#include "compiler/sema/codes.h"

namespace allot::sema {
namespace {

std::string join_choices(std::initializer_list<std::pair<std::string_view, int>> choices) {
  std::string out;
  for (const auto& c : choices) {
    if (!out.empty()) out += ", ";
    out += fmt::format("`{}`", c.first);
  }
  return out;
}

}  // namespace

std::string_view describe(const ast::Expr& e) {
  if (std::holds_alternative<ast::NumberLit>(e.node)) return "a number";
  if (std::holds_alternative<ast::StringLit>(e.node)) return "a string";
  if (std::holds_alternative<ast::NameRef>(e.node)) return "a name";
  return "an expression";
}

std::string_view describe(const ast::Value& v) {
  switch (v.node.index()) {
    case 0:
      return describe(*std::get<ast::ScalarValue>(v.node).expr);
    case 1:
      return "a range";
    case 2:
      return "a list";
    case 3:
      return "an object";
    default:
      return "a node count";
  }
}

std::string plural_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  for (std::string_view c : candidates) {
    if (c.size() == word.size() + 1 && c.back() == 's' && c.substr(0, word.size()) == word) return std::string(c);
    if (word.size() == c.size() + 1 && word.back() == 's' && word.substr(0, c.size()) == c) return std::string(c);
  }
  return {};
}

PropertyMap ValueReader::properties(const ast::Body& body, std::string_view owner,
                                    std::initializer_list<std::string_view> keys, bool resources) {
  PropertyMap m;
  m.by_key.reserve(body.properties.size());
  for (const ast::Property& p : body.properties) {
    const std::string_view key = p.key.text;
    const bool known =
        std::find(keys.begin(), keys.end(), key) != keys.end() || (resources && resource_names_.index.count(key) != 0);
    if (!known) {
      Diagnostic& d =
          sink_.error(codes::kUnknownProperty, p.key.range, fmt::format("unknown {} property `{}`", owner, key));
      std::unordered_map<std::string_view, int> candidates;
      for (std::string_view k : keys) candidates.emplace(k, 0);
      if (resources) {
        for (const auto& [name, index] : resource_names_.index) candidates.emplace(name, 0);
      }
      std::string best = suggest(d, key, candidates, [](std::string_view) { return SourceRange{}; });
      if (!best.empty()) {
        m.suggested.push_back(std::move(best));
      } else {
        // Nothing close: say what is valid here.
        std::vector<std::string_view> valid(keys.begin(), keys.end());
        std::sort(valid.begin(), valid.end());
        std::string list;
        for (std::string_view k : valid) list += fmt::format("{}`{}`", list.empty() ? "" : ", ", k);
        if (resources)
          list += fmt::format("{}resource amounts (`gpu`, `cpu`, `memory`, `cu` and declared resources)",
                              list.empty() ? "" : ", and ");
        if (!list.empty()) d.add_help(fmt::format("a {} takes {}", owner, list));
        if (resources) d.add_help(fmt::format("to use a resource of your own, declare it: `resource {} {{}}`", key));
      }
      continue;
    }
    m.by_key.emplace_back(key, &p);
  }
  std::stable_sort(m.by_key.begin(), m.by_key.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Keep the first of each key; report the others.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < m.by_key.size(); ++i) {
    if (kept > 0 && m.by_key[kept - 1].first == m.by_key[i].first) {
      const ast::Property& p = *m.by_key[i].second;
      sink_.error(codes::kDuplicateProperty, p.key.range, fmt::format("property `{}` is given twice", p.key.text))
          .note("first given here", m.by_key[kept - 1].second->key.range);
      continue;
    }
    m.by_key[kept++] = m.by_key[i];
  }
  m.by_key.resize(kept);
  for (const ast::Property& p : body.properties) {
    auto r = resource_names_.index.find(p.key.text);
    if (r != resource_names_.index.end() && resources && m.get(p.key.text) == &p)
      m.resources.emplace_back(r->second, &p);
  }
  return m;
}

void ValueReader::require(const PropertyMap& props, std::string_view key, const ast::Declaration& decl,
                          std::string_view help) {
  if (props.get(key) != nullptr) return;
  if (std::find(props.suggested.begin(), props.suggested.end(), key) != props.suggested.end()) return;
  sink_
      .error(codes::kMissingProperty, decl.name.range,
             fmt::format("{} `{}` has no `{}`", decl.kind.text, decl.name.text, key))
      .add_help(std::string(help));
}

void ValueReader::object_members(const ast::Body& body, std::string_view owner) {
  for (const ast::Declaration& d : body.declarations) {
    sink_.error(codes::kMisplaced, d.kind.range, fmt::format("a {} cannot be declared inside {}", d.kind.text, owner));
  }
  for (const ast::Assertion& a : body.assertions) {
    sink_.error(codes::kMisplaced, a.range, fmt::format("an assertion cannot appear inside {}", owner))
        .add_help("move it into the enclosing declaration or to the top level");
  }
}

const ast::Expr* ValueReader::scalar(const ast::Value& v, std::string_view expected) {
  if (const auto* s = std::get_if<ast::ScalarValue>(&v.node)) return s->expr.get();
  sink_.error(codes::kWrongValue, v.range, fmt::format("expected {}, found {}", expected, describe(v)));
  return nullptr;
}

const ast::NumberLit* ValueReader::number_lit(const ast::Expr& e, std::string_view key, std::string_view expected) {
  if (const auto* n = std::get_if<ast::NumberLit>(&e.node)) return n;
  if (const auto* u = std::get_if<ast::UnaryExpr>(&e.node)) {
    if (u->op == ast::UnaryOp::negate && std::holds_alternative<ast::NumberLit>(u->operand->node)) {
      sink_.error(codes::kOutOfRange, e.range, fmt::format("`{}` cannot be negative", key));
      return nullptr;
    }
  }
  sink_.error(codes::kWrongValue, e.range, fmt::format("expected {}, found {}", expected, describe(e)));
  return nullptr;
}

bool ValueReader::decimal(const ast::NumberLit& lit, SourceRange range, Decimal& out) {
  switch (parse_decimal(lit.digits, out)) {
    case NumberError::none:
      return true;
    case NumberError::too_large:
      sink_.error(codes::kTooLarge, range, fmt::format("number `{}` is too large", text(range)));
      return false;
    case NumberError::too_precise:
      sink_.error(codes::kTooPrecise, range, fmt::format("number `{}` has too many digits", text(range)));
      return false;
  }
  return false;
}

bool ValueReader::amount(const ast::Expr& e, Index resource, model::Amount& out) {
  const model::Resource& r = resources_[resource];
  const auto* lit = std::get_if<ast::NumberLit>(&e.node);
  if (lit == nullptr) {
    number_lit(e, r.name, fmt::format("an amount of `{}`", r.name));  // reports
    return false;
  }
  std::optional<std::int64_t> multiplier;
  if (r.kind == model::ResourceKind::count) {
    multiplier = count_unit(lit->unit);
    if (!multiplier) {
      sink_.error(codes::kBadUnit, e.range, fmt::format("`{}` is not a unit of `{}`", lit->unit, r.name))
          .add_help(fmt::format("`{}` is counted: write `8` for whole units or `500m` for milli-units", r.name));
      return false;
    }
  } else {
    multiplier = memory_unit(lit->unit);
    if (!multiplier) {
      Diagnostic& d =
          lit->unit.empty()
              ? sink_.error(codes::kBadUnit, e.range, fmt::format("`{}` needs a unit", r.name))
              : sink_.error(codes::kBadUnit, e.range, fmt::format("`{}` is not a unit of `{}`", lit->unit, r.name));
      d.add_help(lit->unit.empty() ? fmt::format("accepted units: `MiB`, `GiB`, `TiB`; e.g. `{}GiB`", lit->digits)
                                   : memory_unit_help(lit->digits, lit->unit));
      return false;
    }
  }
  Decimal dec;
  if (!decimal(*lit, e.range, dec)) return false;
  switch (scale_exact(dec, *multiplier, kMaxAmount, out)) {
    case NumberError::none:
      return true;
    case NumberError::too_precise:
      if (r.kind == model::ResourceKind::count) {
        sink_
            .error(codes::kTooPrecise, e.range,
                   fmt::format("`{}` is finer than a milli-unit of `{}`", text(e.range), r.name))
            .add_help("amounts are exact to the milli-unit: `0.001` or `1m`");
      } else {
        sink_.error(codes::kTooPrecise, e.range, fmt::format("`{}` is finer than one MiB", text(e.range)))
            .add_help("memory amounts are exact to the MiB");
      }
      return false;
    case NumberError::too_large:
      sink_.error(codes::kTooLarge, e.range, fmt::format("`{}` is too large an amount of `{}`", text(e.range), r.name))
          .add_help(r.kind == model::ResourceKind::count ? "the largest amount is 1000000000 (10^9 whole units)"
                                                         : "the largest amount is 10^12 MiB");
      return false;
  }
  return false;
}

std::optional<model::Bound> ValueReader::bound(const ast::Property& p, Index resource) {
  model::Bound b;
  b.range = p.range;
  if (const auto* s = std::get_if<ast::ScalarValue>(&p.value.node)) {
    if (!amount(*s->expr, resource, b.guarantee)) return std::nullopt;
    b.limit = b.guarantee;
    return b;
  }
  if (const auto* r = std::get_if<ast::RangeValue>(&p.value.node)) {
    bool ok = amount(*r->low, resource, b.guarantee);
    if (r->high) {
      model::Amount high = 0;
      if (!amount(*r->high, resource, high)) return std::nullopt;
      b.limit = high;
      if (ok && b.guarantee > high) {
        sink_
            .error(codes::kInvertedRange, p.value.range,
                   fmt::format("the guarantee `{}` is above the limit `{}`", text(r->low->range), text(r->high->range)))
            .add_help(fmt::format("write `{}..{}`", text(r->high->range), text(r->low->range)));
        return std::nullopt;
      }
    }
    if (!ok) return std::nullopt;
    return b;
  }
  sink_.error(codes::kWrongValue, p.value.range,
              fmt::format("expected an amount or a range `guarantee..limit`, found {}", describe(p.value)));
  return std::nullopt;
}

std::optional<std::int64_t> ValueReader::integer(std::string_view key, const ast::Value& v, std::int64_t lo,
                                                 std::int64_t hi) {
  const ast::Expr* e = scalar(v, "a whole number");
  if (e == nullptr) return std::nullopt;
  const ast::NumberLit* lit = number_lit(*e, key, "a whole number");
  if (lit == nullptr) return std::nullopt;
  if (!lit->unit.empty()) {
    sink_.error(codes::kBadUnit, e->range, fmt::format("`{}` takes a plain number, not `{}`", key, lit->unit))
        .add_help(fmt::format("write `{}`", lit->digits));
    return std::nullopt;
  }
  Decimal dec;
  if (!decimal(*lit, e->range, dec)) return std::nullopt;
  if (dec.scale != 0) {
    sink_.error(codes::kWrongValue, e->range, fmt::format("`{}` must be a whole number", key));
    return std::nullopt;
  }
  const auto value = static_cast<std::int64_t>(dec.mantissa);
  if (value < lo || value > hi) {
    sink_.error(codes::kOutOfRange, e->range,
                fmt::format("`{}` must be between {} and {}, found {}", key, lo, hi, value));
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> ValueReader::duration_ms(std::string_view key, const ast::Value& v, std::int64_t hi) {
  const ast::Expr* e = scalar(v, "a duration");
  if (e == nullptr) return std::nullopt;
  const ast::NumberLit* lit = number_lit(*e, key, "a duration");
  if (lit == nullptr) return std::nullopt;
  const auto multiplier = duration_unit(lit->unit);
  if (!multiplier) {
    Diagnostic& d = lit->unit.empty()
                        ? sink_.error(codes::kBadUnit, e->range, fmt::format("`{}` needs a unit of time", key))
                        : sink_.error(codes::kBadUnit, e->range, fmt::format("`{}` is not a unit of time", lit->unit));
    d.add_help(fmt::format("accepted units: `ms`, `s`, `min`, `h`; e.g. `{}s`", lit->digits));
    return std::nullopt;
  }
  Decimal dec;
  if (!decimal(*lit, e->range, dec)) return std::nullopt;
  std::int64_t out = 0;
  switch (scale_exact(dec, *multiplier, hi, out)) {
    case NumberError::none:
      return out;
    case NumberError::too_precise:
      sink_.error(codes::kTooPrecise, e->range, fmt::format("`{}` is finer than a millisecond", text(e->range)));
      return std::nullopt;
    case NumberError::too_large:
      sink_.error(codes::kOutOfRange, e->range, fmt::format("`{}` must be at most {}h", key, hi / 3'600'000));
      return std::nullopt;
  }
  return std::nullopt;
}

std::optional<int> ValueReader::months(std::string_view key, const ast::Value& v) {
  const ast::Expr* e = scalar(v, "a term in months");
  if (e == nullptr) return std::nullopt;
  const ast::NumberLit* lit = number_lit(*e, key, "a term in months");
  if (lit == nullptr) return std::nullopt;
  if (lit->unit != "mo") {
    Diagnostic& d =
        lit->unit.empty()
            ? sink_.error(codes::kBadUnit, e->range, fmt::format("`{}` needs the unit `mo`", key))
            : sink_.error(codes::kBadUnit, e->range, fmt::format("`{}` is not a unit of billing terms", lit->unit));
    d.add_help(fmt::format("terms are written in months: `{}mo`", lit->unit.empty() ? lit->digits : "12"));
    return std::nullopt;
  }
  Decimal dec;
  if (!decimal(*lit, e->range, dec)) return std::nullopt;
  // Which terms are sold depends on the provider (check_term).
  if (dec.scale != 0 || dec.mantissa < 1 || dec.mantissa > 12) {
    sink_.error(codes::kOutOfRange, e->range,
                fmt::format("a term is a whole number of months from 1 to 12, found `{}`", text(e->range)));
    return std::nullopt;
  }
  return static_cast<int>(dec.mantissa);
}

void ValueReader::check_term(const model::Billing& b, model::Provider provider, bool serving,
                             SourceRange provider_range) {
  if (b.term_months == 0 || !b.term_range.valid()) return;
  const int t = b.term_months;
  std::string offered;
  bool ok = false;
  switch (provider) {
    case model::Provider::generic:
    case model::Provider::eas:
      ok = t == 1 || t == 2 || t == 3 || t == 6 || t == 12;
      offered = "1, 2, 3 or 6 months or a year (12mo)";
      break;
    case model::Provider::modelarts:
      ok = t <= (serving ? 11 : 12);
      offered = serving ? "1 to 11 months for service deployment" : "1 to 12 months";
      break;
  }
  if (ok) return;
  const char* name = provider == model::Provider::eas         ? "EAS"
                     : provider == model::Provider::modelarts ? "ModelArts"
                                                              : "the generic provider";
  Diagnostic& d =
      sink_.error(codes::kTermNotOffered, b.term_range, fmt::format("`{}mo` is not a term {} sells", t, name));
  if (provider_range.valid()) d.note("the provider is set here", provider_range);
  d.add_help(fmt::format("{} sells {}", name, offered));
}

std::optional<std::int64_t> ValueReader::memory_mib(const ast::Value& v) {
  const ast::Expr* e = scalar(v, "a memory size");
  if (e == nullptr) return std::nullopt;
  model::Amount out = 0;
  // The checks of the builtin `memory` resource; only the name in the
  // messages differs, which is acceptable for a size.
  if (!amount(*e, model::kMemory, out)) return std::nullopt;
  return out;
}

std::optional<bool> ValueReader::boolean(const ast::Value& v) {
  const ast::Expr* e = scalar(v, "`true` or `false`");
  if (e == nullptr) return std::nullopt;
  if (const auto* n = std::get_if<ast::NameRef>(&e->node)) {
    if (n->name == "true") return true;
    if (n->name == "false") return false;
    sink_.error(codes::kWrongValue, e->range, fmt::format("expected `true` or `false`, found `{}`", n->name));
    return std::nullopt;
  }
  sink_.error(codes::kWrongValue, e->range, fmt::format("expected `true` or `false`, found {}", describe(*e)));
  return std::nullopt;
}

std::optional<std::string> ValueReader::string(const ast::Value& v) {
  const ast::Expr* e = scalar(v, "a string");
  if (e == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<ast::StringLit>(&e->node)) return s->value;
  sink_.error(codes::kWrongValue, e->range, fmt::format("expected a string, found {}", describe(*e)))
      .add_help(fmt::format("put it in quotes: `\"{}\"`", text(e->range)));
  return std::nullopt;
}

std::optional<NameUse> ValueReader::name(const ast::Value& v, std::string_view expected, bool strings_too) {
  const ast::Expr* e = scalar(v, expected);
  if (e == nullptr) return std::nullopt;
  if (const auto* n = std::get_if<ast::NameRef>(&e->node)) return NameUse{std::string(n->name), e->range};
  if (strings_too) {
    if (const auto* s = std::get_if<ast::StringLit>(&e->node)) return NameUse{s->value, e->range};
  }
  sink_.error(codes::kWrongValue, e->range, fmt::format("expected {}, found {}", expected, describe(*e)));
  return std::nullopt;
}

std::optional<int> ValueReader::choice(const ast::Value& v,
                                       std::initializer_list<std::pair<std::string_view, int>> choices,
                                       std::string_view what) {
  auto use = name(v, what);
  if (!use) return std::nullopt;
  for (const auto& [spelling, value] : choices) {
    if (spelling == use->name) return value;
  }
  Diagnostic& d = sink_.error(codes::kUnknownEnum, use->range, fmt::format("unknown {} `{}`", what, use->name));
  std::unordered_map<std::string_view, int> candidates(choices.begin(), choices.end());
  suggest(d, use->name, candidates, [](std::string_view) { return SourceRange{}; });
  d.add_help(fmt::format("expected one of {}", join_choices(choices)));
  return std::nullopt;
}

std::optional<std::vector<NameUse>> ValueReader::names(const ast::Value& v, std::string_view expected,
                                                       bool strings_too) {
  const auto* list = std::get_if<ast::ListValue>(&v.node);
  if (list == nullptr) {
    Diagnostic& d = sink_.error(codes::kWrongValue, v.range, fmt::format("expected a list, found {}", describe(v)));
    if (std::holds_alternative<ast::ScalarValue>(v.node)) d.add_help(fmt::format("write `[{}]`", text(v.range)));
    return std::nullopt;
  }
  std::vector<NameUse> out;
  bool ok = true;
  for (const ast::Value& item : list->items) {
    auto use = name(item, expected, strings_too);
    if (use) {
      out.push_back(std::move(*use));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<model::WorkloadSet> ValueReader::workloads(const ast::Value& v) {
  const auto* list = std::get_if<ast::ListValue>(&v.node);
  if (list == nullptr) {
    names(v, "", false);  // reports the shape
    return std::nullopt;
  }
  model::WorkloadSet set = 0;
  bool ok = true;
  for (const ast::Value& item : list->items) {
    const auto kind = choice(item,
                             {{"inference", static_cast<int>(model::WorkloadKind::inference)},
                              {"serving", static_cast<int>(model::WorkloadKind::inference)},
                              {"training", static_cast<int>(model::WorkloadKind::training)},
                              {"development", static_cast<int>(model::WorkloadKind::development)}},
                             "workload kind");
    if (kind) {
      set = static_cast<model::WorkloadSet>(set | *kind);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  if (set == 0) {
    sink_.error(codes::kOutOfRange, v.range, "the list of workload kinds is empty")
        .add_help("list at least one of `inference`, `training`, `development`");
    return std::nullopt;
  }
  return set;
}

void ValueReader::resource_amounts(const ast::Value& v, std::string_view example, std::string_view owner,
                                   std::string_view help, const AmountEntry& each) {
  const auto* object = std::get_if<ast::ObjectValue>(&v.node);
  if (object == nullptr || object->tag) {
    Diagnostic& d = sink_.error(
        codes::kWrongValue, v.range,
        fmt::format("expected an object such as `{}`, found {}", example, object ? "a tagged object" : describe(v)));
    if (!help.empty()) d.add_help(std::string(help));
    return;
  }
  object_members(*object->body, owner);
  std::unordered_map<std::string_view, const ast::Property*> seen;
  for (const ast::Property& p : object->body->properties) {
    const Index r = resource_names_.find(p.key.text);
    if (r == kNone) {
      Diagnostic& d =
          sink_.error(codes::kUnknownResource, p.key.range, fmt::format("unknown resource `{}`", p.key.text));
      suggest_symbol(d, p.key.text, resource_names_);
      continue;
    }
    auto [first, inserted] = seen.emplace(p.key.text, &p);
    if (!inserted) {
      sink_.error(codes::kDuplicateProperty, p.key.range, fmt::format("property `{}` is given twice", p.key.text))
          .note("first given here", first->second->key.range);
      continue;
    }
    const ast::Expr* e = scalar(p.value, fmt::format("an amount of `{}`", p.key.text));
    model::Amount a = 0;
    if (e != nullptr && amount(*e, r, a)) each(r, p, *e, a);
  }
}

model::Bounds ValueReader::ceiling(const ast::Value& v) {
  model::Bounds out(resources_.size());
  resource_amounts(v, "{ gpu = 64 }", "a ceiling", "",
                   [&](Index r, const ast::Property& p, const ast::Expr&, model::Amount a) {
                     out[r] = model::Bound{0, a, p.range};
                   });
  return out;
}

ValueReader::Tagged ValueReader::tagged(const ast::Value& v) const {
  Tagged out;
  if (const auto* object = std::get_if<ast::ObjectValue>(&v.node)) {
    out.tag = object->tag;
    out.body = object->body.get();
  } else if (const auto* s = std::get_if<ast::ScalarValue>(&v.node)) {
    if (const auto* n = std::get_if<ast::NameRef>(&s->expr->node)) out.tag = ast::Identifier{n->name, s->expr->range};
  }
  return out;
}

std::optional<model::Billing> ValueReader::billing(const ast::Value& v) {
  const Tagged value = tagged(v);
  const std::optional<ast::Identifier>& tag = value.tag;
  const ast::Body* body = value.body;
  if (!tag) {
    sink_.error(codes::kWrongValue, v.range, fmt::format("expected a billing mode, found {}", describe(v)))
        .add_help(
            "write `subscription { term = 12mo }`, `pay_as_you_go { ceiling = { gpu = 64 } }` or "
            "`hybrid { term = 1mo, ceiling = { gpu = 16 } }`");
    return std::nullopt;
  }
  model::Billing b;
  b.range = v.range;
  b.ceiling.resize(resources_.size());
  if (tag->text == "subscription") {
    b.mode = model::BillingMode::subscription;
  } else if (tag->text == "pay_as_you_go") {
    b.mode = model::BillingMode::pay_as_you_go;
  } else if (tag->text == "hybrid") {
    b.mode = model::BillingMode::hybrid;
  } else {
    Diagnostic& d = sink_.error(codes::kUnknownEnum, tag->range, fmt::format("unknown billing mode `{}`", tag->text));
    const std::unordered_map<std::string_view, int> modes{{"subscription", 0}, {"pay_as_you_go", 0}, {"hybrid", 0}};
    suggest(d, tag->text, modes, [](std::string_view) { return SourceRange{}; });
    d.add_help("expected one of `subscription`, `pay_as_you_go`, `hybrid`");
    return std::nullopt;
  }
  const bool has_term = b.mode != model::BillingMode::pay_as_you_go;
  const bool has_ceiling = b.mode != model::BillingMode::subscription;
  bool ok = true;
  if (body != nullptr) {
    object_members(*body, "a billing mode");
    const std::string owner = fmt::format("`{}`", tag->text);
    PropertyMap props = has_term && has_ceiling ? properties(*body, owner, {"term", "auto_renew", "ceiling"}, false)
                        : has_term              ? properties(*body, owner, {"term", "auto_renew"}, false)
                                                : properties(*body, owner, {"ceiling"}, false);
    if (const auto* p = props.get("term")) {
      if (auto m = months("term", p->value)) {
        b.term_months = *m;
        b.term_range = p->value.range;
      } else {
        ok = false;
      }
    }
    if (const auto* p = props.get("auto_renew")) {
      if (auto r = boolean(p->value)) b.auto_renew = *r;
    }
    if (const auto* p = props.get("ceiling")) b.ceiling = ceiling(p->value);
  }
  if (has_term && b.term_months == 0 && ok) {
    sink_.error(codes::kMissingProperty, tag->range, fmt::format("`{}` billing has no `term`", tag->text))
        .add_help(fmt::format(
            "write `{} {{ term = 12mo }}`; terms are 1 to 12 months, as the pool's provider sells them", tag->text));
  }
  return b;
}

}  // namespace allot::sema
