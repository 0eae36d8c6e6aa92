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
#include <functional>
#include <limits>
#include <map>

#include "compiler/verify/reachability_facts.h"

namespace allot::verify::reach {
namespace {

constexpr Amount kNoLimit = std::numeric_limits<Amount>::max() / 4;
constexpr std::size_t kNoSlot = static_cast<std::size_t>(-1);

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

void distribute(const Facts& f, Index x, Amount amount, const std::function<void(Index, Amount)>& put, int depth) {
  if (amount <= 0) return;
  const Scope& s = f.policy.scopes[x];
  if (is_nonpreemptible_queue(s)) {
    put(x, amount);
    return;
  }
  if (depth > 1000) return;
  for (Index c : s.children) {
    if (c >= f.policy.scopes.size() || f.maxnp[c] == 0) continue;
    const Amount take = f.maxnp[c] == kUnbounded ? amount : std::min(amount, f.maxnp[c]);
    distribute(f, c, take, put, depth + 1);
    amount -= take;
    if (amount <= 0) break;
  }
}

// ---- many claims' states at once ------------------------------------------------
//
// Levels as in WitnessBuilder: level 0 is the claimant, level i its i-th
// ancestor, the holders of level i the children of that ancestor off the
// path. A take at level L adds the same amount to the usage of every level
// from L up, so the room it sees (the least room under the limits from L up
// and the pool's capacity) shrinks by exactly what it took: a run of takes
// at one level, each bounded by its holder's own want and limit, takes in
// all the smaller of their sum and the room at its start, in any order.

struct LevelWitness::Parent {
  bool usable = true;
  std::vector<Index> path;        // path[0]: the child left out (kNone: none), path.back() the root
  std::vector<Amount> used;       // usage by level after the non-preemptible pass
  std::vector<Amount> fill;       // by level: what the holders want up to their guarantees
  std::vector<Amount> fill_own;   // the part of it of holders that are not quotas
  std::vector<Amount> np_own;     // by level: non-preemptible work of holders that are not quotas
  std::vector<Amount> share;      // by level: the ancestor's uncarved guarantee (its own jobs' fill)
  std::vector<Amount> own_bound;  // by level: the bound on own jobs under child_preemption, or -1
  std::vector<Index> first;       // level 1's holders, in order (from build_exact)
  std::vector<Amount> first_fill;
  const Ancestor* first_level = nullptr;  // or level 1's children (from build), but for `first_left_out`
  std::size_t first_left_out = kNoSlot;
  // The non-preemptible queues holding work, in position order: those
  // before the path's subtree at each level, and those after it.
  std::vector<Index> before, after;
  SharedRefutation shared;
};

LevelWitness::LevelWitness(const Facts& f) : f_(f) {}
LevelWitness::~LevelWitness() = default;

const std::vector<Index>& LevelWitness::queues(Index c, Amount amount) {
  const std::pair<Index, Amount> key{c, amount};
  auto it = queues_.find(key);
  if (it != queues_.end()) return it->second;
  std::vector<Index> out;
  distribute(f_, c, amount, [&](Index q, Amount) { out.push_back(q); });
  return queues_.emplace(key, std::move(out)).first->second;
}

// Every child of an ancestor as a holder, with nothing taken before it
// binds: what a parent's build needs of that level, but for the path's
// child, which it takes out.
struct LevelWitness::Ancestor {
  std::vector<Index> children;
  std::vector<Amount> np;    // per child: its non-preemptible want within its limit
  std::vector<Amount> fill;  // per child: what it then wants up to its guarantee
  std::vector<char> quota, valid;
  std::vector<std::uint32_t> queue_begin;  // per child and one past: its queues in `queues`
  std::vector<Index> queues;
  Amount np_all = 0, np_own = 0, fill_all = 0, fill_own = 0;
  Amount carved = 0, carved_quotas = 0;  // the children's guarantees
  std::size_t invalid = 0;
};

const LevelWitness::Ancestor& LevelWitness::ancestor(Index a) {
  if (auto it = ancestors_.find(a); it != ancestors_.end()) return *it->second;
  const Policy& policy = f_.policy;
  const std::size_t n = policy.scopes.size();
  auto made = std::make_unique<Ancestor>();
  Ancestor& A = *made;
  if (slot_.size() != n) slot_.assign(n, kNoSlot);
  for (Index c : policy.scopes[a].children) {
    if (c >= n) continue;
    slot_[c] = A.children.size();
    A.children.push_back(c);
    const bool quota = policy.scopes[c].kind == ScopeKind::quota;
    const std::optional<Amount>& lim = f_.limit[c];
    const Amount want = f_.saturable[c] ? f_.saturated[c] : f_.maxnp[c];
    Amount np = want == kUnbounded ? kNoLimit : want;
    if (lim) np = std::min(np, *lim);
    // Beyond the capacity the room runs out anyway, and the sums stay finite.
    np = std::clamp<Amount>(np, 0, f_.capacity.amount);
    const bool valid = f_.maxnp[c] == 0 ? np == 0 : f_.maxnp[c] == kUnbounded || np <= f_.maxnp[c];
    Amount fill = 0;
    if (!is_nonpreemptible_queue(policy.scopes[c]) && f_.g[c] > np) {
      fill = f_.g[c] - np;
      if (lim) fill = std::min(fill, *lim - np);
      fill = std::max<Amount>(0, fill);
    }
    A.np.push_back(np);
    A.fill.push_back(fill);
    A.quota.push_back(quota);
    A.valid.push_back(valid);
    A.queue_begin.push_back(static_cast<std::uint32_t>(A.queues.size()));
    if (np > 0) {
      const std::vector<Index>& qs = queues(c, np);
      A.queues.insert(A.queues.end(), qs.begin(), qs.end());
    }
    A.np_all += np;
    A.fill_all += fill;
    if (!quota) A.np_own += np, A.fill_own += fill;
    A.carved += f_.g[c];
    if (quota) A.carved_quotas += f_.g[c];
    A.invalid += !valid;
  }
  A.queue_begin.push_back(static_cast<std::uint32_t>(A.queues.size()));
  return *ancestors_.emplace(a, std::move(made)).first->second;
}

std::size_t LevelWitness::start(Parent& P, Index p, Index left_out) const {
  const Policy& policy = f_.policy;
  P.path.assign(1, left_out);
  for (Index y = p; y != kNone; y = policy.scopes[y].parent) P.path.push_back(y);
  const std::size_t d = P.path.size() - 1;
  P.used.assign(d + 1, 0);
  P.fill.assign(d + 1, 0);
  P.fill_own.assign(d + 1, 0);
  P.np_own.assign(d + 1, 0);
  P.share.assign(d + 1, 0);
  P.own_bound.assign(d + 1, -1);
  return d;
}

bool LevelWitness::build(Parent& P, Index p, Index left_out) {
  const Policy& policy = f_.policy;
  const std::size_t d = start(P, p, left_out);
  const Amount cap = f_.capacity.amount;
  std::vector<const Ancestor*> levels(d + 1, nullptr);
  std::vector<std::size_t> out(d + 1, kNoSlot);
  for (std::size_t level = 1; level <= d; ++level) {
    const Index a = P.path[level];
    const Ancestor& A = ancestor(a);
    levels[level] = &A;
    const Index on_path = P.path[level - 1];
    const std::size_t k = out[level] = on_path == kNone ? kNoSlot : slot_[on_path];
    P.share[level] = std::max<Amount>(0, f_.g[a] - A.carved);
    if (policy.scopes[a].kind == ScopeKind::quota && policy.scopes[a].child_preemption)
      P.own_bound[level] = std::max<Amount>(0, f_.g[a] - A.carved_quotas);
    auto less = [&](const std::vector<Amount>& per_child, bool own) {
      return k == kNoSlot || (own && A.quota[k]) ? 0 : per_child[k];
    };
    if (A.invalid > (k != kNoSlot && !A.valid[k] ? 1 : 0)) P.usable = false;
    // The level's takes, unless the room runs out before its last holder.
    Amount room = cap - P.used[d];
    for (std::size_t i = level; i <= d; ++i)
      if (const std::optional<Amount>& lim = f_.limit[P.path[i]]) room = std::min(room, *lim - P.used[i]);
    const Amount np = A.np_all - less(A.np, false);
    if (np > std::max<Amount>(0, room)) return false;
    for (std::size_t i = level; i <= d; ++i) P.used[i] += np;
    P.np_own[level] = A.np_own - less(A.np, true);
    P.fill[level] = A.fill_all - less(A.fill, false);
    P.fill_own[level] = A.fill_own - less(A.fill, true);
  }
  P.first_level = levels[1];
  P.first_left_out = out[1];
  // The queues in position order: a level's children before the path's
  // child come before everything below it, the others after.
  for (std::size_t level = d; level >= 1; --level) {
    const Ancestor& A = *levels[level];
    const std::uint32_t end = out[level] == kNoSlot ? A.queue_begin.back() : A.queue_begin[out[level]];
    P.before.insert(P.before.end(), A.queues.begin(), A.queues.begin() + end);
  }
  for (std::size_t level = 1; level <= d; ++level) {
    const Ancestor& A = *levels[level];
    if (out[level] == kNoSlot) continue;
    P.after.insert(P.after.end(), A.queues.begin() + A.queue_begin[out[level] + 1], A.queues.end());
  }
  return true;
}

void LevelWitness::build_exact(Parent& P, Index p, Index left_out) {
  const Policy& policy = f_.policy;
  const std::size_t n = policy.scopes.size();
  const std::size_t d = start(P, p, left_out);
  const Amount cap = f_.capacity.amount;
  auto room = [&](std::size_t level) {
    Amount r = cap - P.used[d];
    for (std::size_t i = level; i <= d; ++i)
      if (const std::optional<Amount>& lim = f_.limit[P.path[i]]) r = std::min(r, *lim - P.used[i]);
    return r;
  };
  for (std::size_t level = 1; level <= d; ++level) {
    const Index a = P.path[level];
    Amount carved = 0, carved_quotas = 0;
    for (Index c : policy.scopes[a].children) {
      if (c >= n) continue;
      carved += f_.g[c];
      if (policy.scopes[c].kind == ScopeKind::quota) carved_quotas += f_.g[c];
    }
    P.share[level] = std::max<Amount>(0, f_.g[a] - carved);
    if (policy.scopes[a].kind == ScopeKind::quota && policy.scopes[a].child_preemption)
      P.own_bound[level] = std::max<Amount>(0, f_.g[a] - carved_quotas);
  }
  // The non-preemptible pass, every level's holders in order. Without a
  // child left out, the claimant is among level 1's children but wants
  // nothing in it.
  std::vector<std::vector<std::pair<Index, Amount>>> held(d + 1);
  for (std::size_t level = 1; level <= d; ++level) {
    for (Index c : policy.scopes[P.path[level]].children) {
      if (c >= n || c == P.path[level - 1]) continue;
      const Amount want = f_.saturable[c] ? f_.saturated[c] : f_.maxnp[c];
      Amount got = std::min(want == kUnbounded ? kNoLimit : want, room(level));
      if (const std::optional<Amount>& lim = f_.limit[c]) got = std::min(got, *lim);
      got = std::max<Amount>(0, got);
      for (std::size_t i = level; i <= d; ++i) P.used[i] += got;
      // The summary's bound n <= max_nonpreemptible, which the claim's
      // state must meet as well.
      if (f_.maxnp[c] == 0 ? got != 0 : f_.maxnp[c] != kUnbounded && got > f_.maxnp[c]) P.usable = false;
      held[level].emplace_back(c, got);
      if (policy.scopes[c].kind != ScopeKind::quota) P.np_own[level] += got;
    }
  }
  // The queues the holders hold, in position order: a level's holders
  // before the path's child come before everything below it, the others
  // after, so the top level's first and last.
  auto holds = [&](std::size_t level, bool before) {
    const Index on_path = P.path[level - 1];
    const std::uint32_t at = on_path == kNone ? std::numeric_limits<std::uint32_t>::max() : f_.position[on_path];
    for (const auto& [c, h] : held[level])
      if (h > 0 && (f_.position[c] < at) == before) {
        const std::vector<Index>& qs = queues(c, h);
        std::vector<Index>& side = before ? P.before : P.after;
        side.insert(side.end(), qs.begin(), qs.end());
      }
  };
  for (std::size_t level = d; level >= 1; --level) holds(level, true);
  for (std::size_t level = 1; level <= d; ++level) holds(level, false);
  // What each holder wants up to its guarantee, for the later passes.
  for (std::size_t level = 1; level <= d; ++level) {
    for (const auto& [c, h] : held[level]) {
      Amount want = 0;
      if (!is_nonpreemptible_queue(policy.scopes[c]) && f_.g[c] > h) {
        want = f_.g[c] - h;
        if (const std::optional<Amount>& lim = f_.limit[c]) want = std::min(want, *lim - h);
        want = std::max<Amount>(0, want);
      }
      P.fill[level] += want;
      if (policy.scopes[c].kind != ScopeKind::quota) P.fill_own[level] += want;
      if (level == 1) {
        P.first.push_back(c);
        P.first_fill.push_back(want);
      }
    }
  }
}

LevelWitness::Parent& LevelWitness::parent(Index p) {
  if (auto it = parents_.find(p); it != parents_.end()) return *it->second;
  // Claims come in preorder, so a parent's are near each other; old
  // entries are dropped rather than kept for the whole pool.
  if (parents_.size() >= 256) parents_.clear();
  auto made = std::make_unique<Parent>();
  Parent& P = *made;
  parents_.emplace(p, std::move(made));
  if (!build(P, p, kNone)) {
    P = Parent{};
    build_exact(P, p, kNone);
  }
  P.shared.culprits = P.before;
  P.shared.culprits.insert(P.shared.culprits.end(), P.after.begin(), P.after.end());
  P.before = {};
  P.after = {};
  return P;
}

bool LevelWitness::refutes(const Parent& P, const Claim& claim, std::vector<Amount> used, Amount x_fill) const {
  const Policy& policy = f_.policy;
  const Index x = claim.scope;
  const std::size_t d = P.path.size() - 1;
  const Amount cap = f_.capacity.amount;
  auto room = [&](std::size_t level) {
    Amount r = cap - used[d];
    for (std::size_t i = level; i <= d; ++i)
      if (const std::optional<Amount>& lim = f_.limit[i == 0 ? x : P.path[i]]) r = std::min(r, *lim - used[i]);
    return r;
  };
  auto add = [&](std::size_t level, Amount amount) {
    for (std::size_t i = level; i <= d; ++i) used[i] += amount;
  };
  const bool x_quota = policy.scopes[x].kind == ScopeKind::quota;
  auto bounded = [&](std::size_t level) {
    return P.own_bound[level] >= 0 &&
           (level == 1 ? x_quota : policy.scopes[P.path[level - 1]].kind == ScopeKind::quota);
  };
  // Own jobs of the ancestors and their children that are not quotas (the
  // bound below counts them where the path's child is a quota).
  std::vector<Amount> other(d + 1, 0);
  for (std::size_t level = 1; level <= d; ++level) {
    const Amount want = P.fill[level] - (level == 1 ? x_fill : 0);
    const Amount start = std::max<Amount>(0, room(level));
    const Amount got = std::min(want, start);
    if (bounded(level)) {
      if (got == want) {
        other[level] = P.fill_own[level] - (level == 1 && !x_quota ? x_fill : 0);
      } else if (level == 1) {
        Amount left = start;
        auto take = [&](Index c, Amount wanted, bool quota) {
          if (c == x) return;
          const Amount a = std::max<Amount>(0, std::min(wanted, left));
          left -= a;
          if (!quota) other[level] += a;
        };
        if (const Ancestor* A = P.first_level) {
          for (std::size_t k = 0; k < A->children.size(); ++k)
            if (k != P.first_left_out) take(A->children[k], A->fill[k], A->quota[k]);
        } else {
          for (std::size_t k = 0; k < P.first.size(); ++k)
            take(P.first[k], P.first_fill[k], policy.scopes[P.first[k]].kind == ScopeKind::quota);
        }
      } else if (P.fill_own[level] != 0) {
        return false;  // which holders got their fill depends on their order: left to the caller
      }
    }
    add(level, got);
  }
  for (std::size_t level = 1; level <= d; ++level) {
    const Amount got = std::max<Amount>(0, std::min(P.share[level], room(level)));
    add(level, got);
    other[level] += got;
  }
  // The obligation's constraint under child_preemption: a quota's own jobs
  // stay within its uncarved share.
  for (std::size_t level = 1; level <= d; ++level)
    if (bounded(level) && other[level] + P.np_own[level] > P.own_bound[level]) return false;
  const Index root = P.path[d];
  const Amount others_max = f_.roots.size() > 1 && f_.others_bounded(root) ? f_.others_max(root) : 0;
  const Amount others = std::max<Amount>(0, std::min(others_max, cap - used[d]));
  // supply(x) from the root down. Nothing is reclaimable in this state
  // (every holder within its guarantee or its non-preemptible work, every
  // ancestor's own jobs within their share), so only room from above counts.
  Amount supply = cap - used[d] - others, idle = supply;
  for (std::size_t level = d; level >= 1; --level) {
    const Index a = P.path[level];
    const Amount headroom = (f_.limit[a] ? *f_.limit[a] : cap) - used[level];
    const Amount above = f_.cover[a] > 0 && used[level] < f_.cover[a] ? supply : idle;
    supply = std::min(headroom, above);
    idle = std::min(headroom, idle);
  }
  if (!claim.own_work) return supply < f_.g[x];  // the claimant holds nothing
  // Own work: the children hold only non-preemptible work, which the
  // parent's jobs may not take, and the jobs themselves nothing.
  const Amount headroom = (f_.limit[x] ? *f_.limit[x] : cap) - used[0];
  return std::min(headroom, supply) < f_.g[x];
}

SharedRefutation* LevelWitness::refute(const Claim& claim) {
  const Policy& policy = f_.policy;
  const std::size_t n = policy.scopes.size();
  const Index x = claim.scope;
  if (!f_.capacity.known || f_.capacity.unbounded) return nullptr;
  const Scope& xs = policy.scopes[x];
  if (xs.parent == kNone) return nullptr;
  // A scope of the path that does not reclaim from every borrower makes
  // the caller ask whether only that refutes the claim (W0105).
  for (Index y = x; y != kNone; y = policy.scopes[y].parent)
    if (policy.scopes[y].reclaim != ReclaimPolicy::any && policy.scopes[y].parent != kNone) return nullptr;
  const std::optional<Amount>& x_limit = f_.limit[x];
  if (x_limit && *x_limit < 0) return nullptr;
  const bool inert = f_.maxnp[x] == 0 && f_.saturated[x] == 0 && !is_nonpreemptible_queue(xs);
  if (!claim.own_work && inert) {
    Parent& P = parent(xs.parent);
    if (!P.usable) return nullptr;
    const Amount x_fill = std::max<Amount>(0, x_limit ? std::min(f_.g[x], *x_limit) : f_.g[x]);
    return refutes(P, claim, P.used, x_fill) ? &P.shared : nullptr;
  }
  // Any other claim has a state of its own: the same passes without the
  // claimant among level 1's holders, once.
  Parent P;
  if (!build(P, xs.parent, x)) {
    P = Parent{};
    build_exact(P, xs.parent, x);
  }
  if (!P.usable) return nullptr;
  std::vector<Index> mine;
  std::vector<Amount> used = P.used;
  if (claim.own_work) {
    // The claimant's quota children hold their non-preemptible work, after
    // every other holder.
    const std::size_t d = P.path.size() - 1;
    const Amount cap = f_.capacity.amount;
    for (Index c : xs.children) {
      if (c >= n || policy.scopes[c].kind != ScopeKind::quota) continue;
      Amount got = cap - used[d];
      for (std::size_t i = 0; i <= d; ++i)
        if (const std::optional<Amount>& lim = f_.limit[i == 0 ? x : P.path[i]]) got = std::min(got, *lim - used[i]);
      const Amount want = f_.saturable[c] ? f_.saturated[c] : f_.maxnp[c];
      got = std::min(got, want == kUnbounded ? kNoLimit : want);
      if (const std::optional<Amount>& lim = f_.limit[c]) got = std::min(got, *lim);
      got = std::max<Amount>(0, got);
      if (f_.maxnp[c] == 0 ? got != 0 : f_.maxnp[c] != kUnbounded && got > f_.maxnp[c]) return nullptr;
      for (std::size_t i = 0; i <= d; ++i) used[i] += got;
      if (got > 0) {
        const std::vector<Index>& qs = queues(c, got);
        mine.insert(mine.end(), qs.begin(), qs.end());
      }
    }
  }
  if (!refutes(P, claim, std::move(used), 0)) return nullptr;
  single_.culprits = std::move(P.before);
  single_.culprits.insert(single_.culprits.end(), mine.begin(), mine.end());
  single_.culprits.insert(single_.culprits.end(), P.after.begin(), P.after.end());
  single_.group = static_cast<std::size_t>(-1);
  return &single_;
}

}  // namespace allot::verify::reach
