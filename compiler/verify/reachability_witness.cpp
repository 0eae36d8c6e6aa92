// Counterexamples to a claim built without the solver: the state the
// linear argument of reachability.cpp points at. The scopes beside the
// claimant's path hold all they can without anything being reclaimable
// from them (their non-preemptible queues at their limits first, then
// preemptible work up to their guarantees), their ancestors' own jobs fill
// their uncarved shares, the pool's other roots hold their unreclaimable
// usage, and the claimant holds nothing. Whether that state refutes the
// claim is decided by evaluating the claim's own obligation, so a witness is
// exactly as trustworthy as one from the solver, which is asked only when
// this state does not refute the claim.
#include <algorithm>
#include <limits>

#include "compiler/verify/reachability_facts.h"

namespace allot::verify::reach {
namespace {

constexpr Amount kNoLimit = std::numeric_limits<Amount>::max() / 4;

class WitnessBuilder {
 public:
  WitnessBuilder(const Facts& f, const ReachabilityQuery& q, bool fill) : f_(f), q_(q), fill_(fill) {}

  std::optional<smt::Values> build() {
    const Policy& policy = f_.policy;
    const Index x = q_.claim.scope;
    for (Index y = x; y != kNone; y = policy.scopes[y].parent) path_.push_back(y);
    const Index root = path_.back();
    used_.assign(path_.size(), 0);
    room_cap_ = f_.capacity.unbounded || !f_.capacity.known ? kNoLimit : f_.capacity.amount;

    // Who holds work: the scopes off the path, by the level of the path they
    // hang from (level i: a child of path_[i]); for an own-work claim also
    // the claimant's quota children, which only hold non-preemptible work
    // (their preemptible work is the claimant's to take).
    struct Holder {
      Index scope;
      std::size_t level;
      Amount n = 0;
      Amount u = 0;
    };
    std::vector<Holder> holders;
    for (std::size_t i = 1; i < path_.size(); ++i)
      for (Index c : policy.scopes[path_[i]].children)
        if (c < policy.scopes.size() && c != path_[i - 1]) holders.push_back(Holder{c, i});
    if (q_.claim.own_work)
      for (Index c : policy.scopes[x].children)
        if (c < policy.scopes.size()) holders.push_back(Holder{c, 0});

    // Non-preemptible work first: it is what the argument cannot take back.
    for (Holder& h : holders) {
      if (q_.claim.own_work && h.level == 0 && policy.scopes[h.scope].kind != ScopeKind::quota) continue;
      const Amount want = f_.saturable[h.scope] ? f_.saturated[h.scope] : f_.maxnp[h.scope];
      h.n = h.u = take(h.level, h.scope, want == kUnbounded ? kNoLimit : want, 0);
    }
    if (fill_) {
      for (Holder& h : holders) {
        if (h.level == 0 || is_nonpreemptible_queue(policy.scopes[h.scope])) continue;
        const Amount g = guarantee_of(policy, h.scope, f_.r);
        if (g > h.u) h.u += take(h.level, h.scope, g - h.u, h.u);
      }
    }
    // The ancestors' own jobs within the part of their guarantee their
    // children do not carve out.
    std::vector<Amount> own(path_.size(), 0);
    if (fill_) {
      for (std::size_t i = 1; i < path_.size(); ++i) {
        const Index a = path_[i];
        Amount carved = 0;
        for (Index c : policy.scopes[a].children)
          if (c < policy.scopes.size()) carved += guarantee_of(policy, c, f_.r);
        const Amount share = std::max<Amount>(0, guarantee_of(policy, a, f_.r) - carved);
        own[i] = take(i, kNone, share, 0);
      }
    }

    values_.assign(q_.obligation.variables().size(), 0);
    assigned_.assign(values_.size(), 0);
    for (const Holder& h : holders) {
      set(q_.usage_term, h.scope, h.u);
      set(q_.nonpreemptible_term, h.scope, h.n);
    }
    for (std::size_t i = 0; i < path_.size(); ++i) set(q_.usage_term, path_[i], used_[i]);
    const Amount others = f_.roots.size() > 1 && f_.others_bounded(root) ? f_.others_max(root) : 0;
    const Amount others_taken = std::max<Amount>(0, std::min(others, room_cap_ - used_.back()));
    set(q_.others_term, others_taken);
    set(q_.cap_term, std::max(f_.all_g, used_.back() + others_taken));
    // Every variable of the obligation must have a value: an unassigned one
    // makes the state fail, never pass.
    if (std::find(assigned_.begin(), assigned_.end(), 0) != assigned_.end()) return std::nullopt;
    if (!smt::satisfies(q_.obligation, values_)) return std::nullopt;
    return std::move(values_);
  }

 private:
  // Adds up to `want` of usage to `scope` (a child of path_[level], or the
  // own jobs of path_[level] when scope is kNone), which already holds
  // `held`, within its limit, every ancestor's and the pool's; returns what
  // was added.
  Amount take(std::size_t level, Index scope, Amount want, Amount held) {
    Amount room = want;
    if (scope != kNone && f_.limit[scope]) room = std::min(room, *f_.limit[scope] - held);
    for (std::size_t i = level; i < path_.size(); ++i) {
      const std::optional<Amount>& lim = f_.limit[path_[i]];
      if (lim) room = std::min(room, *lim - used_[i]);
    }
    room = std::min(room, room_cap_ - used_.back());
    if (room <= 0) return 0;
    for (std::size_t i = level; i < path_.size(); ++i) used_[i] += room;
    return room;
  }

  void set(smt::NodeId term, Amount value) {
    if (const std::optional<std::uint32_t> v = variable_index(q_.obligation, term)) {
      values_[*v] = value;
      assigned_[*v] = 1;
    }
  }
  void set(const std::unordered_map<Index, smt::NodeId>& terms, Index scope, Amount value) {
    if (auto it = terms.find(scope); it != terms.end()) set(it->second, value);
  }

  const Facts& f_;
  const ReachabilityQuery& q_;
  smt::Values values_;
  std::vector<char> assigned_;
  bool fill_;
  std::vector<Index> path_;  // the claimant first, the root last
  std::vector<Amount> used_;
  Amount room_cap_ = kNoLimit;
};

}  // namespace

std::optional<smt::Values> native_counterexample(const Facts& f, const ReachabilityQuery& q) {
  for (bool fill : {true, false}) {
    if (auto m = WitnessBuilder(f, q, fill).build()) return m;
  }
  return std::nullopt;
}

}  // namespace allot::verify::reach
