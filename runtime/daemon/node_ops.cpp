// Node operations and the reasons an operator reads: cordon, drain and
// uncordon (journaled, so that they survive a restart), why a job waits
// (`ps`, from the core's WaitReason) and the full account of `explain`.
#include <fmt/format.h>

#include "runtime/daemon/clock.h"
#include "runtime/daemon/daemon.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using runtime::kNone;

namespace {

std::string error_reply(const char* code, std::string message) {
  return api::error_reply(api::ApiError{code, std::move(message)});
}

std::string shown(runtime::Resource r, runtime::Amount a) {
  if (a >= runtime::kUnlimited) return "unlimited";
  return r == runtime::Resource::memory ? std::to_string(a) + " MiB" : milli_text(a) + " " + runtime::to_string(r);
}

}  // namespace

void Daemon::apply_cordon() {
  // The plan's cluster is cut down to this node: node 0.
  scheduler_->set_cordoned(0, cordon_.cordoned);
}

std::string Daemon::node_state() const {
  if (!cordon_.cordoned) return "schedulable";
  if (!cordon_.drain) return "cordoned";
  for (const auto& [id, rec] : jobs_)
    if (rec.phase == JobPhase::stopping && rec.stop_intent == StopIntent::drain) return "draining";
  return "drained";
}

Json Daemon::node_event_json() const {
  Json e;
  e.set("t", "node");
  e.set("node", plan_.node.name);
  e.set("cordoned", cordon_.cordoned);
  e.set("drain", cordon_.drain);
  e.set("by", cordon_.by);
  e.set("at", cordon_.at);
  return e;
}

void Daemon::restore_node_event(const Json& e) {
  auto flag = [&](const char* key) {
    const Json* v = e.find(key);
    return v && v->as_bool() && *v->as_bool();
  };
  cordon_.cordoned = flag("cordoned");
  cordon_.drain = flag("drain");
  const Json* by = e.find("by");
  cordon_.by = by && by->as_string() ? *by->as_string() : "";
  const Json* at = e.find("at");
  cordon_.at = at && at->as_int() ? *at->as_int() : 0;
}

std::optional<runtime::WaitReason> Daemon::wait_reason(const JobRecord& rec) const {
  if (rec.phase != JobPhase::pending) return std::nullopt;
  std::optional<runtime::WaitReason> why = scheduler_->wait_reason(rec.id);
  if (!why) return why;
  // What only the daemon knows comes first: the core would admit nothing
  // while it waits either.
  if (plan_.node.pool_status != "running") {
    runtime::WaitReason pool;
    pool.kind = runtime::WaitKind::pool_not_running;
    pool.message =
        fmt::format("pool `{}` is {}, not running: nothing is admitted on it", plan_.node.pool, plan_.node.pool_status);
    return pool;
  }
  if (!stopping_outside_core_.empty() && why->kind != runtime::WaitKind::node_cordoned) {
    why->message = fmt::format("{} (and scheduling waits for job {}, stopped by a plan change, to release its GPUs)",
                               why->message, *stopping_outside_core_.begin());
  }
  return why;
}

namespace {

Json wait_json(const runtime::WaitReason& w, const runtime::Cluster& cluster) {
  Json j;
  j.set("kind", runtime::to_string(w.kind));
  if (w.kind == runtime::WaitKind::scope_limit) {
    j.set("scope", cluster.scopes[w.scope].name);
    j.set("resource", runtime::to_string(w.resource));
    j.set("limit", w.limit);
    j.set("used", w.used);
    j.set("request", w.request);
    j.set("over", w.over);
  }
  if (w.kind == runtime::WaitKind::awaiting_victims) {
    JsonArray victims;
    for (runtime::JobId v : w.victims) victims.emplace_back(v);
    j.set("victims", std::move(victims));
  }
  if (w.kind == runtime::WaitKind::no_capacity || w.kind == runtime::WaitKind::next_pass)
    j.set("free_gpu_milli", w.free_gpu_milli);
  if (w.kind == runtime::WaitKind::no_capacity) {
    j.set("resource", runtime::to_string(w.resource));
    if (w.resource != runtime::Resource::gpu) j.set("free", w.free);
  }
  j.set("message", w.message);
  return j;
}

}  // namespace

Json Daemon::job_json(const JobRecord& rec) const {
  Json j = rec.to_json();
  const std::optional<runtime::WaitReason> why = wait_reason(rec);
  j.set("waiting", why ? wait_json(*why, plan_.cluster) : Json());
  return j;
}

std::string Daemon::submit_reply(runtime::JobId id) const {
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return api::ok_reply(Json());
  Json body;
  body.set("job", job_json(it->second));
  return api::ok_reply(std::move(body));
}

std::string Daemon::handle(const Identity& who, const api::NodeRequest& r) {
  const std::string op = fmt::format("node {}", api::to_string(r.action));
  if (!who.admin)
    return refuse(who, op, fmt::format("user {} may not {} nodes (admins only)", who.user, api::to_string(r.action)));
  if (r.node != plan_.node.name)
    return error_reply(api::error_code::not_found,
                       fmt::format("this allotd runs node `{}`, not `{}`", plan_.node.name, r.node));
  std::vector<runtime::JobId> stopped;
  std::string message;
  switch (r.action) {
    case api::NodeAction::cordon:
      cordon_.cordoned = true;
      cordon_.drain = false;
      message = fmt::format("node {} cordoned: nothing new is admitted; {} running jobs keep running", r.node,
                            scheduler_->running_count());
      break;
    case api::NodeAction::drain:
      cordon_.cordoned = true;
      cordon_.drain = true;
      for (auto& [id, rec] : jobs_) {
        if (rec.phase != JobPhase::running) continue;
        stop_job(rec, StopIntent::drain, fmt::format("node {} drained by {}", r.node, who.user));
        stopped.push_back(id);
      }
      message = fmt::format(
          "node {} draining: {} jobs stopping (SIGTERM now, SIGKILL after their grace period), then "
          "requeued or cancelled per their queue's on_preempt",
          r.node, stopped.size());
      break;
    case api::NodeAction::uncordon:
      cordon_ = {};
      message = fmt::format("node {} uncordoned: jobs are admitted again", r.node);
      break;
  }
  if (r.action != api::NodeAction::uncordon) {
    cordon_.by = who.user;
    cordon_.at = wall_ms();
  }
  apply_cordon();
  journal_event(node_event_json());
  log(fmt::format("{} by {} (uid {}): {}", op, who.user, who.uid, message));
  schedule_needed_ = true;
  metrics_dirty_ = true;
  Json body;
  body.set("message", message);
  body.set("node_state", node_state());
  JsonArray ids;
  for (runtime::JobId id : stopped) ids.emplace_back(id);
  body.set("stopping", std::move(ids));
  return api::ok_reply(std::move(body));
}

std::string Daemon::handle(const Identity& who, const api::ExplainRequest& r) {
  const auto it = jobs_.find(r.id);
  if (it == jobs_.end() || !visible_to(it->second, who))
    return error_reply(api::error_code::not_found, fmt::format("no job {}", r.id));
  const JobRecord& rec = it->second;
  std::vector<std::string> lines;
  lines.push_back(fmt::format("job {} (`{}`, user {}, {} gpu) is {}", rec.id, rec.queue, rec.user,
                              milli_text(rec.request.gpu_milli), to_string(rec.phase)));
  const runtime::ScopeId queue = runtime::find_scope(plan_.cluster, rec.queue);
  const std::optional<runtime::WaitReason> why = wait_reason(rec);
  if (why) lines.push_back(fmt::format("waiting ({}): {}", runtime::to_string(why->kind), why->message));
  if (!rec.reason.empty()) lines.push_back("last event: " + rec.reason);
  if (cordon_.cordoned)
    lines.push_back(fmt::format("node {} is {} (by {})", plan_.node.name, node_state(), cordon_.by));
  if (queue != kNone) {
    // The path from the queue up, with what each scope holds now.
    lines.push_back("scopes (gpu used / guarantee / limit, pending):");
    const std::vector<runtime::Resources> guarantees = shown_guarantees(plan_.cluster);
    for (runtime::ScopeId s = queue; s != kNone; s = plan_.cluster.scopes[s].parent) {
      const runtime::ScopeReport rep = scheduler_->scope_report(s);
      const runtime::Resource g = runtime::Resource::gpu;
      lines.push_back(fmt::format("  {} {}: {} / {} / {}, {} pending{}", kind_name(plan_.cluster.scopes[s].kind),
                                  plan_.cluster.scopes[s].name, shown(g, rep.used[g]), shown(g, guarantees[s][g]),
                                  shown(g, rep.limit[g]), shown(g, rep.pending[g]),
                                  why && why->kind == runtime::WaitKind::scope_limit && why->scope == s
                                      ? fmt::format("  <- at its {} limit", runtime::to_string(why->resource))
                                      : ""));
    }
  }
  Json preemption;
  if (const std::optional<runtime::JobView> view = scheduler_->job(rec.id)) {
    if (view->state == runtime::JobState::pending && !(why && why->kind == runtime::WaitKind::awaiting_victims)) {
      const std::optional<std::vector<runtime::Preemption>> plan = scheduler_->plan_preemption(rec.id);
      JsonArray list;
      if (plan && !plan->empty()) {
        lines.push_back(cordon_.cordoned ? "preemption (not while the node is cordoned):" : "preemption:");
        for (const runtime::Preemption& p : *plan) {
          lines.push_back(
              fmt::format("  R{} ({}): {}", runtime::rule_number(p.reason), runtime::to_string(p.reason), p.message));
          Json v;
          v.set("victim", p.victim);
          v.set("rule", runtime::to_string(p.reason));
          v.set("message", p.message);
          list.push_back(std::move(v));
        }
        preemption = std::move(list);
      } else {
        lines.push_back("preemption: no rule lets it preempt a running job now");
      }
    } else if (view->state != runtime::JobState::pending) {
      std::string inside, borrowed;
      for (runtime::ScopeId s : view->inside) inside += (inside.empty() ? "" : ", ") + plan_.cluster.scopes[s].name;
      for (runtime::ScopeId s : view->borrowed)
        borrowed += (borrowed.empty() ? "" : ", ") + plan_.cluster.scopes[s].name;
      lines.push_back(fmt::format("standing: inside the guarantee of {}; borrowing at {}",
                                  inside.empty() ? "none" : inside, borrowed.empty() ? "none" : borrowed));
    }
  }
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  Json body;
  body.set("job", job_json(rec));
  body.set("preemption", std::move(preemption));
  body.set("text", text);
  return api::ok_reply(std::move(body));
}

}  // namespace allot::daemon
