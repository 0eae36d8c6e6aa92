#include "compiler/backend/target.h"

#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/model_queries.h"

namespace allot::backend {

using namespace model;

Diagnostic& Lossy::report(std::string code, SourceRange range, std::string message) {
  Diagnostic& d = strict_ ? sink_.error(std::move(code), range, std::move(message))
                          : sink_.warning(std::move(code), range, std::move(message));
  return d;
}

Shares gpu_shares(const Policy& policy) {
  Shares s;
  s.subtree.assign(policy.scopes.size(), 0);
  s.own.assign(policy.scopes.size(), 0);
  // Parents come before children, so a reverse walk sees children first.
  for (std::size_t i = policy.scopes.size(); i-- > 0;) {
    const Scope& scope = policy.scopes[i];
    Amount children = 0;
    for (Index c : scope.children) children += s.subtree[c];
    const Bound* b = model::bound_of(policy, static_cast<Index>(i), kGpu);
    s.subtree[i] = b ? b->guarantee : children;
    s.own[i] = b ? std::max<Amount>(0, b->guarantee - children) : 0;
  }
  return s;
}

Index owning_quota(const Policy& policy, Index scope) {
  for (Index s = scope; s != kNone; s = policy.scopes[s].parent) {
    if (policy.scopes[s].kind == ScopeKind::quota) return s;
  }
  return kNone;
}

bool is_within(const Policy& policy, Index scope, Index ancestor) {
  for (Index s = scope; s != kNone; s = policy.scopes[s].parent) {
    if (s == ancestor) return true;
  }
  return false;
}

Index root_of(const Policy& policy, Index scope) {
  Index s = scope;
  while (policy.scopes[s].parent != kNone) s = policy.scopes[s].parent;
  return s;
}

std::vector<Index> usable_roles(const Policy& policy, Index scope) {
  std::vector<Index> chain;
  for (Index s = scope; s != kNone; s = policy.scopes[s].parent) chain.push_back(s);
  std::vector<Index> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (Index r : policy.scopes[*it].roles) {
      if (r < policy.roles.size() && std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
    }
  }
  return out;
}

std::int64_t whole_gpus(Amount milli) { return milli / 1000; }

void NameMap::add(const std::string& original, const std::string& mapped, SourceRange range) {
  const auto [it, inserted] = taken_.emplace(mapped, Entry{original, range});
  if (inserted || it->second.original == original) return;
  sink_
      .error(code_, range,
             fmt::format("`{}` and `{}` both become the {} `{}`", it->second.original, original, what_, mapped))
      .note(fmt::format("`{}` is declared here", it->second.original), it->second.range)
      .add_help("rename one of them; target names must stay distinct after mapping");
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " and " : ", ";
    out += "`" + names[i] + "`";
  }
  return out;
}

}  // namespace allot::backend
