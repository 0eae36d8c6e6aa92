// decide_plan_change: what installing a plan does with each job allotd
// knows (docs/runtime-api.md, "Plan changes" and "Stopping").
#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/core/plan_reader.h"
#include "runtime/daemon/metrics.h"
#include "runtime/daemon/node_plan.h"
#include "runtime/daemon/plan_change.h"

using namespace allot;
using daemon::JobChange;
using daemon::JobPhase;
using daemon::JobRecord;
using daemon::PlanAction;
using daemon::PlanChange;
using daemon::PlanJob;
using daemon::StopIntent;

namespace {

// One 4-GPU node; Q (4 GPUs) is split into QA and QB (2 guaranteed each, up
// to 4). wa/ns/train requeues preempted jobs, wa/ns/dev cancels them.
const char* kPlan = R"(format_version = 1
allot_version = "0.1.0"
source_sha256 = "abc"

[[nodes]]
name = "n1"
pool = "p"
gpu_model = "A100-80G"
gpus = 4
interconnect = 4
cpu_milli = 32000
memory_mib = 262144

[[priorities]]
name = "inference"
value = 1000
preempts = ["training"]

[[priorities]]
name = "training"
value = 500
preempts = []

[[scopes]]
path = "Q"
kind = "quota"
name = "Q"
pool = "p"
bounds = { gpu = { guarantee = 4000, limit = 4000 } }
roles = []

[[scopes]]
path = "QA"
kind = "quota"
name = "QA"
parent = "Q"
pool = "p"
bounds = { gpu = { guarantee = 2000, limit = LIMIT_A } }
roles = []

[[scopes]]
path = "QB"
kind = "quota"
name = "QB"
parent = "Q"
pool = "p"
bounds = { gpu = { guarantee = 2000 } }
roles = []

[[scopes]]
path = "wa"
kind = "workspace"
name = "wa"
parent = "QA"
bounds = {}
roles = []

[[scopes]]
path = "wa/ns"
kind = "namespace"
name = "ns"
parent = "wa"
bounds = {}
roles = []

[[scopes]]
path = "wa/ns/train"
kind = "queue"
name = "train"
parent = "wa/ns"
bounds = {}
roles = []
priority = "training"
preemptible = true
grace_period_ms = 1000
on_preempt = "requeue"
accepts = ["training"]
gpu_sharing = false
DEV_QUEUE
[[scopes]]
path = "wb"
kind = "workspace"
name = "wb"
parent = "QB"
bounds = {}
roles = []

[[scopes]]
path = "wb/ns"
kind = "namespace"
name = "ns"
parent = "wb"
bounds = {}
roles = []

[[scopes]]
path = "wb/ns/serve"
kind = "queue"
name = "serve"
parent = "wb/ns"
bounds = {}
roles = []
priority = "inference"
preemptible = false
grace_period_ms = 3000
on_preempt = "cancel"
accepts = ["inference"]
gpu_sharing = false
)";

const char* kDevQueue = R"(
[[scopes]]
path = "wa/ns/dev"
kind = "queue"
name = "dev"
parent = "wa/ns"
bounds = {}
roles = []
priority = "training"
preemptible = true
grace_period_ms = 500
on_preempt = "cancel"
accepts = ["training"]
gpu_sharing = false
)";

std::string plan_text(const std::string& limit_a, bool with_dev) {
  std::string text = kPlan;
  text.replace(text.find("LIMIT_A"), 7, limit_a);
  text.replace(text.find("DEV_QUEUE"), 9, with_dev ? kDevQueue : "");
  return text;
}

runtime::Cluster cluster(const std::string& limit_a = "4000", bool with_dev = true) {
  auto loaded = daemon::load_node_plan(plan_text(limit_a, with_dev), "plan.toml", "n1", {"root"});
  if (const auto* e = std::get_if<std::string>(&loaded)) FAIL(*e);
  return std::get<daemon::NodePlan>(std::move(loaded)).cluster;
}

constexpr runtime::Time kNow = 1'000'000;

JobRecord job(runtime::JobId id, const std::string& queue, JobPhase phase, std::vector<std::uint32_t> gpus = {}) {
  JobRecord r;
  r.id = id;
  r.queue = queue;
  r.user = "bob";
  r.uid = 1000;
  r.gid = 1000;
  r.kind = queue == "wb/ns/serve" ? "inference" : "training";
  r.request = {static_cast<runtime::Amount>(std::max<std::size_t>(gpus.size(), 1)) * 1000, 0, 0};
  r.command = {"true"};
  r.cwd = "/";
  r.submit_time = static_cast<runtime::Time>(id);
  r.phase = phase;
  for (std::uint32_t g : gpus) r.gpus.push_back({g, 1000});
  if (phase == JobPhase::running || phase == JobPhase::stopping) {
    r.pid = static_cast<pid_t>(100 + id);
    r.started_at = static_cast<runtime::Time>(10 * id);
    r.runs = 1;
  }
  return r;
}

JobRecord stopping(runtime::JobId id, const std::string& queue, std::vector<std::uint32_t> gpus, StopIntent intent,
                   runtime::Time kill_at) {
  JobRecord r = job(id, queue, JobPhase::stopping, std::move(gpus));
  r.stop_intent = intent;
  r.kill_at = kill_at;
  return r;
}

PlanChange decide(const runtime::Cluster& c, const std::vector<JobRecord>& records,
                  const std::vector<bool>& kill_timers = {}) {
  std::vector<PlanJob> jobs;
  for (std::size_t i = 0; i < records.size(); ++i)
    jobs.push_back({&records[i], i < kill_timers.size() && kill_timers[i]});
  auto decided = daemon::decide_plan_change(c, jobs, 0, kNow);
  if (const auto* e = std::get_if<std::string>(&decided)) FAIL(*e);
  PlanChange change = std::get<PlanChange>(std::move(decided));
  REQUIRE(change.jobs.size() == records.size());
  for (std::size_t i = 0; i < records.size(); ++i) REQUIRE(change.jobs[i].id == records[i].id);
  return change;
}

}  // namespace

TEST_CASE("plan change: unchanged queues keep their running and pending jobs") {
  const std::vector<JobRecord> jobs = {job(1, "wa/ns/train", JobPhase::running, {0}),
                                       job(2, "wb/ns/serve", JobPhase::running, {1, 2}),
                                       job(3, "wa/ns/dev", JobPhase::pending)};
  const PlanChange change = decide(cluster(), jobs);
  CHECK(change.kept == 2);
  CHECK(change.stopped == 0);
  CHECK(change.requeued == 1);
  CHECK(change.cancelled == 0);
  for (const JobChange& c : change.jobs) {
    CHECK(c.in_core);
    CHECK_FALSE(c.sigterm);
    CHECK_FALSE(c.kill_in_ms);
  }
  CHECK(change.jobs[0].action == PlanAction::keep);
  CHECK(change.jobs[1].action == PlanAction::keep);
  CHECK(change.jobs[2].action == PlanAction::requeue);
  // The new core holds them where they were.
  const auto view = change.core->job(2);
  REQUIRE(view);
  CHECK(view->state == runtime::JobState::running);
  REQUIRE(view->gpus.size() == 2);
  CHECK(view->gpus[0].gpu.index == 1);
  CHECK(change.core->pending_count() == 1);
}

TEST_CASE("plan change: a removed queue's running jobs are stopped, and cancelled once gone") {
  const std::vector<JobRecord> jobs = {job(1, "wa/ns/dev", JobPhase::running, {0}),
                                       job(2, "wa/ns/train", JobPhase::running, {1})};
  const PlanChange change = decide(cluster("4000", false), jobs);
  const JobChange& dev = change.jobs[0];
  CHECK(dev.action == PlanAction::stop);
  CHECK_FALSE(dev.in_core);
  CHECK(dev.intent == StopIntent::plan_change);
  CHECK(dev.sigterm);
  CHECK(dev.kill_in_ms == 10000);  // its queue is gone: the default grace
  CHECK(dev.then == PlanAction::cancel);
  CHECK(dev.reason == "queue wa/ns/dev is not in the plan");
  CHECK(change.jobs[1].action == PlanAction::keep);
  CHECK(change.stopped == 1);
  CHECK_FALSE(change.core->job(1));
}

TEST_CASE("plan change: pending jobs of a removed queue are cancelled with the reason") {
  const std::vector<JobRecord> jobs = {job(1, "wa/ns/dev", JobPhase::pending),
                                       job(2, "wa/ns/train", JobPhase::pending)};
  const PlanChange change = decide(cluster("4000", false), jobs);
  CHECK(change.jobs[0].action == PlanAction::cancel);
  CHECK(change.jobs[0].reason == "queue wa/ns/dev is not in the plan");
  CHECK_FALSE(change.jobs[0].sigterm);
  CHECK(change.jobs[1].action == PlanAction::requeue);
  CHECK(change.cancelled == 1);
  CHECK(change.requeued == 1);
}

TEST_CASE("plan change: preemptible jobs over a shrunk limit are stopped and requeued, by priority and age") {
  // QA shrinks to its guarantee: of three training jobs, the two that run
  // longest keep their GPUs; the third is stopped and goes back in line.
  const std::vector<JobRecord> jobs = {
      job(3, "wa/ns/train", JobPhase::running, {2}), job(1, "wa/ns/train", JobPhase::running, {0}),
      job(2, "wa/ns/train", JobPhase::running, {1}), job(4, "wa/ns/train", JobPhase::pending)};
  const PlanChange change = decide(cluster("2000"), jobs);
  const JobChange& newest = change.jobs[0];
  CHECK(newest.action == PlanAction::stop);
  CHECK(newest.then == PlanAction::requeue);
  CHECK(newest.kill_in_ms == 1000);
  CHECK(newest.reason == "it would exceed the gpu limit of wa/ns/train (2)");
  CHECK(change.jobs[1].action == PlanAction::keep);
  CHECK(change.jobs[2].action == PlanAction::keep);
  CHECK(change.jobs[3].action == PlanAction::requeue);  // pending: waits in line under the new limit
}

TEST_CASE("plan change: jobs already stopping get no second signal") {
  // Job 1 is in its grace period with a kill timer; job 2 was re-adopted
  // while stopping (no kill timer in this allotd: its SIGTERM was sent by
  // the previous one, its deadline journaled); job 3 is stopping on a queue
  // the new plan removes; job 4 was journaled stopping without a deadline.
  const std::vector<JobRecord> jobs = {
      stopping(1, "wa/ns/train", {0}, StopIntent::cancel, kNow + 700),
      stopping(2, "wa/ns/train", {1}, StopIntent::plan_change, kNow + 400),
      stopping(3, "wa/ns/dev", {2}, StopIntent::preempt, kNow - 50),
      stopping(4, "wa/ns/train", {3}, StopIntent::cancel, 0),
  };
  const PlanChange change = decide(cluster("4000", false), jobs, {true, false, false, false});
  for (const JobChange& c : change.jobs) {
    INFO("job " << c.id);
    CHECK(c.action == PlanAction::keep);
    CHECK_FALSE(c.sigterm);
  }
  CHECK_FALSE(change.jobs[0].kill_in_ms);    // its timer stands
  CHECK(change.jobs[1].kill_in_ms == 400);   // the journaled deadline, not a new grace period
  CHECK(change.jobs[2].kill_in_ms == 0);     // deadline passed while allotd was down: SIGKILL now
  CHECK(change.jobs[3].kill_in_ms == 1000);  // no deadline journaled: one grace period from now
  CHECK_FALSE(change.jobs[2].in_core);       // its GPUs are held outside the new core
  CHECK(change.jobs[0].intent == StopIntent::cancel);
  CHECK(change.stopped == 0);
}

TEST_CASE("plan change: a victim in its grace period is requeued by allotd, not preempted again") {
  // The new core does not know the preemption in progress: the victim
  // exits as a plan change's stop, requeued per its queue.
  const std::vector<JobRecord> jobs = {stopping(1, "wa/ns/train", {0}, StopIntent::preempt, kNow + 500),
                                       job(2, "wb/ns/serve", JobPhase::pending)};
  const PlanChange change = decide(cluster(), jobs, {true});
  CHECK(change.jobs[0].action == PlanAction::keep);
  CHECK(change.jobs[0].intent == StopIntent::plan_change);
  CHECK_FALSE(change.jobs[0].sigterm);
  CHECK_FALSE(change.jobs[0].kill_in_ms);
  CHECK(daemon::requeues_after_stop(jobs[0], cluster()));
  CHECK_FALSE(daemon::requeues_after_stop(job(9, "wa/ns/dev", JobPhase::stopping), cluster()));  // cancels
  CHECK(change.jobs[1].action == PlanAction::requeue);
}

TEST_CASE("plan change: a cluster the core refuses is an error, and nothing is decided") {
  runtime::Cluster bad = cluster();
  bad.scopes[1].parent = 5;  // a parent after its child
  const std::vector<JobRecord> jobs = {job(1, "wa/ns/train", JobPhase::running, {0})};
  std::vector<PlanJob> plan_jobs = {{&jobs[0], false}};
  const auto decided = daemon::decide_plan_change(bad, plan_jobs, 0, kNow);
  CHECK(std::holds_alternative<std::string>(decided));
}

TEST_CASE("status: a workspace bound to a quota shows the guarantee it may claim there") {
  runtime::Cluster c = cluster();
  // A workspace bound to Q itself: Q's 4 GPUs all go to QA and QB.
  runtime::Scope direct;
  direct.kind = runtime::ScopeKind::workspace;
  direct.name = "wq";
  direct.parent = runtime::find_scope(c, "Q");
  c.scopes.push_back(direct);
  const std::vector<runtime::Resources> shown = daemon::shown_guarantees(c);
  REQUIRE(shown.size() == c.scopes.size());
  auto gpu = [&](const char* path) { return shown[runtime::find_scope(c, path)].gpu_milli; };
  CHECK(gpu("Q") == 4000);
  CHECK(gpu("QA") == 2000);
  CHECK(gpu("wa") == 2000);  // QA's, which nothing else below QA covers
  CHECK(gpu("wb") == 2000);
  CHECK(gpu("wq") == 0);
  CHECK(gpu("wa/ns") == 0);                                   // namespaces and queues show what they declare
  CHECK(shown[runtime::find_scope(c, "wa")].cpu_milli == 0);  // QA declares no CPUs
}

// ---- apply_refusal: who may apply a plan (docs/runtime-api.md, "apply")

namespace {

// kPlan with role `ops-a` (amy, admin) written on QA; `edit` changes the text.
runtime::LoadedPlan rights_plan(const std::function<void(std::string&)>& edit = {}) {
  std::string text = plan_text("4000", true);
  text.replace(text.find("[[scopes]]"), 0,
               "[[roles]]\nname = \"ops-a\"\nusers = [\"amy\"]\ngroups = []\npermissions = [\"admin\"]\n\n");
  const std::string qa =
      "name = \"QA\"\nparent = \"Q\"\npool = \"p\"\nbounds = { gpu = { guarantee = 2000, limit = 4000 } }\nroles = []";
  text.replace(text.find(qa), qa.size(),
               "name = \"QA\"\nparent = \"Q\"\npool = \"p\"\nbounds = { gpu = { guarantee = 2000, limit = 4000 } "
               "}\nroles = [\"ops-a\"]");
  if (edit) edit(text);
  auto read = runtime::read_plan(text, "plan.toml");
  if (const auto* e = std::get_if<runtime::PlanError>(&read)) FAIL(e->to_string());
  return std::get<runtime::LoadedPlan>(std::move(read));
}

void replace(std::string& text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
}

daemon::Identity user(const std::string& name, bool admin = false) {
  daemon::Identity who;
  who.uid = 1001;
  who.user = name;
  who.admin = admin;
  return who;
}

}  // namespace

TEST_CASE("apply_refusal: a scope admin applies changes within the scope's subtree only") {
  const runtime::LoadedPlan current = rights_plan();
  // The limit of QA and a queue below it: within amy's subtree.
  const runtime::LoadedPlan inside = rights_plan([](std::string& t) {
    replace(t, "bounds = { gpu = { guarantee = 2000, limit = 4000 } }\nroles = [\"ops-a\"]",
            "bounds = { gpu = { guarantee = 2000, limit = 3000 } }\nroles = [\"ops-a\"]");
    replace(t, "grace_period_ms = 1000", "grace_period_ms = 2000");
  });
  CHECK(daemon::apply_refusal(current, inside, user("amy")).empty());
  CHECK(daemon::apply_refusal(current, current, user("amy")).empty());

  // QB is outside: refused, naming it.
  const runtime::LoadedPlan outside = rights_plan([](std::string& t) {
    replace(t, "bounds = { gpu = { guarantee = 2000 } }", "bounds = { gpu = { guarantee = 1000 } }");
  });
  CHECK(daemon::apply_refusal(current, outside, user("amy")) ==
        "user amy may not apply this plan: it changes `QB`, which is outside the scopes user amy administers (`QA`)");
  // Root and the daemon's user may apply anything.
  CHECK(daemon::apply_refusal(current, outside, user("root", true)).empty());

  // Moving a scope from outside into the subtree is a change outside it.
  const runtime::LoadedPlan moved = rights_plan([](std::string& t) {
    replace(t, "path = \"wb\"\nkind = \"workspace\"\nname = \"wb\"\nparent = \"QB\"",
            "path = \"wb\"\nkind = \"workspace\"\nname = \"wb\"\nparent = \"QA\"");
  });
  CHECK(daemon::apply_refusal(current, moved, user("amy")).find("it changes `wb`") != std::string::npos);

  // Priorities are nobody's scope.
  const runtime::LoadedPlan priorities = rights_plan([](std::string& t) { replace(t, "value = 500", "value = 600"); });
  CHECK(daemon::apply_refusal(current, priorities, user("amy")).find("pools, nodes, roles or priorities") !=
        std::string::npos);

  // Without `admin` on any scope: no plan at all.
  CHECK(daemon::apply_refusal(current, inside, user("bob")) ==
        "user bob may not apply plans: only root, allotd's user and roles with `admin` on a scope may");
}
