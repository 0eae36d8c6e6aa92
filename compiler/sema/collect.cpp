// Collection: the first phase. Walks every file's declarations, checks kinds,
// nesting, names and forms, and fills the symbol tables; no body is read.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {
namespace {

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
constexpr std::array<std::string_view, 21> kScopeKeys{
    "child_preemption", "roles",         "description",  "pool",         "billing",
    "priority",         "preemptible",   "grace_period", "on_preempt",   "accepts",
    "gpu_sharing",      "hosts",         "nodes",        "system_disk",  "lend",
    "reclaim",          "borrow_within", "preemption",   "renamed_from", "weight",
    "fair_sharing"};

}  // namespace

Analyzer::Analyzer(const SourceManager& sources, DiagnosticSink& sink)
    : sources_(sources), sink_(sink), values_(sources, sink, resources_, policy_.resources) {
  for (const char* builtin : {"gpu", "cpu", "memory", "cu"}) {
    model::Resource r;
    r.name = builtin;
    r.kind = std::string_view(builtin) == "memory" ? model::ResourceKind::memory : model::ResourceKind::count;
    resources_.add(builtin, nullptr);
    policy_.resources.push_back(std::move(r));
  }
}

void Analyzer::collect(const std::vector<ast::File>& files) {
  for (const ast::File& file : files) {
    for (const ast::Declaration& decl : file.declarations) collect(decl);
    for (const ast::Assertion& a : file.assertions) assertions_.push_back(&a);
  }
}

bool Analyzer::check_name(const ast::Declaration& decl) {
  if (!decl.dotted_name) return true;
  std::string fixed(decl.name.text);
  std::replace(fixed.begin(), fixed.end(), '.', '_');
  sink_.error(codes::kInvalidName, decl.name.range, fmt::format("`{}` is not a valid name", decl.name.text))
      .add_help(fmt::format("names may not contain `.`; write `{}`", fixed));
  return false;
}

bool Analyzer::check_form(const ast::Declaration& decl, bool needs_body, bool allows_value, bool allows_target) {
  const std::string_view kind = decl.kind.text;
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

bool Analyzer::declare(SymbolTable& table, std::string_view kind, const ast::Declaration& decl) {
  const Index existing = table.find(decl.name.text);
  if (existing == kNone) {
    table.add(decl.name.text, &decl);
    return true;
  }
  const ast::Declaration& first = *table.decls[existing];
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
      values_.suggest(diag, d.kind.text, kinds, [](std::string_view) { return SourceRange{}; });
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
  const std::string_view kind = decl.kind.text;
  const KindInfo* info = find_kind(kind);
  if (info == nullptr) {
    Diagnostic& d =
        sink_.error(codes::kUnknownKind, decl.kind.range, fmt::format("unknown declaration kind `{}`", kind));
    std::unordered_map<std::string_view, int> kinds;
    for (const KindInfo& k : kKinds) kinds.emplace(k.kind, 0);
    values_.suggest(d, kind, kinds, [](std::string_view) { return SourceRange{}; });
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
    const Index builtin = resources_.find(decl.name.text);
    if (builtin != kNone && resources_.decls[builtin] == nullptr) {
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
    if (!declare(resources_, kind, decl)) return;
    model::Resource r;
    r.name = decl.name.text;
    r.builtin = false;
    r.range = decl.name.range;
    policy_.resources.push_back(std::move(r));
  } else if (kind == "flavor") {
    declare(flavors_, kind, decl);
  } else if (kind == "pool") {
    declare(pools_, kind, decl);
  } else if (kind == "role") {
    declare(roles_, kind, decl);
  } else if (kind == "priority") {
    declare(priorities_, kind, decl);
  } else if (kind == "workspace") {
    declare(top_scopes_, kind, decl);
  }
}

Index Analyzer::collect_quota(const ast::Declaration& decl, bool is_nested) {
  check_name(decl);
  if (is_nested && decl.target) {
    sink_.error(codes::kTargetNotAllowed, decl.target->range, "a nested quota cannot be declared `on` a pool")
        .add_help(fmt::format("a nested quota uses its parent's pool; remove `on {}`", decl.target->text));
  }
  if (!check_form(decl, true, false, true)) return kNone;
  if (!declare(top_scopes_, "quota", decl)) return kNone;
  const auto node = static_cast<Index>(quota_nodes_.size());
  quota_nodes_.push_back(QuotaNode{&decl, {}});
  if (!is_nested) quota_roots_.push_back(node);
  for (const ast::Declaration* child : nested(*decl.body, "quota", "quota")) {
    const Index c = collect_quota(*child, true);
    if (c != kNone) quota_nodes_[node].children.push_back(c);
  }
  return node;
}

}  // namespace allot::sema
