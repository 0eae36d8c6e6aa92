// allotd: runs the jobs of one plan node. One thread, one poll loop: the
// local API socket, a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP), pidfds of
// re-adopted processes, the metrics port and timers (grace periods,
// snapshots, metrics) — nothing busy-waits.
//
// Durability contract: every accepted job and every state change is in the
// journal, and the journal is fsynced before any reply of the same loop
// iteration is sent (group commit). On restart, the latest complete snapshot
// + the journal generations after it give back every job; processes still
// running are re-adopted (same pid and start time), the others are marked
// lost.
//
// Snapshots do not block the loop: the journal is rotated to generation G+1
// in the loop (fsync), then a forked child writes snapshot G+1 (the state as
// of the end of journal G) while the parent keeps serving into G+1; journals
// before G+1 are deleted only once the child has exited successfully. A crash
// at any point leaves either the old snapshot S with journals S..G+1, or
// snapshot G+1 with journals G(+deleted or not)..G+1: both recover fully.
//
// The members are defined by purpose: daemon.cpp (setup, the run, the plan
// in force), server.cpp (poll loop, connections, group commit, timers),
// recovery.cpp (snapshot and journal replay, re-adoption), state_store.cpp
// (journal records, generations, snapshots), jobs.cpp (scheduling, start,
// stop, exit) and handlers.cpp (API requests, status and metrics figures).
// What needs no daemon state is apart: node_plan.h, metrics.h and
// plan_change.h (what a plan installation does with each job).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "runtime/api/json.h"
#include "runtime/api/protocol.h"
#include "runtime/core/scheduler.h"
#include "runtime/daemon/auth.h"
#include "runtime/daemon/config.h"
#include "runtime/daemon/job_record.h"
#include "runtime/daemon/journal.h"
#include "runtime/daemon/metrics.h"
#include "runtime/daemon/node_plan.h"
#include "runtime/daemon/node_resources.h"
#include "runtime/daemon/process.h"

namespace allot::daemon {

class Daemon {
 public:
  Daemon(DaemonConfig config, std::ostream& log);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Sets up, serves until SIGTERM or SIGINT, returns the exit status. Jobs
  // keep running when allotd stops; the next start re-adopts them.
  int run();

 private:
  static constexpr std::int64_t kLivenessIntervalMs = 1000;  // re-adopted processes without a pidfd
  // Records no reply waits for (a start's pid, an exit) are synced at most
  // this long after the first of them, with the next reply's sync when one
  // comes sooner: one fdatasync per submit instead of three when jobs start
  // and end between requests. A start gate opens only after the sync.
  static constexpr std::int64_t kLazySyncMs = 5;

  // Limits on clients (docs/runtime-api.md, "Limits"): a connection whose
  // replies are not read is not read either (backpressure); one that idles,
  // or dribbles a request line, is closed; each uid has a share of the
  // connections, and descriptors stay reserved for jobs and the journal.
  struct Connection {
    int fd = -1;
    bool http = false;  // a metrics scrape, not an API client
    Identity peer;
    std::string in;
    std::string out;
    std::size_t owed = 0;  // bytes of replies waiting for the journal sync
    bool close_after_write = false;
    std::int64_t last_active_ms = 0;   // monotonic: the last byte read or written
    std::int64_t line_started_ms = 0;  // monotonic: first byte of the unfinished line, 0 if none
  };
  struct KillTimer {
    runtime::JobId job = 0;
    std::uint32_t run = 0;  // which run of the job it was armed for
  };
  struct MetricsTimer {};
  struct LivenessTimer {};  // checks re-adopted processes that have no pidfd
  struct ClientTimer {};    // idle and request-line timeouts, accept back-off
  using Timer = std::variant<KillTimer, MetricsTimer, LivenessTimer, ClientTimer>;
  // A started job whose process waits at the start gate until the journal
  // record of its start (with the pid) is synced.
  struct Gate {
    runtime::JobId job = 0;
    pid_t pid = 0;
    int fd = -1;
  };
  // A job admitted in this iteration whose process is not spawned yet: its
  // start record (starting, no pid) is journaled, and the fork comes after
  // the commit that answers the clients (launch_admitted), so that no reply
  // waits for a fork.
  struct Launch {
    runtime::JobId job = 0;
    std::uint32_t run = 0;  // JobRecord::runs when admitted
    SpawnSpec spec;
  };

  // ---- setup
  bool prepare_state_dir();
  bool lock_state_dir();
  bool load_initial_plan();
  void discover_devices();
  bool load_state();
  bool replay_journal(const std::string& path);
  void recover_processes();
  bool open_socket();
  bool open_metrics_port();
  bool open_signals();

  // ---- the loop
  void loop();
  void handle_signals();
  void reap_children();
  void accept_clients(int listen_fd, bool http);
  void read_client(Connection& c);
  bool process_input(Connection& c);  // handles buffered lines while output has room; false if closed
  bool output_full(const Connection& c) const;
  void write_client(Connection& c);
  void close_client(Connection& c, const std::string& why);
  void check_clients();                   // timeouts; arms the next ClientTimer
  std::size_t connection_budget() const;  // connections allowed, descriptors permitting
  void open_gates();                      // after a successful journal sync
  void close_gates();                     // the journal failed: the waiting children exit unrun
  void fire_timers();
  // fsync the journal, then release replies, open gates and spawn what was
  // admitted; with nothing waiting, not before kLazySyncMs (unless `force`).
  void commit(bool force = false);
  std::int64_t unsynced_since_ms_ = 0;  // monotonic; 0 while the journal is synced

  // ---- plan
  std::string install_plan(NodePlan next, const std::string& why);  // error message, empty on success
  // `caller`: a user's request, held to apply_refusal; a refusal comes back
  // as "refused: ...".
  std::string apply_plan_file(const std::string& path, bool from_config, const Identity* caller = nullptr);

  // ---- jobs
  void run_schedule();
  void start_job(JobRecord& rec, const std::vector<runtime::GpuSlice>& slices);
  void launch_admitted();  // after commit: spawns the processes start_job prepared
  void stop_job(JobRecord& rec, StopIntent intent, const std::string& reason);
  void on_job_exit(runtime::JobId id, std::optional<int> wait_status);
  bool signal_job(const JobRecord& rec, int signal);
  runtime::Time grace_period_ms(const JobRecord& rec) const;
  void journal(const JobRecord& rec);
  void journal_event(api::Json event);
  // Snapshots (see the contract at the top of this file).
  std::string journal_path(std::uint64_t generation) const;
  void prune_finished_jobs();
  bool rotate_journal();              // sync journal G, open G+1 (dir fsynced)
  std::string snapshot_text() const;  // the state as of now, generation_ as its generation
  bool write_snapshot();              // in the loop: startup and shutdown only
  void start_snapshot();              // in a forked child: while serving
  void finish_snapshot(int wait_status);
  void wait_for_snapshot();  // blocks until the child (if any) has ended
  void remove_journals_before(std::uint64_t generation);
  void arm(std::int64_t delay_ms, Timer timer);
  void arm_kill(const JobRecord& rec, runtime::Time delay_ms);  // SIGKILL for its current run, once

  // ---- requests
  std::string handle_line(Connection& c, std::string_view line);
  std::string handle(const Identity& who, const api::SubmitRequest& r);
  std::string handle(const Identity& who, const api::PsRequest& r);
  std::string handle(const Identity& who, const api::CancelRequest& r);
  std::string handle(const Identity& who, const api::StatusRequest& r);
  std::string handle(const Identity& who, const api::ApplyRequest& r);
  std::string handle(const Identity& who, const api::MetricsRequest& r);
  std::string handle(const Identity& who, const api::StateRequest& r);
  std::string handle(const Identity& who, const api::NodeRequest& r);
  std::string handle(const Identity& who, const api::ExplainRequest& r);
  // ---- node operations and reasons (node_ops.cpp)
  void apply_cordon();                      // the node's cordon onto the current core
  std::string node_resources_text() const;  // "32 cpu, 262144 MiB" as the core counts them
  std::string node_state() const;           // schedulable, cordoned, draining or drained
  api::Json node_event_json() const;        // journal record and snapshot entry
  void restore_node_event(const api::Json& event);
  std::optional<runtime::WaitReason> wait_reason(const JobRecord& rec) const;
  api::Json job_json(const JobRecord& rec) const;  // to_json() plus `waiting` for pending jobs
  std::string submit_reply(runtime::JobId id) const;
  std::string refuse(const Identity& who, const std::string& op, const std::string& message);
  runtime::ScopeId resolve_queue(const std::string& name) const;
  bool visible_to(const JobRecord& rec, const Identity& who) const;
  bool in_node_pool(runtime::ScopeId scope) const;
  std::vector<ScopeFigures> scope_figures() const;
  std::string metrics_text() const;
  void write_metrics_file();

  void log(const std::string& line);

  DaemonConfig config_;
  std::ostream& log_;
  uid_t daemon_uid_;
  std::string daemon_user_;

  NodePlan plan_;
  // The machine's CPU and memory, read at start (node_resources.h); the
  // core counts the node's as the plan's cut to these.
  runtime::daemon::NodeResources system_;
  std::string configured_fingerprint_;  // of the --plan file, to tell whether an applied plan is still current
  std::unique_ptr<runtime::Scheduler> scheduler_;
  std::vector<std::string> device_ids_;  // CUDA_VISIBLE_DEVICES value per GPU index
  std::string gpu_source_ = "simulated";

  std::map<runtime::JobId, JobRecord> jobs_;
  runtime::JobId next_id_ = 1;
  std::unordered_map<pid_t, runtime::JobId> children_;  // ours, reaped with waitpid
  std::unordered_map<int, runtime::JobId> pidfds_;      // re-adopted, not our children
  std::unordered_set<runtime::JobId> polled_adopted_;   // re-adopted without a pidfd
  std::map<std::string, std::uint64_t> preemptions_by_queue_;
  // The node's cordon (`allot node cordon|drain|uncordon`), journaled.
  struct Cordon {
    bool cordoned = false;
    bool drain = false;  // the running jobs were stopped too
    std::string by;
    std::int64_t at = 0;  // ms since the epoch
  } cordon_;
  // The submit whose reply is rendered at commit, after the scheduling pass
  // of its loop iteration, so that it shows the job's real state.
  runtime::JobId submitted_ = 0;

  JournalWriter journal_;
  std::uint64_t generation_ = 0;
  std::uint32_t records_since_snapshot_ = 0;
  std::vector<std::string> journal_problems_;  // reported by status, kept in snapshots
  std::size_t replayed_records_ = 0;

  int signal_fd_ = -1;
  int listen_fd_ = -1;
  int metrics_fd_ = -1;
  std::map<int, Connection> connections_;
  std::unordered_map<uid_t, std::size_t> connections_by_uid_;
  std::vector<Gate> gates_;
  std::vector<Launch> launches_;
  std::int64_t accept_paused_until_ms_ = 0;  // monotonic; after EMFILE/ENFILE
  bool client_timer_armed_ = false;
  std::uint64_t refused_connections_ = 0;
  std::size_t descriptor_limit_ = 1024;  // RLIMIT_NOFILE soft limit after raising it
  struct PendingReply {
    int fd = -1;
    std::string text;
    runtime::JobId submitted = 0;  // a submit: re-rendered at commit (submit_reply)
  };
  std::vector<PendingReply> replies_after_sync_;
  std::multimap<std::int64_t, Timer> timers_;  // by monotonic deadline (ms)
  // Per stopping job, the run whose kill timer this allotd armed (pending or
  // fired): a job gets one deadline per stop.
  std::unordered_map<runtime::JobId, std::uint32_t> kill_timers_;
  bool metrics_timer_armed_ = false;

  bool stopping_ = false;
  int exit_status_ = 0;
  bool schedule_needed_ = true;
  bool metrics_dirty_ = true;
  bool blocked_logged_ = false;
  // Jobs stopping that the current core does not account for (stopped by a
  // plan change): their GPUs are still in use, so nobody is placed meanwhile.
  std::unordered_set<runtime::JobId> stopping_outside_core_;
  std::uint64_t last_snapshot_bytes_ = 0;
  pid_t snapshot_pid_ = -1;                // the snapshot writer in flight, -1 if none
  std::uint64_t snapshot_generation_ = 0;  // the generation it writes
  int lock_fd_ = -1;                       // flock on STATE/allotd.lock, inherited by the snapshot writer
};

}  // namespace allot::daemon
