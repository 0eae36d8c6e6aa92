#include "runtime/daemon/job_record.h"

#include "runtime/api/protocol.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using api::JsonObject;

namespace {

constexpr std::pair<JobPhase, const char*> kPhases[] = {
    {JobPhase::pending, "pending"},     {JobPhase::running, "running"}, {JobPhase::stopping, "stopping"},
    {JobPhase::succeeded, "succeeded"}, {JobPhase::failed, "failed"},   {JobPhase::cancelled, "cancelled"},
    {JobPhase::lost, "lost"},           {JobPhase::exited, "exited"}};

constexpr std::pair<StopIntent, const char*> kIntents[] = {{StopIntent::none, "none"},
                                                           {StopIntent::preempt, "preempt"},
                                                           {StopIntent::cancel, "cancel"},
                                                           {StopIntent::plan_change, "plan_change"},
                                                           {StopIntent::drain, "drain"}};

JsonArray string_array(const std::vector<std::string>& items) {
  JsonArray out;
  for (const std::string& s : items) out.emplace_back(s);
  return out;
}

}  // namespace

const char* to_string(JobPhase phase) {
  for (const auto& [p, name] : kPhases)
    if (p == phase) return name;
  return "?";
}

std::optional<JobPhase> job_phase_from(std::string_view text) {
  for (const auto& [p, name] : kPhases)
    if (text == name) return p;
  return std::nullopt;
}

bool is_final(JobPhase phase) {
  return phase == JobPhase::succeeded || phase == JobPhase::failed || phase == JobPhase::cancelled ||
         phase == JobPhase::lost || phase == JobPhase::exited;
}

const char* to_string(StopIntent intent) {
  for (const auto& [i, name] : kIntents)
    if (i == intent) return name;
  return "?";
}

std::optional<StopIntent> stop_intent_from(std::string_view text) {
  for (const auto& [i, name] : kIntents)
    if (text == name) return i;
  return std::nullopt;
}

Json JobRecord::to_json() const {
  Json j;
  j.set("id", static_cast<std::uint64_t>(id));
  j.set("queue", queue);
  j.set("user", user);
  j.set("uid", static_cast<std::int64_t>(uid));
  j.set("gid", static_cast<std::int64_t>(gid));
  j.set("groups", string_array(groups));
  j.set("kind", kind);
  j.set("priority", priority ? Json(*priority) : Json());
  j.set("gpu_milli", request.gpu_milli);
  j.set("cpu_milli", request.cpu_milli);
  j.set("memory_mib", request.memory_mib);
  j.set("command", string_array(command));
  j.set("cwd", cwd);
  JsonObject env_object;
  for (const auto& [k, v] : env) env_object.emplace_back(k, Json(v));
  j.set("env", std::move(env_object));
  j.set("submit_time", submit_time);
  j.set("state", to_string(phase));
  j.set("stop_intent", to_string(stop_intent));
  JsonArray shares;
  for (const GpuShare& g : gpus) {
    Json s;
    s.set("index", static_cast<std::int64_t>(g.index));
    s.set("milli", g.milli);
    shares.push_back(std::move(s));
  }
  j.set("gpus", std::move(shares));
  j.set("gpu_ids", gpu_ids);
  j.set("pid", pid > 0 ? Json(static_cast<std::int64_t>(pid)) : Json());
  j.set("start_ticks", static_cast<std::uint64_t>(start_ticks));
  if (starting) j.set("starting", true);
  j.set("started_at", started_at);
  j.set("finished_at", finished_at);
  j.set("kill_at", kill_at);
  j.set("exit_code", exit_code ? Json(*exit_code) : Json());
  j.set("signal", signal ? Json(*signal) : Json());
  j.set("reason", reason);
  j.set("preemptions", static_cast<std::int64_t>(preemptions));
  j.set("runs", static_cast<std::int64_t>(runs));
  j.set("log", log_path);
  return j;
}

std::optional<JobRecord> job_from_json(const Json& j, std::string& error) {
  JobRecord r;
  bool ok = true;
  auto need_int = [&](const char* key) -> std::int64_t {
    const Json* v = j.find(key);
    const std::optional<std::int64_t> i = v ? v->as_int() : std::nullopt;
    if (!i) {
      if (ok) error = std::string("job record: missing integer `") + key + "`";
      ok = false;
      return 0;
    }
    return *i;
  };
  auto need_string = [&](const char* key) -> std::string {
    const Json* v = j.find(key);
    if (!v || !v->as_string()) {
      if (ok) error = std::string("job record: missing string `") + key + "`";
      ok = false;
      return {};
    }
    return *v->as_string();
  };
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (const Json* v = j.find(key); v && v->as_array())
      for (const Json& s : *v->as_array())
        if (s.as_string()) out.push_back(*s.as_string());
    return out;
  };
  auto optional_int = [&](const char* key) -> std::optional<int> {
    const Json* v = j.find(key);
    if (!v || v->is_null()) return std::nullopt;
    const auto i = v->as_int();
    return i ? std::optional<int>(static_cast<int>(*i)) : std::nullopt;
  };
  r.id = static_cast<runtime::JobId>(need_int("id"));
  r.queue = need_string("queue");
  r.user = need_string("user");
  r.uid = static_cast<uid_t>(need_int("uid"));
  r.gid = static_cast<gid_t>(need_int("gid"));
  r.groups = strings("groups");
  r.kind = need_string("kind");
  if (const Json* p = j.find("priority"); p && p->as_string()) r.priority = *p->as_string();
  r.request.gpu_milli = need_int("gpu_milli");
  r.request.cpu_milli = need_int("cpu_milli");
  r.request.memory_mib = need_int("memory_mib");
  // A record is never trusted beyond what the API admits: a journal written
  // by an older allotd must not make the scheduler overflow on every start.
  if (ok && (r.request.gpu_milli < 0 || r.request.gpu_milli > api::kMaxGpuMilli || r.request.cpu_milli < 0 ||
             r.request.cpu_milli > api::kMaxCpuMilli || r.request.memory_mib < 0 ||
             r.request.memory_mib > api::kMaxMemoryMib)) {
    error = "job record: a requested amount is out of range";
    ok = false;
  }
  r.command = strings("command");
  r.cwd = need_string("cwd");
  if (const Json* env = j.find("env"); env && env->as_object())
    for (const auto& [k, v] : *env->as_object())
      if (v.as_string()) r.env.emplace_back(k, *v.as_string());
  r.submit_time = need_int("submit_time");
  const std::optional<JobPhase> phase = job_phase_from(need_string("state"));
  const std::optional<StopIntent> intent = stop_intent_from(need_string("stop_intent"));
  if (ok && (!phase || !intent)) {
    error = "job record: unknown state or stop intent";
    ok = false;
  }
  if (!ok) return std::nullopt;
  r.phase = *phase;
  r.stop_intent = *intent;
  if (const Json* g = j.find("gpus"); g && g->as_array()) {
    for (const Json& s : *g->as_array()) {
      const Json* index = s.find("index");
      const Json* milli = s.find("milli");
      if (!index || !index->as_int() || !milli || !milli->as_int()) {
        error = "job record: malformed gpu share";
        return std::nullopt;
      }
      r.gpus.push_back({static_cast<std::uint32_t>(*index->as_int()), *milli->as_int()});
    }
  }
  if (const Json* ids = j.find("gpu_ids"); ids && ids->as_string()) r.gpu_ids = *ids->as_string();
  r.pid = static_cast<pid_t>(optional_int("pid").value_or(0));
  if (const Json* t = j.find("start_ticks"); t && t->as_int()) r.start_ticks = static_cast<std::uint64_t>(*t->as_int());
  if (const Json* s = j.find("starting"); s && s->as_bool()) r.starting = *s->as_bool();
  r.started_at = need_int("started_at");
  r.finished_at = need_int("finished_at");
  if (const Json* k = j.find("kill_at"); k && k->as_int()) r.kill_at = *k->as_int();
  r.exit_code = optional_int("exit_code");
  r.signal = optional_int("signal");
  r.reason = need_string("reason");
  r.preemptions = static_cast<std::uint32_t>(need_int("preemptions"));
  r.runs = static_cast<std::uint32_t>(need_int("runs"));
  r.log_path = need_string("log");
  if (!ok) return std::nullopt;
  return r;
}

}  // namespace allot::daemon
