// Internal to sema: the value reader. Reads the values of properties
// (amounts, bounds, durations, names, lists, objects, billing modes) into
// model values, knowing only the resources; each reader reports what is
// wrong with a value and returns nothing then.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/sema/symbols.h"
#include "compiler/sema/units.h"
#include "compiler/syntax/ast.h"

namespace allot::sema {

// `a number`, `a list`, ...: what a value is, for "expected X, found Y".
std::string_view describe(const ast::Expr& e);
std::string_view describe(const ast::Value& v);

// `gpu` for `gpus` and back: a plural slip beats an equally close match.
std::string plural_match(std::string_view word, const std::vector<std::string_view>& candidates);

// The properties of one body, indexed by key after unknown and repeated keys
// were reported.
struct PropertyMap {
  // Sorted by key; a vector because most bodies hold a handful of properties
  // and a hash map per body dominated the cost of large policies.
  std::vector<std::pair<std::string_view, const ast::Property*>> by_key;
  // Resource amounts (`gpu = 8`, `rdma = 2`), in source order.
  std::vector<std::pair<Index, const ast::Property*>> resources;
  // Keys suggested for misspelt properties: not reported again as missing.
  std::vector<std::string> suggested;

  const ast::Property* get(std::string_view key) const {
    auto it = std::lower_bound(by_key.begin(), by_key.end(), key,
                               [](const auto& entry, std::string_view k) { return entry.first < k; });
    return it != by_key.end() && it->first == key ? it->second : nullptr;
  }
};

class ValueReader {
 public:
  // `resource_names` and `resources` grow while declarations are collected;
  // the reader sees them as they are when it reads.
  ValueReader(const SourceManager& sources, DiagnosticSink& sink, const SymbolTable& resource_names,
              const std::vector<model::Resource>& resources)
      : sources_(sources), sink_(sink), resource_names_(resource_names), resources_(resources) {}

  // Reports unknown keys (with "did you mean") and repeated keys; with
  // `resources`, every declared resource is a key too.
  PropertyMap properties(const ast::Body& body, std::string_view owner, std::initializer_list<std::string_view> keys,
                         bool resources);
  void require(const PropertyMap& props, std::string_view key, const ast::Declaration& decl, std::string_view help);
  // Reports every declaration and assertion inside an object value.
  void object_members(const ast::Body& body, std::string_view owner);

  const ast::Expr* scalar(const ast::Value& v, std::string_view expected);
  const ast::NumberLit* number_lit(const ast::Expr& e, std::string_view key, std::string_view expected);
  bool decimal(const ast::NumberLit& lit, SourceRange range, Decimal& out);
  bool amount(const ast::Expr& e, Index resource, model::Amount& out);
  std::optional<model::Bound> bound(const ast::Property& p, Index resource);
  std::optional<std::int64_t> integer(std::string_view key, const ast::Value& v, std::int64_t lo, std::int64_t hi);
  std::optional<std::int64_t> duration_ms(std::string_view key, const ast::Value& v, std::int64_t hi);
  std::optional<int> months(std::string_view key, const ast::Value& v);
  std::optional<std::int64_t> memory_mib(const ast::Value& v);
  std::optional<bool> boolean(const ast::Value& v);
  std::optional<std::string> string(const ast::Value& v);
  std::optional<NameUse> name(const ast::Value& v, std::string_view expected, bool strings_too = false);
  // An enum value; `choices` pairs each spelling with its value.
  std::optional<int> choice(const ast::Value& v, std::initializer_list<std::pair<std::string_view, int>> choices,
                            std::string_view what);
  std::optional<std::vector<NameUse>> names(const ast::Value& v, std::string_view expected, bool strings_too);
  std::optional<model::WorkloadSet> workloads(const ast::Value& v);
  std::optional<model::Billing> billing(const ast::Value& v);
  // Reports (E0134) a term the provider does not sell; `serving`: a
  // ModelArts service-deployment pool (1 to 11 months).
  void check_term(const model::Billing& b, model::Provider provider, bool serving, SourceRange provider_range);
  // A tagged value: `tag`, `tag { ... }` or `{ ... }` (then no tag). The
  // body, when there is one, points into `v`.
  struct Tagged {
    std::optional<ast::Identifier> tag;
    const ast::Body* body = nullptr;
  };
  Tagged tagged(const ast::Value& v) const;
  model::Bounds ceiling(const ast::Value& v);

  // An untagged object of amounts keyed by resource, `{ gpu = 8 }` (a
  // ceiling, `lend`). Reports a value of another shape (`expected an object
  // such as EXAMPLE`, with `help` when not empty), members that are not
  // properties, unknown and repeated resources and bad amounts; calls `each`
  // for every good entry, in source order.
  using AmountEntry = std::function<void(Index resource, const ast::Property& p, const ast::Expr& e, model::Amount)>;
  void resource_amounts(const ast::Value& v, std::string_view example, std::string_view owner, std::string_view help,
                        const AmountEntry& each);

  // Adds "did you mean" to `d` when a key of `map` is close to `word`;
  // `where` gives the location of the suggestion (may be invalid). Returns
  // the suggestion, or an empty string.
  template <typename Map, typename Where>
  std::string suggest(Diagnostic& d, std::string_view word, const Map& map, Where where) const {
    if (sink_.saturated()) return {};
    std::vector<std::string_view> candidates;
    candidates.reserve(map.size());
    for (const auto& entry : map) candidates.push_back(entry.first);
    std::string best = plural_match(word, candidates);
    if (best.empty()) best = closest_match(word, candidates);
    if (!best.empty()) d.note("did you mean `" + best + "`?", where(best));
    return best;
  }
  // A did-you-mean note at the closest entry of `table`.
  void suggest_symbol(Diagnostic& d, std::string_view word, const SymbolTable& table) const {
    suggest(d, word, table.index, [&](std::string_view best) { return table.range(table.find(std::string(best))); });
  }

 private:
  std::string_view text(SourceRange r) const { return sources_.slice(r); }

  const SourceManager& sources_;
  DiagnosticSink& sink_;
  const SymbolTable& resource_names_;
  const std::vector<model::Resource>& resources_;
};

}  // namespace allot::sema
