#include "runtime/sim/assign.h"

#include <toml++/toml.h>

#include <algorithm>
#include <optional>
#include <unordered_map>

namespace allot::runtime::sim {

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t assignment_hash(std::string_view name, std::uint64_t seed) {
  std::uint64_t h = fnv1a64(name);
  if (seed != 0) h ^= splitmix64(seed);
  return splitmix64(h);
}

std::size_t add_synthetic_queues(Cluster& cluster) {
  std::vector<bool> has_child(cluster.scopes.size(), false);
  for (const Scope& s : cluster.scopes)
    if (s.parent != kNone) has_child[s.parent] = true;
  const std::size_t original = cluster.scopes.size();
  for (ScopeId s = 0; s < original; ++s) {
    if (has_child[s] || cluster.scopes[s].kind == ScopeKind::queue) continue;
    Scope q;
    q.kind = ScopeKind::queue;
    q.name = cluster.scopes[s].name + "/" + std::string(kSyntheticQueueName);
    q.parent = s;
    q.queue.gpu_sharing = true;  // the plan says nothing; let shared-GPU pods run
    // The preemption options are effective values: inherited like a written queue.
    q.reclaim = cluster.scopes[s].reclaim;
    q.borrow_within = cluster.scopes[s].borrow_within;
    q.borrow_max_priority = cluster.scopes[s].borrow_max_priority;
    cluster.scopes.push_back(std::move(q));
  }
  return cluster.scopes.size() - original;
}

std::vector<QueueWeight> guarantee_weights(const Cluster& cluster) {
  const std::size_t n = cluster.scopes.size();
  auto guarantee = [&](ScopeId s) -> Amount {
    const auto& b = cluster.scopes[s].bounds.gpu;
    return b ? b->guarantee : 0;
  };
  // Nearest ancestor-or-self with a declared GPU guarantee (parents come first).
  std::vector<ScopeId> anchor(n, kNone);
  for (ScopeId s = 0; s < n; ++s) {
    const ScopeId parent = cluster.scopes[s].parent;
    anchor[s] = cluster.scopes[s].bounds.gpu ? s : parent != kNone ? anchor[parent] : kNone;
  }
  std::vector<Amount> own(n, 0);
  for (ScopeId s = 0; s < n; ++s) {
    if (!cluster.scopes[s].bounds.gpu) continue;
    own[s] += guarantee(s);
    const ScopeId parent = cluster.scopes[s].parent;
    if (parent != kNone && anchor[parent] != kNone) own[anchor[parent]] -= guarantee(s);
  }
  std::vector<std::uint32_t> queues_of(n, 0);
  for (ScopeId s = 0; s < n; ++s)
    if (cluster.scopes[s].kind == ScopeKind::queue && anchor[s] != kNone) ++queues_of[anchor[s]];
  std::vector<std::uint32_t> seen(n, 0);
  std::vector<QueueWeight> out;
  Amount total = 0;
  for (ScopeId s = 0; s < n; ++s) {
    if (cluster.scopes[s].kind != ScopeKind::queue) continue;
    Amount w = 0;
    if (const ScopeId a = anchor[s]; a != kNone && own[a] > 0) {
      const Amount share = own[a] / queues_of[a];
      const Amount remainder = own[a] % queues_of[a];
      w = share + (static_cast<Amount>(seen[a]) < remainder ? 1 : 0);
      ++seen[a];
    }
    out.push_back({s, w});
    total += w;
  }
  if (total == 0)
    for (QueueWeight& q : out) q.weight = 1;
  return out;
}

HashAssigner::HashAssigner(std::vector<QueueWeight> weights) {
  std::uint64_t sum = 0;
  for (const QueueWeight& w : weights) {
    if (w.weight <= 0) continue;
    sum += static_cast<std::uint64_t>(w.weight);
    queues_.push_back(w.queue);
    cumulative_.push_back(sum);
  }
}

ScopeId HashAssigner::pick(std::string_view name, std::uint64_t seed) const {
  if (cumulative_.empty()) return kNone;
  const std::uint64_t point = assignment_hash(name, seed) % cumulative_.back();
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), point);
  return queues_[static_cast<std::size_t>(it - cumulative_.begin())];
}

MappingResult parse_mapping(std::string_view toml_text, std::string_view path) {
  toml::table root;
  try {
    root = toml::parse(toml_text, path);
  } catch (const toml::parse_error& e) {
    return InputError{std::string(path), e.source().begin.line, e.source().begin.column, std::string(e.description())};
  }
  auto located = [&](const toml::node& n, std::string message) {
    return InputError{std::string(path), n.source().begin.line, n.source().begin.column, std::move(message)};
  };
  Mapping m;
  for (const auto& [key, value] : root) {
    if (key.str() != "pods" && key.str() != "weights")
      return located(value, "unknown table `" + std::string(key.str()) + "` (expected [pods] or [weights])");
    const toml::table* t = value.as_table();
    if (!t) return located(value, "`" + std::string(key.str()) + "` must be a table");
    for (const auto& [k, v] : *t) {
      if (key.str() == "pods") {
        if (!v.is_string()) return located(v, "a pod's queue must be a string");
        m.pods.emplace_back(std::string(k.str()), v.as_string()->get());
      } else {
        if (!v.is_integer() || v.as_integer()->get() < 0) return located(v, "a weight must be a non-negative integer");
        m.weights.emplace_back(std::string(k.str()), v.as_integer()->get());
      }
    }
  }
  return m;
}

ScopeId resolve_queue(const Cluster& cluster, std::string_view reference) {
  ScopeId found = kNone;
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s) {
    const Scope& scope = cluster.scopes[s];
    if (scope.kind != ScopeKind::queue) continue;
    if (scope.name == reference) return s;
    if (scope.name.size() > reference.size() && scope.name.compare(0, reference.size(), reference) == 0 &&
        scope.name[reference.size()] == '/') {
      if (found != kNone) return kNone;  // ambiguous: more than one queue below
      found = s;
    }
  }
  return found;
}

}  // namespace allot::runtime::sim

namespace allot::runtime::sim {

namespace {

// Who submits on behalf of a trace without users: someone the queue lets submit.
void authorised_submitter(const Scope& queue, Job& job) {
  for (const Grant& g : queue.queue.grants) {
    if (!(g.actions & kSubmit)) continue;
    if (!g.users.empty()) {
      job.user = g.users.front();
      return;
    }
    if (!g.groups.empty()) {
      job.user = "openb";
      job.groups = {g.groups.front()};
      return;
    }
  }
  job.user = "openb";
}

}  // namespace

ResolveResult resolve_jobs(const Cluster& cluster, const Trace& trace, const Mapping* mapping,
                           std::string_view mapping_path, std::uint64_t seed) {
  std::vector<SimJob> out;
  out.reserve(trace.jobs.size());
  std::unordered_map<std::string, ScopeId> by_pod;
  std::vector<QueueWeight> weights = guarantee_weights(cluster);
  if (mapping) {
    auto resolve = [&](const std::string& ref) -> std::optional<ScopeId> {
      const ScopeId q = resolve_queue(cluster, ref);
      if (q == kNone) return std::nullopt;
      return q;
    };
    for (const auto& [pod, ref] : mapping->pods) {
      const std::optional<ScopeId> q = resolve(ref);
      if (!q)
        return InputError{std::string(mapping_path), 0, 0, "pod `" + pod + "`: no queue `" + ref + "` in the plan"};
      by_pod[pod] = *q;
    }
    if (!mapping->weights.empty()) {
      weights.clear();
      for (const auto& [ref, w] : mapping->weights) {
        const std::optional<ScopeId> q = resolve(ref);
        if (!q) return InputError{std::string(mapping_path), 0, 0, "weights: no queue `" + ref + "` in the plan"};
        weights.push_back({*q, w});
      }
    }
  }
  const HashAssigner assigner(std::move(weights));
  std::unordered_map<std::string_view, PriorityId> priority_ids;
  for (PriorityId p = 0; p < cluster.priorities.size(); ++p) priority_ids.emplace(cluster.priorities[p].name, p);
  for (const TraceJob& t : trace.jobs) {
    SimJob s;
    s.name = t.name;
    s.runtime_ms = t.runtime_ms;
    Job& job = s.job;
    job.id = out.size() + 1;
    job.kind = t.kind;
    job.request = t.request;
    job.gpu_models = t.gpu_spec;
    job.submit_time = t.submit_ms;
    job.preemptible = t.preemptible;
    if (trace.format == TraceFormat::generic) {
      job.queue = resolve_queue(cluster, t.queue);  // kNone: refused as unknown_queue
      job.user = t.user;
      if (!t.priority.empty()) {
        const auto it = priority_ids.find(t.priority);
        job.priority = it != priority_ids.end() ? it->second : static_cast<PriorityId>(cluster.priorities.size());
      }
    } else {
      const auto it = by_pod.find(t.name);
      job.queue = it != by_pod.end() ? it->second : assigner.pick(t.name, seed);
      if (job.queue != kNone) authorised_submitter(cluster.scopes[job.queue], job);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace allot::runtime::sim
