// Internal to verify: what the reachability passes share. reachability.cpp
// computes the facts of a pool and resource, proves claims natively and
// encodes the others as obligations; reachability_report.cpp sends those to
// the solver and turns refutations into diagnostics.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "compiler/sema/model.h"
#include "compiler/sema/model_queries.h"
#include "compiler/verify/reachability.h"

namespace allot::verify::reach {

using namespace model;

// A non-preemptible capacity or a sum of limits without a bound.
inline constexpr Amount kUnbounded = -1;

inline bool is_nonpreemptible_queue(const Scope& s) { return s.kind == ScopeKind::queue && !s.preemptible; }

// What the passes need to know about one pool and resource, by scope index
// (only the pool's scopes are filled in).
struct Facts {
  const Policy& policy;
  Index pool = kNone;
  Index r = kNone;
  Capacity capacity;
  Amount all_g = 0;  // guarantees of the pool's frontier: the lower bound of `cap`
  Amount big = 1;    // stands for an unbounded capacity
  std::vector<Index> roots;
  std::vector<Index> order;  // the trees in preorder, root by root
  std::vector<std::uint32_t> position;
  std::vector<std::optional<Amount>> limit;  // effective_limit
  std::vector<Amount> g;
  // What a scope covers (docs/scheduling.md, "Standing"): its declared
  // guarantee, or, where it declares none, what its children cover. A job
  // claims at the level above a scope only while the scope is below that.
  std::vector<Amount> cover;
  std::vector<Amount> maxnp;      // max_nonpreemptible (kUnbounded: no limit applies)
  std::vector<Amount> saturated;  // sum of the non-preemptible queues' limits (kUnbounded: one has none)
  std::vector<char> saturable;    // those limits fit every scope's limit in the subtree
  std::vector<char> lemma;        // the native argument holds (see above)
  std::vector<char> own_ok;       // lemma, (L), and no non-preemptible work in the children
  Amount others_all = 0;          // sum of the roots' unreclaimable usage
  std::size_t others_unbounded = 0;

  Facts(const Policy& p, Index pool_index, Index resource) : policy(p), pool(pool_index), r(resource) {}

  // What a root can hold that nobody may reclaim: up to its guarantee, and
  // its non-preemptible work beyond that.
  Amount unreclaimable(Index root) const {
    const Amount m = maxnp[root];
    if (m == kUnbounded) return limit[root] ? *limit[root] : kUnbounded;
    Amount u = std::max(g[root], m);
    if (limit[root]) u = std::min(u, *limit[root]);
    return u;
  }
  Amount others_max(Index root) const {
    const Amount mine = unreclaimable(root);
    return mine == kUnbounded ? others_all : others_all - mine;
  }
  bool others_bounded(Index root) const {
    return roots.size() <= 1 || others_unbounded == 0 || (others_unbounded == 1 && unreclaimable(root) == kUnbounded);
  }
  bool fits_limit(Index x) const {
    if (g[x] <= 0) return true;
    if (limit[x]) return g[x] <= *limit[x];
    if (capacity.unbounded) return true;
    return g[x] <= all_g;  // `cap`, unknown, is at least all_g
  }
};

Facts compute_facts(const Policy& policy, Index p, Index r, const std::vector<Index>& roots);
// The native argument of reachability.cpp holds for the claim.
bool proved_natively(const Facts& f, const Claim& claim);
// The claim's obligation over the path from `claim.scope` to `root` (or,
// with `full`, over the root's whole subtree); without `honor_reclaim`, every
// scope of the path may take back from any borrower.
ReachabilityQuery encode_claim(const Facts& f, const Claim& claim, Index root, bool full, bool honor_reclaim = true);
// Calls `visit(facts, query)` for each claim, in order; `query` has no
// obligation when the claim is proved natively and `how.include_proved` is
// not set.
// A counterexample to the claim built without the solver
// (reachability_witness.cpp), checked against the claim's obligation; none
// when that state does not refute it.
std::optional<smt::Values> native_counterexample(const Facts& f, const ReachabilityQuery& q);
// `settle`, when given, is asked first about each claim the native argument
// does not prove; a claim it settles (returns true for) is neither encoded
// nor visited.
void for_each_claim(const Policy& policy, const ReachabilityBuild& how,
                    const std::function<void(const Facts&, ReachabilityQuery&)>& visit,
                    const std::function<bool(const Facts&, const Claim&)>& settle = {});

// Puts `amount` of non-preemptible work on the non-preemptible queues of x's
// subtree, in scope order, each subtree up to what it can hold: `put(queue,
// amount)` for each queue that gets some.
void distribute(const Facts& f, Index x, Amount amount, const std::function<void(Index, Amount)>& put, int depth = 0);

// What the claims below one parent share about their native counterexamples
// (reachability_witness.cpp): the non-preemptible queues holding work in
// that state, and the report's group of those culprits once known.
struct SharedRefutation {
  std::vector<Index> culprits;  // by position in the pool's order
  std::size_t group = static_cast<std::size_t>(-1);
};

// native_counterexample for many claims without building their
// obligations. For a claim whose subtree holds no non-preemptible work, the
// state of native_counterexample (the filled one) differs from its
// siblings' only by sums: the non-preemptible pass is the same for every
// such claim below a parent, and each later pass takes, level by level, the
// smaller of what its holders want and the room left, whichever holder is
// left out. So the scopes off the path are gone through once per parent and
// each such claim costs a walk up its path; any other claim (own work, a
// claimant that can hold non-preemptible work) one pass over them, on plain
// numbers. The state is evaluated against the same constraints and property
// as the claim's obligation; what would need more (a pool without a known
// capacity, `reclaim` other than `any` on the path, a fill that depends on
// the holders' order) is left to native_counterexample.
class LevelWitness {
 public:
  explicit LevelWitness(const Facts& f);
  ~LevelWitness();
  LevelWitness(const LevelWitness&) = delete;
  LevelWitness& operator=(const LevelWitness&) = delete;
  // The shared part of the claim's refutation when native_counterexample's
  // filled state refutes it; null when it does not, or when this cannot
  // tell (the caller then builds the claim's obligation).
  SharedRefutation* refute(const Claim& claim);

 private:
  struct Parent;
  struct Ancestor;
  Parent& parent(Index p);
  const Ancestor& ancestor(Index a);
  // The passes over the holders off the path of a child of `p` other than
  // `left_out` (kNone: any child that holds nothing), from each level's
  // sums; false where the room runs out within a level, which build_exact
  // then goes through holder by holder.
  bool build(Parent& P, Index p, Index left_out);
  void build_exact(Parent& P, Index p, Index left_out);
  // What both start from: P's path (`left_out`, then `p` up to its root)
  // and its per-level sums at zero. Returns the path's depth.
  std::size_t start(Parent& P, Index p, Index left_out) const;
  // The later passes and the claim's property on top of `used`.
  bool refutes(const Parent& P, const Claim& claim, std::vector<Amount> used, Amount x_fill) const;
  // The queues distribute() puts `amount` of c's work on, in order.
  const std::vector<Index>& queues(Index c, Amount amount);
  const Facts& f_;
  std::unordered_map<Index, std::unique_ptr<Parent>> parents_;
  std::unordered_map<Index, std::unique_ptr<Ancestor>> ancestors_;
  std::vector<std::size_t> slot_;  // a scope's place among its parent's children in ancestors_
  std::map<std::pair<Index, Amount>, std::vector<Index>> queues_;
  SharedRefutation single_;
};

}  // namespace allot::verify::reach
