#include "compiler/sema/model.h"

namespace allot::model {

std::optional<Index> Policy::find_scope(std::string_view path) const {
  for (Index i = 0; i < scopes.size(); ++i) {
    if (scopes[i].path == path) return i;
  }
  return std::nullopt;
}

std::optional<Index> Policy::find_pool(std::string_view name) const {
  for (Index i = 0; i < pools.size(); ++i) {
    if (pools[i].name == name) return i;
  }
  return std::nullopt;
}

const char* to_string(ScopeKind kind) {
  switch (kind) {
    case ScopeKind::quota:
      return "quota";
    case ScopeKind::workspace:
      return "workspace";
    case ScopeKind::namespace_:
      return "namespace";
    case ScopeKind::queue:
      return "queue";
  }
  return "?";
}

const char* to_string(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::inference:
      return "inference";
    case WorkloadKind::training:
      return "training";
    case WorkloadKind::development:
      return "development";
  }
  return "?";
}

}  // namespace allot::model
