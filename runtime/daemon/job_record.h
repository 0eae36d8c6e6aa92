// What allotd knows about one job: the request as accepted, who sent it,
// where and how it runs, and how it ended. Journaled whole on every change.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/api/json.h"
#include "runtime/core/types.h"

namespace allot::daemon {

enum class JobPhase : std::uint8_t {
  pending,    // accepted, waiting for GPUs
  running,    // its process group runs
  stopping,   // SIGTERM sent (preemption, cancel or plan change), waiting for it to exit
  succeeded,  // exited 0
  failed,     // exited non-zero or by a signal it was not sent by us
  cancelled,  // by a user, or preempted on an on_preempt = cancel queue
  lost,       // its process vanished while allotd was down (exit status unknown)
  exited,     // re-adopted after a restart, then ended; allotd was not its parent, so no exit status
};

const char* to_string(JobPhase phase);
std::optional<JobPhase> job_phase_from(std::string_view text);
bool is_final(JobPhase phase);

// Why a stopping job is being stopped: decides what happens when it exits.
// `drain`: the node is drained; requeued or cancelled per the queue's
// on_preempt, like a preemption.
enum class StopIntent : std::uint8_t { none, preempt, cancel, plan_change, drain };
const char* to_string(StopIntent intent);
std::optional<StopIntent> stop_intent_from(std::string_view text);

struct GpuShare {
  std::uint32_t index = 0;  // GPU index on this node
  runtime::Amount milli = runtime::kMilliPerGpu;
};

struct JobRecord {
  runtime::JobId id = 0;
  std::string queue;  // scope path
  // Who submitted it; the job runs as this user when allotd runs as root.
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> groups;
  std::string kind;                     // inference | training | development
  std::optional<std::string> priority;  // class name; nullopt: the queue's default
  runtime::Resources request;
  std::vector<std::string> command;
  std::string cwd;
  std::vector<std::pair<std::string, std::string>> env;
  runtime::Time submit_time = 0;  // ms since the epoch

  JobPhase phase = JobPhase::pending;
  StopIntent stop_intent = StopIntent::none;
  std::vector<GpuShare> gpus;
  std::string gpu_ids;  // what CUDA_VISIBLE_DEVICES was set to
  pid_t pid = 0;        // process group leader while running or stopping
  // Running, but its process still waits at the start gate (process.h):
  // journaled with the pid before the gate is opened, so that recovery
  // knows a process that may never have run the job.
  bool starting = false;
  std::uint64_t start_ticks = 0;  // /proc/PID/stat starttime, to tell a reused pid apart
  runtime::Time started_at = 0;
  runtime::Time finished_at = 0;
  // Stopping: when its grace period ends (ms since the epoch), so that the
  // deadline holds across restarts; 0 when not stopping, or journaled by an
  // allotd that did not record it.
  runtime::Time kill_at = 0;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;  // why it stopped, was requeued or lost
  std::uint32_t preemptions = 0;
  std::uint32_t runs = 0;  // how many times it was started
  std::string log_path;

  api::Json to_json() const;
};

// Nullopt (with `error`) if a required field is missing or mistyped.
std::optional<JobRecord> job_from_json(const api::Json& json, std::string& error);

}  // namespace allot::daemon
