#include "runtime/sim/load_experiment.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ostream>

#include "runtime/core/placement.h"
#include "runtime/core/scheduler.h"
#include "runtime/sim/svg.h"

namespace allot::runtime::sim {

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Indices into `jobs`, the arrivals of one seed, as the authors' simulator
// tunes a trace to a load (their runs pass --shuffle-pod=true): all of them
// in a random order, then pods drawn with replacement until the GPUs asked
// for pass `limit_milli`; or, if the trace alone asks for more, the shuffled
// trace less pods removed at random until it asks for at most that.
std::vector<std::uint32_t> draw(const std::vector<SimJob>& jobs, std::uint64_t seed, double limit_milli) {
  const auto n = static_cast<std::uint32_t>(jobs.size());
  std::vector<std::uint32_t> out(n);
  double total = 0;
  for (const SimJob& j : jobs) total += static_cast<double>(j.job.request.gpu_milli);
  std::uint64_t state = seed;
  for (std::uint32_t i = 0; i < n; ++i) out[i] = i;
  for (std::uint32_t i = n; i > 1; --i)  // Fisher-Yates
    std::swap(out[i - 1], out[static_cast<std::uint32_t>(splitmix64(state) % i)]);
  if (total > limit_milli) {
    std::vector<char> removed(n, 0);
    std::vector<std::uint32_t> order = out;
    for (std::uint32_t i = 0; i < n && total > limit_milli; ++i) {  // a random permutation's prefix
      const auto k = i + static_cast<std::uint32_t>(splitmix64(state) % (n - i));
      std::swap(order[i], order[k]);
      removed[order[i]] = 1;
      total -= static_cast<double>(jobs[order[i]].job.request.gpu_milli);
    }
    std::erase_if(out, [&](std::uint32_t j) { return removed[j] != 0; });
    return out;
  }
  if (total <= 0) return out;
  while (total <= limit_milli) {
    const auto j = static_cast<std::uint32_t>(splitmix64(state) % n);
    out.push_back(j);
    total += static_cast<double>(jobs[j].job.request.gpu_milli);
  }
  return out;
}

std::vector<TaskType> workload_of(const std::vector<SimJob>& jobs) {
  std::vector<TaskType> requests;
  requests.reserve(jobs.size());
  for (const SimJob& j : jobs) {
    const Amount g = j.job.request.gpu_milli;
    const bool whole = g % kMilliPerGpu == 0;
    requests.push_back({j.job.request.cpu_milli, whole ? static_cast<std::uint32_t>(g / kMilliPerGpu) : 1u,
                        g == 0  ? 0
                        : whole ? kMilliPerGpu
                                : g,
                        j.job.gpu_models, 1.0});
  }
  return typical_workload(requests, 0.95, 1, /*cpu_only_types=*/true);
}

LoadCurve run_one(Cluster cluster, const std::vector<SimJob>& jobs, const std::vector<std::uint32_t>& draws,
                  PlacementPolicy policy, std::uint64_t seed, std::uint32_t max_percent, double capacity_milli) {
  using Clock = std::chrono::steady_clock;
  cluster.placement_policy = policy;
  cluster.placement_seed = seed;
  Scheduler scheduler(std::move(cluster));
  LoadCurve curve;
  curve.policy = policy;
  curve.seed = seed;
  std::vector<Amount> held(draws.size() + 1, 0);  // GPUs held per job id
  double allocated = 0, arrived = 0;
  std::uint32_t next_point = 0;
  auto record = [&] {
    while (next_point <= max_percent && arrived * 100 >= next_point * capacity_milli) {
      curve.unallocated_percent.push_back((capacity_milli - allocated) / capacity_milli * 100);
      curve.fragmented_percent.push_back(scheduler.fragmented_milli() / capacity_milli * 100);
      ++next_point;
    }
  };
  record();
  for (std::size_t i = 0; i < draws.size(); ++i) {
    Job job = jobs[draws[i]].job;
    job.id = i + 1;
    job.submit_time = static_cast<Time>(i);
    const Amount request = job.request.gpu_milli;
    const auto started = Clock::now();
    const bool queued = std::holds_alternative<Queued>(scheduler.submit(std::move(job), static_cast<Time>(i)));
    for (bool again = queued; again;) {
      const Decision d = scheduler.schedule(static_cast<Time>(i));
      for (const Admission& a : d.admitted) {
        Amount milli = 0;
        for (const GpuSlice& s : a.gpus) milli += s.milli;
        held[a.job] = milli;
        allocated += static_cast<double>(milli);
      }
      for (const Preemption& p : d.preempted) {
        allocated -= static_cast<double>(held[p.victim]);
        held[p.victim] = 0;
        scheduler.release(p.victim);
        ++curve.preemptions;
      }
      again = !d.admitted.empty() || !d.preempted.empty();
    }
    if (queued) {
      const std::optional<JobView> view = scheduler.job(i + 1);
      if (view && view->state == JobState::pending) {
        scheduler.release(i + 1);
        ++curve.failed;
      }
    } else {
      ++curve.failed;
    }
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - started).count();
    curve.schedule_seconds += us / 1e6;
    curve.arrival_us.push_back(static_cast<float>(us));
    ++curve.arrived;
    arrived += static_cast<double>(request);
    record();
  }
  return curve;
}

struct Stats {
  double mean = 0, sd = 0, min = 0, max = 0;
};

Stats stats_at(const LoadExperimentResult& r, PlacementPolicy p, std::size_t point, bool fragmented) {
  std::vector<double> v;
  for (const LoadCurve& c : r.runs) {
    const std::vector<double>& xs = fragmented ? c.fragmented_percent : c.unallocated_percent;
    if (c.policy == p && point < xs.size()) v.push_back(xs[point]);
  }
  Stats s;
  if (v.empty()) return s;
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  for (double x : v) s.mean += x;
  s.mean /= static_cast<double>(v.size());
  for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
  s.sd = std::sqrt(s.sd / static_cast<double>(v.size()));
  return s;
}

std::vector<PlacementPolicy> policies_of(const LoadExperimentResult& r) {
  std::vector<PlacementPolicy> out;
  for (const LoadCurve& c : r.runs)
    if (std::find(out.begin(), out.end(), c.policy) == out.end()) out.push_back(c.policy);
  return out;
}

std::size_t points_of(const LoadExperimentResult& r) {
  std::size_t n = 0;
  for (const LoadCurve& c : r.runs)
    n = n == 0 ? c.unallocated_percent.size() : std::min(n, c.unallocated_percent.size());
  return n;
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    else
      out += c;
  }
  return out + "\"";
}

std::string fixed(double v, int digits = 3) { return fmt::format("{:.{}f}", v, digits); }

std::string chart(const LoadExperimentResult& r, const std::string& title, bool fragmented) {
  LineChart c;
  c.title = title;
  c.x_label = "arrived GPU requests (% of GPU capacity)";
  c.y_label = fragmented ? "fragmented GPUs (% of capacity)" : "unallocated GPUs (% of capacity)";
  const std::size_t n = points_of(r);
  for (std::size_t i = 0; i < n; ++i) c.x.push_back(static_cast<double>(i));
  for (PlacementPolicy p : policies_of(r)) {
    LineSeries s{to_string(p), {}, {}, {}};
    for (std::size_t i = 0; i < n; ++i) {
      const Stats st = stats_at(r, p, i, fragmented);
      s.values.push_back(st.mean);
      s.low.push_back(st.min);
      s.high.push_back(st.max);
    }
    c.series.push_back(std::move(s));
  }
  return render_line_chart(c);
}

}  // namespace

LoadExperimentResult run_load_experiment(const Cluster& cluster, const std::vector<SimJob>& jobs,
                                         const LoadExperimentOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  LoadExperimentResult result;
  Amount capacity = 0;
  for (const Node& n : cluster.nodes) capacity += static_cast<Amount>(n.gpu_count) * kMilliPerGpu;
  result.capacity_gpus = static_cast<double>(capacity) / kMilliPerGpu;
  result.nodes = cluster.nodes.size();
  Cluster base = cluster;
  if (base.workload.empty()) base.workload = workload_of(jobs);
  result.workload = base.workload;
  if (capacity == 0) return result;
  const double limit = static_cast<double>(capacity) * options.max_percent / 100.0;
  std::vector<std::vector<std::uint32_t>> draws;
  for (std::uint32_t s = 1; s <= options.seeds; ++s) draws.push_back(draw(jobs, s, limit));
  for (PlacementPolicy p : options.policies)
    for (std::uint32_t s = 1; s <= options.seeds; ++s)
      result.runs.push_back(
          run_one(base, jobs, draws[s - 1], p, s, options.max_percent, static_cast<double>(capacity)));
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

std::string load_experiment_json(const LoadExperimentResult& r, const std::string& trace, const std::string& plan) {
  std::string out = fmt::format("{{\n  \"trace\": {},\n  \"plan\": {},\n  \"nodes\": {},\n  \"gpus\": {},\n",
                                json_string(trace), json_string(plan), r.nodes, fixed(r.capacity_gpus, 1));
  out += "  \"workload\": [";
  for (std::size_t i = 0; i < r.workload.size(); ++i) {
    const TaskType& t = r.workload[i];
    out += fmt::format(
        "{}\n    {{\"cpu_milli\": {}, \"gpus\": {}, \"milli_per_gpu\": {}, \"gpu_models\": {}, "
        "\"popularity\": {}}}",
        i ? "," : "", t.cpu_milli, t.gpus, t.milli_per_gpu, json_string(t.gpu_models), fixed(t.popularity, 6));
  }
  out += "\n  ],\n  \"policies\": [";
  const std::size_t n = points_of(r);
  bool first_policy = true;
  for (PlacementPolicy p : policies_of(r)) {
    out += fmt::format("{}\n    {{\"policy\": \"{}\", \"points\": [", first_policy ? "" : ",", to_string(p));
    first_policy = false;
    bool first = true;
    for (std::uint32_t pct : kLoadReportPoints) {
      if (pct >= n) continue;
      const Stats u = stats_at(r, p, pct, false), f = stats_at(r, p, pct, true);
      out += fmt::format(
          "{}\n      {{\"arrived_percent\": {}, \"unallocated_percent\": {{\"mean\": {}, \"sd\": {}, "
          "\"min\": {}, \"max\": {}}}, \"fragmented_percent\": {{\"mean\": {}, \"sd\": {}}}}}",
          first ? "" : ",", pct, fixed(u.mean), fixed(u.sd), fixed(u.min), fixed(u.max), fixed(f.mean), fixed(f.sd));
      first = false;
    }
    out += "\n    ], \"runs\": [";
    bool first_run = true;
    for (const LoadCurve& c : r.runs) {
      if (c.policy != p) continue;
      out += fmt::format("{}\n      {{\"seed\": {}, \"arrived\": {}, \"failed\": {}, \"preemptions\": {}}}",
                         first_run ? "" : ",", c.seed, c.arrived, c.failed, c.preemptions);
      first_run = false;
    }
    out += "\n    ]}";
  }
  out += "\n  ]\n}\n";
  return out;
}

std::string load_experiment_csv(const LoadExperimentResult& r) {
  std::string out = "policy,seed,arrived_percent,unallocated_percent,fragmented_percent\n";
  for (const LoadCurve& c : r.runs)
    for (std::size_t i = 0; i < c.unallocated_percent.size(); ++i)
      out += fmt::format("{},{},{},{},{}\n", to_string(c.policy), c.seed, i, fixed(c.unallocated_percent[i]),
                         fixed(c.fragmented_percent[i]));
  return out;
}

std::string unallocated_svg(const LoadExperimentResult& r, const std::string& trace) {
  return chart(r, "Unallocated GPUs as pods arrive: " + trace, false);
}

std::string fragmented_svg(const LoadExperimentResult& r, const std::string& trace) {
  return chart(r, "Fragmented GPUs (expected workload) as pods arrive: " + trace, true);
}

void print_load_experiment(std::ostream& out, const LoadExperimentResult& r) {
  const std::size_t n = points_of(r);
  std::size_t seeds = 0;
  for (const LoadCurve& c : r.runs) seeds += c.policy == r.runs.front().policy ? 1 : 0;
  if (r.runs.empty()) {
    out << "placement experiment: no GPUs to place on\n";
    return;
  }
  out << fmt::format("placement experiment: {} nodes, {:.0f} GPUs, {} seed(s), typical workload of {} task types\n",
                     r.nodes, r.capacity_gpus, seeds, r.workload.size());
  out << "unallocated GPUs, % of capacity (mean +- sd over seeds) at arrived GPU requests of:\n";
  out << fmt::format("  {:<10}", "policy");
  for (std::uint32_t pct : kLoadReportPoints)
    if (pct < n) out << fmt::format(" {:>14}", fmt::format("{}%", pct));
  out << fmt::format(" {:>16} {:>8} {:>8} {:>8}\n", "fragmented @100%", "us/pod", "p99 us", "max us");
  for (PlacementPolicy p : policies_of(r)) {
    out << fmt::format("  {:<10}", to_string(p));
    for (std::uint32_t pct : kLoadReportPoints)
      if (pct < n) {
        const Stats s = stats_at(r, p, pct, false);
        out << fmt::format(" {:>14}", fmt::format("{:.2f} +- {:.2f}", s.mean, s.sd));
      }
    double seconds = 0;
    std::vector<float> times;
    for (const LoadCurve& c : r.runs)
      if (c.policy == p) {
        seconds += c.schedule_seconds;
        times.insert(times.end(), c.arrival_us.begin(), c.arrival_us.end());
      }
    std::sort(times.begin(), times.end());
    const auto rank = [&](double q) {  // nearest rank
      if (times.empty()) return 0.0;
      const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(times.size())));
      return static_cast<double>(times[std::max<std::size_t>(k, 1) - 1]);
    };
    const Stats f = stats_at(r, p, n > 100 ? 100 : n - 1, true);
    out << fmt::format(" {:>16} {:>8.1f} {:>8.0f} {:>8.0f}\n", fmt::format("{:.2f}", f.mean),
                       times.empty() ? 0.0 : seconds * 1e6 / static_cast<double>(times.size()), rank(0.99), rank(1.0));
  }
  const auto policies = policies_of(r);
  const bool both = std::find(policies.begin(), policies.end(), PlacementPolicy::fgd) != policies.end() &&
                    std::find(policies.begin(), policies.end(), PlacementPolicy::best_fit) != policies.end();
  if (both && n > 100) {
    const double f = stats_at(r, PlacementPolicy::fgd, 100, false).mean;
    const double b = stats_at(r, PlacementPolicy::best_fit, 100, false).mean;
    if (b > 0)
      out << fmt::format("fgd leaves {:.1f}% fewer unallocated GPUs than best_fit at 100% ({:.1f} vs {:.1f} GPUs)\n",
                         (b - f) / b * 100, f * r.capacity_gpus / 100, b * r.capacity_gpus / 100);
  }
  out << fmt::format("experiment took {:.2f} s\n", r.wall_seconds);
}

}  // namespace allot::runtime::sim
