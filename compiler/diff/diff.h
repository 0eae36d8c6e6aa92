// `allot diff`: what a policy change does, stated over the checked models of
// the old and the new policy rather than over their text. Plain data, built
// by compare() and rendered by render.h; docs/diff.md defines each relation.
//
// A *usage state* gives every scope, per resource, what it uses (`used`) and
// how much of that lies inside its own guarantee (`own`). A policy allows a
// state when, for each of its scopes, `own <= guarantee`, `own <= used`,
// `used <= limit` where the scope has one, a parent uses at least what its
// children use, and the roots of a pool use at most what the pool offers; a
// scope the policy lacks uses nothing. NEW is *stricter* than OLD when every
// state NEW allows OLD allows, *looser* when the reverse holds, *equivalent*
// when both hold, and *incomparable* otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/sema/model.h"
#include "compiler/smt/solver.h"

namespace allot::diff {

enum class Relation { equivalent, stricter, looser, incomparable };
const char* to_string(Relation relation);

// Which side of the change.
enum class Side { old_policy, new_policy };

// A guarantee and a limit in effect: after inheritance, open ranges, every
// ancestor's limit and the pool's capacity. No limit: unbounded.
struct Effect {
  bool present = false;  // the scope exists on this side
  model::Amount guarantee = 0;
  std::optional<model::Amount> limit;
  friend bool operator==(const Effect&, const Effect&) = default;
};

struct ResourceRow {
  std::string resource;  // `gpu`
  Effect old_effect, new_effect;
  std::string old_text, new_text;  // `48..128 gpu`, for people
};

// One entry of a usage state.
struct Usage {
  std::string scope;  // path
  std::string resource;
  std::string used, own;  // formatted amounts
};

// Running jobs of one queue, all of the same size.
struct Jobs {
  std::string queue;  // path
  std::string user;
  std::string kind;             // `training`
  std::int64_t count = 0;       // jobs
  model::Amount gpu_milli = 0;  // per job
};

// What a policy does with the witness job.
enum class Outcome { admitted, admitted_preempting, waits, refused };
const char* to_string(Outcome outcome);

// A job one policy treats differently from the other, after `running`.
struct JobWitness {
  std::vector<Jobs> running;  // submitted and admitted in this order first
  Jobs job;                   // count 1
  Outcome old_outcome = Outcome::waits, new_outcome = Outcome::waits;
  std::string reason;  // why the outcomes differ, in words
};

struct Witness {
  // The policy that allows the state (and treats the job better).
  Side allowed_by = Side::old_policy;
  std::vector<Usage> state;  // the usage state allowed by one side only
  std::optional<JobWitness> job;
};

enum class Change { unchanged, added, removed, renamed };
const char* to_string(Change change);

struct ScopeDiff {
  std::string path;          // the new path (the old one when removed)
  std::string renamed_from;  // with Change::renamed
  std::string parent;        // its parent's path in this list; empty for a root
  std::string kind;          // `quota`, `queue`, ...
  Change change = Change::unchanged;
  std::vector<ResourceRow> rows;      // every resource either side bounds in effect
  std::vector<std::string> settings;  // other properties changed, in words
  Relation relation = Relation::equivalent;
  std::vector<Witness> witnesses;  // one per direction that differs
};

struct NamedChange {
  std::string kind;  // `pool`, `namespace`, `role`, `priority`, `flavor`
  std::string name;
  Change change = Change::unchanged;
  std::string renamed_from;
  std::vector<std::string> details;  // properties changed, billing included
};

// A queue whose jobs may preempt another queue's, by a rule.
struct PreemptionEdge {
  std::string preemptor, victim;  // queue paths
  std::string rule;               // `child_preemption`, `reclaim_guarantee`, `borrow_within`
  friend auto operator<=>(const PreemptionEdge&, const PreemptionEdge&) = default;
};

// A permission of a principal on a queue (through the roles on the queue and
// its ancestors).
struct Grant {
  std::string queue, principal, permission;  // principal: `user alice`, `group ml`
  friend auto operator<=>(const Grant&, const Grant&) = default;
};

struct PolicyDiff {
  std::vector<ScopeDiff> scopes;  // in the new policy's order, then removed ones
  std::vector<NamedChange> others;
  std::vector<PreemptionEdge> preemption_gained, preemption_lost;
  std::vector<Grant> grants_gained, grants_lost;
  // A job by a user who gained or lost `submit` on a queue both sides have.
  std::vector<JobWitness> grant_witnesses;
  Relation relation = Relation::equivalent;  // of the whole policy
  std::vector<Witness> witnesses;            // of the whole policy, one per direction that differs
  std::vector<std::string> unknown;          // obligations the solver could not settle
  bool changed() const;                      // any semantic difference at all
};

struct Options {
  std::chrono::milliseconds timeout{10000};
  smt::Solver* solver = nullptr;  // null: a fresh Z3 solver
};

PolicyDiff compare(const model::Policy& old_policy, const model::Policy& new_policy, const Options& options = {});

}  // namespace allot::diff
