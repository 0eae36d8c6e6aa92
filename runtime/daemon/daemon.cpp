#include "runtime/daemon/daemon.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "runtime/daemon/nvml.h"
#include "runtime/daemon/process.h"

namespace allot::daemon {

using api::Json;
using api::JsonArray;
using runtime::JobId;
using runtime::kNone;
using runtime::ScopeId;

namespace {

constexpr std::size_t kMaxConnections = 4096;
constexpr std::size_t kAdminConnections = 32;         // of kMaxConnections, kept for admins
constexpr std::size_t kMaxHttpConnections = 64;       // metrics scrapers, together
constexpr std::size_t kOutputBound = 1u << 20;        // unread reply bytes at which a connection is not read
constexpr std::size_t kMaxPendingOutput = 16u << 20;  // a single reply beyond this drops the client
constexpr std::size_t kMaxHttpRequest = 8192;
// Descriptors never given to connections: the journal and its rotation,
// the snapshot writer, job logs and start gates, pidfds come on top.
constexpr std::size_t kReservedDescriptors = 128;
constexpr std::int64_t kAcceptBackoffMs = 250;
constexpr int kAcceptsPerWakeup = 64;
// Requests handled per connection per loop iteration: a client with many
// lines buffered waits its turn instead of making the others wait.
constexpr int kLinesPerTurn = 4;
constexpr std::int64_t kMetricsIntervalMs = 1000;
constexpr std::int64_t kLivenessIntervalMs = 1000;
constexpr std::size_t kMaxProblems = 16;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t mono_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string milli_text(runtime::Amount v) {
  if (v % 1000 == 0) return std::to_string(v / 1000);
  return fmt::format("{}.{:03}", v / 1000, v % 1000);
}

const char* kind_name(runtime::ScopeKind k) {
  switch (k) {
    case runtime::ScopeKind::quota:
      return "quota";
    case runtime::ScopeKind::workspace:
      return "workspace";
    case runtime::ScopeKind::namespace_:
      return "namespace";
    case runtime::ScopeKind::queue:
      return "queue";
  }
  return "?";
}

std::optional<runtime::WorkloadKind> workload_kind(std::string_view name) {
  if (name == "inference" || name == "serving") return runtime::WorkloadKind::inference;
  if (name == "training") return runtime::WorkloadKind::training;
  if (name == "development") return runtime::WorkloadKind::development;
  return std::nullopt;
}

std::string error_reply(const char* code, std::string message) {
  return api::error_reply(api::ApiError{code, std::move(message)});
}

std::string prometheus_label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
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

std::string text_fingerprint(std::string_view text) { return fmt::format("crc32:{:08x}:{}", crc32(text), text.size()); }

std::variant<NodePlan, std::string> load_node_plan(std::string_view text, const std::string& path,
                                                   const std::string& node, const std::vector<std::string>& admins) {
  runtime::PlanReadResult read = runtime::read_plan(text, path);
  if (const auto* e = std::get_if<runtime::PlanError>(&read)) return e->to_string();
  NodePlan np;
  np.plan = std::get<runtime::LoadedPlan>(std::move(read));
  const auto it = std::find_if(np.plan.nodes.begin(), np.plan.nodes.end(),
                               [&](const runtime::PlanNode& n) { return n.name == node; });
  if (it == np.plan.nodes.end()) {
    std::string names;
    for (std::size_t i = 0; i < np.plan.nodes.size() && i < 5; ++i) names += (i ? ", " : "") + np.plan.nodes[i].name;
    return fmt::format("{}: the plan has no node `{}` (nodes: {}{})", path, node, names,
                       np.plan.nodes.size() > 5 ? ", ..." : "");
  }
  np.node = *it;
  np.cluster = runtime::restrict_to_nodes(np.plan, {node});
  for (runtime::Scope& s : np.cluster.scopes) {
    if (s.kind == runtime::ScopeKind::queue && !s.queue.grants.empty())
      s.queue.grants.push_back(runtime::Grant{admins, {}, runtime::kSubmit | runtime::kList | runtime::kCancel});
  }
  try {
    runtime::Scheduler probe(np.cluster);  // the core's own checks of the cluster
  } catch (const std::invalid_argument& e) {
    return path + ": " + e.what();
  }
  np.path = path;
  np.text = std::string(text);
  np.fingerprint = text_fingerprint(text);
  return np;
}

std::string render_metrics(const std::vector<ScopeFigures>& scopes,
                           const std::map<std::string, std::size_t>& jobs_by_state, bool journal_healthy,
                           const std::string& gpu_source, std::size_t gpu_count) {
  std::string out;
  auto value = [](runtime::Resource r, runtime::Amount v) {
    return r == runtime::Resource::memory ? std::to_string(v) : milli_text(v);
  };
  struct Gauge {
    const char* name;
    const char* help;
    runtime::Resources runtime::ScopeReport::*field;
  };
  const Gauge gauges[] = {
      {"allot_scope_used", "Resources held by running jobs in the scope's subtree (GPUs, CPUs, MiB).",
       &runtime::ScopeReport::used},
      {"allot_scope_guaranteed", "Declared guarantee of the scope.", &runtime::ScopeReport::guaranteed},
      {"allot_scope_borrowed", "Used beyond the scope's guarantee.", &runtime::ScopeReport::borrowed},
      {"allot_scope_pending", "Requested by pending jobs in the scope's subtree.", &runtime::ScopeReport::pending},
  };
  for (const Gauge& g : gauges) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", g.name, g.help, g.name);
    for (const ScopeFigures& s : scopes) {
      for (runtime::Resource r : runtime::kAllResources) {
        out += fmt::format("{}{{scope=\"{}\",kind=\"{}\",resource=\"{}\"}} {}\n", g.name, prometheus_label(s.path),
                           s.kind, runtime::to_string(r), value(r, (s.report.*g.field)[r]));
      }
    }
  }
  out += "# HELP allot_scope_preemptions_total Jobs of the scope's subtree preempted since allotd started.\n";
  out += "# TYPE allot_scope_preemptions_total counter\n";
  for (const ScopeFigures& s : scopes)
    out += fmt::format("allot_scope_preemptions_total{{scope=\"{}\",kind=\"{}\"}} {}\n", prometheus_label(s.path),
                       s.kind, s.preemptions_total);
  out += "# HELP allot_jobs Jobs known to allotd by state.\n# TYPE allot_jobs gauge\n";
  for (const auto& [state, count] : jobs_by_state) out += fmt::format("allot_jobs{{state=\"{}\"}} {}\n", state, count);
  out += "# HELP allot_journal_healthy 0 after a corrupt or truncated journal tail was found.\n";
  out += fmt::format("# TYPE allot_journal_healthy gauge\nallot_journal_healthy {}\n", journal_healthy ? 1 : 0);
  out += "# HELP allot_node_gpus GPUs of this node.\n# TYPE allot_node_gpus gauge\n";
  out += fmt::format("allot_node_gpus{{source=\"{}\"}} {}\n", gpu_source, gpu_count);
  return out;
}

// ==== Daemon ======================================================================================

Daemon::Daemon(DaemonConfig config, std::ostream& log) : config_(std::move(config)), log_(log) {
  daemon_uid_ = ::geteuid();
  daemon_user_ = identity_of_uid(daemon_uid_, daemon_uid_).user;
}

Daemon::~Daemon() {
  for (auto& [fd, c] : connections_) ::close(fd);
  for (auto& [fd, id] : pidfds_) ::close(fd);
  close_gates();
  for (int fd : {signal_fd_, listen_fd_, metrics_fd_, lock_fd_})
    if (fd >= 0) ::close(fd);
}

void Daemon::log(const std::string& line) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  log_ << stamp << " allotd: " << line << std::endl;
}

int Daemon::run() {
  if (!prepare_state_dir() || !load_initial_plan()) return 2;
  discover_devices();
  if (device_ids_.empty() && plan_.node.gpus > 0) return 2;
  if (!load_state()) return 2;
  std::string error;
  if (!journal_.open(journal_path(generation_), error)) {
    log(error);
    return 2;
  }
  recover_processes();
  if (const std::string e = install_plan(plan_, "startup"); !e.empty()) {
    log("cannot start: " + e);
    return 2;
  }
  if (!write_snapshot()) return 2;
  // Connections are bounded by descriptors (connection_budget): take what
  // the hard limit allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    if (nofile.rlim_cur < nofile.rlim_max) {
      rlimit raised = nofile;
      raised.rlim_cur = std::min<rlim_t>(nofile.rlim_max, 1u << 20);
      if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) nofile = raised;
    }
    descriptor_limit_ = static_cast<std::size_t>(nofile.rlim_cur);
  }
  if (!open_signals() || !open_socket() || (config_.metrics_port && !open_metrics_port())) return 2;
  if (!config_.metrics_file.empty()) write_metrics_file();
  if (!polled_adopted_.empty()) arm(kLivenessIntervalMs, LivenessTimer{});
  log(fmt::format("serving node {} ({} GPUs, {}) on {}; plan {} ({}); {} jobs known", plan_.node.name, plan_.node.gpus,
                  gpu_source_, config_.socket_path, plan_.path, plan_.fingerprint, jobs_.size()));
  loop();
  commit();
  wait_for_snapshot();
  write_snapshot();
  if (!config_.metrics_file.empty()) write_metrics_file();
  ::unlink(config_.socket_path.c_str());
  log(fmt::format("stopped; {} running jobs left running for the next start to re-adopt",
                  children_.size() + pidfds_.size()));
  return exit_status_;
}

bool Daemon::prepare_state_dir() {
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir + "/logs", ec);
  if (ec) {
    log(fmt::format("cannot create state directory {}: {}", config_.state_dir, ec.message()));
    return false;
  }
  ::chmod(config_.state_dir.c_str(), 0755);
  ::chmod((config_.state_dir + "/logs").c_str(), 0755);  // users read their own job logs (files are 0640, theirs)
  return lock_state_dir();
}

// One allotd per state directory. The lock is also held by a snapshot writer
// (a forked child shares the open file description), so a new allotd started
// after a crash waits until an orphaned writer is done: it cannot rename an
// older snapshot over the new allotd's snapshot. Jobs do not inherit it
// (O_CLOEXEC).
bool Daemon::lock_state_dir() {
  const std::string path = config_.state_dir + "/allotd.lock";
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    log(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
    return false;
  }
  constexpr int kWaitMs = 30000, kStepMs = 20;
  for (int waited = 0;; waited += kStepMs) {
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0) return true;
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    if (waited == 0) log(fmt::format("waiting for {} (another allotd or its snapshot writer holds it)", path));
    if (waited >= kWaitMs) break;
    ::usleep(kStepMs * 1000);
  }
  log(fmt::format("cannot lock {}: {}; is another allotd using state directory {}?", path, std::strerror(errno),
                  config_.state_dir));
  return false;
}

bool Daemon::load_initial_plan() {
  std::string error;
  const std::optional<std::string> configured = read_file(config_.plan_path, error);
  if (!configured) {
    log("cannot read plan: " + error);
    return false;
  }
  configured_fingerprint_ = text_fingerprint(*configured);
  std::string text = *configured;
  std::string path = config_.plan_path;
  // A plan applied at run time stays in force across restarts as long as the
  // configured plan is the one it replaced.
  const std::string active = config_.state_dir + "/active-plan.toml";
  const std::string active_meta = config_.state_dir + "/active-plan.json";
  std::string ignored;
  if (const auto meta = read_file(active_meta, ignored)) {
    api::JsonParseResult parsed = api::parse_json(*meta);
    const Json* m = std::get_if<Json>(&parsed);
    const Json* replaced = m ? m->find("configured_fingerprint") : nullptr;
    const auto applied = read_file(active, ignored);
    if (replaced && replaced->as_string() && *replaced->as_string() == configured_fingerprint_ && applied) {
      text = *applied;
      const Json* p = m->find("path");
      path = p && p->as_string() ? *p->as_string() : active;
      log(fmt::format("using the plan applied at run time ({}) instead of {}", path, config_.plan_path));
    }
  }
  const std::vector<std::string> admins = {"root", daemon_user_};
  auto loaded = load_node_plan(text, path, config_.node, admins);
  if (const auto* e = std::get_if<std::string>(&loaded)) {
    log("invalid plan: " + *e);
    return false;
  }
  plan_ = std::get<NodePlan>(std::move(loaded));
  return true;
}

void Daemon::discover_devices() {
  device_ids_.clear();
  const std::uint32_t want = plan_.node.gpus;
  if (!config_.simulate_gpus) {
    const GpuDiscovery d = discover_gpus(config_.nvml_library);
    if (d.available) {
      if (d.devices.size() != want) {
        log(fmt::format("NVML reports {} GPUs but the plan gives node {} {} GPUs; refusing to start", d.devices.size(),
                        plan_.node.name, want));
        return;
      }
      for (std::size_t i = 0; i < d.devices.size(); ++i) {
        if (!plan_.node.gpu_model.empty() && !gpu_model_matches(d.devices[i].name, plan_.node.gpu_model))
          log(fmt::format("warning: GPU {} is a {} but the plan says {}", i, d.devices[i].name, plan_.node.gpu_model));
        device_ids_.push_back(d.devices[i].uuid);
      }
      gpu_source_ = "nvml";
      log(fmt::format("NVML: {} GPUs ({})", d.devices.size(), d.devices.empty() ? "-" : d.devices[0].name));
      return;
    }
    log(d.note + "; simulating the node's GPUs from the plan");
  } else {
    log("simulating the node's GPUs from the plan (--simulate-gpus)");
  }
  gpu_source_ = "simulated";
  for (std::uint32_t i = 0; i < want; ++i) device_ids_.push_back(std::to_string(i));
}

bool Daemon::load_state() {
  std::string error;
  const std::string snapshot_path = config_.state_dir + "/snapshot.json";
  struct stat st {};
  if (::stat(snapshot_path.c_str(), &st) == 0) {
    const std::optional<std::string> text = read_file(snapshot_path, error);
    if (!text) {
      log(error);
      return false;
    }
    api::JsonParseResult parsed = api::parse_json(*text);
    const Json* snap = std::get_if<Json>(&parsed);
    const Json* gen = snap ? snap->find("generation") : nullptr;
    const Json* next = snap ? snap->find("next_id") : nullptr;
    const Json* jobs = snap ? snap->find("jobs") : nullptr;
    if (!gen || !gen->as_int() || !next || !next->as_int() || !jobs || !jobs->as_array()) {
      log(fmt::format("snapshot {} is unreadable; move it aside to start without it (its jobs would be forgotten)",
                      snapshot_path));
      return false;
    }
    generation_ = static_cast<std::uint64_t>(*gen->as_int());
    next_id_ = static_cast<JobId>(*next->as_int());
    for (const Json& j : *jobs->as_array()) {
      std::optional<JobRecord> rec = job_from_json(j, error);
      if (!rec) {
        log(fmt::format("snapshot {}: {}", snapshot_path, error));
        return false;
      }
      jobs_[rec->id] = std::move(*rec);
    }
    if (const Json* problems = snap->find("problems"); problems && problems->as_array())
      for (const Json& p : *problems->as_array())
        if (p.as_string()) journal_problems_.push_back(*p.as_string());
    if (const Json* counts = snap->find("preemptions"); counts && counts->as_object())
      for (const auto& [q, n] : *counts->as_object())
        if (n.as_int()) preemptions_by_queue_[q] = static_cast<std::uint64_t>(*n.as_int());
  }
  // Journals before the snapshot's generation are covered by it; the ones
  // from it on are replayed in order (more than one when a snapshot writer
  // did not finish), and new records go to the latest.
  const std::uint64_t snapshot_generation = generation_;
  std::vector<std::uint64_t> generations;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::uint64_t g = 0;
    if (std::sscanf(name.c_str(), "journal-%lu.log", &g) != 1 || name != fmt::format("journal-{}.log", g)) continue;
    if (g < snapshot_generation) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    } else {
      generations.push_back(g);
    }
  }
  if (ec) {
    log(fmt::format("cannot list state directory {}: {}", config_.state_dir, ec.message()));
    return false;
  }
  std::sort(generations.begin(), generations.end());
  for (const std::uint64_t g : generations) {
    if (!replay_journal(journal_path(g))) return false;
    generation_ = g;
  }
  while (journal_problems_.size() > kMaxProblems) journal_problems_.erase(journal_problems_.begin());
  log(fmt::format("recovered {} jobs (snapshot generation {}, {} journal records in {} generations)", jobs_.size(),
                  snapshot_generation, replayed_records_, generations.size()));
  return true;
}

// Replays one journal generation over jobs_; a bad tail is preserved and
// reported (recover_journal). False only when the files cannot be handled.
bool Daemon::replay_journal(const std::string& path) {
  std::string error;
  const std::optional<JournalRecovery> recovery = recover_journal(path, error);
  if (!recovery) {
    log("cannot recover the journal: " + error);
    return false;
  }
  for (const std::string& payload : recovery->scan.records) {
    api::JsonParseResult parsed = api::parse_json(payload);
    const Json* rec = std::get_if<Json>(&parsed);
    const Json* type = rec ? rec->find("t") : nullptr;
    if (type && type->as_string() && *type->as_string() == "job" && rec->find("job")) {
      std::optional<JobRecord> job = job_from_json(*rec->find("job"), error);
      if (job) {
        next_id_ = std::max(next_id_, job->id + 1);
        jobs_[job->id] = std::move(*job);
        ++replayed_records_;
        continue;
      }
    } else if (type && type->as_string()) {
      ++replayed_records_;
      continue;  // events (apply) are informational
    }
    journal_problems_.push_back(fmt::format("{}: a record passed its CRC but is not understood ({})", path,
                                            error.empty() ? "not a job record" : error));
    log(journal_problems_.back());
  }
  if (recovery->scan.tail != TailState::clean) {
    journal_problems_.push_back(fmt::format("{} journal tail in {}: {}; {} bytes preserved in {}",
                                            to_string(recovery->scan.tail), path, recovery->scan.problem,
                                            recovery->bad_bytes, recovery->side_file));
    log("JOURNAL PROBLEM: " + journal_problems_.back());
  }
  return true;
}

void Daemon::recover_processes() {
  for (auto& [id, rec] : jobs_) {
    if (rec.phase != JobPhase::running && rec.phase != JobPhase::stopping) continue;
    if (rec.starting) {
      // allotd died between journaling the start and opening the start gate,
      // or before the record saying it was opened reached the disk.
      rec.starting = false;
      const bool alive = same_process_alive(rec.pid, rec.start_ticks);
      if (alive && waits_at_gate(rec.pid)) {
        // It never ran the job (its gate closed with the old allotd; it is
        // on its way out): the job runs again, once, from here.
        signal_group(rec.pid, SIGKILL);
        log(fmt::format("job {}: its process {} never passed the start gate; pending again", id, rec.pid));
        rec.phase = rec.stop_intent == StopIntent::cancel ? JobPhase::cancelled : JobPhase::pending;
        rec.stop_intent = StopIntent::none;
        rec.pid = 0;
        rec.start_ticks = 0;
        rec.gpus.clear();
        rec.gpu_ids.clear();
        if (rec.runs > 0) --rec.runs;
        if (rec.phase == JobPhase::cancelled) rec.finished_at = wall_ms();
        journal(rec);
        continue;
      }
      if (!alive) {
        // Gone: it either never ran (the gate closed unopened) or ran and
        // ended while allotd was down. Running it again could run it twice.
        log(fmt::format("job {} is lost: allotd stopped while starting it and its process {} is gone", id, rec.pid));
        rec.phase = JobPhase::lost;
        rec.reason = fmt::format(
            "allotd stopped while starting it; process {} was gone when allotd started (it may not have run)", rec.pid);
        rec.finished_at = wall_ms();
        journal(rec);
        continue;
      }
      journal(rec);  // it passed the gate: running, re-adopted below
    }
    if (same_process_alive(rec.pid, rec.start_ticks)) {
      const int fd = open_pidfd(rec.pid);
      if (fd >= 0) {
        pidfds_[fd] = id;
      } else {
        polled_adopted_.insert(id);
      }
      log(fmt::format("re-adopted job {} (pid {}, {})", id, rec.pid, to_string(rec.phase)));
      continue;
    }
    log(fmt::format("job {} is lost: its process {} was gone when allotd started", id, rec.pid));
    rec.phase = JobPhase::lost;
    rec.reason = fmt::format("process {} was gone when allotd started; exit status unknown", rec.pid);
    rec.finished_at = wall_ms();
    journal(rec);
  }
}

bool Daemon::open_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return false;
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    log(std::string("signalfd: ") + std::strerror(errno));
    return false;
  }
  reap_children();  // anything that ended before the mask was set
  return true;
}

bool Daemon::open_socket() {
  const std::string& path = config_.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    log("socket path too long: " + path);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  std::error_code ec;
  std::filesystem::create_directories(parent_directory(path), ec);
  // A socket file left by a dead daemon is removed; a live daemon is not.
  if (::access(path.c_str(), F_OK) == 0) {
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (live) {
      log("another allotd is serving " + path);
      return false;
    }
    ::unlink(path.c_str());
  }
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const mode_t old_mask = ::umask(0117);  // the socket is created 0660
  const bool bound = listen_fd_ >= 0 && ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::umask(old_mask);
  if (!bound || ::chmod(path.c_str(), 0660) != 0 || ::listen(listen_fd_, SOMAXCONN) != 0) {
    log(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
    return false;
  }
  // Users reach the daemon through the socket's group; authorization by
  // role still applies to every request.
  if (!config_.socket_group.empty()) {
    std::vector<char> buffer(16384);
    group entry{};
    group* found = nullptr;
    if (::getgrnam_r(config_.socket_group.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
      log(fmt::format("unknown socket group `{}`", config_.socket_group));
      return false;
    }
    if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0) {
      log(fmt::format("cannot give {} to group `{}`: {}", path, config_.socket_group, std::strerror(errno)));
      return false;
    }
  }
  return true;
}

bool Daemon::open_metrics_port() {
  metrics_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const int one = 1;
  ::setsockopt(metrics_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(config_.metrics_port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // local scrapes only
  if (metrics_fd_ < 0 || ::bind(metrics_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(metrics_fd_, 64) != 0) {
    log(fmt::format("cannot serve metrics on 127.0.0.1:{}: {}", config_.metrics_port, std::strerror(errno)));
    return false;
  }
  log(fmt::format("metrics on http://127.0.0.1:{}/metrics", config_.metrics_port));
  return true;
}

// ---- the loop -----------------------------------------------------------------------------------

void Daemon::arm(std::int64_t delay_ms, Timer timer) { timers_.emplace(mono_ms() + delay_ms, timer); }

bool Daemon::kill_timer_armed(JobId id, std::uint32_t run) const {
  for (const auto& [deadline, timer] : timers_) {
    const auto* kill = std::get_if<KillTimer>(&timer);
    if (kill && kill->job == id && kill->run == run) return true;
  }
  return false;
}

void Daemon::loop() {
  std::vector<pollfd> fds;
  while (!stopping_) {
    // Lines held back by backpressure, now that their replies were read.
    for (auto& [fd, c] : connections_)
      if (c.fd >= 0 && !c.http && !output_full(c) && c.in.find('\n') != std::string::npos) process_input(c);
    std::erase_if(connections_, [](const auto& entry) { return entry.second.fd < 0; });
    if (schedule_needed_) run_schedule();
    commit();
    if (stopping_) break;
    if (metrics_dirty_ && !config_.metrics_file.empty() && !metrics_timer_armed_) {
      arm(kMetricsIntervalMs, MetricsTimer{});
      metrics_timer_armed_ = true;
    }
    int timeout = -1;
    if (!timers_.empty())
      timeout = static_cast<int>(std::clamp<std::int64_t>(timers_.begin()->first - mono_ms(), 0, 60000));
    for (const auto& [fd, c] : connections_)
      if (!c.http && !output_full(c) && c.in.find('\n') != std::string::npos) timeout = 0;  // lines waiting their turn

    fds.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    // After EMFILE/ENFILE the listening sockets rest (a ClientTimer ends the
    // pause): polling them would only spin.
    const bool accepting = mono_ms() >= accept_paused_until_ms_;
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    fds.push_back({metrics_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    const std::size_t connection_count = connections_.size();
    for (const auto& [fd, c] : connections_) {
      const bool readable = !c.close_after_write && !output_full(c) && c.in.size() < api::kMaxRequestLine;
      fds.push_back({fd, static_cast<short>((readable ? POLLIN : 0) | (c.out.empty() ? 0 : POLLOUT)), 0});
    }
    for (const auto& [fd, id] : pidfds_) fds.push_back({fd, POLLIN, 0});

    const int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0 && errno != EINTR) {
      log(std::string("poll: ") + std::strerror(errno));
      exit_status_ = 1;
      return;
    }
    if (ready > 0) {
      if (fds[0].revents) handle_signals();
      if (fds[1].revents & POLLIN) accept_clients(listen_fd_, false);
      if (metrics_fd_ >= 0 && (fds[2].revents & POLLIN)) accept_clients(metrics_fd_, true);
      std::size_t i = 3;
      std::vector<int> closed;
      for (; i < 3 + connection_count; ++i) {
        const auto found = connections_.find(fds[i].fd);
        if (found == connections_.end()) continue;
        Connection& c = found->second;
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          if ((fds[i].events & POLLIN) || (fds[i].revents & POLLERR)) {
            read_client(c);
          } else if (fds[i].revents & POLLHUP) {
            close_client(c, "");  // hung up while its replies were held back
          }
        }
        if (c.fd >= 0 && (fds[i].revents & POLLOUT)) write_client(c);
        if (c.fd < 0) closed.push_back(fds[i].fd);
      }
      for (int fd : closed) connections_.erase(fd);
      for (; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const auto it = pidfds_.find(fds[i].fd);
        if (it == pidfds_.end()) continue;
        const JobId id = it->second;
        ::close(it->first);
        pidfds_.erase(it);
        on_job_exit(id, std::nullopt);
      }
    }
    fire_timers();
  }
}

void Daemon::handle_signals() {
  signalfd_siginfo info{};
  bool child = false;
  while (::read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    switch (info.ssi_signo) {
      case SIGCHLD:
        child = true;
        break;
      case SIGTERM:
      case SIGINT:
        log(fmt::format("signal {}: stopping (jobs keep running)", info.ssi_signo));
        stopping_ = true;
        break;
      case SIGHUP: {
        log("SIGHUP: reloading " + config_.plan_path);
        const std::string result = apply_plan_file(config_.plan_path, true);
        log(result);
        break;
      }
      default:
        break;
    }
  }
  if (child) reap_children();
}

void Daemon::reap_children() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == snapshot_pid_) {
      finish_snapshot(status);
      continue;
    }
    const auto it = children_.find(pid);
    if (it == children_.end()) continue;
    const JobId id = it->second;
    children_.erase(it);
    on_job_exit(id, status);
  }
}

std::size_t Daemon::connection_budget() const {
  const std::size_t held = kReservedDescriptors + pidfds_.size() + gates_.size();
  const std::size_t available = descriptor_limit_ > held ? descriptor_limit_ - held : 0;
  return std::max<std::size_t>(kAdminConnections, std::min(kMaxConnections, available));
}

void Daemon::accept_clients(int listen_fd, bool http) {
  const std::int64_t now = mono_ms();
  for (int accepted = 0; accepted < kAcceptsPerWakeup; ++accepted) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        log(fmt::format("cannot accept connections ({}); pausing {} ms", std::strerror(errno), kAcceptBackoffMs));
        accept_paused_until_ms_ = now + kAcceptBackoffMs;
        if (!client_timer_armed_) {
          arm(kAcceptBackoffMs, ClientTimer{});
          client_timer_armed_ = true;
        }
      }
      return;
    }
    // A refusal is one reply line, sent without waiting, then the close.
    auto refuse_connection = [&](const std::string& message) {
      const std::string line = error_reply(api::error_code::unavailable, message);
      [[maybe_unused]] const ssize_t n = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      if (refused_connections_++ % 1000 == 0)
        log(fmt::format("refused a connection: {} ({} refused so far)", message, refused_connections_));
    };
    Connection c;
    c.fd = fd;
    c.http = http;
    c.last_active_ms = now;
    const std::size_t budget = connection_budget();
    if (http) {
      std::size_t scrapers = 0;
      for (const auto& [other_fd, other] : connections_) scrapers += other.http ? 1 : 0;
      if (scrapers >= kMaxHttpConnections || connections_.size() + kAdminConnections >= budget) {
        ::close(fd);
        continue;
      }
    } else {
      // The caps are checked on the bare uid first: resolving names and
      // groups costs file reads, which a flood of refused connections must
      // not make everyone else wait for.
      ucred cred{};
      socklen_t cred_len = sizeof(cred);
      if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
        ::close(fd);
        continue;
      }
      const bool admin = cred.uid == 0 || cred.uid == daemon_uid_;
      if (connections_.size() >= budget || (!admin && connections_.size() + kAdminConnections >= budget)) {
        refuse_connection(fmt::format("too many connections ({}); try again later", connections_.size()));
        continue;
      }
      const auto held = connections_by_uid_.find(cred.uid);
      if (!admin && held != connections_by_uid_.end() && held->second >= config_.max_connections_per_uid) {
        refuse_connection(
            fmt::format("too many connections from uid {} (at most {})", cred.uid, config_.max_connections_per_uid));
        continue;
      }
      std::optional<Identity> peer = peer_identity(fd, daemon_uid_);
      if (!peer) {
        ::close(fd);
        continue;
      }
      c.peer = std::move(*peer);
      ++connections_by_uid_[c.peer.uid];
    }
    connections_[fd] = std::move(c);
    if (!client_timer_armed_) {
      arm(std::clamp<std::int64_t>(std::min(config_.idle_timeout_ms, config_.request_timeout_ms) / 4, 10, 1000),
          ClientTimer{});
      client_timer_armed_ = true;
    }
  }
}

void Daemon::close_client(Connection& c, const std::string& why) {
  if (c.fd < 0) return;
  if (!why.empty()) log(fmt::format("closing the connection of {} (uid {}): {}", c.peer.user, c.peer.uid, why));
  ::close(c.fd);
  c.fd = -1;
  if (!c.http) {
    const auto it = connections_by_uid_.find(c.peer.uid);
    if (it != connections_by_uid_.end() && --it->second == 0) connections_by_uid_.erase(it);
  }
}

bool Daemon::output_full(const Connection& c) const { return c.out.size() + c.owed >= kOutputBound; }

void Daemon::check_clients() {
  client_timer_armed_ = false;
  const std::int64_t now = mono_ms();
  for (auto& [fd, c] : connections_) {
    if (c.fd < 0) continue;
    if (c.line_started_ms > 0 && now - c.line_started_ms > config_.request_timeout_ms) {
      close_client(c, fmt::format("request not complete {} ms after its first byte", config_.request_timeout_ms));
    } else if (now - c.last_active_ms > config_.idle_timeout_ms && c.owed == 0) {
      close_client(c, c.out.empty() ? "" : fmt::format("replies unread for {} ms", config_.idle_timeout_ms));
    }
  }
  std::erase_if(connections_, [](const auto& entry) { return entry.second.fd < 0; });
  if (!connections_.empty() || now < accept_paused_until_ms_) {
    arm(std::clamp<std::int64_t>(std::min(config_.idle_timeout_ms, config_.request_timeout_ms) / 4, 10, 1000),
        ClientTimer{});
    client_timer_armed_ = true;
  }
}

void Daemon::read_client(Connection& c) {
  char buf[65536];
  // Backpressure: a connection whose replies are not read is not read
  // either, so one client cannot make allotd hold more than kOutputBound
  // (plus one request line) for it.
  while (!output_full(c) && c.in.size() < api::kMaxRequestLine) {
    const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) {
      close_client(c, "");
      return;
    }
    if (n == 0) {  // the peer is done sending: answer what it asked, then close
      c.close_after_write = true;
      if (c.out.empty() && c.owed == 0 && c.in.find('\n') == std::string::npos) close_client(c, "");
      return;
    }
    const std::int64_t now = mono_ms();
    c.last_active_ms = now;
    if (c.in.empty()) c.line_started_ms = now;
    c.in.append(buf, static_cast<std::size_t>(n));
    if (c.http) {
      if (c.in.find("\r\n\r\n") != std::string::npos || c.in.find("\n\n") != std::string::npos) {
        const std::string body = metrics_text();
        c.out = fmt::format(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: "
            "close\r\n\r\n{}",
            body.size(), body);
        c.close_after_write = true;
        c.in.clear();
        write_client(c);
        return;
      }
      if (c.in.size() > kMaxHttpRequest) {
        close_client(c, "");
        return;
      }
      continue;
    }
    if (!process_input(c)) return;
    if (c.in.find('\n') != std::string::npos) return;  // its turn is used; the rest waits (loop())
  }
}

bool Daemon::process_input(Connection& c) {
  std::size_t start = 0;
  bool completed = false;
  int handled = 0;
  for (std::size_t nl; handled < kLinesPerTurn && !output_full(c) && (nl = c.in.find('\n', start)) != std::string::npos;
       start = nl + 1) {
    completed = true;
    ++handled;
    std::string_view line(c.in.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    std::string reply = handle_line(c, line);
    c.owed += reply.size();
    replies_after_sync_.emplace_back(c.fd, std::move(reply));
  }
  c.in.erase(0, start);
  // The request timeout runs only for a line being received, not for lines
  // held back by backpressure.
  if (c.in.empty() || c.in.find('\n') != std::string::npos) {
    c.line_started_ms = 0;
  } else if (completed || c.line_started_ms == 0) {
    c.line_started_ms = mono_ms();
  }
  if (c.in.size() >= api::kMaxRequestLine && c.in.find('\n') == std::string::npos) {
    // A line this long is never a request.
    close_client(c, fmt::format("request line over {} bytes", api::kMaxRequestLine));
    return false;
  }
  return true;
}

void Daemon::write_client(Connection& c) {
  while (!c.out.empty()) {
    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      close_client(c, "");
      return;
    }
    c.out.erase(0, static_cast<std::size_t>(n));
    c.last_active_ms = mono_ms();
  }
  if (c.close_after_write && c.owed == 0 && (c.http || c.in.find('\n') == std::string::npos)) close_client(c, "");
}

void Daemon::commit() {
  std::string error;
  if (!journal_.sync(error)) {
    log("FATAL: " + error + "; stopping without answering (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    replies_after_sync_.clear();
    close_gates();
    return;
  }
  open_gates();
  // Snapshots cost O(jobs): taken once the journal has grown as large as the
  // last snapshot, so that their cost per record stays constant. Here the
  // journal is synced, so rotating it loses nothing; the writing is done by a
  // child while this loop goes on.
  if (snapshot_pid_ < 0 && records_since_snapshot_ >= config_.snapshot_every && journal_.size() >= last_snapshot_bytes_)
    start_snapshot();
  std::vector<int> touched, closed;
  for (auto& [fd, reply] : replies_after_sync_) {
    const auto it = connections_.find(fd);
    if (it == connections_.end() || it->second.fd < 0) continue;
    if (it->second.out.empty()) touched.push_back(fd);
    it->second.owed -= std::min(it->second.owed, reply.size());
    it->second.out += reply;
  }
  replies_after_sync_.clear();
  for (int fd : touched) {
    Connection& c = connections_.at(fd);
    write_client(c);
    if (c.fd >= 0 && c.out.size() > kMaxPendingOutput) close_client(c, "unread replies over the output limit");
    if (c.fd < 0) closed.push_back(fd);
  }
  for (int fd : closed) connections_.erase(fd);
}

// The start records of this iteration are on disk: the waiting children may
// run their jobs. What they are told is journaled (unsynced: if it is lost,
// recovery sees a process past its gate and re-adopts it).
void Daemon::open_gates() {
  std::vector<Gate> gates;
  gates.swap(gates_);
  for (const Gate& g : gates) {
    const auto it = jobs_.find(g.job);
    const bool current = it != jobs_.end() && it->second.starting && it->second.pid == g.pid;
    if (!current) {
      abandon_job(g.fd);
      continue;
    }
    release_job(g.fd);
    it->second.starting = false;
    journal(it->second);
  }
}

void Daemon::close_gates() {
  for (const Gate& g : gates_) abandon_job(g.fd);
  gates_.clear();
}

void Daemon::fire_timers() {
  const std::int64_t now = mono_ms();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const Timer timer = timers_.begin()->second;
    timers_.erase(timers_.begin());
    if (const auto* kill = std::get_if<KillTimer>(&timer)) {
      const auto it = jobs_.find(kill->job);
      if (it == jobs_.end() || it->second.phase != JobPhase::stopping || it->second.runs != kill->run) continue;
      if (signal_job(it->second, SIGKILL))
        log(fmt::format("job {}: grace period over, SIGKILL to process group {}", kill->job, it->second.pid));
    } else if (std::holds_alternative<ClientTimer>(timer)) {
      check_clients();
    } else if (std::holds_alternative<MetricsTimer>(timer)) {
      metrics_timer_armed_ = false;
      if (metrics_dirty_) write_metrics_file();
    } else {
      std::vector<JobId> gone;
      for (JobId id : polled_adopted_) {
        const JobRecord& rec = jobs_.at(id);
        if (!same_process_alive(rec.pid, rec.start_ticks)) gone.push_back(id);
      }
      for (JobId id : gone) {
        polled_adopted_.erase(id);
        on_job_exit(id, std::nullopt);
      }
      if (!polled_adopted_.empty()) arm(kLivenessIntervalMs, LivenessTimer{});
    }
  }
}

// ---- journal and snapshots ----------------------------------------------------------------------

void Daemon::journal(const JobRecord& rec) {
  Json event;
  event.set("t", "job");
  event.set("job", rec.to_json());
  journal_event(std::move(event));
  metrics_dirty_ = true;
}

void Daemon::journal_event(Json event) {
  std::string error;
  if (!journal_.append(event.dump(), error)) {
    log("FATAL: " + error + "; stopping (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    return;
  }
  ++records_since_snapshot_;
}

std::string Daemon::journal_path(std::uint64_t generation) const {
  return fmt::format("{}/journal-{}.log", config_.state_dir, generation);
}

// Finished jobs beyond the retention are forgotten, oldest first (in memory;
// the next snapshot leaves them out).
void Daemon::prune_finished_jobs() {
  std::vector<std::pair<runtime::Time, JobId>> finished;
  for (const auto& [id, rec] : jobs_)
    if (is_final(rec.phase)) finished.emplace_back(rec.finished_at, id);
  if (finished.size() <= config_.keep_finished_jobs) return;
  std::sort(finished.begin(), finished.end());
  for (std::size_t i = 0; i + config_.keep_finished_jobs < finished.size(); ++i) jobs_.erase(finished[i].second);
}

// Syncs journal G and continues in G+1 (created, directory fsynced), so that
// the in-memory state right now is exactly "everything in journals <= G":
// the content of snapshot G+1. On failure allotd stops (FATAL), as for any
// journal error.
bool Daemon::rotate_journal() {
  std::string error;
  if (!journal_.sync(error) || !journal_.open(journal_path(generation_ + 1), error)) {
    log("FATAL: " + error + "; stopping (jobs keep running)");
    stopping_ = true;
    exit_status_ = 1;
    return false;
  }
  ++generation_;
  records_since_snapshot_ = 0;
  return true;
}

std::string Daemon::snapshot_text() const {
  Json snap;
  snap.set("version", 1);
  snap.set("generation", generation_);
  snap.set("next_id", static_cast<std::uint64_t>(next_id_));
  snap.set("written_at", wall_ms());
  JsonArray jobs;
  for (const auto& [id, rec] : jobs_) jobs.push_back(rec.to_json());
  snap.set("jobs", std::move(jobs));
  JsonArray problems;
  for (const std::string& p : journal_problems_) problems.emplace_back(p);
  snap.set("problems", std::move(problems));
  Json counts = api::JsonObject{};
  for (const auto& [q, n] : preemptions_by_queue_) counts.set(q, n);
  snap.set("preemptions", std::move(counts));
  return snap.dump() + "\n";
}

// Synchronous snapshot (startup and shutdown, nothing is being served):
// rotate to G+1, write snapshot G+1 (temp file, fsync, rename, fsync of the
// directory), then delete the journals before G+1. A crash before the rename
// leaves the old snapshot and all journals since: recovery replays them.
bool Daemon::write_snapshot() {
  prune_finished_jobs();
  if (!rotate_journal()) return false;
  const std::string text = snapshot_text();
  std::string error;
  if (!write_file_atomic(config_.state_dir + "/snapshot.json", text, error)) {
    log("cannot write a snapshot (the journals are kept): " + error);
    return false;
  }
  last_snapshot_bytes_ = text.size();
  remove_journals_before(generation_);
  return true;
}

// Background snapshot, started from commit() (the journal is synced): rotate
// to G+1 in the loop (one fdatasync + one directory fsync), then fork a child
// that serializes the state it inherited (copy-on-write) to snapshot G+1 and
// exits; the loop keeps serving and journaling into G+1. finish_snapshot()
// deletes journal G once the child has exited 0; until then, and forever if
// it fails, recovery is the previous snapshot + journals G, G+1. allotd is
// single-threaded, so the child may allocate; it only writes the snapshot
// files and leaves with _exit (no destructors, no buffered output flushed).
void Daemon::start_snapshot() {
  prune_finished_jobs();
  if (!rotate_journal()) return;
  const pid_t pid = ::fork();
  if (pid < 0) {
    log(fmt::format("cannot fork a snapshot writer ({}); journals kept, retrying later", std::strerror(errno)));
    return;
  }
  if (pid == 0) {
    // Clients must see EOF when the parent closes their connection.
    for (const auto& [fd, c] : connections_) ::close(fd);
    for (int fd : {listen_fd_, metrics_fd_})
      if (fd >= 0) ::close(fd);
    std::string error;
    const bool ok = write_file_atomic(config_.state_dir + "/snapshot.json", snapshot_text(), error);
    if (!ok) {
      const std::string line = "allotd snapshot writer: " + error + "\n";
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
    }
    ::_exit(ok ? 0 : 1);
  }
  snapshot_pid_ = pid;
  snapshot_generation_ = generation_;
}

// The snapshot writer has ended (reaped by reap_children or wait_for_snapshot).
void Daemon::finish_snapshot(int wait_status) {
  snapshot_pid_ = -1;
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    log(fmt::format("snapshot of generation {} failed ({}); journals kept, recovery replays them", snapshot_generation_,
                    WIFEXITED(wait_status) ? fmt::format("exit status {}", WEXITSTATUS(wait_status))
                                           : fmt::format("signal {}", WTERMSIG(wait_status))));
    return;
  }
  struct stat st {};
  if (::stat((config_.state_dir + "/snapshot.json").c_str(), &st) == 0)
    last_snapshot_bytes_ = static_cast<std::uint64_t>(st.st_size);
  remove_journals_before(snapshot_generation_);
}

void Daemon::wait_for_snapshot() {
  if (snapshot_pid_ < 0) return;
  int status = 0;
  while (::waitpid(snapshot_pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      status = W_EXITCODE(1, 0);  // not ours any more: count it as failed
      break;
    }
  }
  finish_snapshot(status);
}

// Only after snapshot `generation` is durable (renamed, directory fsynced).
void Daemon::remove_journals_before(std::uint64_t generation) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir, ec)) {
    const std::string name = entry.path().filename().string();
    std::uint64_t g = 0;
    if (std::sscanf(name.c_str(), "journal-%lu.log", &g) == 1 && name == fmt::format("journal-{}.log", g) &&
        g < generation) {
      std::error_code ignored;
      std::filesystem::remove(entry.path(), ignored);
    }
  }
}

// ---- plans --------------------------------------------------------------------------------------

std::optional<runtime::Job> Daemon::core_job(const JobRecord& rec, const runtime::Cluster& cluster,
                                             std::string& why) const {
  runtime::Job job;
  job.id = rec.id;
  job.queue = runtime::find_scope(cluster, rec.queue);
  if (job.queue == kNone || cluster.scopes[job.queue].kind != runtime::ScopeKind::queue) {
    why = fmt::format("queue {} is not in the plan", rec.queue);
    return std::nullopt;
  }
  if (rec.priority) {
    const auto it = std::find_if(cluster.priorities.begin(), cluster.priorities.end(),
                                 [&](const runtime::PriorityClass& c) { return c.name == *rec.priority; });
    if (it == cluster.priorities.end()) {
      why = fmt::format("priority class {} is not in the plan", *rec.priority);
      return std::nullopt;
    }
    job.priority = static_cast<runtime::PriorityId>(it - cluster.priorities.begin());
  }
  const std::optional<runtime::WorkloadKind> kind = workload_kind(rec.kind);
  if (!kind) {
    why = "unknown workload kind " + rec.kind;
    return std::nullopt;
  }
  job.kind = *kind;
  job.user = rec.user;
  job.groups = rec.groups;
  job.request = rec.request;
  job.submit_time = rec.submit_time;
  return job;
}

std::string Daemon::install_plan(NodePlan next, const std::string& why) {
  std::unique_ptr<runtime::Scheduler> fresh;
  try {
    fresh = std::make_unique<runtime::Scheduler>(next.cluster);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  const runtime::Cluster& cluster = next.cluster;
  std::vector<JobRecord*> live, pending;
  for (auto& [id, rec] : jobs_) {
    if (rec.phase == JobPhase::running || rec.phase == JobPhase::stopping) live.push_back(&rec);
    if (rec.phase == JobPhase::pending) pending.push_back(&rec);
  }
  auto priority_value = [&](const JobRecord* r) -> std::int64_t {
    std::string ignored;
    const std::optional<runtime::Job> j = core_job(*r, cluster, ignored);
    if (!j) return 0;
    const runtime::PriorityId p = j->priority ? *j->priority : cluster.scopes[j->queue].queue.default_priority;
    return p == kNone ? 0 : cluster.priorities[p].value;
  };
  // Higher priority first, then the longest running: they keep their GPUs.
  std::stable_sort(live.begin(), live.end(), [&](const JobRecord* a, const JobRecord* b) {
    const std::int64_t pa = priority_value(a), pb = priority_value(b);
    return pa != pb ? pa > pb : a->started_at < b->started_at;
  });
  std::vector<std::pair<JobRecord*, std::string>> to_stop;
  std::size_t kept = 0, requeued_pending = 0, cancelled = 0;
  for (JobRecord* rec : live) {
    std::string reason;
    std::optional<runtime::Job> job = core_job(*rec, cluster, reason);
    bool restored = false;
    if (job) {
      const runtime::Scope& queue = cluster.scopes[job->queue];
      Identity owner{rec->uid, rec->gid, 0, rec->user, rec->groups, rec->uid == 0 || rec->uid == daemon_uid_};
      if (!runtime::accepts(queue.queue.accepts, job->kind)) {
        reason = fmt::format("queue {} no longer accepts {} jobs", rec->queue, rec->kind);
      } else if (!authorized(queue, owner, runtime::kSubmit)) {
        reason = fmt::format("user {} may no longer submit to queue {}", rec->user, rec->queue);
      } else {
        for (ScopeId s = job->queue; s != kNone && reason.empty(); s = cluster.scopes[s].parent) {
          const runtime::ScopeReport rep = fresh->scope_report(s);
          for (runtime::Resource r : runtime::kAllResources) {
            if (rep.limit[r] < runtime::kUnlimited && rep.used[r] + rec->request[r] > rep.limit[r]) {
              reason = fmt::format(
                  "it would exceed the {} limit of {} ({})", runtime::to_string(r), cluster.scopes[s].name,
                  r == runtime::Resource::memory ? std::to_string(rep.limit[r]) + " MiB" : milli_text(rep.limit[r]));
              break;
            }
          }
        }
      }
      if (reason.empty()) {
        runtime::RunningJob rj;
        rj.job = *job;
        rj.started_at = rec->started_at;
        for (const GpuShare& g : rec->gpus) rj.gpus.push_back({{0, g.index}, g.milli});
        const runtime::RestoreResult r = fresh->restore({rj});
        if (const auto* e = std::get_if<runtime::RestoreError>(&r)) {
          reason = e->message;
        } else {
          restored = true;
        }
      }
    }
    if (restored) {
      ++kept;
      // The fresh core does not know about a preemption in progress: when the
      // victim exits it is requeued (or not) by the daemon, per its queue.
      if (rec->phase == JobPhase::stopping && rec->stop_intent == StopIntent::preempt) {
        rec->stop_intent = StopIntent::plan_change;
        journal(*rec);
      }
    } else if (rec->phase == JobPhase::running) {
      to_stop.emplace_back(rec, reason);
    } else if (rec->stop_intent == StopIntent::preempt) {
      rec->stop_intent = StopIntent::plan_change;
      journal(*rec);
    }
  }
  std::sort(pending.begin(), pending.end(), [](const JobRecord* a, const JobRecord* b) {
    return a->submit_time != b->submit_time ? a->submit_time < b->submit_time : a->id < b->id;
  });
  for (JobRecord* rec : pending) {
    std::string reason;
    std::optional<runtime::Job> job = core_job(*rec, cluster, reason);
    if (job) {
      runtime::SubmitResult r = fresh->submit(*job, wall_ms());
      if (const auto* refusal = std::get_if<runtime::Refusal>(&r)) reason = refusal->message;
    }
    if (!reason.empty()) {
      rec->phase = JobPhase::cancelled;
      rec->reason = fmt::format("cancelled by the plan change ({}): {}", why, reason);
      rec->finished_at = wall_ms();
      journal(*rec);
      ++cancelled;
      log(fmt::format("job {}: {}", rec->id, rec->reason));
    } else {
      ++requeued_pending;
    }
  }
  scheduler_ = std::move(fresh);
  plan_ = std::move(next);
  for (auto& [rec, reason] : to_stop) {
    stop_job(*rec, StopIntent::plan_change, fmt::format("no longer allowed by the plan ({}): {}", why, reason));
  }
  // Stopping jobs whose GPUs the new core does not hold must release them
  // before anyone else is placed (see run_schedule).
  stopping_outside_core_.clear();
  for (auto& [id, rec] : jobs_) {
    if (rec.phase != JobPhase::stopping) continue;
    if (!scheduler_->job(id)) stopping_outside_core_.insert(id);
    // A job already being stopped keeps its SIGTERM and its deadline; only
    // one without a kill timer (re-adopted while stopping) gets them here.
    if (kill_timer_armed(id, rec.runs)) continue;
    signal_job(rec, SIGTERM);
    arm(grace_period_ms(rec), KillTimer{id, rec.runs});
  }
  schedule_needed_ = true;
  metrics_dirty_ = true;
  log(fmt::format("plan {} ({}) in force: {} running jobs kept, {} stopped, {} pending kept, {} cancelled", plan_.path,
                  why, kept, to_stop.size(), requeued_pending, cancelled));
  return {};
}

std::string Daemon::apply_plan_file(const std::string& path, bool from_config) {
  std::string error;
  const std::optional<std::string> text = read_file(path, error);
  if (!text) return "cannot read plan: " + error;
  auto loaded = load_node_plan(*text, path, config_.node, {"root", daemon_user_});
  if (const auto* e = std::get_if<std::string>(&loaded)) return "invalid plan: " + *e;
  NodePlan next = std::get<NodePlan>(std::move(loaded));
  if (next.node.gpus != plan_.node.gpus) {
    return fmt::format("invalid plan: it gives node {} {} GPUs but this node has {}", config_.node, next.node.gpus,
                       plan_.node.gpus);
  }
  const std::string fingerprint = next.fingerprint;
  const std::string applied_text = next.text;
  if (const std::string e = install_plan(std::move(next), from_config ? "reload" : "apply"); !e.empty())
    return "invalid plan: " + e;
  // Remember the plan in force for restarts (see load_initial_plan).
  if (from_config) {
    configured_fingerprint_ = fingerprint;
    ::unlink((config_.state_dir + "/active-plan.json").c_str());
  } else {
    Json meta;
    meta.set("path", path);
    meta.set("fingerprint", fingerprint);
    meta.set("configured_fingerprint", configured_fingerprint_);
    if (!write_file_atomic(config_.state_dir + "/active-plan.toml", applied_text, error) ||
        !write_file_atomic(config_.state_dir + "/active-plan.json", meta.dump() + "\n", error))
      log("warning: the applied plan is in force but could not be saved for restarts: " + error);
  }
  Json event;
  event.set("t", "apply");
  event.set("path", path);
  event.set("fingerprint", fingerprint);
  event.set("at", wall_ms());
  journal_event(std::move(event));
  return fmt::format("applied plan {} ({})", path, fingerprint);
}

// ---- jobs ---------------------------------------------------------------------------------------

runtime::Time Daemon::grace_period_ms(const JobRecord& rec) const {
  const ScopeId q = runtime::find_scope(plan_.cluster, rec.queue);
  if (q == kNone || plan_.cluster.scopes[q].kind != runtime::ScopeKind::queue) return 10000;
  return plan_.cluster.scopes[q].queue.grace_period_ms;
}

bool Daemon::signal_job(const JobRecord& rec, int signal) {
  // Our own children cannot be replaced by another process before we reap
  // them; a re-adopted pid is checked against its start time first.
  if (!children_.count(rec.pid) && !same_process_alive(rec.pid, rec.start_ticks)) return false;
  return signal_group(rec.pid, signal);
}

void Daemon::run_schedule() {
  schedule_needed_ = false;
  // A job stopped by a plan change holds GPUs the core no longer accounts
  // for: nobody is placed until it is gone, so no GPU is handed out twice.
  if (!stopping_outside_core_.empty()) {
    if (!blocked_logged_)
      log(fmt::format("scheduling waits for job {} to release its GPUs", *stopping_outside_core_.begin()));
    blocked_logged_ = true;
    return;
  }
  blocked_logged_ = false;
  const runtime::Decision d = scheduler_->schedule(wall_ms());
  for (const runtime::Preemption& p : d.preempted) {
    JobRecord& rec = jobs_.at(p.victim);
    ++rec.preemptions;
    ++preemptions_by_queue_[rec.queue];
    log(fmt::format("job {} preempted by job {} ({}): {}", p.victim, p.preemptor, runtime::to_string(p.reason),
                    p.message));
    stop_job(rec, StopIntent::preempt,
             fmt::format("preempted by job {} ({}): {}", p.preemptor, runtime::to_string(p.reason), p.message));
  }
  for (const runtime::Admission& a : d.admitted) start_job(jobs_.at(a.job), a.gpus);
}

void Daemon::start_job(JobRecord& rec, const std::vector<runtime::GpuSlice>& slices) {
  rec.gpus.clear();
  std::string ids;
  for (const runtime::GpuSlice& s : slices) {
    rec.gpus.push_back({s.gpu.index, s.milli});
    ids += (ids.empty() ? "" : ",") +
           (s.gpu.index < device_ids_.size() ? device_ids_[s.gpu.index] : std::to_string(s.gpu.index));
  }
  rec.gpu_ids = ids;
  rec.log_path = fmt::format("{}/logs/job-{}.log", config_.state_dir, rec.id);

  SpawnSpec spec;
  spec.argv = rec.command;
  spec.cwd = rec.cwd;
  spec.log_path = rec.log_path;
  std::string home = "/";
  {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwuid_r(rec.uid, &pw, buf.data(), buf.size(), &found) == 0 && found) home = pw.pw_dir;
  }
  std::vector<std::pair<std::string, std::string>> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", home}, {"USER", rec.user}, {"LOGNAME", rec.user}};
  for (const auto& [k, v] : rec.env) {
    auto it = std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == k; });
    if (it != env.end()) {
      it->second = v;
    } else {
      env.emplace_back(k, v);
    }
  }
  const std::vector<std::pair<std::string, std::string>> ours = {
      {"ALLOT_JOB_ID", std::to_string(rec.id)},
      {"ALLOT_QUEUE", rec.queue},
      {"ALLOT_NODE", plan_.node.name},
      {"CUDA_VISIBLE_DEVICES", ids},
      {"NVIDIA_VISIBLE_DEVICES", ids.empty() ? "none" : ids}};
  for (const auto& [k, v] : ours) {
    std::erase_if(env, [&](const auto& e) { return e.first == k; });
    env.emplace_back(k, v);
  }
  for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);
  if (daemon_uid_ == 0 && rec.uid != 0) {
    spec.uid = rec.uid;
    spec.gid = rec.gid;
    spec.user = rec.user;
  }
  std::variant<Spawned, std::string> spawned = spawn_job(spec);
  if (const auto* e = std::get_if<std::string>(&spawned)) {
    scheduler_->finish(rec.id);
    rec.phase = JobPhase::failed;
    rec.reason = "could not start: " + *e;
    rec.finished_at = wall_ms();
    log(fmt::format("job {}: {}", rec.id, rec.reason));
    journal(rec);
    schedule_needed_ = true;
    return;
  }
  const Spawned& s = std::get<Spawned>(spawned);
  rec.phase = JobPhase::running;
  rec.starting = true;  // until commit() has synced this record and opened the gate
  gates_.push_back({rec.id, s.pid, s.release_fd});
  rec.stop_intent = StopIntent::none;
  rec.pid = s.pid;
  rec.start_ticks = s.start_ticks;
  rec.started_at = wall_ms();
  rec.finished_at = 0;
  rec.exit_code.reset();
  rec.signal.reset();
  ++rec.runs;
  children_[s.pid] = rec.id;
  log(fmt::format("job {} started: pid {}, GPUs [{}], queue {}, user {}", rec.id, s.pid, ids, rec.queue, rec.user));
  journal(rec);
}

void Daemon::stop_job(JobRecord& rec, StopIntent intent, const std::string& reason) {
  if (rec.phase == JobPhase::stopping) {
    if (intent == StopIntent::cancel && rec.stop_intent != StopIntent::cancel) {
      rec.stop_intent = StopIntent::cancel;
      rec.reason = reason;
      journal(rec);
    }
    return;
  }
  if (rec.phase != JobPhase::running) return;
  rec.phase = JobPhase::stopping;
  rec.stop_intent = intent;
  rec.reason = reason;
  const runtime::Time grace = grace_period_ms(rec);
  journal(rec);
  if (!signal_job(rec, SIGTERM)) log(fmt::format("job {}: process group {} already gone", rec.id, rec.pid));
  arm(grace, KillTimer{rec.id, rec.runs});
  log(fmt::format("job {}: SIGTERM to process group {}, SIGKILL after {} ms ({})", rec.id, rec.pid, grace, reason));
}

void Daemon::on_job_exit(JobId id, std::optional<int> wait_status) {
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  JobRecord& rec = it->second;
  if (rec.phase != JobPhase::running && rec.phase != JobPhase::stopping) return;
  rec.starting = false;  // ended before its gate opened (its gate is abandoned)
  stopping_outside_core_.erase(id);
  rec.exit_code.reset();
  rec.signal.reset();
  if (wait_status && WIFEXITED(*wait_status)) rec.exit_code = WEXITSTATUS(*wait_status);
  if (wait_status && WIFSIGNALED(*wait_status)) rec.signal = WTERMSIG(*wait_status);
  rec.finished_at = wall_ms();
  const bool clean_exit = rec.exit_code && *rec.exit_code == 0;
  const bool in_core = scheduler_->job(id).has_value();
  const std::string how = !wait_status    ? std::string("ended (exit status unknown)")
                          : rec.exit_code ? fmt::format("exited with {}", *rec.exit_code)
                                          : fmt::format("killed by signal {}", rec.signal.value_or(0));
  auto natural_end = [&] {
    if (in_core) scheduler_->finish(id);
    rec.phase = !wait_status ? JobPhase::exited : clean_exit ? JobPhase::succeeded : JobPhase::failed;
  };
  auto requeue_outside_core = [&](const std::string& why) {
    // The job is not in the core (it was stopped by a plan change or its
    // preemption predates a restart): submit it again if its queue requeues.
    if (in_core) scheduler_->finish(id);
    std::string reason;
    const std::optional<runtime::Job> job = core_job(rec, plan_.cluster, reason);
    if (job && plan_.cluster.scopes[job->queue].queue.on_preempt == runtime::OnPreempt::requeue) {
      runtime::SubmitResult r = scheduler_->submit(*job, wall_ms());
      if (std::holds_alternative<runtime::Queued>(r)) {
        rec.phase = JobPhase::pending;
        rec.reason = "requeued: " + why;
        return;
      }
      reason = std::get<runtime::Refusal>(r).message;
    }
    rec.phase = JobPhase::cancelled;
    rec.reason = reason.empty() ? "cancelled (the queue cancels preempted jobs): " + why : why + "; " + reason;
  };
  if (rec.phase == JobPhase::running || rec.stop_intent == StopIntent::none) {
    natural_end();
  } else if (rec.stop_intent == StopIntent::cancel) {
    if (in_core) scheduler_->finish(id);
    rec.phase = JobPhase::cancelled;
  } else if (clean_exit) {
    natural_end();  // it finished on its own during its grace period
  } else if (rec.stop_intent == StopIntent::preempt && in_core) {
    const runtime::ReleaseOutcome outcome = scheduler_->release(id);
    if (outcome == runtime::ReleaseOutcome::requeued) {
      rec.phase = JobPhase::pending;
      rec.reason = "requeued after " + rec.reason;
    } else {
      rec.phase = JobPhase::cancelled;
      rec.reason = "cancelled (the queue cancels preempted jobs) after " + rec.reason;
    }
  } else {
    requeue_outside_core(rec.reason);
  }
  if (rec.phase == JobPhase::pending) {
    rec.gpus.clear();
    rec.gpu_ids.clear();
    rec.finished_at = 0;
  }
  log(fmt::format("job {} (pid {}) {}: now {}{}", id, rec.pid, how, to_string(rec.phase),
                  rec.reason.empty() ? "" : " (" + rec.reason + ")"));
  if (rec.phase == JobPhase::pending) rec.pid = 0;
  journal(rec);
  schedule_needed_ = true;
}

// ---- requests -----------------------------------------------------------------------------------

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
  if (queue == kNone)
    return error_reply(api::error_code::unknown_queue, fmt::format("no queue `{}` in the plan", r.queue));
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
    if (refusal->reason == runtime::RefusalReason::user_not_authorized) return refuse(who, "submit", refusal->message);
    return error_reply(api::error_code::refused,
                       fmt::format("{} ({})", refusal->message, runtime::to_string(refusal->reason)));
  }
  ++next_id_;
  JobRecord& stored = jobs_[rec.id] = std::move(rec);
  journal(stored);
  schedule_needed_ = true;
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
    list.push_back(shown.to_json());
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
  for (ScopeId s = 0; s < plan_.cluster.scopes.size(); ++s) {
    if (!in_node_pool(s)) continue;
    out.push_back({plan_.cluster.scopes[s].name, kind_name(plan_.cluster.scopes[s].kind), scheduler_->scope_report(s),
                   preemptions[s]});
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
  if (!who.admin) return refuse(who, "apply", fmt::format("user {} may not apply plans (admins only)", who.user));
  log(fmt::format("apply of {} requested by {}", r.plan_path, who.user));
  const std::string result = apply_plan_file(r.plan_path, false);
  log(result);
  if (result.rfind("applied", 0) != 0) return error_reply(api::error_code::invalid_plan, result);
  Json body;
  body.set("message", result);
  return api::ok_reply(std::move(body));
}

std::string Daemon::metrics_text() const {
  std::map<std::string, std::size_t> by_state;
  for (const auto& [id, rec] : jobs_) ++by_state[to_string(rec.phase)];
  return render_metrics(scope_figures(), by_state, journal_problems_.empty(), gpu_source_, device_ids_.size());
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
