#include "compiler/lsp/vocabulary.h"

namespace allot::lsp {

const std::vector<KindWords>& kinds() {
  static const std::vector<KindWords> table{
      {"resource", true, {"kind", "unit", "description"}, {}, false},
      {"flavor", true, {"gpu_model", "gpus", "gpu_memory", "cpu", "memory", "interconnect", "description"}, {}, false},
      {"pool",
       true,
       {"type", "purpose", "billing", "nodes", "system_disk", "hosts", "placement", "description"},
       {"node"},
       false},
      {"node", false, {"flavor", "expires", "description"}, {}, false},
      {"role", true, {"users", "groups", "permissions", "description"}, {}, false},
      {"priority", true, {"value", "preempts", "description"}, {}, false},
      {"quota",
       true,
       {"child_preemption", "roles", "description", "lend", "reclaim", "borrow_within"},
       {"quota"},
       true},
      {"workspace",
       true,
       {"pool", "billing", "roles", "description", "lend", "reclaim", "borrow_within"},
       {"namespace"},
       true},
      {"namespace", false, {"roles", "description", "lend", "reclaim", "borrow_within"}, {"queue"}, true},
      {"queue",
       false,
       {"priority", "preemptible", "grace_period", "on_preempt", "accepts", "gpu_sharing", "roles", "description",
        "lend", "reclaim", "borrow_within", "preemption"},
       {},
       true},
  };
  return table;
}

const KindWords* find_kind(std::string_view kind) {
  for (const KindWords& k : kinds()) {
    if (k.kind == kind) return &k;
  }
  return nullptr;
}

ObjectWords object_words(std::string_view key, std::string_view tag) {
  if (key == "billing") {
    if (tag == "subscription") return {{"term", "auto_renew"}, false};
    if (tag == "pay_as_you_go") return {{"ceiling"}, false};
    if (tag == "hybrid") return {{"term", "auto_renew", "ceiling"}, false};
    return {};
  }
  if (key == "borrow_within" && tag == "lower_priority") return {{"max_priority"}, false};
  if (key == "ceiling" || key == "lend") return {{}, true};
  return {};
}

std::vector<std::string_view> value_words(std::string_view key) {
  if (key == "type") return {"shared", "dedicated"};
  if (key == "purpose") return {"training", "serving"};
  if (key == "billing") return {"subscription", "pay_as_you_go", "hybrid"};
  if (key == "hosts" || key == "accepts") return {"inference", "training", "development"};
  if (key == "placement") return {"best_fit", "first_fit", "spread", "fgd"};
  if (key == "permissions") return {"submit", "list", "cancel", "admin"};
  if (key == "on_preempt") return {"requeue", "cancel"};
  if (key == "reclaim") return {"any", "lower_priority", "never"};
  if (key == "borrow_within") return {"never", "lower_priority"};
  if (key == "preemption") return {"never", "lower_priority", "lower_or_newer_equal_priority"};
  if (key == "kind") return {"count", "memory"};
  if (key == "preemptible" || key == "gpu_sharing" || key == "child_preemption" || key == "auto_renew") {
    return {"true", "false"};
  }
  return {};
}

std::vector<std::string_view> referenced_kinds(std::string_view key) {
  if (key == "pool") return {"pool"};
  if (key == "flavor") return {"flavor"};  // `nodes = N x F` is Context::Where::flavor
  if (key == "priority" || key == "preempts" || key == "max_priority") return {"priority"};
  if (key == "roles") return {"role"};
  return {};
}

std::vector<std::string_view> target_kinds(std::string_view declaration_kind) {
  if (declaration_kind == "quota") return {"pool"};
  if (declaration_kind == "workspace") return {"quota"};
  return {};
}

}  // namespace allot::lsp
