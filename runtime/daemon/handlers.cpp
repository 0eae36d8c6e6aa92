// The local API's requests (docs/runtime-api.md, "Protocol"): one handler
// per operation, with the authorization each needs, and the figures that
// status and metrics report.
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>

#include "runtime/api/cli.h"
#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/fragmentation_status.h"
#include "runtime/daemon/plan_change.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using runtime::kNone;
using runtime::ScopeId;

namespace {

std::string error_reply(const char* code, std::string message) {
  return api::error_reply(api::ApiError{code, std::move(message)});
}

Json bound_json(const runtime::ScopeReport& rep, runtime::Resource r) {
  Json j;
  j.set("guarantee", rep.guaranteed[r]);
  j.set("limit", rep.limit[r] >= runtime::kUnlimited ? Json() : Json(rep.limit[r]));
  j.set("used", rep.used[r]);
  j.set("borrowed", rep.borrowed[r]);
  j.set("pending", rep.pending[r]);
  j.set("reserved", rep.reserved[r]);
  return j;
}

}  // namespace

std::string Daemon::refuse(const Identity& who, const std::string& op, const std::string& message) {
  log(fmt::format("refused {} from {} (uid {}, pid {}): {}", op, who.user, who.uid, who.pid, message));
  return error_reply(api::error_code::unauthorized, message);
}

std::string Daemon::handle_line(Connection& c, std::string_view line) {
  std::variant<api::Request, api::ApiError> parsed = api::parse_request_line(line);
  if (const auto* e = std::get_if<api::ApiError>(&parsed)) return api::error_reply(*e);
  return std::visit([&](const auto& r) { return handle(c.peer, r); }, std::get<api::Request>(parsed));
}

ScopeId Daemon::resolve_queue(const std::string& name) const {
  for (const std::string& candidate : {name, name + "/default-queue"}) {
    const ScopeId s = runtime::find_scope(plan_.cluster, candidate);
    if (s != kNone && plan_.cluster.scopes[s].kind == runtime::ScopeKind::queue) return s;
  }
  return kNone;
}

bool Daemon::in_node_pool(ScopeId scope) const {
  const std::string& pool = plan_.plan.scope_pool[scope];
  return pool.empty() || pool == plan_.node.pool;
}

std::string Daemon::handle(const Identity& who, const api::SubmitRequest& r) {
  const ScopeId queue = resolve_queue(r.queue);
  if (queue == kNone) {
    std::vector<std::string> names;
    for (ScopeId s = 0; s < plan_.cluster.scopes.size(); ++s)
      if (plan_.cluster.scopes[s].kind == runtime::ScopeKind::queue && in_node_pool(s))
        names.push_back(plan_.cluster.scopes[s].name);
    std::optional<std::string> near = cli::closest(r.queue, names);
    if (!near) near = cli::closest(r.queue + "/default-queue", names);
    return error_reply(api::error_code::unknown_queue,
                       fmt::format("no queue `{}` in the plan{}", r.queue,
                                   near ? fmt::format("\nhelp: did you mean `{}`", *near) : ""));
  }
  const runtime::Scope& scope = plan_.cluster.scopes[queue];
  if (!in_node_pool(queue))
    return error_reply(api::error_code::unknown_queue,
                       fmt::format("queue {} is on pool {}, not on this node's pool {}", scope.name,
                                   plan_.plan.scope_pool[queue], plan_.node.pool));
  if (!authorized(scope, who, runtime::kSubmit))
    return refuse(who, "submit", fmt::format("user {} may not submit to queue {}", who.user, scope.name));
  if (daemon_uid_ != 0 && who.uid != daemon_uid_)
    return refuse(who, "submit",
                  fmt::format("allotd runs as {} (not root) and runs jobs of that user only", daemon_user_));
  std::string kind = r.kind.value_or("");
  if (kind.empty()) {
    kind = "training";
    for (auto k :
         {runtime::WorkloadKind::inference, runtime::WorkloadKind::training, runtime::WorkloadKind::development}) {
      if (scope.queue.accepts == static_cast<runtime::WorkloadSet>(k))
        kind = k == runtime::WorkloadKind::inference  ? "inference"
               : k == runtime::WorkloadKind::training ? "training"
                                                      : "development";
    }
  } else if (!workload_kind(kind)) {
    return error_reply(api::error_code::bad_request,
                       fmt::format("unknown kind `{}` (inference, training or development)", kind));
  }
  const std::size_t active = static_cast<std::size_t>(
      std::count_if(jobs_.begin(), jobs_.end(), [](const auto& j) { return !is_final(j.second.phase); }));
  if (active >= api::kMaxActiveJobs)
    return error_reply(api::error_code::unavailable,
                       fmt::format("allotd holds {} unfinished jobs, its limit; try again later", active));
  JobRecord rec;
  rec.id = next_id_;
  rec.queue = scope.name;
  rec.user = who.user;
  rec.uid = who.uid;
  rec.gid = who.gid;
  rec.groups = who.groups;
  rec.kind = kind == "serving" ? "inference" : kind;
  rec.priority = r.priority;
  rec.request = {r.gpu_milli, r.cpu_milli, r.memory_mib};
  rec.command = r.command;
  rec.cwd = r.cwd;
  rec.env = r.env;
  rec.submit_time = wall_ms();
  std::string why;
  std::optional<runtime::Job> job = core_job(rec, plan_.cluster, why);
  if (!job) return error_reply(api::error_code::refused, why);
  runtime::SubmitResult result = scheduler_->submit(*job, rec.submit_time);
  if (const auto* refusal = std::get_if<runtime::Refusal>(&result)) {
    // The id was only lent to the core for its checks: a refused request
    // never becomes a job, so its refusal names none, and the next job
    // gets the id.
    std::string message = refusal->message;
    if (const std::string lent = fmt::format("job {}: ", rec.id); message.starts_with(lent))
      message.erase(0, lent.size());
    if (refusal->reason == runtime::RefusalReason::user_not_authorized) return refuse(who, "submit", message);
    return error_reply(api::error_code::refused, fmt::format("{} ({})", message, runtime::to_string(refusal->reason)));
  }
  ++next_id_;
  JobRecord& stored = jobs_[rec.id] = std::move(rec);
  journal(stored);
  schedule_needed_ = true;
  submitted_ = stored.id;  // the reply is rendered after this iteration's scheduling pass
  Json body;
  body.set("job", stored.to_json());
  return api::ok_reply(std::move(body));
}

bool Daemon::visible_to(const JobRecord& rec, const Identity& who) const {
  if (who.admin || rec.uid == who.uid) return true;
  const ScopeId q = runtime::find_scope(plan_.cluster, rec.queue);
  return q != kNone && authorized(plan_.cluster.scopes[q], who, runtime::kList);
}

std::string Daemon::handle(const Identity& who, const api::PsRequest& r) {
  JsonArray list;
  for (const auto& [id, rec] : jobs_) {
    if (!r.all && is_final(rec.phase)) continue;
    if (!visible_to(rec, who)) continue;
    JobRecord shown = rec;
    shown.env.clear();  // not for other users' eyes
    list.push_back(job_json(shown));
  }
  Json body;
  body.set("jobs", std::move(list));
  return api::ok_reply(std::move(body));
}

std::string Daemon::handle(const Identity& who, const api::CancelRequest& r) {
  const auto it = jobs_.find(r.id);
  if (it == jobs_.end() || !visible_to(it->second, who))
    return error_reply(api::error_code::not_found, fmt::format("no job {}", r.id));
  JobRecord& rec = it->second;
  const ScopeId q = runtime::find_scope(plan_.cluster, rec.queue);
  const bool allowed =
      who.admin || rec.uid == who.uid || (q != kNone && authorized(plan_.cluster.scopes[q], who, runtime::kCancel));
  if (!allowed)
    return refuse(who, "cancel", fmt::format("user {} may not cancel jobs of queue {}", who.user, rec.queue));
  if (is_final(rec.phase))
    return error_reply(api::error_code::not_found,
                       fmt::format("job {} has already ended ({})", r.id, to_string(rec.phase)));
  Json body;
  if (rec.phase == JobPhase::pending) {
    scheduler_->finish(rec.id);
    rec.phase = JobPhase::cancelled;
    rec.reason = "cancelled by " + who.user;
    rec.finished_at = wall_ms();
    journal(rec);
    schedule_needed_ = true;
    body.set("message", fmt::format("cancelled job {}", r.id));
  } else {
    stop_job(rec, StopIntent::cancel, "cancelled by " + who.user);
    body.set("message", fmt::format("stopping job {} (SIGTERM now, SIGKILL after {} ms)", r.id, grace_period_ms(rec)));
  }
  body.set("job", rec.to_json());
  return api::ok_reply(std::move(body));
}

std::vector<ScopeFigures> Daemon::scope_figures() const {
  std::vector<ScopeFigures> out;
  std::vector<std::uint64_t> preemptions(plan_.cluster.scopes.size(), 0);
  for (const auto& [queue, count] : preemptions_by_queue_) {
    for (ScopeId s = runtime::find_scope(plan_.cluster, queue); s != kNone; s = plan_.cluster.scopes[s].parent)
      preemptions[s] += count;
  }
  const std::vector<runtime::Resources> guarantees = shown_guarantees(plan_.cluster);
  for (ScopeId s = 0; s < plan_.cluster.scopes.size(); ++s) {
    if (!in_node_pool(s)) continue;
    runtime::ScopeReport report = scheduler_->scope_report(s);
    report.guaranteed = guarantees[s];
    out.push_back({plan_.cluster.scopes[s].name, kind_name(plan_.cluster.scopes[s].kind), report, preemptions[s]});
  }
  return out;
}

std::string Daemon::handle(const Identity&, const api::StatusRequest&) {
  Json body;
  body.set("node", plan_.node.name);
  body.set("pool", plan_.node.pool);
  body.set("gpu_count", static_cast<std::int64_t>(plan_.node.gpus));
  body.set("gpu_model", plan_.node.gpu_model);
  body.set("gpu_source", gpu_source_);
  body.set("pool_status", plan_.node.pool_status);
  Json node;
  node.set("state", node_state());
  node.set("cordoned", cordon_.cordoned);
  node.set("by", cordon_.cordoned ? Json(cordon_.by) : Json());
  node.set("since", cordon_.cordoned ? Json(cordon_.at) : Json());
  body.set("node_state", std::move(node));
  JsonArray devices;
  for (const std::string& d : device_ids_) devices.emplace_back(d);
  body.set("devices", std::move(devices));
  Json plan;
  plan.set("path", plan_.path);
  plan.set("fingerprint", plan_.fingerprint);
  plan.set("source_sha256", plan_.plan.metadata.source_sha256);
  plan.set("allot_version", plan_.plan.metadata.allot_version);
  body.set("plan", std::move(plan));
  Json journal_state;
  journal_state.set("healthy", journal_problems_.empty());
  std::string problems;
  for (const std::string& p : journal_problems_) problems += (problems.empty() ? "" : "; ") + p;
  journal_state.set("problem", journal_problems_.empty() ? Json() : Json(problems));
  journal_state.set("generation", generation_);
  journal_state.set("bytes", journal_.size());
  body.set("journal", std::move(journal_state));
  body.set("running_jobs", static_cast<std::uint64_t>(scheduler_->running_count()));
  body.set("pending_jobs", static_cast<std::uint64_t>(scheduler_->pending_count()));
  // The node as the core counts it: 0 capacity where it is not modelled.
  const runtime::Placer& placer = scheduler_->placer();
  Json resources;
  resources.set("cpu_milli", placer.cpu_capacity(0));
  resources.set("memory_mib", placer.memory_capacity(0));
  resources.set("cpu_free_milli", placer.cpu_capacity(0) > 0 ? Json(placer.cpu_free(0)) : Json());
  resources.set("memory_free_mib", placer.memory_capacity(0) > 0 ? Json(placer.memory_free(0)) : Json());
  body.set("node_resources", std::move(resources));
  const LiveWorkload workload = live_workload(jobs_);
  body.set("fragmentation", fragmentation_json(scheduler_->fragmentation_now(workload.types), workload));
  JsonArray scopes;
  for (const ScopeFigures& f : scope_figures()) {
    Json s;
    s.set("path", f.path);
    s.set("kind", f.kind);
    s.set("gpu", bound_json(f.report, runtime::Resource::gpu));
    s.set("cpu", bound_json(f.report, runtime::Resource::cpu));
    s.set("memory", bound_json(f.report, runtime::Resource::memory));
    s.set("running_jobs", static_cast<std::int64_t>(f.report.running_jobs));
    s.set("pending_jobs", static_cast<std::int64_t>(f.report.pending_jobs));
    s.set("preemptions_total", f.preemptions_total);
    scopes.push_back(std::move(s));
  }
  body.set("scopes", std::move(scopes));
  return api::ok_reply(std::move(body));
}

std::string Daemon::handle(const Identity& who, const api::ApplyRequest& r) {
  if (!who.admin) {
    // allotd reads the file: a user's plan must be one the user could read.
    struct stat st {};
    if (::stat(r.plan_path.c_str(), &st) != 0 || (st.st_uid != who.uid && !(st.st_mode & S_IROTH)))
      return refuse(who, "apply",
                    fmt::format("user {} may apply only a plan file of their own or one everybody may read", who.user));
  }
  if (r.force) {
    // The check against the live state refused this change; whoever
    // overrides it is on record.
    log(fmt::format("FORCED apply of {} by {} (uid {}, pid {}) over the refusal: {}", r.plan_path, who.user, who.uid,
                    who.pid, r.refusal.empty() ? "(no reason given)" : r.refusal));
  }
  log(fmt::format("apply of {} requested by {}", r.plan_path, who.user));
  const std::string result = apply_plan_file(r.plan_path, false, &who);
  if (result.starts_with("refused: ")) return refuse(who, "apply", result.substr(9));
  log(result);
  if (result.rfind("applied", 0) != 0) return error_reply(api::error_code::invalid_plan, result);
  Json body;
  body.set("message", result);
  return api::ok_reply(std::move(body));
}

namespace {

Json resources_json(const runtime::Resources& r) {
  Json j;
  j.set("gpu_milli", r.gpu_milli);
  j.set("cpu_milli", r.cpu_milli);
  j.set("memory_mib", r.memory_mib);
  return j;
}

}  // namespace

std::string Daemon::handle(const Identity&, const api::StateRequest&) {
  const runtime::Cluster& cluster = plan_.cluster;
  // Non-preemptible work per scope, subtree included: running and stopping
  // jobs of queues that are not `preemptible`.
  std::vector<runtime::Resources> held(cluster.scopes.size());
  std::vector<JsonArray> jobs(cluster.scopes.size());
  for (const auto& [id, rec] : jobs_) {
    if (is_final(rec.phase)) continue;
    const ScopeId q = runtime::find_scope(cluster, rec.queue);
    if (q == kNone) continue;
    const bool preemptible = cluster.scopes[q].queue.preemptible;
    Json j;
    j.set("id", rec.id);
    j.set("state", to_string(rec.phase));
    j.set("kind", rec.kind);
    j.set("preemptible", preemptible);
    j.set("gpu_milli", rec.request.gpu_milli);
    jobs[q].push_back(std::move(j));
    if (preemptible || rec.phase == JobPhase::pending) continue;
    for (ScopeId s = q; s != kNone; s = cluster.scopes[s].parent) held[s] += rec.request;
  }
  Json body;
  Json node;
  node.set("name", plan_.node.name);
  node.set("pool", plan_.node.pool);
  // In the state file's terms (docs/state.md): a drained node is still
  // `draining`, the drain in force until `uncordon`.
  const std::string state = node_state();
  node.set("status", state == "schedulable" ? "ready" : state == "cordoned" ? "cordoned" : "draining");
  body.set("node", std::move(node));
  Json plan;
  plan.set("path", plan_.path);
  plan.set("fingerprint", plan_.fingerprint);
  plan.set("source_sha256", plan_.plan.metadata.source_sha256);
  JsonArray sources;
  for (const runtime::PlanMetadata::Source& src : plan_.plan.metadata.sources) {
    Json f;
    f.set("path", src.path);
    f.set("sha256", src.sha256);
    sources.push_back(std::move(f));
  }
  plan.set("sources", std::move(sources));
  body.set("plan", std::move(plan));
  JsonArray scopes;
  for (ScopeId s = 0; s < cluster.scopes.size(); ++s) {
    if (!in_node_pool(s)) continue;
    Json j;
    j.set("path", cluster.scopes[s].name);
    j.set("kind", kind_name(cluster.scopes[s].kind));
    j.set("used", resources_json(scheduler_->scope_report(s).used));
    j.set("held", resources_json(held[s]));
    if (cluster.scopes[s].kind == runtime::ScopeKind::queue) j.set("jobs", std::move(jobs[s]));
    scopes.push_back(std::move(j));
  }
  body.set("scopes", std::move(scopes));
  return api::ok_reply(std::move(body));
}

std::string Daemon::metrics_text() const {
  std::map<std::string, std::size_t> by_state;
  for (const auto& [id, rec] : jobs_) ++by_state[to_string(rec.phase)];
  return render_metrics(scope_figures(), by_state, journal_problems_.empty(), gpu_source_, device_ids_.size()) +
         render_node_metrics(plan_.node.name, node_state(), plan_.node.pool, plan_.node.pool_status) +
         render_fragmentation_metrics(plan_.node.name, scheduler_->fragmentation_now(live_workload(jobs_).types));
}

std::string Daemon::handle(const Identity&, const api::MetricsRequest&) {
  Json body;
  body.set("text", metrics_text());
  return api::ok_reply(std::move(body));
}

void Daemon::write_metrics_file() {
  if (config_.metrics_file.empty()) return;
  std::string error;
  if (!write_file_atomic(config_.metrics_file, metrics_text(), error)) log("cannot write metrics: " + error);
  metrics_dirty_ = false;
}

}  // namespace allot::daemon
