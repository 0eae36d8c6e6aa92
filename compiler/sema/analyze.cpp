#include "compiler/sema/analyze.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "compiler/sema/analyzer.h"

namespace allot::sema {
namespace {

using model::ScopeKind;

// Kinds of declaration and where each may appear ("" = top level).
struct KindInfo {
  std::string_view kind;
  std::string_view parent;
};
constexpr std::array<KindInfo, 10> kKinds{{
    {"resource", ""},
    {"flavor", ""},
    {"pool", ""},
    {"quota", ""},
    {"workspace", ""},
    {"priority", ""},
    {"role", ""},
    {"namespace", "workspace"},
    {"queue", "namespace"},
    {"node", "pool"},
}};

const KindInfo* find_kind(std::string_view kind) {
  for (const KindInfo& k : kKinds) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

// Property keys a scope may carry besides resource amounts. A user resource
// may not take one of these names: `roles = ...` would be ambiguous.
constexpr std::array<std::string_view, 18> kScopeKeys{
    "child_preemption", "roles",     "description", "pool",  "billing", "priority",    "preemptible", "grace_period",
    "on_preempt",       "accepts",   "gpu_sharing", "hosts", "nodes",   "system_disk", "lend",        "reclaim",
    "borrow_within",    "preemption"};

constexpr std::int64_t kMaxGracePeriodMs = 24 * 3'600'000;
constexpr std::int64_t kMaxNodes = 9999;

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

std::string join_choices(std::initializer_list<std::pair<std::string_view, int>> choices) {
  std::string out;
  for (const auto& c : choices) {
    if (!out.empty()) out += ", ";
    out += fmt::format("`{}`", c.first);
  }
  return out;
}

std::string workload_names(model::WorkloadSet set) {
  std::string out;
  for (auto k : {model::WorkloadKind::inference, model::WorkloadKind::training, model::WorkloadKind::development}) {
    if ((set & static_cast<model::WorkloadSet>(k)) == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("`{}`", model::to_string(k));
  }
  return out.empty() ? "nothing" : out;
}

// An amount in its resource's units, as a user would write it: `48`, `0.5`,
// `80GiB`.
std::string written_amount(const model::Resource& r, model::Amount a) {
  if (r.kind == model::ResourceKind::memory) {
    return a % 1024 == 0 ? fmt::format("{}GiB", a / 1024) : fmt::format("{}MiB", a);
  }
  std::string out = fmt::format("{}.{:03}", a / 1000, a % 1000);
  while (out.back() == '0') out.pop_back();
  if (out.back() == '.') out.pop_back();
  return out;
}

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  const int year = std::stoi(std::string(s.substr(0, 4)));
  const int month = std::stoi(std::string(s.substr(5, 2)));
  const int day = std::stoi(std::string(s.substr(8, 2)));
  if (month < 1 || month > 12 || day < 1) return false;
  static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  const int days = kDays[static_cast<std::size_t>(month - 1)] + (month == 2 && leap ? 1 : 0);
  return day <= days;
}

}  // namespace

std::string plural_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  for (std::string_view c : candidates) {
    if (c.size() == word.size() + 1 && c.back() == 's' && c.substr(0, word.size()) == word) return std::string(c);
    if (word.size() == c.size() + 1 && word.back() == 's' && word.substr(0, c.size()) == c) return std::string(c);
  }
  return {};
}

Analyzer::Analyzer(const SourceManager& sources, DiagnosticSink& sink) : sources_(sources), sink_(sink) {
  for (const char* builtin : {"gpu", "cpu", "memory", "cu"}) {
    model::Resource r;
    r.name = builtin;
    r.kind = std::string_view(builtin) == "memory" ? model::ResourceKind::memory : model::ResourceKind::count;
    resource_index_.emplace(builtin, static_cast<Index>(policy_.resources.size()));
    policy_.resources.push_back(std::move(r));
  }
}

// ---- collection ---------------------------------------------------------------

bool Analyzer::check_name(const ast::Declaration& decl) {
  if (!decl.dotted_name) return true;
  std::string fixed = decl.name.text;
  std::replace(fixed.begin(), fixed.end(), '.', '_');
  sink_.error(codes::kInvalidName, decl.name.range, fmt::format("`{}` is not a valid name", decl.name.text))
      .add_help(fmt::format("names may not contain `.`; write `{}`", fixed));
  return false;
}

bool Analyzer::check_form(const ast::Declaration& decl, bool needs_body, bool allows_value, bool allows_target) {
  const std::string& kind = decl.kind.text;
  if (decl.target && !allows_target) {
    sink_
        .error(codes::kTargetNotAllowed, decl.target->range, fmt::format("a {} cannot be declared `on` anything", kind))
        .add_help(fmt::format("remove `on {}`", decl.target->text));
  }
  if (decl.value && !allows_value) {
    sink_.error(codes::kWrongForm, decl.value->range, fmt::format("a {} is declared with a body, not `= value`", kind))
        .add_help(fmt::format("write `{} {} {{ ... }}`", kind, decl.name.text));
    return false;
  }
  if (!decl.body && needs_body) return false;
  return true;
}

bool Analyzer::register_global(std::unordered_map<std::string_view, const ast::Declaration*>& names,
                               std::string_view kind, const ast::Declaration& decl) {
  auto [it, inserted] = names.emplace(decl.name.text, &decl);
  if (inserted) return true;
  const ast::Declaration& first = *it->second;
  Diagnostic& d = first.kind.text == kind
                      ? sink_.error(codes::kDuplicateName, decl.name.range,
                                    fmt::format("{} `{}` is declared more than once", kind, decl.name.text))
                      : sink_.error(codes::kDuplicateName, decl.name.range,
                                    fmt::format("{} `{}` has the same name as {} `{}`", kind, decl.name.text,
                                                first.kind.text, first.name.text));
  d.note(fmt::format("{} `{}` first declared here", first.kind.text, first.name.text), first.name.range);
  if (first.kind.text != kind) d.add_help("quotas and workspaces share one namespace; rename one of them");
  return false;
}

std::vector<const ast::Declaration*> Analyzer::nested(const ast::Body& body, std::string_view owner,
                                                      std::string_view allowed) {
  std::vector<const ast::Declaration*> out;
  for (const ast::Declaration& d : body.declarations) {
    const KindInfo* info = find_kind(d.kind.text);
    if (info == nullptr) {
      Diagnostic& diag =
          sink_.error(codes::kUnknownKind, d.kind.range, fmt::format("unknown declaration kind `{}`", d.kind.text));
      std::unordered_map<std::string_view, int> kinds;
      for (const KindInfo& k : kKinds) kinds.emplace(k.kind, 0);
      suggest(diag, d.kind.text, kinds, [](std::string_view) { return SourceRange{}; });
      continue;
    }
    if (d.kind.text == allowed) {
      out.push_back(&d);
      continue;
    }
    Diagnostic& diag = sink_.error(codes::kMisplaced, d.kind.range,
                                   fmt::format("a {} cannot be declared inside a {}", d.kind.text, owner));
    if (info->parent.empty()) {
      diag.add_help(fmt::format("declare {}s at the top level of a file", d.kind.text));
    } else {
      diag.add_help(fmt::format("declare a {} inside a {}", d.kind.text, info->parent));
    }
  }
  for (const ast::Assertion& a : body.assertions) assertions_.push_back(&a);
  return out;
}

void Analyzer::collect(const ast::Declaration& decl) {
  const std::string& kind = decl.kind.text;
  const KindInfo* info = find_kind(kind);
  if (info == nullptr) {
    Diagnostic& d =
        sink_.error(codes::kUnknownKind, decl.kind.range, fmt::format("unknown declaration kind `{}`", kind));
    std::unordered_map<std::string_view, int> kinds;
    for (const KindInfo& k : kKinds) kinds.emplace(k.kind, 0);
    suggest(d, kind, kinds, [](std::string_view) { return SourceRange{}; });
    return;
  }
  if (!info->parent.empty()) {
    sink_.error(codes::kMisplaced, decl.kind.range, fmt::format("a {} cannot be declared at the top level", kind))
        .add_help(fmt::format("declare a {} inside a {}", kind, info->parent));
    return;
  }
  if (kind == "quota") {
    collect_quota(decl, false);
    return;
  }
  check_name(decl);
  const bool is_priority = kind == "priority";
  if (!check_form(decl, !is_priority, is_priority, kind == "workspace")) return;

  if (kind == "resource") {
    if (resource_index_.count(decl.name.text) != 0 && resource_names_.count(decl.name.text) == 0) {
      sink_.error(codes::kDuplicateName, decl.name.range, fmt::format("resource `{}` is built in", decl.name.text))
          .add_help("`gpu`, `cpu`, `memory` and `cu` exist without a declaration");
      return;
    }
    if (std::find(kScopeKeys.begin(), kScopeKeys.end(), decl.name.text) != kScopeKeys.end()) {
      sink_
          .error(codes::kDuplicateName, decl.name.range,
                 fmt::format("resource `{}` has the name of a property", decl.name.text))
          .add_help(fmt::format("`{} = ...` would be ambiguous; choose another name", decl.name.text));
      return;
    }
    if (!register_global(resource_names_, kind, decl)) return;
    model::Resource r;
    r.name = decl.name.text;
    r.builtin = false;
    r.range = decl.name.range;
    resource_index_.emplace(r.name, static_cast<Index>(policy_.resources.size()));
    policy_.resources.push_back(std::move(r));
    resource_decls_.push_back(&decl);
  } else if (kind == "flavor") {
    if (!register_global(flavor_names_, kind, decl)) return;
    flavor_index_.emplace(decl.name.text, static_cast<Index>(flavor_decls_.size()));
    flavor_decls_.push_back(&decl);
    flavor_ranges_.push_back(decl.name.range);
  } else if (kind == "pool") {
    if (!register_global(pool_names_, kind, decl)) return;
    pool_index_.emplace(decl.name.text, static_cast<Index>(pool_decls_.size()));
    pool_decls_.push_back(&decl);
    pool_ranges_.push_back(decl.name.range);
  } else if (kind == "role") {
    if (!register_global(role_names_, kind, decl)) return;
    role_index_.emplace(decl.name.text, static_cast<Index>(role_decls_.size()));
    role_decls_.push_back(&decl);
    role_ranges_.push_back(decl.name.range);
  } else if (kind == "priority") {
    if (!register_global(priority_names_, kind, decl)) return;
    priority_index_.emplace(decl.name.text, static_cast<Index>(priority_decls_.size()));
    priority_decls_.push_back(&decl);
    priority_ranges_.push_back(decl.name.range);
  } else if (kind == "workspace") {
    if (!register_global(scope_names_, kind, decl)) return;
    workspace_decls_.push_back(&decl);
  }
}

Index Analyzer::collect_quota(const ast::Declaration& decl, bool is_nested) {
  check_name(decl);
  if (is_nested && decl.target) {
    sink_.error(codes::kTargetNotAllowed, decl.target->range, "a nested quota cannot be declared `on` a pool")
        .add_help(fmt::format("a nested quota uses its parent's pool; remove `on {}`", decl.target->text));
  }
  if (!check_form(decl, true, false, true)) return kNone;
  if (!register_global(scope_names_, "quota", decl)) return kNone;
  const auto node = static_cast<Index>(quota_nodes_.size());
  quota_nodes_.push_back(QuotaNode{&decl, {}});
  if (!is_nested) quota_roots_.push_back(node);
  for (const ast::Declaration* child : nested(*decl.body, "quota", "quota")) {
    const Index c = collect_quota(*child, true);
    if (c != kNone) quota_nodes_[node].children.push_back(c);
  }
  return node;
}

// ---- values ---------------------------------------------------------------------

PropertyMap Analyzer::properties(const ast::Body& body, std::string_view owner,
                                 std::initializer_list<std::string_view> keys, bool resources) {
  PropertyMap m;
  m.by_key.reserve(body.properties.size());
  for (const ast::Property& p : body.properties) {
    const std::string& key = p.key.text;
    const bool known =
        std::find(keys.begin(), keys.end(), key) != keys.end() || (resources && resource_index_.count(key) != 0);
    if (!known) {
      Diagnostic& d =
          sink_.error(codes::kUnknownProperty, p.key.range, fmt::format("unknown {} property `{}`", owner, key));
      std::unordered_map<std::string_view, int> candidates;
      for (std::string_view k : keys) candidates.emplace(k, 0);
      if (resources) {
        for (const auto& [name, index] : resource_index_) candidates.emplace(name, 0);
      }
      std::string best = suggest(d, key, candidates, [](std::string_view) { return SourceRange{}; });
      if (!best.empty()) {
        m.suggested.push_back(std::move(best));
      } else if (resources) {
        d.add_help(fmt::format("to use a resource of your own, declare it: `resource {} {{}}`", key));
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
    auto r = resource_index_.find(p.key.text);
    if (r != resource_index_.end() && resources && m.get(p.key.text) == &p) m.resources.emplace_back(r->second, &p);
  }
  return m;
}

void Analyzer::require(const PropertyMap& props, std::string_view key, const ast::Declaration& decl,
                       std::string_view help) {
  if (props.get(key) != nullptr) return;
  if (std::find(props.suggested.begin(), props.suggested.end(), key) != props.suggested.end()) return;
  sink_
      .error(codes::kMissingProperty, decl.name.range,
             fmt::format("{} `{}` has no `{}`", decl.kind.text, decl.name.text, key))
      .add_help(std::string(help));
}

void Analyzer::object_members(const ast::Body& body, std::string_view owner) {
  for (const ast::Declaration& d : body.declarations) {
    sink_.error(codes::kMisplaced, d.kind.range, fmt::format("a {} cannot be declared inside {}", d.kind.text, owner));
  }
  for (const ast::Assertion& a : body.assertions) {
    sink_.error(codes::kMisplaced, a.range, fmt::format("an assertion cannot appear inside {}", owner))
        .add_help("move it into the enclosing declaration or to the top level");
  }
}

const ast::Expr* Analyzer::scalar(const ast::Value& v, std::string_view expected) {
  if (const auto* s = std::get_if<ast::ScalarValue>(&v.node)) return s->expr.get();
  sink_.error(codes::kWrongValue, v.range, fmt::format("expected {}, found {}", expected, describe(v)));
  return nullptr;
}

const ast::NumberLit* Analyzer::number_lit(const ast::Expr& e, std::string_view key, std::string_view expected) {
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

bool Analyzer::decimal(const ast::NumberLit& lit, SourceRange range, Decimal& out) {
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

bool Analyzer::amount(const ast::Expr& e, Index resource, model::Amount& out) {
  const model::Resource& r = policy_.resources[resource];
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
      d.add_help(fmt::format("accepted units: `MiB`, `GiB`, `TiB`; e.g. `{}GiB`", lit->digits));
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

std::optional<model::Bound> Analyzer::bound(const ast::Property& p, Index resource) {
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

std::optional<std::int64_t> Analyzer::integer(std::string_view key, const ast::Value& v, std::int64_t lo,
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

std::optional<std::int64_t> Analyzer::duration_ms(std::string_view key, const ast::Value& v, std::int64_t hi) {
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

std::optional<int> Analyzer::months(std::string_view key, const ast::Value& v) {
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
  const bool allowed = dec.scale == 0 && (dec.mantissa == 1 || dec.mantissa == 2 || dec.mantissa == 3 ||
                                          dec.mantissa == 6 || dec.mantissa == 12);
  if (!allowed) {
    sink_.error(codes::kOutOfRange, e->range,
                fmt::format("a term must be 1, 2, 3, 6 or 12 months, found `{}`", text(e->range)));
    return std::nullopt;
  }
  return static_cast<int>(dec.mantissa);
}

std::optional<std::int64_t> Analyzer::memory_mib(std::string_view key, const ast::Value& v) {
  const ast::Expr* e = scalar(v, "a memory size");
  if (e == nullptr) return std::nullopt;
  model::Amount out = 0;
  // Reuses the checks of the builtin `memory` resource; only the name in
  // the messages differs, which is acceptable for a size.
  (void)key;
  if (!amount(*e, model::kMemory, out)) return std::nullopt;
  return out;
}

std::optional<bool> Analyzer::boolean(const ast::Value& v) {
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

std::optional<std::string> Analyzer::string(const ast::Value& v) {
  const ast::Expr* e = scalar(v, "a string");
  if (e == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<ast::StringLit>(&e->node)) return s->value;
  sink_.error(codes::kWrongValue, e->range, fmt::format("expected a string, found {}", describe(*e)))
      .add_help(fmt::format("put it in quotes: `\"{}\"`", text(e->range)));
  return std::nullopt;
}

std::optional<NameUse> Analyzer::name(const ast::Value& v, std::string_view expected, bool strings_too) {
  const ast::Expr* e = scalar(v, expected);
  if (e == nullptr) return std::nullopt;
  if (const auto* n = std::get_if<ast::NameRef>(&e->node)) return NameUse{n->name, e->range};
  if (strings_too) {
    if (const auto* s = std::get_if<ast::StringLit>(&e->node)) return NameUse{s->value, e->range};
  }
  sink_.error(codes::kWrongValue, e->range, fmt::format("expected {}, found {}", expected, describe(*e)));
  return std::nullopt;
}

std::optional<int> Analyzer::choice(const ast::Value& v,
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

std::optional<std::vector<NameUse>> Analyzer::names(const ast::Value& v, std::string_view expected, bool strings_too) {
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

std::optional<model::WorkloadSet> Analyzer::workloads(const ast::Value& v) {
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

model::Bounds Analyzer::ceiling(const ast::Value& v) {
  model::Bounds out(policy_.resources.size());
  const auto* object = std::get_if<ast::ObjectValue>(&v.node);
  if (object == nullptr || object->tag) {
    sink_.error(
        codes::kWrongValue, v.range,
        fmt::format("expected an object such as `{{ gpu = 64 }}`, found {}", object ? "a tagged object" : describe(v)));
    return out;
  }
  object_members(object->body, "a ceiling");
  std::unordered_map<std::string_view, const ast::Property*> seen;
  for (const ast::Property& p : object->body.properties) {
    auto it = resource_index_.find(p.key.text);
    if (it == resource_index_.end()) {
      Diagnostic& d =
          sink_.error(codes::kUnknownResource, p.key.range, fmt::format("unknown resource `{}`", p.key.text));
      suggest(d, p.key.text, resource_index_,
              [&](std::string_view best) { return policy_.resources[resource_index_.at(std::string(best))].range; });
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
    if (e != nullptr && amount(*e, it->second, a)) out[it->second] = model::Bound{0, a, p.range};
  }
  return out;
}

std::optional<model::Billing> Analyzer::billing(const ast::Value& v) {
  const ast::Identifier* tag = nullptr;
  const ast::Body* body = nullptr;
  ast::Identifier bare;
  if (const auto* object = std::get_if<ast::ObjectValue>(&v.node)) {
    if (object->tag) tag = &*object->tag;
    body = &object->body;
  } else if (const auto* s = std::get_if<ast::ScalarValue>(&v.node)) {
    if (const auto* n = std::get_if<ast::NameRef>(&s->expr->node)) {
      bare = ast::Identifier{n->name, s->expr->range};
      tag = &bare;
    }
  }
  if (tag == nullptr) {
    sink_.error(codes::kWrongValue, v.range, fmt::format("expected a billing mode, found {}", describe(v)))
        .add_help(
            "write `subscription { term = 12mo }`, `pay_as_you_go { ceiling = { gpu = 64 } }` or "
            "`hybrid { term = 1mo, ceiling = { gpu = 16 } }`");
    return std::nullopt;
  }
  model::Billing b;
  b.range = v.range;
  b.ceiling.resize(policy_.resources.size());
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
        .add_help(fmt::format("write `{} {{ term = 12mo }}`; terms are 1, 2, 3, 6 or 12 months", tag->text));
  }
  return b;
}

std::vector<Index> Analyzer::roles(const ast::Value& v) {
  std::vector<Index> out;
  auto uses = names(v, "a role name", false);
  if (!uses) return out;
  for (const NameUse& use : *uses) {
    const Index r = resolve(role_index_, use, "role", codes::kUnknownRole, role_ranges_);
    if (r == kNone) continue;
    role_used_[r] = true;
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  }
  return out;
}

Index Analyzer::resolve(const std::unordered_map<std::string, Index>& index, const NameUse& use, std::string_view kind,
                        const char* code, const std::vector<SourceRange>& decl_ranges) {
  auto it = index.find(use.name);
  if (it != index.end()) return it->second;
  Diagnostic& d = sink_.error(code, use.range, fmt::format("unknown {} `{}`", kind, use.name));
  suggest(d, use.name, index, [&](std::string_view best) { return decl_ranges[index.at(std::string(best))]; });
  return kNone;
}

// ---- declarations ------------------------------------------------------------------

void Analyzer::resource_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "resource", "");
  PropertyMap props = properties(*decl.body, "resource", {"kind", "unit", "description"}, false);
  model::Resource& r = policy_.resources[index];
  if (const auto* p = props.get("kind")) {
    if (auto k = choice(p->value, {{"count", 0}, {"memory", 1}}, "resource kind")) {
      r.kind = *k == 1 ? model::ResourceKind::memory : model::ResourceKind::count;
    }
    if (props.get("unit") != nullptr && r.kind == model::ResourceKind::memory) {
      sink_.error(codes::kConflict, props.get("unit")->key.range, "a memory resource has no `unit`")
          .note("it is accounted in MiB because of this", p->range);
    }
  }
  if (const auto* p = props.get("unit")) string(p->value);
  if (const auto* p = props.get("description")) string(p->value);
}

void Analyzer::flavor_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "flavor", "");
  PropertyMap props = properties(
      *decl.body, "flavor", {"gpu_model", "gpus", "gpu_memory", "cpu", "memory", "interconnect", "description"}, false);
  model::Flavor& f = policy_.flavors[index];
  require(props, "gpus", decl, "write `gpus = 8` (GPUs per node; `0` for a CPU-only flavor)");
  if (const auto* p = props.get("gpus")) f.gpus = integer("gpus", p->value, 0, 1024).value_or(0);
  if (const auto* p = props.get("gpu_model")) f.gpu_model = string(p->value).value_or("");
  if (const auto* p = props.get("gpu_memory")) f.gpu_memory = memory_mib("gpu_memory", p->value).value_or(0);
  if (const auto* p = props.get("cpu")) {
    if (const ast::Expr* e = scalar(p->value, "an amount of `cpu`")) amount(*e, model::kCpu, f.cpu);
  }
  if (const auto* p = props.get("memory")) {
    if (const ast::Expr* e = scalar(p->value, "an amount of `memory`")) amount(*e, model::kMemory, f.memory);
  }
  if (const auto* p = props.get("interconnect")) {
    f.interconnect = integer("interconnect", p->value, 1, std::max<std::int64_t>(f.gpus, 1)).value_or(0);
  }
  if (const auto* p = props.get("description")) string(p->value);
}

void Analyzer::pool_body(Index index, const ast::Declaration& decl) {
  PropertyMap props =
      properties(*decl.body, "pool",
                 {"type", "purpose", "billing", "nodes", "system_disk", "hosts", "placement", "description"}, false);
  model::Pool& pool = policy_.pools[index];
  bool type_known = true;
  if (const auto* p = props.get("type")) {
    if (auto t = choice(p->value, {{"shared", 0}, {"dedicated", 1}}, "pool type")) {
      pool.type = *t == 0 ? model::PoolType::shared : model::PoolType::dedicated;
    } else {
      type_known = false;
    }
  }
  if (const auto* p = props.get("purpose")) {
    if (pool.type == model::PoolType::shared) {
      sink_.error(codes::kConflict, p->key.range, "`purpose` applies only to dedicated pools")
          .note("this pool is shared", props.get("type")->range)
          .add_help("a shared pool hosts every kind of work; use `hosts = [...]` to narrow it");
    } else if (auto purpose = choice(p->value, {{"training", 1}, {"serving", 2}}, "pool purpose")) {
      pool.purpose = *purpose == 1 ? model::PoolPurpose::training : model::PoolPurpose::serving;
    }
  }
  switch (pool.purpose) {
    case model::PoolPurpose::any:
      pool.hosts = model::kAllWorkloads;
      break;
    case model::PoolPurpose::training:
      pool.hosts = static_cast<model::WorkloadSet>(model::WorkloadKind::training) |
                   static_cast<model::WorkloadSet>(model::WorkloadKind::development);
      break;
    case model::PoolPurpose::serving:
      pool.hosts = static_cast<model::WorkloadSet>(model::WorkloadKind::inference);
      break;
  }
  if (const auto* p = props.get("hosts")) {
    if (auto set = workloads(p->value)) pool.hosts = *set;
  }
  if (const auto* p = props.get("placement")) {
    if (auto pl = choice(p->value, {{"best_fit", 0}, {"first_fit", 1}, {"spread", 2}, {"fgd", 3}}, "placement policy"))
      pool.placement = static_cast<model::PoolPlacement>(*pl);
  }
  if (const auto* p = props.get("billing")) {
    if (auto b = billing(p->value)) pool.billing = std::move(*b);
  } else {
    pool.billing.ceiling.resize(policy_.resources.size());
  }
  std::int64_t total_nodes = 0;
  if (const auto* p = props.get("nodes")) {
    if (const auto* n = std::get_if<ast::NodesValue>(&p->value.node)) {
      model::NodeGroup group;
      group.range = p->range;
      Decimal dec;
      if (!n->count.unit.empty()) {
        sink_.error(codes::kBadUnit, n->count_range,
                    fmt::format("a node count takes no unit, found `{}`", n->count.unit));
      } else if (decimal(n->count, n->count_range, dec)) {
        if (dec.scale != 0 || dec.mantissa < 1 || dec.mantissa > static_cast<std::uint64_t>(kMaxNodes)) {
          sink_.error(codes::kOutOfRange, n->count_range,
                      fmt::format("a pool has 1 to {} nodes, found `{}`", kMaxNodes, text(n->count_range)));
        } else {
          group.count = static_cast<std::int64_t>(dec.mantissa);
        }
      }
      group.flavor = resolve(flavor_index_, NameUse{n->flavor.text, n->flavor.range}, "flavor", codes::kUnknownFlavor,
                             flavor_ranges_);
      total_nodes += group.count;
      pool.node_groups.push_back(group);
    } else {
      sink_.error(codes::kWrongValue, p->value.range, fmt::format("expected nodes, found {}", describe(p->value)))
          .add_help("write `nodes = COUNT x FLAVOR`, e.g. `nodes = 16 x a100-8`");
    }
  }
  std::unordered_map<std::string_view, const ast::Declaration*> node_names;
  for (const ast::Declaration* node : nested(*decl.body, "pool", "node")) {
    check_name(*node);
    if (!check_form(*node, true, false, false)) continue;
    auto [it, inserted] = node_names.emplace(node->name.text, node);
    if (!inserted) {
      sink_
          .error(codes::kDuplicateName, node->name.range,
                 fmt::format("node `{}` is declared more than once in pool `{}`", node->name.text, pool.name))
          .note(fmt::format("node `{}` first declared here", node->name.text), it->second->name.range);
      continue;
    }
    nested(*node->body, "node", "");
    PropertyMap node_props = properties(*node->body, "node", {"flavor", "expires", "description"}, false);
    model::NamedNode n;
    n.name = node->name.text;
    n.range = node->range;
    require(node_props, "flavor", *node, "write `flavor = FLAVOR`");
    if (const auto* p = node_props.get("flavor")) {
      if (auto use = name(p->value, "a flavor name")) {
        n.flavor = resolve(flavor_index_, *use, "flavor", codes::kUnknownFlavor, flavor_ranges_);
      }
    }
    if (const auto* p = node_props.get("expires")) {
      if (auto date = string(p->value)) {
        if (!valid_date(*date)) {
          sink_.error(codes::kInvalidDate, p->value.range, fmt::format("`{}` is not a valid date", *date))
              .add_help("write the date as `\"YYYY-MM-DD\"`, e.g. `\"2027-03-31\"`");
        } else if (pool.billing.mode == model::BillingMode::pay_as_you_go) {
          Diagnostic& d = sink_.error(codes::kConflict, p->key.range,
                                      "`expires` applies only to nodes of subscription or hybrid pools");
          if (const auto* b = props.get("billing")) d.note("this pool is billed pay-as-you-go", b->range);
        } else {
          n.expires = *date;
        }
      }
    }
    if (const auto* p = node_props.get("description")) string(p->value);
    pool.nodes.push_back(std::move(n));
    ++total_nodes;
  }
  if (total_nodes > kMaxNodes) {
    sink_.error(codes::kOutOfRange, decl.name.range,
                fmt::format("pool `{}` has {} nodes; a pool has at most {}", pool.name, total_nodes, kMaxNodes));
  }
  if (type_known && pool.type == model::PoolType::dedicated && props.get("nodes") == nullptr && node_names.empty() &&
      std::find(props.suggested.begin(), props.suggested.end(), "nodes") == props.suggested.end()) {
    sink_.error(codes::kMissingProperty, decl.name.range, fmt::format("dedicated pool `{}` has no nodes", pool.name))
        .add_help("add `nodes = COUNT x FLAVOR` or `node NAME { flavor = FLAVOR }`");
  }
  if (const auto* p = props.get("system_disk")) {
    if (auto mib = memory_mib("system_disk", p->value)) {
      if (*mib % 1024 != 0) {
        sink_.error(codes::kTooPrecise, p->value.range, "`system_disk` is sold in whole GiB");
      } else if (*mib / 1024 < 200 || *mib / 1024 > 2000) {
        sink_.error(codes::kOutOfRange, p->value.range,
                    fmt::format("`system_disk` must be between 200GiB and 2000GiB, found {}GiB", *mib / 1024));
      } else {
        pool.system_disk_gib = *mib / 1024;
      }
    }
  }
  if (const auto* p = props.get("description")) pool.description = string(p->value).value_or("");
}

void Analyzer::role_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "role", "");
  PropertyMap props = properties(*decl.body, "role", {"users", "groups", "permissions", "description"}, false);
  model::Role& role = policy_.roles[index];
  if (const auto* p = props.get("users")) {
    if (auto uses = names(p->value, "a user name", true)) {
      for (NameUse& u : *uses) role.users.push_back(std::move(u.name));
    }
  }
  if (const auto* p = props.get("groups")) {
    if (auto uses = names(p->value, "a group name", true)) {
      for (NameUse& u : *uses) role.groups.push_back(std::move(u.name));
    }
  }
  if (const auto* p = props.get("permissions")) {
    if (const auto* list = std::get_if<ast::ListValue>(&p->value.node)) {
      std::uint8_t set = 0;
      for (const ast::Value& item : list->items) {
        if (auto perm = choice(item,
                               {{"submit", model::kSubmit},
                                {"list", model::kList},
                                {"cancel", model::kCancel},
                                {"admin", model::kAdmin}},
                               "permission")) {
          set = static_cast<std::uint8_t>(set | *perm);
        }
      }
      role.permissions = set;
    } else {
      names(p->value, "", false);  // reports the shape
    }
  }
  if (const auto* p = props.get("description")) string(p->value);
}

void Analyzer::priority_body(Index index, const ast::Declaration& decl) {
  model::PriorityClass& pc = policy_.priorities[index];
  constexpr std::int64_t kMaxPriority = 1'000'000'000;
  if (decl.value) {
    pc.value = integer("value", *decl.value, 0, kMaxPriority).value_or(0);
    return;
  }
  nested(*decl.body, "priority class", "");
  PropertyMap props = properties(*decl.body, "priority class", {"value", "preempts", "description"}, false);
  require(props, "value", decl, "write `value = 500`; higher values win");
  if (const auto* p = props.get("value")) pc.value = integer("value", p->value, 0, kMaxPriority).value_or(0);
  if (const auto* p = props.get("description")) string(p->value);
}

Index Analyzer::new_scope(ScopeKind kind, const ast::Declaration& decl, Index parent, std::string path) {
  const auto index = static_cast<Index>(policy_.scopes.size());
  model::Scope s;
  s.kind = kind;
  s.name = decl.name.text;
  s.path = std::move(path);
  s.parent = parent;
  s.bounds.resize(policy_.resources.size());
  s.range = decl.range;
  s.name_range = decl.name.range;
  if (parent != kNone) {
    s.pool = policy_.scopes[parent].pool;
    policy_.scopes[parent].children.push_back(index);
  }
  scope_index_.emplace(s.path, index);
  policy_.scopes.push_back(std::move(s));
  accepts_written_.push_back(nullptr);
  return index;
}

void Analyzer::scope_common(Index scope, const PropertyMap& props) {
  for (const auto& [resource, p] : props.resources) {
    if (auto b = bound(*p, resource)) policy_.scopes[scope].bounds[resource] = *b;
  }
  if (const auto* p = props.get("roles")) policy_.scopes[scope].roles = roles(p->value);
  if (const auto* p = props.get("description")) string(p->value);
  preemption_options(scope, props);
}

void Analyzer::preemption_options(Index scope, const PropertyMap& props) {
  model::Scope& s = policy_.scopes[scope];
  if (const auto* p = props.get("lend")) lend(scope, *p);
  if (const auto* p = props.get("reclaim")) {
    if (auto v = choice(p->value, {{"any", 0}, {"lower_priority", 1}, {"never", 2}}, "reclaim policy")) {
      s.reclaim = *v == 0   ? model::ReclaimPolicy::any
                  : *v == 1 ? model::ReclaimPolicy::lower_priority
                            : model::ReclaimPolicy::never;
      s.reclaim_range = p->range;
    }
  }
  if (const auto* p = props.get("borrow_within")) {
    if (auto b = borrow_within(p->value)) {
      s.borrow_within = *b;
      s.borrow_within.range = p->range;
    }
  }
}

void Analyzer::lend(Index scope, const ast::Property& p) {
  const auto* object = std::get_if<ast::ObjectValue>(&p.value.node);
  if (object == nullptr || object->tag) {
    sink_
        .error(codes::kWrongValue, p.value.range,
               fmt::format("expected an object such as `{{ gpu = 8 }}`, found {}",
                           object ? "a tagged object" : describe(p.value)))
        .add_help("write `lend = { RESOURCE = AMOUNT }`: how much of the guarantee other scopes may use");
    return;
  }
  object_members(object->body, "`lend`");
  std::unordered_map<std::string_view, const ast::Property*> seen;
  for (const ast::Property& lp : object->body.properties) {
    auto it = resource_index_.find(lp.key.text);
    if (it == resource_index_.end()) {
      Diagnostic& d =
          sink_.error(codes::kUnknownResource, lp.key.range, fmt::format("unknown resource `{}`", lp.key.text));
      suggest(d, lp.key.text, resource_index_,
              [&](std::string_view best) { return policy_.resources[resource_index_.at(std::string(best))].range; });
      continue;
    }
    auto [first, inserted] = seen.emplace(lp.key.text, &lp);
    if (!inserted) {
      sink_.error(codes::kDuplicateProperty, lp.key.range, fmt::format("property `{}` is given twice", lp.key.text))
          .note("first given here", first->second->key.range);
      continue;
    }
    const Index r = it->second;
    const ast::Expr* e = scalar(lp.value, fmt::format("an amount of `{}`", lp.key.text));
    model::Amount a = 0;
    if (e == nullptr || !amount(*e, r, a)) continue;
    model::Scope& s = policy_.scopes[scope];
    std::optional<model::Bound>& b = s.bounds[r];
    const std::string who = fmt::format("{} `{}`", model::to_string(s.kind), s.path);
    if (!b) {
      sink_
          .error(codes::kLendWithoutGuarantee, lp.key.range,
                 fmt::format("{} lends `{}` but guarantees none", who, lp.key.text))
          .add_help(fmt::format("only a guarantee can be lent: declare one, e.g. `{} = {}..`, or remove `{}` from "
                                "`lend`",
                                lp.key.text, text(e->range), lp.key.text));
      continue;
    }
    if (a > b->guarantee) {
      sink_
          .error(codes::kLendAboveGuarantee, e->range,
                 fmt::format("{} lends `{}` of `{}`, more than its guarantee of `{}`", who, text(e->range), lp.key.text,
                             written_amount(policy_.resources[r], b->guarantee)))
          .note("the guarantee is set here", b->range)
          .add_help("lend at most the guarantee; without `lend` all of it may be lent");
      continue;
    }
    b->lend = a;
    b->lend_range = lp.range;
  }
}

std::optional<model::BorrowWithin> Analyzer::borrow_within(const ast::Value& v) {
  const ast::Identifier* tag = nullptr;
  const ast::Body* body = nullptr;
  ast::Identifier bare;
  if (const auto* object = std::get_if<ast::ObjectValue>(&v.node)) {
    if (object->tag) tag = &*object->tag;
    body = &object->body;
  } else if (const auto* sv = std::get_if<ast::ScalarValue>(&v.node)) {
    if (const auto* n = std::get_if<ast::NameRef>(&sv->expr->node)) {
      bare = ast::Identifier{n->name, sv->expr->range};
      tag = &bare;
    }
  }
  if (tag == nullptr) {
    sink_.error(codes::kWrongValue, v.range, fmt::format("expected a borrow-within policy, found {}", describe(v)))
        .add_help("write `never`, `lower_priority` or `lower_priority { max_priority = CLASS }`");
    return std::nullopt;
  }
  model::BorrowWithin out;
  if (tag->text == "never") {
    if (body != nullptr) {
      object_members(*body, "`never`");
      properties(*body, "`never`", {}, false);  // reports every member
    }
    return out;
  }
  if (tag->text != "lower_priority") {
    Diagnostic& d =
        sink_.error(codes::kUnknownEnum, tag->range, fmt::format("unknown borrow-within policy `{}`", tag->text));
    const std::unordered_map<std::string_view, int> policies{{"never", 0}, {"lower_priority", 0}};
    suggest(d, tag->text, policies, [](std::string_view) { return SourceRange{}; });
    d.add_help("expected one of `never`, `lower_priority`");
    return std::nullopt;
  }
  out.enabled = true;
  if (body != nullptr) {
    object_members(*body, "`lower_priority`");
    PropertyMap props = properties(*body, "`lower_priority`", {"max_priority"}, false);
    if (const auto* p = props.get("max_priority")) {
      auto use = name(p->value, "a priority class");
      if (!use) return std::nullopt;
      out.max_priority = resolve(priority_index_, *use, "priority class", codes::kUnknownPriority, priority_ranges_);
      if (out.max_priority == kNone) return std::nullopt;
      priority_used_[out.max_priority] = true;
    }
  }
  return out;
}

void Analyzer::inherit_preemption_options() {
  reclaim_origin_.assign(policy_.scopes.size(), kNone);
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    model::Scope& s = policy_.scopes[i];
    if (s.reclaim_range.valid()) reclaim_origin_[i] = i;
    if (s.parent == kNone) continue;
    const model::Scope& parent = policy_.scopes[s.parent];
    if (!s.reclaim_range.valid() && parent.reclaim_range.valid()) {
      s.reclaim = parent.reclaim;
      s.reclaim_range = parent.reclaim_range;
      reclaim_origin_[i] = reclaim_origin_[s.parent];
    }
    if (!s.borrow_within.range.valid()) s.borrow_within = parent.borrow_within;
  }
}

Index Analyzer::build_quota(Index node, Index parent) {
  const ast::Declaration& decl = *quota_nodes_[node].decl;
  PropertyMap props = properties(
      *decl.body, "quota", {"child_preemption", "roles", "description", "lend", "reclaim", "borrow_within"}, true);
  const Index index = new_scope(ScopeKind::quota, decl, parent, decl.name.text);
  if (parent == kNone) {
    if (decl.target) {
      policy_.scopes[index].pool = resolve(pool_index_, NameUse{decl.target->text, decl.target->range}, "pool",
                                           codes::kUnknownPool, pool_ranges_);
    } else {
      sink_.error(codes::kMissingProperty, decl.name.range, fmt::format("quota `{}` has no pool", decl.name.text))
          .add_help(fmt::format("a top-level quota names its pool: `quota {} on POOL {{ ... }}`", decl.name.text));
    }
  }
  scope_common(index, props);
  if (const auto* p = props.get("child_preemption")) {
    policy_.scopes[index].child_preemption = boolean(p->value).value_or(false);
  }
  for (const Index child : quota_nodes_[node].children) build_quota(child, index);
  return index;
}

void Analyzer::build_workspace(const ast::Declaration& decl) {
  PropertyMap props = properties(*decl.body, "workspace",
                                 {"pool", "billing", "roles", "description", "lend", "reclaim", "borrow_within"}, true);
  Index parent = kNone;
  if (decl.target) {
    auto it = scope_names_.find(decl.target->text);
    if (it == scope_names_.end()) {
      Diagnostic& d =
          sink_.error(codes::kUnknownQuota, decl.target->range, fmt::format("unknown quota `{}`", decl.target->text));
      if (!sink_.saturated()) {
        std::unordered_map<std::string_view, const ast::Declaration*> quotas;
        for (const auto& [n, q] : scope_names_) {
          if (q->kind.text == "quota") quotas.emplace(n, q);
        }
        suggest(d, decl.target->text, quotas, [&](std::string_view best) { return quotas.at(best)->name.range; });
      }
    } else if (it->second->kind.text != "quota") {
      sink_
          .error(codes::kUnknownQuota, decl.target->range,
                 fmt::format("a workspace is bound to a quota, but `{}` is a workspace", decl.target->text))
          .note(fmt::format("workspace `{}` declared here", decl.target->text), it->second->name.range);
    } else if (auto s = scope_index_.find(decl.target->text); s != scope_index_.end()) {
      parent = s->second;
    }
  }
  const Index index = new_scope(ScopeKind::workspace, decl, parent, decl.name.text);
  if (const auto* p = props.get("pool")) {
    if (decl.target) {
      sink_.error(codes::kConflict, p->key.range, "a workspace bound to a quota uses the quota's pool")
          .note(fmt::format("bound to `{}` here", decl.target->text), decl.target->range)
          .add_help("remove `pool = ...` or the binding `on ...`");
    } else if (auto use = name(p->value, "a pool name")) {
      policy_.scopes[index].pool = resolve(pool_index_, *use, "pool", codes::kUnknownPool, pool_ranges_);
    }
  }
  if (const auto* p = props.get("billing")) {
    if (decl.target) {
      sink_.error(codes::kConflict, p->key.range, "a workspace bound to a quota is billed through the quota's pool")
          .note(fmt::format("bound to `{}` here", decl.target->text), decl.target->range)
          .add_help("remove `billing = ...` or the binding `on ...`");
    } else {
      policy_.scopes[index].billing = billing(p->value);
    }
  }
  scope_common(index, props);
  std::unordered_map<std::string_view, const ast::Declaration*> seen;
  for (const ast::Declaration* ns : nested(*decl.body, "workspace", "namespace")) {
    check_name(*ns);
    if (!check_form(*ns, true, false, false)) continue;
    auto [it, inserted] = seen.emplace(ns->name.text, ns);
    if (!inserted) {
      sink_
          .error(
              codes::kDuplicateName, ns->name.range,
              fmt::format("namespace `{}` is declared more than once in workspace `{}`", ns->name.text, decl.name.text))
          .note(fmt::format("namespace `{}` first declared here", ns->name.text), it->second->name.range);
      continue;
    }
    build_namespace(*ns, index);
  }
}

Index Analyzer::build_namespace(const ast::Declaration& decl, Index workspace) {
  PropertyMap props =
      properties(*decl.body, "namespace", {"roles", "description", "lend", "reclaim", "borrow_within"}, true);
  const Index index =
      new_scope(ScopeKind::namespace_, decl, workspace, policy_.scopes[workspace].path + "/" + decl.name.text);
  scope_common(index, props);
  std::unordered_map<std::string_view, const ast::Declaration*> seen;
  bool declared_default = false;
  for (const ast::Declaration* q : nested(*decl.body, "namespace", "queue")) {
    check_name(*q);
    if (!check_form(*q, true, false, false)) continue;
    auto [it, inserted] = seen.emplace(q->name.text, q);
    if (!inserted) {
      sink_
          .error(codes::kDuplicateName, q->name.range,
                 fmt::format("queue `{}` is declared more than once in namespace `{}`", q->name.text,
                             policy_.scopes[index].path))
          .note(fmt::format("queue `{}` first declared here", q->name.text), it->second->name.range);
      continue;
    }
    build_queue(*q, index, declared_default);
  }
  if (!declared_default) {
    model::Scope implicit;
    implicit.kind = ScopeKind::queue;
    implicit.name = "default-queue";
    implicit.path = policy_.scopes[index].path + "/default-queue";
    implicit.parent = index;
    implicit.pool = policy_.scopes[index].pool;
    implicit.bounds.resize(policy_.resources.size());
    implicit.implicit = true;
    implicit.range = decl.range;
    implicit.name_range = decl.name.range;
    const auto q = static_cast<Index>(policy_.scopes.size());
    policy_.scopes[index].children.push_back(q);
    scope_index_.emplace(implicit.path, q);
    policy_.scopes.push_back(std::move(implicit));
    accepts_written_.push_back(nullptr);
  }
  return index;
}

Index Analyzer::build_queue(const ast::Declaration& decl, Index ns, bool& declared_default) {
  PropertyMap props = properties(*decl.body, "queue",
                                 {"priority", "preemptible", "grace_period", "on_preempt", "accepts", "gpu_sharing",
                                  "roles", "description", "lend", "reclaim", "borrow_within", "preemption"},
                                 true);
  const Index index = new_scope(ScopeKind::queue, decl, ns, policy_.scopes[ns].path + "/" + decl.name.text);
  if (decl.name.text == "default-queue") declared_default = true;
  nested(*decl.body, "queue", "");
  scope_common(index, props);
  model::Scope& q = policy_.scopes[index];
  if (const auto* p = props.get("priority")) {
    if (auto use = name(p->value, "a priority class")) {
      q.default_priority = resolve(priority_index_, *use, "priority class", codes::kUnknownPriority, priority_ranges_);
      if (q.default_priority != kNone) priority_used_[q.default_priority] = true;
    }
  }
  if (const auto* p = props.get("preemptible")) q.preemptible = boolean(p->value).value_or(true);
  if (const auto* p = props.get("grace_period")) {
    q.grace_period_ms = duration_ms("grace_period", p->value, kMaxGracePeriodMs).value_or(q.grace_period_ms);
  }
  if (const auto* p = props.get("on_preempt")) {
    if (auto v = choice(p->value, {{"requeue", 0}, {"cancel", 1}}, "preemption action")) {
      q.on_preempt = *v == 0 ? model::OnPreempt::requeue : model::OnPreempt::cancel;
    }
  }
  if (const auto* p = props.get("accepts")) {
    if (auto set = workloads(p->value)) {
      q.accepts = *set;
      accepts_written_[index] = p;
    }
  }
  if (const auto* p = props.get("gpu_sharing")) q.gpu_sharing = boolean(p->value).value_or(false);
  if (const auto* p = props.get("preemption")) {
    if (auto v = choice(p->value, {{"never", 1}, {"lower_priority", 2}, {"lower_or_newer_equal_priority", 3}},
                        "preemption policy")) {
      q.within_queue = *v == 1   ? model::WithinQueue::never
                       : *v == 2 ? model::WithinQueue::lower_priority
                                 : model::WithinQueue::lower_or_newer_equal_priority;
      const auto* preemptible = props.get("preemptible");
      if (q.within_queue != model::WithinQueue::never && !q.preemptible && preemptible != nullptr) {
        sink_
            .error(codes::kConflict, p->key.range,
                   "`preemption` preempts jobs of a queue whose jobs are never preempted")
            .note("no job of this queue is a victim because of this", preemptible->range)
            .add_help("remove `preemption`, write `preemption = never`, or make the queue preemptible");
      }
    }
  }
  return index;
}

void Analyzer::check_accepts(Index queue, const ast::Property* accepts_prop) {
  model::Scope& q = policy_.scopes[queue];
  if (q.pool == kNone) return;
  const model::Pool& pool = policy_.pools[q.pool];
  if (accepts_prop == nullptr) {
    // Unwritten, a queue accepts whatever its pool hosts.
    q.accepts = pool.hosts;
    return;
  }
  const auto missing = static_cast<model::WorkloadSet>(q.accepts & ~pool.hosts);
  if (missing != 0) {
    sink_
        .error(codes::kNotHosted, accepts_prop->value.range,
               fmt::format("queue `{}` accepts {}, which pool `{}` does not host", q.path, workload_names(missing),
                           pool.name))
        .note(fmt::format("pool `{}` hosts {}", pool.name, workload_names(pool.hosts)), pool.name_range);
  }
  const auto inference = static_cast<model::WorkloadSet>(model::WorkloadKind::inference);
  if (pool.type == model::PoolType::shared && (q.accepts & inference) != 0) {
    sink_
        .warning(codes::kInferenceOnShared, accepts_prop->value.range,
                 fmt::format("queue `{}` accepts `inference` work on shared pool `{}`", q.path, pool.name))
        .note(fmt::format("pool `{}` declared here", pool.name), pool.name_range)
        .add_help(
            "dedicated resources are recommended for online production and latency-sensitive inference: "
            "shared pools queue jobs and share nodes between tenants");
  }
}

// A scope that lends its guarantee and never reclaims it loses it to the
// first borrower that stays. One warning per `reclaim = never`, naming every
// scope it applies to that guarantees something it may lend.
void Analyzer::check_reclaim() {
  std::vector<std::vector<std::pair<Index, Index>>> losers(policy_.scopes.size());  // by origin: (scope, resource)
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    const model::Scope& s = policy_.scopes[i];
    if (s.reclaim != model::ReclaimPolicy::never || reclaim_origin_[i] == kNone) continue;
    for (Index r = 0; r < s.bounds.size(); ++r) {
      const std::optional<model::Bound>& b = s.bounds[r];
      if (!b || b->guarantee <= 0 || (b->lend && *b->lend == 0)) continue;
      losers[reclaim_origin_[i]].emplace_back(i, r);
      break;
    }
  }
  constexpr std::size_t kNamed = 3;
  for (Index o = 0; o < losers.size(); ++o) {
    if (losers[o].empty()) continue;
    auto who = [&](Index scope) {
      const model::Scope& s = policy_.scopes[scope];
      return fmt::format("{} `{}`", model::to_string(s.kind), s.path);
    };
    const auto [first, first_resource] = losers[o].front();
    Diagnostic& d =
        sink_.warning(codes::kNeverReclaims, policy_.scopes[o].reclaim_range,
                      fmt::format("{} would lose its `{}` guarantee to borrowers: it never reclaims what it lends",
                                  who(first), policy_.resources[first_resource].name));
    if (first != o) d.note(fmt::format("it inherits `reclaim = never` from {}", who(o)));
    for (std::size_t k = 1; k < losers[o].size() && k <= kNamed; ++k) {
      const auto [scope, r] = losers[o][k];
      d.note(fmt::format("{} inherits it and would lose its `{}` guarantee too", who(scope), policy_.resources[r].name),
             policy_.scopes[scope].bounds[r]->range);
    }
    if (losers[o].size() > kNamed + 1) d.note(fmt::format("and {} more scopes", losers[o].size() - kNamed - 1));
    d.add_help(fmt::format(
        "write `reclaim = lower_priority` to take it back from lower-priority borrowers, or `lend = {{ {} = 0 }}` to "
        "lend none of it",
        policy_.resources[first_resource].name));
  }
}

void Analyzer::lint() {
  check_reclaim();
  for (Index i = 0; i < policy_.roles.size(); ++i) {
    if (role_used_[i]) continue;
    sink_
        .warning(codes::kUnusedRole, policy_.roles[i].range,
                 fmt::format("role `{}` is never used", policy_.roles[i].name))
        .add_help("list it in `roles = [...]` of a quota, workspace, namespace or queue, or remove it");
  }
  for (Index i = 0; i < policy_.priorities.size(); ++i) {
    if (priority_used_[i]) continue;
    sink_
        .warning(codes::kUnusedPriority, policy_.priorities[i].range,
                 fmt::format("priority class `{}` is never used", policy_.priorities[i].name))
        .add_help("set it as a queue's `priority` or list it in another class's `preempts`, or remove it");
  }
}

// ---- the whole run ---------------------------------------------------------------

std::optional<model::Policy> Analyzer::run(const std::vector<ast::File>& files) {
  for (const ast::File& file : files) {
    for (const ast::Declaration& decl : file.declarations) collect(decl);
    for (const ast::Assertion& a : file.assertions) assertions_.push_back(&a);
  }

  // Model entries exist before any body is read so that references resolve
  // whatever the order of declarations.
  for (const ast::Declaration* d : flavor_decls_) {
    model::Flavor f;
    f.name = d->name.text;
    f.range = d->name.range;
    policy_.flavors.push_back(std::move(f));
  }
  for (const ast::Declaration* d : pool_decls_) {
    model::Pool p;
    p.name = d->name.text;
    p.range = d->range;
    p.name_range = d->name.range;
    policy_.pools.push_back(std::move(p));
  }
  for (const ast::Declaration* d : role_decls_) {
    model::Role r;
    r.name = d->name.text;
    r.range = d->name.range;
    policy_.roles.push_back(std::move(r));
  }
  for (const ast::Declaration* d : priority_decls_) {
    model::PriorityClass pc;
    pc.name = d->name.text;
    pc.range = d->name.range;
    policy_.priorities.push_back(std::move(pc));
  }
  role_used_.assign(policy_.roles.size(), false);
  priority_used_.assign(policy_.priorities.size(), false);

  // Resources first: every amount depends on its resource's kind.
  for (Index i = 0; i < resource_decls_.size(); ++i) resource_body(model::kCu + 1 + i, *resource_decls_[i]);
  for (Index i = 0; i < flavor_decls_.size(); ++i) flavor_body(i, *flavor_decls_[i]);
  for (Index i = 0; i < pool_decls_.size(); ++i) pool_body(i, *pool_decls_[i]);
  for (Index i = 0; i < role_decls_.size(); ++i) role_body(i, *role_decls_[i]);
  for (Index i = 0; i < priority_decls_.size(); ++i) priority_body(i, *priority_decls_[i]);

  // `preempts` needs every class's value.
  for (Index i = 0; i < priority_decls_.size(); ++i) {
    const ast::Declaration& decl = *priority_decls_[i];
    if (!decl.body) continue;
    const ast::Property* p = nullptr;
    for (const ast::Property& prop : decl.body->properties) {
      if (prop.key.text == "preempts") p = &prop;
    }
    if (p == nullptr) continue;
    auto uses = names(p->value, "a priority class", false);
    if (!uses) continue;
    for (const NameUse& use : *uses) {
      const Index target = resolve(priority_index_, use, "priority class", codes::kUnknownPriority, priority_ranges_);
      if (target == kNone) continue;
      priority_used_[target] = true;
      const model::PriorityClass& self = policy_.priorities[i];
      const model::PriorityClass& other = policy_.priorities[target];
      if (other.value >= self.value) {
        sink_
            .error(codes::kPreemptOrder, use.range,
                   target == i ? fmt::format("priority class `{}` cannot preempt itself", self.name)
                               : fmt::format("priority class `{}` ({}) cannot preempt `{}` ({})", self.name, self.value,
                                             other.name, other.value))
            .note(fmt::format("`{}` declared here", other.name), other.range)
            .add_help("a class may only preempt classes with a lower value");
        continue;
      }
      policy_.priorities[i].preempts.push_back(target);
      policy_.priorities[i].preempts_ranges.push_back(use.range);
    }
  }

  // Quota trees first, so that every quota exists when a workspace binds to
  // it and parents precede children in `Policy::scopes`.
  policy_.scopes.reserve(scope_names_.size());
  scope_index_.reserve(scope_names_.size());
  for (const Index q : quota_roots_) build_quota(q, kNone);
  for (const ast::Declaration* w : workspace_decls_) build_workspace(*w);
  inherit_preemption_options();
  for (Index i = 0; i < policy_.scopes.size(); ++i) {
    if (policy_.scopes[i].kind == ScopeKind::queue) check_accepts(i, accepts_written_[i]);
  }

  for (const ast::Assertion* a : assertions_) check_assertion(*a);
  // An unresolved reference (a typo) would also make its target look unused.
  if (!sink_.has_errors()) lint();

  if (sink_.has_errors()) return std::nullopt;
  return std::move(policy_);
}

std::optional<model::Policy> analyze(const SourceManager& sources, const std::vector<ast::File>& files,
                                     DiagnosticSink& sink) {
  // A file that failed to parse is missing from `files`; analysing the rest
  // would report every reference into it as unknown.
  if (sink.has_errors()) return std::nullopt;
  Analyzer analyzer(sources, sink);
  return analyzer.run(files);
}

}  // namespace allot::sema
