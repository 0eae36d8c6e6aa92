// Declarations: the second phase. Creates a model entry for every collected
// resource, flavor, pool, role and priority class, then reads their bodies.
#include <fmt/format.h>

#include <algorithm>

#include "compiler/sema/analyzer.h"
#include "compiler/sema/codes.h"

namespace allot::sema {
namespace {

constexpr std::int64_t kMaxNodes = 9999;

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

void Analyzer::create_entries() {
  for (const ast::Declaration* d : flavors_.decls) {
    model::Flavor f;
    f.name = d->name.text;
    f.range = d->name.range;
    policy_.flavors.push_back(std::move(f));
  }
  for (const ast::Declaration* d : pools_.decls) {
    model::Pool p;
    p.name = d->name.text;
    p.range = d->range;
    p.name_range = d->name.range;
    policy_.pools.push_back(std::move(p));
  }
  for (const ast::Declaration* d : roles_.decls) {
    model::Role r;
    r.name = d->name.text;
    r.range = d->name.range;
    policy_.roles.push_back(std::move(r));
  }
  for (const ast::Declaration* d : priorities_.decls) {
    model::PriorityClass pc;
    pc.name = d->name.text;
    pc.range = d->name.range;
    policy_.priorities.push_back(std::move(pc));
  }
}

void Analyzer::read_declarations() {
  // Resources first: every amount depends on its resource's kind.
  for (Index i = model::kCu + 1; i < resources_.decls.size(); ++i) resource_body(i, *resources_.decls[i]);
  for (Index i = 0; i < flavors_.decls.size(); ++i) flavor_body(i, *flavors_.decls[i]);
  for (Index i = 0; i < pools_.decls.size(); ++i) pool_body(i, *pools_.decls[i]);
  for (Index i = 0; i < roles_.decls.size(); ++i) role_body(i, *roles_.decls[i]);
  for (Index i = 0; i < priorities_.decls.size(); ++i) priority_body(i, *priorities_.decls[i]);
  for (Index i = 0; i < priorities_.decls.size(); ++i) priority_preempts(i, *priorities_.decls[i]);
}

void Analyzer::resource_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "resource", "");
  PropertyMap props = values_.properties(*decl.body, "resource", {"kind", "unit", "description"}, false);
  model::Resource& r = policy_.resources[index];
  if (const auto* p = props.get("kind")) {
    if (auto k = values_.choice(p->value, {{"count", 0}, {"memory", 1}}, "resource kind")) {
      r.kind = *k == 1 ? model::ResourceKind::memory : model::ResourceKind::count;
    }
    if (props.get("unit") != nullptr && r.kind == model::ResourceKind::memory) {
      sink_.error(codes::kConflict, props.get("unit")->key.range, "a memory resource has no `unit`")
          .note("it is accounted in MiB because of this", p->range);
    }
  }
  if (const auto* p = props.get("unit")) values_.string(p->value);
  if (const auto* p = props.get("description")) values_.string(p->value);
}

void Analyzer::flavor_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "flavor", "");
  PropertyMap props = values_.properties(
      *decl.body, "flavor", {"gpu_model", "gpus", "gpu_memory", "cpu", "memory", "interconnect", "description"}, false);
  model::Flavor& f = policy_.flavors[index];
  values_.require(props, "gpus", decl, "write `gpus = 8` (GPUs per node; `0` for a CPU-only flavor)");
  if (const auto* p = props.get("gpus")) f.gpus = values_.integer("gpus", p->value, 0, 1024).value_or(0);
  if (const auto* p = props.get("gpu_model")) f.gpu_model = values_.string(p->value).value_or("");
  if (const auto* p = props.get("gpu_memory")) f.gpu_memory = values_.memory_mib(p->value).value_or(0);
  if (const auto* p = props.get("cpu")) {
    if (const ast::Expr* e = values_.scalar(p->value, "an amount of `cpu`")) values_.amount(*e, model::kCpu, f.cpu);
  }
  if (const auto* p = props.get("memory")) {
    if (const ast::Expr* e = values_.scalar(p->value, "an amount of `memory`"))
      values_.amount(*e, model::kMemory, f.memory);
  }
  if (const auto* p = props.get("interconnect")) {
    f.interconnect = values_.integer("interconnect", p->value, 1, std::max<std::int64_t>(f.gpus, 1)).value_or(0);
  }
  if (const auto* p = props.get("description")) values_.string(p->value);
}

void Analyzer::pool_body(Index index, const ast::Declaration& decl) {
  PropertyMap props = values_.properties(*decl.body, "pool",
                                         {"type", "purpose", "billing", "provider", "status", "nodes", "system_disk",
                                          "hosts", "placement", "fair_sharing", "description"},
                                         false);
  model::Pool& pool = policy_.pools[index];
  bool type_known = true;
  if (const auto* p = props.get("type")) {
    if (auto t = values_.choice(p->value, {{"shared", 0}, {"dedicated", 1}}, "pool type")) {
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
    } else if (auto purpose = values_.choice(p->value, {{"training", 1}, {"serving", 2}}, "pool purpose")) {
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
    if (auto set = values_.workloads(p->value)) pool.hosts = *set;
  }
  if (const auto* p = props.get("placement")) {
    if (auto pl = values_.choice(p->value, {{"best_fit", 0}, {"first_fit", 1}, {"spread", 2}, {"fgd", 3}},
                                 "placement policy"))
      pool.placement = static_cast<model::PoolPlacement>(*pl);
  }
  SourceRange provider_range;
  if (const auto* p = props.get("provider")) {
    provider_range = p->range;
    if (auto pr = values_.choice(p->value, {{"generic", 0}, {"eas", 1}, {"modelarts", 2}}, "provider"))
      pool.provider = static_cast<model::Provider>(*pr);
  }
  if (const auto* p = props.get("status")) {
    if (auto st = values_.choice(p->value, {{"running", 0}, {"abnormal", 1}, {"creating", 2}}, "pool status"))
      pool.status = static_cast<model::DeclaredStatus>(*st);
  }
  if (const auto* p = props.get("fair_sharing")) fair_sharing(pool, *p);
  if (const auto* p = props.get("billing")) {
    if (auto b = values_.billing(p->value)) pool.billing = std::move(*b);
    values_.check_term(pool.billing, pool.provider, pool.purpose == model::PoolPurpose::serving, provider_range);
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
      } else if (values_.decimal(n->count, n->count_range, dec)) {
        if (dec.scale != 0 || dec.mantissa < 1 || dec.mantissa > static_cast<std::uint64_t>(kMaxNodes)) {
          sink_.error(codes::kOutOfRange, n->count_range,
                      fmt::format("a pool has 1 to {} nodes, found `{}`", kMaxNodes, text(n->count_range)));
        } else {
          group.count = static_cast<std::int64_t>(dec.mantissa);
        }
      }
      group.flavor =
          resolve(flavors_, NameUse{std::string(n->flavor.text), n->flavor.range}, "flavor", codes::kUnknownFlavor);
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
    PropertyMap node_props = values_.properties(*node->body, "node", {"flavor", "expires", "description"}, false);
    model::NamedNode n;
    n.name = node->name.text;
    n.range = node->range;
    values_.require(node_props, "flavor", *node, "write `flavor = FLAVOR`");
    if (const auto* p = node_props.get("flavor")) {
      if (auto use = values_.name(p->value, "a flavor name")) {
        n.flavor = resolve(flavors_, *use, "flavor", codes::kUnknownFlavor);
      }
    }
    if (const auto* p = node_props.get("expires")) {
      if (auto date = values_.string(p->value)) {
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
    if (const auto* p = node_props.get("description")) values_.string(p->value);
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
    if (auto mib = values_.memory_mib(p->value)) {
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
  if (const auto* p = props.get("description")) pool.description = values_.string(p->value).value_or("");
}

void Analyzer::role_body(Index index, const ast::Declaration& decl) {
  nested(*decl.body, "role", "");
  PropertyMap props = values_.properties(*decl.body, "role", {"users", "groups", "permissions", "description"}, false);
  model::Role& role = policy_.roles[index];
  if (const auto* p = props.get("users")) {
    if (auto uses = values_.names(p->value, "a user name", true)) {
      for (NameUse& u : *uses) role.users.push_back(std::move(u.name));
    }
  }
  if (const auto* p = props.get("groups")) {
    if (auto uses = values_.names(p->value, "a group name", true)) {
      for (NameUse& u : *uses) role.groups.push_back(std::move(u.name));
    }
  }
  if (const auto* p = props.get("permissions")) {
    if (const auto* list = std::get_if<ast::ListValue>(&p->value.node)) {
      std::uint8_t set = 0;
      for (const ast::Value& item : list->items) {
        if (auto perm = values_.choice(item,
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
      values_.names(p->value, "", false);  // reports the shape
    }
  }
  if (const auto* p = props.get("description")) values_.string(p->value);
}

void Analyzer::priority_body(Index index, const ast::Declaration& decl) {
  model::PriorityClass& pc = policy_.priorities[index];
  constexpr std::int64_t kMaxPriority = 1'000'000'000;
  if (decl.value) {
    pc.value = values_.integer("value", *decl.value, 0, kMaxPriority).value_or(0);
    return;
  }
  nested(*decl.body, "priority class", "");
  PropertyMap props = values_.properties(*decl.body, "priority class", {"value", "preempts", "description"}, false);
  values_.require(props, "value", decl, "write `value = 500`; higher values win");
  if (const auto* p = props.get("value")) pc.value = values_.integer("value", p->value, 0, kMaxPriority).value_or(0);
  if (const auto* p = props.get("description")) values_.string(p->value);
}

void Analyzer::priority_preempts(Index index, const ast::Declaration& decl) {
  if (!decl.body) return;
  const ast::Property* p = nullptr;
  for (const ast::Property& prop : decl.body->properties) {
    if (prop.key.text == "preempts") p = &prop;
  }
  if (p == nullptr) return;
  auto uses = values_.names(p->value, "a priority class", false);
  if (!uses) return;
  for (const NameUse& use : *uses) {
    const Index target = resolve(priorities_, use, "priority class", codes::kUnknownPriority);
    if (target == kNone) continue;
    priorities_.used[target] = true;
    const model::PriorityClass& self = policy_.priorities[index];
    const model::PriorityClass& other = policy_.priorities[target];
    if (other.value >= self.value) {
      sink_
          .error(codes::kPreemptOrder, use.range,
                 target == index ? fmt::format("priority class `{}` cannot preempt itself", self.name)
                                 : fmt::format("priority class `{}` ({}) cannot preempt `{}` ({})", self.name,
                                               self.value, other.name, other.value))
          .note(fmt::format("`{}` declared here", other.name), other.range)
          .add_help("a class may only preempt classes with a lower value");
      continue;
    }
    policy_.priorities[index].preempts.push_back(target);
    policy_.priorities[index].preempts_ranges.push_back(use.range);
  }
}

std::vector<Index> Analyzer::roles(const ast::Value& v) {
  std::vector<Index> out;
  auto uses = values_.names(v, "a role name", false);
  if (!uses) return out;
  for (const NameUse& use : *uses) {
    const Index r = resolve(roles_, use, "role", codes::kUnknownRole);
    if (r == kNone) continue;
    roles_.used[r] = true;
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  }
  return out;
}

Index Analyzer::resolve(const SymbolTable& table, const NameUse& use, std::string_view kind, const char* code) {
  const Index i = table.find(use.name);
  if (i != kNone) return i;
  Diagnostic& d = sink_.error(code, use.range, fmt::format("unknown {} `{}`", kind, use.name));
  values_.suggest_symbol(d, use.name, table);
  return kNone;
}

}  // namespace allot::sema
