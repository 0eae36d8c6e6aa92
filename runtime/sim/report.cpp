#include "runtime/sim/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "json/json.h"
#include "runtime/sim/svg.h"

namespace allot::runtime::sim {

namespace {

constexpr double kMsPerHour = 3600.0 * 1000.0;
constexpr const char* kRefusalNames[] = {
    "duplicate_id",      "unknown_queue",       "unknown_priority",          "invalid_request",
    "kind_not_accepted", "user_not_authorized", "fractional_gpu_not_shared", "exceeds_limit",
    "exceeds_cluster"};

double seconds(Time ms) { return static_cast<double>(ms) / 1000.0; }
double gpus(double milli) { return milli / 1000.0; }

const char* kind_name(ScopeKind k) {
  switch (k) {
    case ScopeKind::quota:
      return "quota";
    case ScopeKind::workspace:
      return "workspace";
    case ScopeKind::namespace_:
      return "namespace";
    case ScopeKind::queue:
      return "queue";
  }
  return "scope";
}

// The report's layout is written here, and only its strings come from the
// JSON module: its figures have fixed decimals (below), which a JSON library's
// shortest round-trip doubles cannot give, and one line per scope keeps two
// reports diffable. Pinned by tests/unit/sim_test.cpp and docs/simulate.md.
std::string json_string(std::string_view s) { return json::quote(s); }

// Fixed decimals keep the output byte-identical across runs and platforms.
std::string fixed(double v, int decimals = 3) { return fmt::format("{:.{}f}", v, decimals); }

std::string human_duration(double s) {
  if (s < 60) return fmt::format("{:.0f}s", s);
  if (s < 3600) return fmt::format("{:.1f}m", s / 60);
  if (s < 86400) return fmt::format("{:.1f}h", s / 3600);
  return fmt::format("{:.1f}d", s / 86400);
}

// Innermost scopes with a declared GPU guarantee: none of their descendants declares one.
std::vector<bool> innermost_guaranteed(const Cluster& cluster, const SimResult& r) {
  std::vector<bool> out(cluster.scopes.size(), false);
  std::vector<bool> has_guaranteed_below(cluster.scopes.size(), false);
  for (ScopeId s = static_cast<ScopeId>(cluster.scopes.size()); s-- > 0;) {
    const bool mine = r.scopes[s].guarantee_declared && r.scopes[s].gpu_guarantee > 0;
    out[s] = mine && !has_guaranteed_below[s];
    if (const ScopeId p = cluster.scopes[s].parent; p != kNone && (mine || has_guaranteed_below[s]))
      has_guaranteed_below[p] = true;
  }
  return out;
}

double mean_s(const std::vector<Time>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (Time t : v) sum += static_cast<double>(t);
  return sum / static_cast<double>(v.size()) / 1000.0;
}

struct ScopeFigures {
  double avg_gpus = 0;  // over the run's span
  double p50 = 0, p95 = 0, p99 = 0;
};

ScopeFigures scope_figures(const ScopeStats& st, const SimResult& r) {
  ScopeFigures f;
  const auto span = static_cast<double>(std::max<Time>(1, r.end - r.start));
  f.avg_gpus = gpus(st.gpu_milli_ms / span);
  f.p50 = seconds(percentile(st.delays_ms, 50));
  f.p95 = seconds(percentile(st.delays_ms, 95));
  f.p99 = seconds(percentile(st.delays_ms, 99));
  return f;
}

bool is_synthetic(const Cluster& cluster, const RunContext& context, ScopeId s) {
  return s + context.synthetic_queues >= cluster.scopes.size();
}

// The scopes the utilization chart stacks: the children of a single root, else the roots.
std::vector<ScopeId> chart_scopes(const Cluster& cluster) {
  std::vector<ScopeId> roots;
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s)
    if (cluster.scopes[s].parent == kNone) roots.push_back(s);
  if (roots.size() != 1) return roots;
  std::vector<ScopeId> children;
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s)
    if (cluster.scopes[s].parent == roots[0]) children.push_back(s);
  return children.empty() ? roots : children;
}

std::string time_unit(const SimResult& r, double& divisor) {
  const double span_h = static_cast<double>(r.end - r.start) / kMsPerHour;
  if (span_h > 72) {
    divisor = 24 * kMsPerHour;
    return "days";
  }
  divisor = kMsPerHour;
  return "hours";
}

std::vector<double> x_edges(const SimResult& r, double divisor) {
  std::vector<double> edges;
  for (const Sample& s : r.samples) edges.push_back(static_cast<double>(s.begin - r.start) / divisor);
  if (!r.samples.empty()) edges.push_back(static_cast<double>(r.samples.back().end - r.start) / divisor);
  return edges;
}

}  // namespace

Summary summarize(const Cluster& cluster, const SimResult& r) {
  Summary s;
  const auto span = static_cast<double>(std::max<Time>(1, r.end - r.start));
  s.span_hours = span / kMsPerHour;
  const double capacity_ms = static_cast<double>(r.capacity_milli) * span;
  s.utilization = capacity_ms > 0 ? r.allocated_milli_ms / capacity_ms : 0;
  s.allocated_gpu_hours = gpus(r.allocated_milli_ms) / kMsPerHour;
  s.idle_gpu_hours = gpus(capacity_ms - r.allocated_milli_ms) / kMsPerHour;
  s.fragmented_gpu_hours = gpus(r.fragmented_milli_ms) / kMsPerHour;
  s.delay_p50_s = seconds(percentile(r.delays_ms, 50));
  s.delay_p95_s = seconds(percentile(r.delays_ms, 95));
  s.delay_p99_s = seconds(percentile(r.delays_ms, 99));
  s.delay_mean_s = mean_s(r.delays_ms);
  s.delay_max_s = r.delays_ms.empty() ? 0 : seconds(r.delays_ms.back());
  s.submitted = r.jobs.size();
  for (const JobResult& j : r.jobs) {
    s.started += j.first_start >= 0;
    s.completed += j.outcome == JobOutcome::completed;
    s.cancelled += j.outcome == JobOutcome::cancelled;
    s.never_ran += j.outcome == JobOutcome::never_ran;
    s.refused += j.outcome == JobOutcome::refused;
  }
  s.preemptions = r.preemptions;
  s.requeues = r.requeues;
  const std::vector<bool> inner = innermost_guaranteed(cluster, r);
  for (ScopeId id = 0; id < cluster.scopes.size(); ++id) {
    if (!inner[id]) continue;
    s.violation_scope_hours += static_cast<double>(r.scopes[id].violation_ms) / kMsPerHour;
    s.shortfall_gpu_hours += gpus(r.scopes[id].shortfall_milli_ms) / kMsPerHour;
  }
  return s;
}

namespace {

std::string delays_json(const std::vector<Time>& d) {
  return fmt::format("{{\"p50\": {}, \"p95\": {}, \"p99\": {}, \"mean\": {}, \"max\": {}}}",
                     fixed(seconds(percentile(d, 50))), fixed(seconds(percentile(d, 95))),
                     fixed(seconds(percentile(d, 99))), fixed(mean_s(d)), fixed(d.empty() ? 0 : seconds(d.back())));
}

std::string limit_text(Amount limit) { return limit >= kUnlimited ? "null" : fixed(gpus(static_cast<double>(limit))); }

}  // namespace

std::string report_json(const Cluster& cluster, const RunContext& c, const SimResult& r) {
  const Summary s = summarize(cluster, r);
  std::string out = "{\n";
  out += "  \"format\": \"allot-simulate-report\",\n  \"version\": 1,\n";
  out +=
      fmt::format("  \"plan\": {},\n  \"trace\": {},\n  \"trace_format\": {},\n  \"mapping\": {},\n  \"seed\": {},\n",
                  json_string(c.plan), json_string(c.trace), json_string(to_string(c.format)),
                  c.mapping.empty() ? "null" : json_string(c.mapping), c.seed);
  std::uint64_t gpu_count = 0;
  for (const Node& n : cluster.nodes) gpu_count += n.gpu_count;
  out += fmt::format("  \"inventory\": {{\"source\": {}, \"nodes\": {}, \"gpus\": {}}},\n", json_string(c.inventory),
                     cluster.nodes.size(), gpu_count);
  out += "  \"notes\": [";
  for (std::size_t i = 0; i < c.notes.size(); ++i) out += (i ? ", " : "") + json_string(c.notes[i]);
  out += "],\n";
  out += fmt::format("  \"trace_lines\": {},\n  \"skipped\": {{", c.trace_lines);
  for (std::size_t i = 0; i < kSkipReasonCount; ++i)
    out += fmt::format("{}{}: {}", i ? ", " : "", json_string(to_string(static_cast<SkipReason>(i))), c.skipped[i]);
  out += "},\n  \"refused\": {";
  bool first = true;
  for (std::size_t i = 0; i < r.refusals.size(); ++i) {
    if (r.refusals[i] == 0) continue;
    out += fmt::format("{}{}: {}", first ? "" : ", ", json_string(kRefusalNames[i]), r.refusals[i]);
    first = false;
  }
  out += "},\n";
  out += fmt::format(
      "  \"jobs\": {{\"submitted\": {}, \"started\": {}, \"completed\": {}, \"cancelled\": {}, \"never_ran\": {}, "
      "\"refused\": {}}},\n",
      s.submitted, s.started, s.completed, s.cancelled, s.never_ran, s.refused);
  out += fmt::format("  \"time\": {{\"start_s\": {}, \"end_s\": {}, \"span_hours\": {}}},\n", fixed(seconds(r.start)),
                     fixed(seconds(r.end)), fixed(s.span_hours));
  out += fmt::format(
      "  \"overall\": {{\"capacity_gpus\": {}, \"gpu_utilization\": {}, \"allocated_gpu_hours\": {}, "
      "\"idle_gpu_hours\": {}, \"fragmented_gpu_hours\": {}, \"delay_s\": {}, \"preemptions\": {}, \"requeues\": {}, "
      "\"cancelled\": {}, \"guarantee_violation_scope_hours\": {}, \"guarantee_shortfall_gpu_hours\": {}, "
      "\"events\": {}, \"schedule_calls\": {}}},\n",
      fixed(gpus(static_cast<double>(r.capacity_milli))), fixed(s.utilization, 6), fixed(s.allocated_gpu_hours),
      fixed(s.idle_gpu_hours), fixed(s.fragmented_gpu_hours), delays_json(r.delays_ms), s.preemptions, s.requeues,
      s.cancelled, fixed(s.violation_scope_hours), fixed(s.shortfall_gpu_hours), r.events, r.schedule_calls);
  out += "  \"scopes\": [\n";
  for (ScopeId id = 0; id < cluster.scopes.size(); ++id) {
    const ScopeStats& st = r.scopes[id];
    const ScopeFigures f = scope_figures(st, r);
    out += fmt::format(
        "    {{\"path\": {}, \"kind\": {}, \"synthetic\": {}, \"gpu_guarantee\": {}, \"gpu_limit\": {}, "
        "\"avg_gpus_used\": {}, \"gpu_hours\": {}, \"submitted\": {}, \"refused\": {}, \"started\": {}, "
        "\"completed\": {}, \"cancelled\": {}, \"never_ran\": {}, \"preempted\": {}, \"requeued\": {}, "
        "\"delay_s\": {}, \"guarantee_violation_hours\": {}, \"guarantee_shortfall_gpu_hours\": {}}}{}\n",
        json_string(cluster.scopes[id].name), json_string(kind_name(cluster.scopes[id].kind)),
        is_synthetic(cluster, c, id),
        st.guarantee_declared ? fixed(gpus(static_cast<double>(st.gpu_guarantee))) : "null", limit_text(st.gpu_limit),
        fixed(f.avg_gpus), fixed(gpus(st.gpu_milli_ms) / kMsPerHour), st.submitted, st.refused, st.started,
        st.completed, st.cancelled, st.never_ran, st.preempted, st.requeued, delays_json(st.delays_ms),
        fixed(static_cast<double>(st.violation_ms) / kMsPerHour), fixed(gpus(st.shortfall_milli_ms) / kMsPerHour),
        id + 1 < cluster.scopes.size() ? "," : "");
  }
  out += "  ]\n}\n";
  return out;
}

std::string timeseries_csv(const Cluster& cluster, const SimResult& r) {
  std::string out =
      "time_s,allocated_gpus,idle_gpus,fragmented_gpus,fragmented_workload_gpus,pending_jobs,running_jobs";
  for (const Scope& s : cluster.scopes) {
    std::string name = s.name;  // scope paths hold no commas or quotes, but be safe
    std::replace(name.begin(), name.end(), ',', ';');
    out += "," + name;
  }
  out += "\n";
  const double capacity = gpus(static_cast<double>(r.capacity_milli));
  for (const Sample& s : r.samples) {
    out += fmt::format("{},{},{},{},{},{},{}", fixed(seconds(s.begin)), fixed(gpus(s.allocated_milli)),
                       fixed(capacity - gpus(s.allocated_milli)), fixed(gpus(s.fragmented_milli)),
                       fixed(gpus(s.fragmented_workload_milli)), fixed(s.pending_jobs), fixed(s.running_jobs));
    for (double v : s.scope_milli) out += "," + fixed(gpus(v));
    out += "\n";
  }
  return out;
}

std::string scopes_csv(const Cluster& cluster, const SimResult& r) {
  std::string out =
      "path,kind,gpu_guarantee,gpu_limit,avg_gpus_used,gpu_hours,submitted,refused,started,completed,cancelled,"
      "never_ran,preempted,requeued,delay_p50_s,delay_p95_s,delay_p99_s,guarantee_violation_hours,"
      "guarantee_shortfall_gpu_hours\n";
  for (ScopeId id = 0; id < cluster.scopes.size(); ++id) {
    const ScopeStats& st = r.scopes[id];
    const ScopeFigures f = scope_figures(st, r);
    std::string name = cluster.scopes[id].name;
    std::replace(name.begin(), name.end(), ',', ';');
    out += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", name, kind_name(cluster.scopes[id].kind),
        st.guarantee_declared ? fixed(gpus(static_cast<double>(st.gpu_guarantee))) : "",
        st.gpu_limit >= kUnlimited ? "" : fixed(gpus(static_cast<double>(st.gpu_limit))), fixed(f.avg_gpus),
        fixed(gpus(st.gpu_milli_ms) / kMsPerHour), st.submitted, st.refused, st.started, st.completed, st.cancelled,
        st.never_ran, st.preempted, st.requeued, fixed(f.p50), fixed(f.p95), fixed(f.p99),
        fixed(static_cast<double>(st.violation_ms) / kMsPerHour), fixed(gpus(st.shortfall_milli_ms) / kMsPerHour));
  }
  return out;
}

namespace {

const char* outcome_name(JobOutcome o) {
  switch (o) {
    case JobOutcome::completed:
      return "completed";
    case JobOutcome::cancelled:
      return "cancelled";
    case JobOutcome::never_ran:
      return "never_ran";
    case JobOutcome::refused:
      return "refused";
    case JobOutcome::running:
      return "running";
  }
  return "unknown";
}

// A CSV field: quoted when it holds a comma, quote or line break.
std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string jobs_csv(const Cluster& cluster, const std::vector<SimJob>& jobs, const SimResult& r) {
  std::string out =
      "id,queue,user,submit,first_start,end,outcome,preemptions,last_preemptor,last_rule,last_claim_scope,"
      "last_victim_scope\n";
  auto scope_name = [&](ScopeId s) { return s < cluster.scopes.size() ? csv_field(cluster.scopes[s].name) : ""; };
  for (std::size_t i = 0; i < jobs.size() && i < r.jobs.size(); ++i) {
    const Job& job = jobs[i].job;
    const JobResult& jr = r.jobs[i];
    const std::string queue = job.queue < cluster.scopes.size() ? cluster.scopes[job.queue].name : "";
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", i + 1, csv_field(queue), csv_field(job.user),
                       fixed(seconds(job.submit_time)), jr.first_start >= 0 ? fixed(seconds(jr.first_start)) : "",
                       jr.end >= 0 ? fixed(seconds(jr.end)) : "", outcome_name(jr.outcome), jr.preemptions,
                       jr.last_preemptor ? std::to_string(jr.last_preemptor) : "",
                       jr.last_rule ? fmt::format("R{} {}", rule_number(*jr.last_rule), to_string(*jr.last_rule)) : "",
                       scope_name(jr.last_claim_scope), scope_name(jr.last_victim_scope));
  }
  return out;
}

std::string utilization_svg(const Cluster& cluster, const SimResult& r) {
  AreaChart chart;
  double divisor = 1;
  const std::string unit = time_unit(r, divisor);
  chart.title = "GPUs used per scope";
  chart.x_label = "simulated time (" + unit + ")";
  chart.y_label = "GPUs";
  chart.x_edges = x_edges(r, divisor);
  std::vector<ScopeId> scopes = chart_scopes(cluster);
  // The 11 busiest by GPU time, the rest summed as "other".
  std::stable_sort(scopes.begin(), scopes.end(),
                   [&](ScopeId a, ScopeId b) { return r.scopes[a].gpu_milli_ms > r.scopes[b].gpu_milli_ms; });
  constexpr std::size_t kShown = 11;
  for (std::size_t k = 0; k < scopes.size(); ++k) {
    if (k == kShown && scopes.size() > kShown + 1) {
      ChartSeries other{"other (" + std::to_string(scopes.size() - kShown) + " scopes)", {}};
      for (const Sample& s : r.samples) {
        double v = 0;
        for (std::size_t j = kShown; j < scopes.size(); ++j) v += gpus(s.scope_milli[scopes[j]]);
        other.values.push_back(v);
      }
      chart.series.push_back(std::move(other));
      break;
    }
    ChartSeries series{cluster.scopes[scopes[k]].name, {}};
    for (const Sample& s : r.samples) series.values.push_back(gpus(s.scope_milli[scopes[k]]));
    chart.series.push_back(std::move(series));
  }
  chart.reference = gpus(static_cast<double>(r.capacity_milli));
  chart.reference_label = "capacity";
  return render_area_chart(chart);
}

std::string capacity_svg(const SimResult& r) {
  AreaChart chart;
  double divisor = 1;
  const std::string unit = time_unit(r, divisor);
  chart.title = "Allocated, fragmented and idle GPUs";
  chart.x_label = "simulated time (" + unit + ")";
  chart.y_label = "GPUs";
  chart.x_edges = x_edges(r, divisor);
  ChartSeries allocated{"allocated", {}}, fragmented{"idle, fragmented", {}}, idle{"idle, usable", {}};
  const double capacity = gpus(static_cast<double>(r.capacity_milli));
  for (const Sample& s : r.samples) {
    allocated.values.push_back(gpus(s.allocated_milli));
    fragmented.values.push_back(gpus(s.fragmented_milli));
    idle.values.push_back(std::max(0.0, capacity - gpus(s.allocated_milli) - gpus(s.fragmented_milli)));
  }
  chart.series = {std::move(allocated), std::move(fragmented), std::move(idle)};
  chart.reference = capacity;
  chart.reference_label = "capacity";
  return render_area_chart(chart);
}

std::string waiting_svg(const SimResult& r) {
  HistogramChart chart;
  chart.title = "Queueing delay (submit to first start)";
  chart.x_label = "delay";
  chart.y_label = "jobs";
  constexpr Time kBounds[] = {0, 10'000, 60'000, 600'000, 3'600'000, 21'600'000, 86'400'000};
  chart.bins = {"0", "<=10s", "<=1m", "<=10m", "<=1h", "<=6h", "<=1d", ">1d"};
  chart.counts.assign(chart.bins.size(), 0);
  for (Time d : r.delays_ms) {
    std::size_t b = 0;
    while (b < std::size(kBounds) && d > kBounds[b]) ++b;
    chart.counts[b] += 1;
  }
  double running = 0;
  for (double c : chart.counts) {
    running += c;
    chart.cumulative.push_back(r.delays_ms.empty() ? 0 : running / static_cast<double>(r.delays_ms.size()));
  }
  return render_histogram(chart);
}

void print_table(std::ostream& out, const Cluster& cluster, const RunContext& c, const SimResult& r, bool terminal) {
  const Summary s = summarize(cluster, r);
  std::uint64_t gpu_count = 0;
  for (const Node& n : cluster.nodes) gpu_count += n.gpu_count;
  const char* bold = terminal ? "\033[1m" : "";
  const char* reset = terminal ? "\033[0m" : "";
  out << fmt::format("{}allot simulate{}: {} ({}, {} lines) on {} ({} nodes, {} GPUs, inventory: {})\n", bold, reset,
                     c.trace, to_string(c.format), c.trace_lines, c.plan, cluster.nodes.size(), gpu_count, c.inventory);
  for (const std::string& note : c.notes) out << "note: " << note << "\n";
  std::string skipped;
  for (std::size_t i = 0; i < kSkipReasonCount; ++i)
    if (c.skipped[i] > 0)
      skipped +=
          fmt::format("{}{} {}", skipped.empty() ? "" : ", ", to_string(static_cast<SkipReason>(i)), c.skipped[i]);
  std::string refused;
  for (std::size_t i = 0; i < r.refusals.size(); ++i)
    if (r.refusals[i] > 0)
      refused += fmt::format("{}{} {}", refused.empty() ? "" : ", ", kRefusalNames[i], r.refusals[i]);
  out << fmt::format("jobs: {} submitted, {} skipped{}, {} refused{}\n", s.submitted,
                     c.skipped[0] + c.skipped[1] + c.skipped[2], skipped.empty() ? "" : " (" + skipped + ")", s.refused,
                     refused.empty() ? "" : " (" + refused + ")");
  out << fmt::format("      {} completed, {} cancelled by preemption, {} never ran; {} preemptions, {} requeues\n",
                     s.completed, s.cancelled, s.never_ran, s.preemptions, s.requeues);
  out << fmt::format("GPUs: utilization {:.1f}% over {}; {:.0f} GPU-h allocated, {:.0f} idle ({:.0f} fragmented)\n",
                     100 * s.utilization, human_duration(s.span_hours * 3600), s.allocated_gpu_hours, s.idle_gpu_hours,
                     s.fragmented_gpu_hours);
  out << fmt::format("delay: p50 {}, p95 {}, p99 {}, mean {}, max {}\n", human_duration(s.delay_p50_s),
                     human_duration(s.delay_p95_s), human_duration(s.delay_p99_s), human_duration(s.delay_mean_s),
                     human_duration(s.delay_max_s));
  out << fmt::format("guarantees: {:.1f} scope-hours below guarantee with demand pending ({:.0f} GPU-h short)\n\n",
                     s.violation_scope_hours, s.shortfall_gpu_hours);
  std::size_t width = 5;
  for (ScopeId id = 0; id < cluster.scopes.size(); ++id)
    if (!is_synthetic(cluster, c, id)) width = std::max(width, cluster.scopes[id].name.size());
  width = std::min<std::size_t>(width, 48);
  out << fmt::format("{}{:<{}}  {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}{}\n", bold, "scope",
                     width, "guar", "limit", "avg used", "jobs", "ran", "never", "p50", "p95", "p99", "preempt",
                     "below-g", reset);
  for (ScopeId id = 0; id < cluster.scopes.size(); ++id) {
    if (is_synthetic(cluster, c, id)) continue;  // the same figures as the scope above it
    const ScopeStats& st = r.scopes[id];
    const ScopeFigures f = scope_figures(st, r);
    std::string name = cluster.scopes[id].name;
    if (name.size() > width) name = "…" + name.substr(name.size() - width + 1);
    out << fmt::format("{:<{}}  {:>7} {:>7} {:>8.1f} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}\n", name, width,
                       st.guarantee_declared ? fmt::format("{:g}", gpus(static_cast<double>(st.gpu_guarantee))) : "-",
                       st.gpu_limit >= kUnlimited ? "-" : fmt::format("{:g}", gpus(static_cast<double>(st.gpu_limit))),
                       f.avg_gpus, st.submitted, st.started, st.never_ran, human_duration(f.p50), human_duration(f.p95),
                       human_duration(f.p99), st.preempted,
                       st.violation_ms > 0 ? human_duration(seconds(st.violation_ms)) : "-");
  }
}

namespace {

struct ComparedMetric {
  std::string name;
  double a, b;
  int decimals;
};

std::vector<ComparedMetric> compared_metrics(const Summary& a, const Summary& b) {
  auto u = [](std::uint64_t v) { return static_cast<double>(v); };
  return {{"gpu_utilization_percent", 100 * a.utilization, 100 * b.utilization, 2},
          {"allocated_gpu_hours", a.allocated_gpu_hours, b.allocated_gpu_hours, 1},
          {"fragmented_gpu_hours", a.fragmented_gpu_hours, b.fragmented_gpu_hours, 1},
          {"delay_p50_s", a.delay_p50_s, b.delay_p50_s, 1},
          {"delay_p95_s", a.delay_p95_s, b.delay_p95_s, 1},
          {"delay_p99_s", a.delay_p99_s, b.delay_p99_s, 1},
          {"delay_mean_s", a.delay_mean_s, b.delay_mean_s, 1},
          {"preemptions", u(a.preemptions), u(b.preemptions), 0},
          {"requeues", u(a.requeues), u(b.requeues), 0},
          {"cancelled", u(a.cancelled), u(b.cancelled), 0},
          {"never_ran", u(a.never_ran), u(b.never_ran), 0},
          {"refused", u(a.refused), u(b.refused), 0},
          {"guarantee_violation_scope_hours", a.violation_scope_hours, b.violation_scope_hours, 1},
          {"guarantee_shortfall_gpu_hours", a.shortfall_gpu_hours, b.shortfall_gpu_hours, 1}};
}

}  // namespace

void print_comparison(std::ostream& out, const Cluster& a_cluster, const RunContext& a_context, const SimResult& a,
                      const Cluster& b_cluster, const RunContext& b_context, const SimResult& b) {
  const Summary sa = summarize(a_cluster, a), sb = summarize(b_cluster, b);
  out << fmt::format("\ncomparison on the same trace: A = {}, B = {}\n", a_context.plan, b_context.plan);
  out << fmt::format("{:<34} {:>14} {:>14} {:>14}\n", "metric", "A", "B", "B - A");
  for (const ComparedMetric& m : compared_metrics(sa, sb))
    out << fmt::format("{:<34} {:>14.{}f} {:>14.{}f} {:>+14.{}f}\n", m.name, m.a, m.decimals, m.b, m.decimals,
                       m.b - m.a, m.decimals);
  out << fmt::format("\n{:<34} {:>14} {:>14} {:>14} {:>14}\n", "scope (in both plans)", "avg GPUs A", "avg GPUs B",
                     "p95 delay A", "p95 delay B");
  for (ScopeId ia = 0; ia < a_cluster.scopes.size(); ++ia) {
    if (is_synthetic(a_cluster, a_context, ia)) continue;
    for (ScopeId ib = 0; ib < b_cluster.scopes.size(); ++ib) {
      if (b_cluster.scopes[ib].name != a_cluster.scopes[ia].name) continue;
      const ScopeFigures fa = scope_figures(a.scopes[ia], a), fb = scope_figures(b.scopes[ib], b);
      std::string name = a_cluster.scopes[ia].name;
      if (name.size() > 34) name = "…" + name.substr(name.size() - 33);
      out << fmt::format("{:<34} {:>14.1f} {:>14.1f} {:>14} {:>14}\n", name, fa.avg_gpus, fb.avg_gpus,
                         human_duration(fa.p95), human_duration(fb.p95));
    }
  }
}

std::string comparison_json(const Cluster& a_cluster, const RunContext& a_context, const SimResult& a,
                            const Cluster& b_cluster, const RunContext& b_context, const SimResult& b) {
  const Summary sa = summarize(a_cluster, a), sb = summarize(b_cluster, b);
  std::string out = fmt::format(
      "{{\n  \"format\": \"allot-simulate-comparison\",\n  \"version\": 1,\n  \"a\": {},\n  \"b\": {},\n  \"metrics\": "
      "[\n",
      json_string(a_context.plan), json_string(b_context.plan));
  const std::vector<ComparedMetric> metrics = compared_metrics(sa, sb);
  for (std::size_t i = 0; i < metrics.size(); ++i)
    out += fmt::format("    {{\"name\": {}, \"a\": {}, \"b\": {}, \"difference\": {}}}{}\n",
                       json_string(metrics[i].name), fixed(metrics[i].a), fixed(metrics[i].b),
                       fixed(metrics[i].b - metrics[i].a), i + 1 < metrics.size() ? "," : "");
  out += "  ]\n}\n";
  return out;
}

namespace {

double percent_of(Amount part, Amount whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}
double gpus_of(Amount milli) { return gpus(static_cast<double>(milli)); }

std::string stop_text(const LoadResult& l) {
  if (l.trace_exhausted) return "the trace ran out before the failure bound";
  return fmt::format("stopped at {} ({:g} GPUs, {})", l.stop_name, gpus_of(l.stop_request_milli),
                     to_string(l.stop_reason));
}

}  // namespace

std::string load_json(const Cluster& cluster, const RunContext& c, const SimResult& r) {
  const LoadResult& l = r.load;
  const Amount cap = r.capacity_milli;
  std::string out = "{\n  \"format\": \"allot-simulate-load\",\n  \"version\": 1,\n";
  out +=
      fmt::format("  \"plan\": {},\n  \"trace\": {},\n  \"trace_format\": {},\n  \"mapping\": {},\n  \"seed\": {},\n",
                  json_string(c.plan), json_string(c.trace), json_string(to_string(c.format)),
                  c.mapping.empty() ? "null" : json_string(c.mapping), c.seed);
  out += fmt::format("  \"inventory\": {{\"source\": {}, \"nodes\": {}, \"gpus\": {}}},\n", json_string(c.inventory),
                     cluster.nodes.size(), fixed(gpus_of(cap)));
  out += "  \"notes\": [";
  for (std::size_t i = 0; i < c.notes.size(); ++i) out += (i ? ", " : "") + json_string(c.notes[i]);
  out += "],\n";
  out += fmt::format(
      "  \"max_failures\": {},\n  \"jobs\": {{\"trace\": {}, \"arrived\": {}, \"admitted\": {}, \"refused\": {}, "
      "\"failed\": {}, \"failed_quota\": {}, \"failed_capacity\": {}, \"preemptions\": {}}},\n",
      l.max_failures, r.jobs.size(), l.arrived, l.admitted, l.refused, l.failed, l.failed_quota, l.failed_capacity,
      l.preemptions);
  out += fmt::format("  \"stop\": {},\n",
                     l.trace_exhausted
                         ? std::string("null")
                         : fmt::format("{{\"job\": {}, \"gpus\": {}, \"reason\": {}}}", json_string(l.stop_name),
                                       fixed(gpus_of(l.stop_request_milli)), json_string(to_string(l.stop_reason))));
  out += fmt::format(
      "  \"gpus\": {{\"capacity\": {}, \"requested\": {}, \"allocated\": {}, \"unallocated\": {}, "
      "\"unallocated_fraction\": {}, \"fragmented\": {}, \"fragmented_fraction\": {}, \"fragmented_workload\": {}, "
      "\"fragmented_workload_fraction\": {}}}\n}}\n",
      fixed(gpus_of(cap)), fixed(gpus_of(l.requested_milli)), fixed(gpus_of(l.allocated_milli)),
      fixed(gpus_of(l.unallocated_milli(cap))), fixed(percent_of(l.unallocated_milli(cap), cap) / 100, 6),
      fixed(gpus_of(l.fragmented_milli)), fixed(percent_of(l.fragmented_milli, cap) / 100, 6),
      fixed(l.fragmented_workload_milli / kMilliPerGpu),
      fixed(l.fragmented_workload_milli / static_cast<double>(std::max<Amount>(cap, 1)), 6));
  return out;
}

void print_load(std::ostream& out, const Cluster& cluster, const RunContext& c, const SimResult& r, bool terminal) {
  const LoadResult& l = r.load;
  const Amount cap = r.capacity_milli;
  const char* bold = terminal ? "\033[1m" : "";
  const char* reset = terminal ? "\033[0m" : "";
  out << fmt::format("{}allot simulate --load{}: {} ({}, {} lines) on {} ({} nodes, {:g} GPUs, inventory: {})\n", bold,
                     reset, c.trace, to_string(c.format), c.trace_lines, c.plan, cluster.nodes.size(), gpus_of(cap),
                     c.inventory);
  for (const std::string& note : c.notes) out << "note: " << note << "\n";
  out << fmt::format(
      "pods: {} of {} arrived in trace order, {} admitted, {} refused; {} failed ({} quota, {} capacity)\n", l.arrived,
      r.jobs.size(), l.admitted, l.refused, l.failed, l.failed_quota, l.failed_capacity);
  out << fmt::format("      {}; {} preemptions\n", stop_text(l), l.preemptions);
  out << fmt::format("GPUs: {:.1f} requested by the admitted and failed pods ({:.1f}% of capacity)\n",
                     gpus_of(l.requested_milli), percent_of(l.requested_milli, cap));
  out << fmt::format("      {:.1f} allocated, {:.1f} unallocated ({:.2f}%), {:.1f} fragmented ({:.2f}%)\n",
                     gpus_of(l.allocated_milli), gpus_of(l.unallocated_milli(cap)),
                     percent_of(l.unallocated_milli(cap), cap), gpus_of(l.fragmented_milli),
                     percent_of(l.fragmented_milli, cap));
  out << fmt::format("      {:.1f} fragmented for the expected workload ({:.2f}%, the sum of F_n(M))\n",
                     l.fragmented_workload_milli / kMilliPerGpu,
                     l.fragmented_workload_milli * 100 / static_cast<double>(std::max<Amount>(cap, 1)));
}

void print_load_comparison(std::ostream& out, const RunContext& a_context, const SimResult& a,
                           const RunContext& b_context, const SimResult& b) {
  const LoadResult &la = a.load, &lb = b.load;
  out << fmt::format("\nload comparison on the same trace: A = {}, B = {}\n", a_context.plan, b_context.plan);
  out << fmt::format("{:<26} {:>12} {:>12} {:>12}\n", "metric", "A", "B", "B - A");
  auto row = [&](const char* name, double va, double vb, int decimals) {
    out << fmt::format("{:<26} {:>12.{}f} {:>12.{}f} {:>+12.{}f}\n", name, va, decimals, vb, decimals, vb - va,
                       decimals);
  };
  auto u = [](std::uint64_t v) { return static_cast<double>(v); };
  row("pods_arrived", u(la.arrived), u(lb.arrived), 0);
  row("pods_admitted", u(la.admitted), u(lb.admitted), 0);
  row("pods_failed", u(la.failed), u(lb.failed), 0);
  row("allocated_gpus", gpus_of(la.allocated_milli), gpus_of(lb.allocated_milli), 1);
  row("unallocated_gpus", gpus_of(la.unallocated_milli(a.capacity_milli)),
      gpus_of(lb.unallocated_milli(b.capacity_milli)), 1);
  row("unallocated_percent", percent_of(la.unallocated_milli(a.capacity_milli), a.capacity_milli),
      percent_of(lb.unallocated_milli(b.capacity_milli), b.capacity_milli), 2);
  row("fragmented_gpus", gpus_of(la.fragmented_milli), gpus_of(lb.fragmented_milli), 1);
  row("fragmented_percent", percent_of(la.fragmented_milli, a.capacity_milli),
      percent_of(lb.fragmented_milli, b.capacity_milli), 2);
}

}  // namespace allot::runtime::sim
