// The checked policy: every name resolved, every unit converted, every value
// in range. This is what sema hands to verify, plan and emit. Plain values;
// cross references are indices into the vectors of `Policy`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/base/source.h"

namespace allot::model {

using Index = std::uint32_t;
inline constexpr Index kNone = 0xffffffffu;

// ---- resources -------------------------------------------------------------

// Amounts are integers in a resource's base unit so that sums are exact:
// `gpu`, `cpu` and `cu` (and user resources) in milli-units (`0.47` gpu is
// 470), `memory` in MiB.
using Amount = std::int64_t;

enum class ResourceKind { count, memory };

struct Resource {
  std::string name;  // `gpu`, `cpu`, `memory`, `cu`, or user-declared
  ResourceKind kind = ResourceKind::count;
  bool builtin = true;
  SourceRange range;  // declaration, for user resources
};

// Builtin resources always exist, at these indices.
inline constexpr Index kGpu = 0;
inline constexpr Index kCpu = 1;
inline constexpr Index kMemory = 2;
inline constexpr Index kCu = 3;

// A guarantee (min) and a limit (max) for one resource of one scope.
// `gpu = 48` is {48000, 48000}; `gpu = 48..128` is {48000, 128000};
// `gpu = 48..` is {48000, nullopt}: the limit is whatever the parent allows.
struct Bound {
  Amount guarantee = 0;
  std::optional<Amount> limit;
  SourceRange range;  // the property that set it
  // `lend = { gpu = N }`: at most this much of the guarantee may be used by
  // scopes outside this one (docs/scheduling.md, "Lending limits"); the rest
  // stays idle for the scope. nullopt: all of it may be lent.
  std::optional<Amount> lend{};
  SourceRange lend_range{};
};

// One optional bound per resource, indexed by resource index.
using Bounds = std::vector<std::optional<Bound>>;

// ---- hardware and pools ----------------------------------------------------

struct Flavor {
  std::string name;
  std::string gpu_model;          // e.g. "A100-80G"; empty for CPU-only flavors
  std::int64_t gpus = 0;          // per node
  Amount gpu_memory = 0;          // MiB per GPU
  Amount cpu = 0;                 // milli-cores per node
  Amount memory = 0;              // MiB per node
  std::int64_t interconnect = 0;  // GPUs per interconnect domain (NVLink); 0 = gpus
  SourceRange range;
};

enum class WorkloadKind : std::uint8_t { inference = 1, training = 2, development = 4 };
using WorkloadSet = std::uint8_t;  // bit set of WorkloadKind
inline constexpr WorkloadSet kAllWorkloads = 7;

enum class PoolType { shared, dedicated };
enum class PoolPurpose { any, training, serving };  // training hosts training + development
enum class BillingMode { subscription, pay_as_you_go, hybrid };

struct Billing {
  BillingMode mode = BillingMode::pay_as_you_go;
  int term_months = 0;  // subscription and hybrid: 1 to 12, as the provider offers (ValueReader::check_term)
  SourceRange term_range;
  bool auto_renew = false;
  Bounds ceiling;  // pay_as_you_go and hybrid: elastic ceiling (limits only)
  SourceRange range;
};

struct NodeGroup {
  std::int64_t count = 0;  // 1..9999
  Index flavor = kNone;
  SourceRange range;
};

struct NamedNode {
  std::string name;
  Index flavor = kNone;
  std::optional<std::string> expires;  // ISO date, subscription nodes
  SourceRange range;
};

// Where the runtime places admitted jobs on the pool's nodes (`placement`,
// docs/scheduling.md "Placement").
enum class PoolPlacement { best_fit, first_fit, spread, fgd };
// Whose rules a pool's subscription follows (docs/language.md, "Providers"):
// the terms it may be bought for, and whether it may be scaled.
enum class Provider { generic, eas, modelarts };
// The pool's status as declared (`status = ...`); only a running pool admits
// jobs (allotd).
enum class DeclaredStatus { running, abnormal, creating };

// Fair sharing among siblings (`fair_sharing`, docs/scheduling.md rule R5):
// the strategies, any of which allows a fair-share preemption.
enum class FairStrategy { at_most_final_share, below_initial_share };

struct Pool {
  std::string name;
  PoolType type = PoolType::dedicated;
  PoolPurpose purpose = PoolPurpose::any;
  Billing billing;
  std::vector<NodeGroup> node_groups;
  std::vector<NamedNode> nodes;
  std::int64_t system_disk_gib = 200;  // per node, 200..2000
  WorkloadSet hosts = kAllWorkloads;   // derived from purpose unless written
  PoolPlacement placement = PoolPlacement::best_fit;
  Provider provider = Provider::generic;
  DeclaredStatus status = DeclaredStatus::running;
  std::vector<FairStrategy> fair_sharing;  // empty: off
  SourceRange fair_sharing_range;
  std::string description;
  SourceRange range;
  SourceRange name_range;
};

// ---- the scope tree: quotas, workspaces, namespaces, queues ----------------

enum class ScopeKind { quota, workspace, namespace_, queue };
enum class OnPreempt { requeue, cancel };

// How a scope's jobs take back its guarantee from borrowers (`reclaim`,
// docs/scheduling.md rule R2): from any borrower, only from borrowers of
// lower priority, or never.
enum class ReclaimPolicy { any, lower_priority, never };

// Preemption inside one queue (`preemption`, rule R3): by the classes'
// `preempts` lists (the default), never, any lower priority, or also equal
// priority submitted later.
enum class WithinQueue { by_class, never, lower_priority, lower_or_newer_equal_priority };

// `borrow_within = lower_priority { max_priority = CLASS }` (rule R4): a job
// that must borrow may preempt lower-priority borrowed work of sibling
// subtrees whose priority is at most `max_priority` (any, when unset).
struct BorrowWithin {
  bool enabled = false;
  Index max_priority = kNone;  // priority class
  SourceRange range;
};

// One node of the allocation tree. Quotas nest in quotas; a workspace is a
// root or the child of the quota it is bound to; namespaces sit in
// workspaces, queues in namespaces. Every namespace has a `default-queue`
// (written or implicit).
struct Scope {
  ScopeKind kind = ScopeKind::quota;
  std::string name;
  // Unique across the policy: quotas and workspaces by name, namespaces as
  // `workspace/namespace`, queues as `workspace/namespace/queue`.
  std::string path;
  Index parent = kNone;
  std::vector<Index> children;
  Index pool = kNone;             // written or inherited from the nearest ancestor
  Bounds bounds;                  // by resource index
  bool child_preemption = false;  // quotas: parent jobs may preempt children's
  // Written on this scope or inherited from the nearest ancestor that sets it.
  ReclaimPolicy reclaim = ReclaimPolicy::any;
  SourceRange reclaim_range;  // where the effective setting was written (invalid: default)
  BorrowWithin borrow_within;
  // Fair-sharing weight in thousandths (`weight = 1.5` is 1500).
  std::int64_t weight_milli = 1000;
  SourceRange weight_range;        // invalid: not written
  std::vector<Index> roles;        // usable roles (indices into Policy::roles)
  std::optional<Billing> billing;  // workspaces with their own CU quota

  // Queues.
  Index default_priority = kNone;  // priority class
  bool preemptible = true;
  std::int64_t grace_period_ms = 30000;
  OnPreempt on_preempt = OnPreempt::requeue;
  WorkloadSet accepts = kAllWorkloads;
  bool gpu_sharing = false;  // fractional GPU requests allowed
  bool implicit = false;     // a `default-queue` nobody wrote
  // `renamed_from = OLD`: the name (not the path) the scope had in the
  // deployed policy; empty if none. model::previous_path gives the path.
  std::string renamed_from;
  SourceRange renamed_from_range;
  WithinQueue within_queue = WithinQueue::by_class;

  SourceRange range;
  SourceRange name_range;
};

// ---- people and priorities ---------------------------------------------------

enum Permission : std::uint8_t { kSubmit = 1, kList = 2, kCancel = 4, kAdmin = 8 };

struct Role {
  std::string name;
  std::vector<std::string> users;
  std::vector<std::string> groups;
  std::uint8_t permissions = kSubmit | kList | kCancel;
  SourceRange range;
};

struct PriorityClass {
  std::string name;
  std::int64_t value = 0;
  std::vector<Index> preempts;  // classes this one may preempt
  SourceRange range;
  // Where each entry of `preempts` was written (parallel to it; may be
  // shorter for policies built in code).
  std::vector<SourceRange> preempts_ranges{};
};

// ---- assertions --------------------------------------------------------------

// Rationals keep `0.6 * Quota1.gpu` exact.
struct Rational {
  std::int64_t num = 0;
  std::int64_t den = 1;
};

enum class ExprType { number, amount, boolean };

enum class Field { guarantee, limit };

struct TypedExpr;
struct ConstExpr {
  Rational value;  // amounts in base units
};
struct FieldRef {
  Index scope = kNone;
  Index resource = kNone;
  Field field = Field::guarantee;
};
enum class AggregateOp { sum, min, max, count };
struct AggregateExpr {
  AggregateOp op = AggregateOp::sum;
  std::vector<TypedExpr> items;  // already expanded: `children(Q).gpu` lists each child's field
};
enum class Op { add, sub, mul, div, neg, eq, ne, lt, le, gt, ge, logical_and, logical_or, logical_not };
struct OpExpr {
  Op op = Op::add;
  std::vector<TypedExpr> operands;  // one for neg/not, two otherwise
};

struct TypedExpr {
  ExprType type = ExprType::number;
  Index resource = kNone;  // for amounts
  SourceRange range;
  std::variant<ConstExpr, FieldRef, AggregateExpr, OpExpr> node;
};

struct Assertion {
  TypedExpr expr;  // boolean
  std::optional<std::string> label;
  SourceRange range;
};

// ---- the policy --------------------------------------------------------------

struct Policy {
  std::vector<Resource> resources;  // builtins first, at kGpu..kCu
  std::vector<Flavor> flavors;
  std::vector<Pool> pools;
  std::vector<Scope> scopes;  // parents before children
  std::vector<Role> roles;
  std::vector<PriorityClass> priorities;
  std::vector<Assertion> assertions;

  std::optional<Index> find_scope(std::string_view path) const;
  std::optional<Index> find_pool(std::string_view name) const;
};

const char* to_string(ScopeKind kind);
const char* to_string(WorkloadKind kind);

}  // namespace allot::model
