// Internal to sema: the analyzer whose phases live in collect.cpp,
// declarations.cpp, scopes.cpp, lint.cpp and assertions.cpp (run() in
// analyze.cpp). Not part of the stage's interface.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compiler/base/diagnostic.h"
#include "compiler/base/source.h"
#include "compiler/sema/model.h"
#include "compiler/sema/symbols.h"
#include "compiler/sema/values.h"
#include "compiler/syntax/ast.h"

namespace allot::sema {

class Analyzer {
 public:
  Analyzer(const SourceManager& sources, DiagnosticSink& sink);
  std::optional<model::Policy> run(const std::vector<ast::File>& files);

 private:
  friend class ExprChecker;

  // ---- collect (collect.cpp): names and nesting, no bodies read ----
  void collect(const std::vector<ast::File>& files);
  void collect(const ast::Declaration& decl);
  // Returns the index of the quota in `quota_nodes_`, or kNone when rejected.
  Index collect_quota(const ast::Declaration& decl, bool nested);
  bool check_name(const ast::Declaration& decl);
  bool check_form(const ast::Declaration& decl, bool needs_body, bool allows_value, bool allows_target);
  // Reports declarations of `body` that may not appear there; returns those
  // of kind `allowed` (empty: none allowed). Collects the body's assertions.
  std::vector<const ast::Declaration*> nested(const ast::Body& body, std::string_view owner, std::string_view allowed);
  // Adds `decl` to `table`, or reports it as a duplicate and returns false.
  bool declare(SymbolTable& table, std::string_view kind, const ast::Declaration& decl);

  // ---- declarations (declarations.cpp): everything but the scope tree ----
  // Model entries exist before any body is read, so that references resolve
  // whatever the order of declarations.
  void create_entries();
  void read_declarations();
  void resource_body(Index index, const ast::Declaration& decl);
  void flavor_body(Index index, const ast::Declaration& decl);
  void pool_body(Index index, const ast::Declaration& decl);
  void role_body(Index index, const ast::Declaration& decl);
  void priority_body(Index index, const ast::Declaration& decl);
  // `preempts` needs every class's value.
  void priority_preempts(Index index, const ast::Declaration& decl);
  std::vector<Index> roles(const ast::Value& v);
  // Looks `use` up in `table`; on failure reports `code` ("unknown pool `x`")
  // with a did-you-mean note at the closest declaration.
  Index resolve(const SymbolTable& table, const NameUse& use, std::string_view kind, const char* code);

  // ---- scopes (scopes.cpp): the quota trees and workspaces ----
  void build_scopes();
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

  // ---- fair sharing (fair_sharing.cpp) ----
  void weight(Index scope, const ast::Property& p);
  void fair_sharing(model::Pool& pool, const ast::Property& p);
  void check_fair_sharing();  // after inherit_preemption_options

  // ---- lint (lint.cpp) ----
  void lint();
  void check_reclaim();

  // ---- dead rules (dead_rules.cpp): rules that can never take effect ----
  void check_dead_rules();
  void check_dead_preempts();
  void check_dead_child_preemption();
  void check_unbinding_limits();
  void check_empty_roles();

  // ---- assertions (assertions.cpp) ----
  void check_assertion(const ast::Assertion& a);

  std::string_view text(SourceRange r) const { return sources_.slice(r); }

  const SourceManager& sources_;
  DiagnosticSink& sink_;
  model::Policy policy_;

  // One table per global namespace. Resources start with the built-ins;
  // quotas and workspaces share `top_scopes_` (indices into its `decls`, not
  // into `Policy::scopes`).
  SymbolTable resources_, flavors_, pools_, roles_, priorities_, top_scopes_;
  // Scope path (see model::Scope::path) -> index in `Policy::scopes`, filled
  // while the tree is built.
  StringMap<Index> scope_paths_;

  ValueReader values_;

  // The accepted quota declarations as a tree, so that building the scopes
  // needs no name lookups.
  struct QuotaNode {
    const ast::Declaration* decl = nullptr;
    std::vector<Index> children;
  };
  std::vector<QuotaNode> quota_nodes_;
  std::vector<Index> quota_roots_;
  std::vector<const ast::Assertion*> assertions_;
  // Per scope: where `accepts` was written (null when defaulted).
  std::vector<const ast::Property*> accepts_written_;
  // Per scope: where `child_preemption` was written (invalid when not).
  std::vector<SourceRange> child_preemption_written_;
  // Per scope: the scope whose `reclaim` is in effect (kNone: the default).
  std::vector<Index> reclaim_origin_;
};

}  // namespace allot::sema
