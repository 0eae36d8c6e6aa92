// Internal to sema: the analyzer shared by analyze.cpp (declarations) and
// assertions.cpp (expressions). Not part of the stage's interface.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/sema/units.h"
#include "compiler/syntax/ast.h"

namespace allot::sema {

// Stable diagnostic codes of this stage; docs/diagnostics.md explains each.
namespace codes {
inline constexpr const char* kUnknownKind = "E0101";
inline constexpr const char* kInvalidName = "E0102";
inline constexpr const char* kMisplaced = "E0103";
inline constexpr const char* kDuplicateName = "E0104";
inline constexpr const char* kUnknownProperty = "E0105";
inline constexpr const char* kDuplicateProperty = "E0106";
inline constexpr const char* kMissingProperty = "E0107";
inline constexpr const char* kWrongValue = "E0108";
inline constexpr const char* kBadUnit = "E0109";
inline constexpr const char* kOutOfRange = "E0110";
inline constexpr const char* kTooPrecise = "E0111";
inline constexpr const char* kTooLarge = "E0112";
inline constexpr const char* kUnknownEnum = "E0113";
inline constexpr const char* kUnknownPool = "E0114";
inline constexpr const char* kUnknownFlavor = "E0115";
inline constexpr const char* kUnknownQuota = "E0116";
inline constexpr const char* kUnknownRole = "E0117";
inline constexpr const char* kUnknownPriority = "E0118";
inline constexpr const char* kUnknownResource = "E0119";
inline constexpr const char* kUnknownScope = "E0120";
inline constexpr const char* kTypeMismatch = "E0121";
inline constexpr const char* kNoLimit = "E0122";
inline constexpr const char* kBadCall = "E0123";
inline constexpr const char* kTargetNotAllowed = "E0124";
inline constexpr const char* kWrongForm = "E0125";
inline constexpr const char* kInvertedRange = "E0126";
inline constexpr const char* kConflict = "E0127";
inline constexpr const char* kNotHosted = "E0128";
inline constexpr const char* kPreemptOrder = "E0129";
inline constexpr const char* kDivisionByZero = "E0130";
inline constexpr const char* kInvalidDate = "E0131";
inline constexpr const char* kLendWithoutGuarantee = "E0132";
inline constexpr const char* kLendAboveGuarantee = "E0133";
inline constexpr const char* kInferenceOnShared = "W0101";
inline constexpr const char* kUnusedRole = "W0102";
inline constexpr const char* kUnusedPriority = "W0103";
inline constexpr const char* kNeverReclaims = "W0104";
}  // namespace codes

using model::Index;
using model::kNone;

// A name and where it was written, as found in a list or a reference.
struct NameUse {
  std::string name;
  SourceRange range;
};

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

class Analyzer {
 public:
  Analyzer(const SourceManager& sources, DiagnosticSink& sink);
  std::optional<model::Policy> run(const std::vector<ast::File>& files);

 private:
  friend class ExprChecker;

  // ---- collection (analyze.cpp) ----
  void collect(const ast::Declaration& decl);
  // Returns the index of the quota in `quota_nodes_`, or kNone when rejected.
  Index collect_quota(const ast::Declaration& decl, bool nested);
  bool check_name(const ast::Declaration& decl);
  bool check_form(const ast::Declaration& decl, bool needs_body, bool allows_value, bool allows_target);
  // Reports declarations of `body` that may not appear there; returns those
  // of kind `allowed` (empty: none allowed). Collects the body's assertions.
  std::vector<const ast::Declaration*> nested(const ast::Body& body, std::string_view owner, std::string_view allowed);
  bool register_global(std::unordered_map<std::string_view, const ast::Declaration*>& names, std::string_view kind,
                       const ast::Declaration& decl);

  // ---- declarations (analyze.cpp) ----
  void resource_body(Index index, const ast::Declaration& decl);
  void flavor_body(Index index, const ast::Declaration& decl);
  void pool_body(Index index, const ast::Declaration& decl);
  void role_body(Index index, const ast::Declaration& decl);
  void priority_body(Index index, const ast::Declaration& decl);
  Index build_quota(Index node, Index parent);
  void build_workspace(const ast::Declaration& decl);
  Index build_namespace(const ast::Declaration& decl, Index workspace);
  Index build_queue(const ast::Declaration& decl, Index ns, bool& declared_default);
  Index new_scope(model::ScopeKind kind, const ast::Declaration& decl, Index parent, std::string path);
  void scope_common(Index scope, const PropertyMap& props);
  void check_accepts(Index queue, const ast::Property* accepts_prop);
  // The preemption options every scope kind takes: `lend`, `reclaim`,
  // `borrow_within` (after the scope's bounds are read).
  void preemption_options(Index scope, const PropertyMap& props);
  void lend(Index scope, const ast::Property& p);
  std::optional<model::BorrowWithin> borrow_within(const ast::Value& v);
  // Inherits `reclaim` and `borrow_within` down the tree (parents first).
  void inherit_preemption_options();
  void check_reclaim();
  void lint();

  // ---- values (analyze.cpp) ----
  // Each helper reads the value of property `key` (for messages), reports
  // what is wrong with it and returns nothing then.
  PropertyMap properties(const ast::Body& body, std::string_view owner, std::initializer_list<std::string_view> keys,
                         bool resources);
  void require(const PropertyMap& props, std::string_view key, const ast::Declaration& decl, std::string_view help);
  void object_members(const ast::Body& body, std::string_view owner);
  const ast::Expr* scalar(const ast::Value& v, std::string_view expected);
  const ast::NumberLit* number_lit(const ast::Expr& e, std::string_view key, std::string_view expected);
  bool decimal(const ast::NumberLit& lit, SourceRange range, Decimal& out);
  bool amount(const ast::Expr& e, Index resource, model::Amount& out);
  std::optional<model::Bound> bound(const ast::Property& p, Index resource);
  std::optional<std::int64_t> integer(std::string_view key, const ast::Value& v, std::int64_t lo, std::int64_t hi);
  std::optional<std::int64_t> duration_ms(std::string_view key, const ast::Value& v, std::int64_t hi);
  std::optional<int> months(std::string_view key, const ast::Value& v);
  std::optional<std::int64_t> memory_mib(std::string_view key, const ast::Value& v);
  std::optional<bool> boolean(const ast::Value& v);
  std::optional<std::string> string(const ast::Value& v);
  std::optional<NameUse> name(const ast::Value& v, std::string_view expected, bool strings_too = false);
  // An enum value; `choices` pairs each spelling with its value.
  std::optional<int> choice(const ast::Value& v, std::initializer_list<std::pair<std::string_view, int>> choices,
                            std::string_view what);
  std::optional<std::vector<NameUse>> names(const ast::Value& v, std::string_view expected, bool strings_too);
  std::optional<model::WorkloadSet> workloads(const ast::Value& v);
  std::optional<model::Billing> billing(const ast::Value& v);
  model::Bounds ceiling(const ast::Value& v);
  std::vector<Index> roles(const ast::Value& v);

  // ---- references ----
  // Looks `use` up in `index`; on failure reports `code` ("unknown pool `x`")
  // with a did-you-mean note at the closest declaration.
  Index resolve(const std::unordered_map<std::string, Index>& index, const NameUse& use, std::string_view kind,
                const char* code, const std::vector<SourceRange>& decl_ranges);
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

  // ---- assertions (assertions.cpp) ----
  void check_assertion(const ast::Assertion& a);

  std::string_view text(SourceRange r) const { return sources_.slice(r); }

  const SourceManager& sources_;
  DiagnosticSink& sink_;
  model::Policy policy_;

  // Name -> index per global namespace. `scope_index_` maps scope paths
  // (see model::Scope::path) and is filled while the tree is built.
  std::unordered_map<std::string, Index> resource_index_, flavor_index_, pool_index_, role_index_, priority_index_;
  std::unordered_map<std::string, Index> scope_index_;
  // Declarations seen per global namespace, for duplicate reports. Quotas and
  // workspaces share one.
  // Keys view the names in the syntax trees, which outlive the analyzer.
  std::unordered_map<std::string_view, const ast::Declaration*> resource_names_, flavor_names_, pool_names_,
      role_names_, priority_names_, scope_names_;

  std::vector<const ast::Declaration*> resource_decls_, flavor_decls_, pool_decls_, role_decls_, priority_decls_;
  // The accepted quota declarations as a tree, so that building the scopes
  // needs no name lookups.
  struct QuotaNode {
    const ast::Declaration* decl = nullptr;
    std::vector<Index> children;
  };
  std::vector<QuotaNode> quota_nodes_;
  std::vector<Index> quota_roots_;
  std::vector<const ast::Declaration*> workspace_decls_;
  std::vector<const ast::Assertion*> assertions_;
  // Declaration ranges parallel to the model vectors, for did-you-mean notes.
  std::vector<SourceRange> flavor_ranges_, pool_ranges_, role_ranges_, priority_ranges_;
  std::vector<bool> role_used_, priority_used_;
  // Per scope: where `accepts` was written (null when defaulted).
  std::vector<const ast::Property*> accepts_written_;
  // Per scope: the scope whose `reclaim` is in effect (kNone: the default).
  std::vector<Index> reclaim_origin_;
};

}  // namespace allot::sema
